package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
)

// Spec is an environment as a platform portal describes it: a stack name and the stack's whole
// typed configuration.
type Spec struct {
	Name   string
	Config Config
}

// stackName is what an environment may be called: a lower-case DNS label of at most 63
// characters, so that it is safe as a stack name, a directory name under the manager's work
// directory (no "/", "..", or leading "."), a URL path segment and part of the cluster name.
var stackName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// SpecNameKey is the Problem key that reports an invalid environment name.
const SpecNameKey = "name"

// ValidateStackName reports whether name can name an environment: it returns an
// *InvalidSpecError (errors.Is(err, ErrInvalidSpec)) or nil.
func ValidateStackName(name string) error {
	if stackName.MatchString(name) {
		return nil
	}
	return &InvalidSpecError{Name: name, Problems: Problems{{
		Key:     SpecNameKey,
		Message: fmt.Sprintf("expected a DNS label: 1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit, got %q", truncate(name, 80)),
	}}}
}

// Validate checks the name and the configuration, and returns an *InvalidSpecError listing
// every problem, or nil.
func (s Spec) Validate() error {
	var problems Problems
	var cause error
	if err := ValidateStackName(s.Name); err != nil {
		var ise *InvalidSpecError
		errors.As(err, &ise)
		problems = append(problems, ise.Problems...)
	}
	if err := withStack(s.Config.Validate(), s.Config, s.Name); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		cause = ve
		problems = append(problems, ve.Problems...)
	}
	if len(problems) == 0 {
		return nil
	}
	return &InvalidSpecError{Name: s.Name, Problems: problems, Err: cause}
}

// specJSON is the wire form of a Spec: {"name": "dev", "config": {"domain": "...", ...}}.
// Config keys are short ("domain") or fully qualified ("aws:region"), as ConfigFromMap takes them.
type specJSON struct {
	Name   string                     `json:"name"`
	Config map[string]json.RawMessage `json:"config"`
}

// DecodeSpec reads a Spec from JSON, strictly: unknown fields, trailing data, unknown config keys
// and values of the wrong type are errors. A malformed document is a *DecodeError; a
// well-formed one that does not describe a valid environment is an *InvalidSpecError.
// If name is not empty it is the environment's name (a URL path segment, say), and the
// document's "name" field may be omitted but must not differ.
func DecodeSpec(r io.Reader, name string) (Spec, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Spec{}, &DecodeError{Err: err}
	}
	if dup := duplicateKey(raw); dup != "" {
		return Spec{}, &DecodeError{Err: fmt.Errorf("the key %q appears twice in one object", truncate(dup, 80))}
	}
	var doc specJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Spec{}, &DecodeError{Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Spec{}, &DecodeError{Err: errors.New("unexpected data after the JSON document")}
	}
	switch {
	case name == "":
		name = doc.Name
	case doc.Name != "" && doc.Name != name:
		return Spec{}, &InvalidSpecError{Name: name, Problems: Problems{{
			Key: SpecNameKey, Message: fmt.Sprintf("the document names %q but the request is for %q", truncate(doc.Name, 80), name),
		}}}
	}
	if doc.Config == nil {
		return Spec{}, &InvalidSpecError{Name: name, Problems: Problems{{Key: "config", Message: "required: an object of configuration keys"}}}
	}
	return SpecFromMap(name, doc.Config)
}

// duplicateKey is a key that appears twice in one object of the JSON document raw ("" if none,
// or if raw is not JSON: the decoder reports that). encoding/json would keep the last silently.
// Keys are compared as the decoder matches them: the document's own object is decoded into a
// struct, whose fields encoding/json matches without regard to letter case (Unicode simple
// folding, as strings.EqualFold), so there "config" and "CONFIG" are one key given twice;
// below it the config keys are a map's, matched exactly (another case is an unknown key).
func duplicateKey(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token of an object is a key
		fold   bool // keys match without regard to case
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if k, ok := tok.(string); ok {
				seen := k
				if top.fold {
					seen = foldCase(k)
				}
				if top.keys[seen] {
					return k
				}
				top.keys[seen] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true, fold: len(stack) == 0})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: an object's next token is a key again.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

// foldCase maps each rune of s to the least rune of its Unicode simple folding orbit: two
// strings fold alike exactly when strings.EqualFold says they are equal.
func foldCase(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// SpecFromMap builds and validates a Spec from a name and a JSON object of config keys.
func SpecFromMap(name string, values map[string]json.RawMessage) (Spec, error) {
	var problems Problems
	if err := ValidateStackName(name); err != nil {
		problems = append(problems, err.(*InvalidSpecError).Problems...)
	}
	cfg, err := ConfigFromMap(values)
	err = withStack(err, cfg, name)
	var ve *ValidationError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		problems = append(problems, ve.Problems...)
	default:
		return Spec{}, err
	}
	if len(problems) > 0 {
		return Spec{}, &InvalidSpecError{Name: name, Problems: problems, Err: ve}
	}
	return Spec{Name: name, Config: cfg}, nil
}

// MarshalJSON writes the Spec in DecodeSpec's format, secrets redacted: it is for display, and
// does not round-trip secrets.
func (s Spec) MarshalJSON() ([]byte, error) {
	cfg := make(map[string]any, len(configKeys))
	for _, k := range configKeys {
		cfg[k.FullKey()] = s.Config.Value(k)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"name": s.Name, "config": cfg}); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
