package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Secret is a configuration value that must never be printed: it formats and marshals as
// "[secret]" and is written to stack config encrypted. Reveal returns the plaintext.
type Secret string

const redacted = "[secret]"

// Reveal returns the plaintext.
func (s Secret) Reveal() string { return string(s) }

// String redacts the value, so that %v and %s never print it.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the value for %#v too.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalJSON redacts the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// ValueKind is the type of a config key as Pulumi.yaml declares it.
type ValueKind string

// The kinds Pulumi.yaml can declare.
const (
	KindString  ValueKind = "string"
	KindInteger ValueKind = "integer"
	KindBoolean ValueKind = "boolean"
	KindArray   ValueKind = "array"
)

// KeyInfo describes one config key.
type KeyInfo struct {
	// Name is the key as written in the project namespace ("domain"), or fully qualified for
	// another namespace ("aws:region").
	Name   string
	Kind   ValueKind
	Secret bool
	// Lines: the value may span lines (PEM); no other control character is allowed in any value.
	Lines bool
	// field locates the value in Config.
	field []int
}

// FullKey is the fully qualified config key ("kong-alb-eks:domain", "aws:region").
func (k KeyInfo) FullKey() string {
	if strings.Contains(k.Name, ":") {
		return k.Name
	}
	return Project + ":" + k.Name
}

// Keys lists every config key of Config, in declaration order.
func Keys() []KeyInfo { return configKeys }

var configKeys = collectKeys(reflect.TypeOf(Config{}), nil, "")

// collectKeys walks Config's fields. A struct-valued field tagged `key:"p"` (ChartSource)
// contributes keys p, pRepository and pVersion: its own fields' names are the suffixes.
func collectKeys(t reflect.Type, index []int, prefix string) []KeyInfo {
	var keys []KeyInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		path := append(append([]int{}, index...), i)
		tag, tagged := f.Tag.Lookup("key")
		if f.Type.Kind() == reflect.Struct {
			p := prefix
			if tagged {
				p = tag
			}
			keys = append(keys, collectKeys(f.Type, path, p)...)
			continue
		}
		name := tag
		if !tagged { // a field of a tagged struct: ChartSource
			name = prefix
			if f.Name != "Chart" {
				name = prefix + f.Name
			}
		}
		keys = append(keys, KeyInfo{Name: name, Kind: kindOf(f.Type), Secret: f.Tag.Get("secret") == "true", Lines: f.Tag.Get("lines") == "true", field: path})
	}
	return keys
}

func kindOf(t reflect.Type) ValueKind {
	switch t.Kind() {
	case reflect.Int:
		return KindInteger
	case reflect.Bool:
		return KindBoolean
	case reflect.Slice:
		return KindArray
	default:
		return KindString
	}
}

// LookupKey finds a key by its short or fully qualified name.
func LookupKey(name string) (KeyInfo, bool) {
	for _, k := range configKeys {
		if k.Name == name || k.FullKey() == name {
			return k, true
		}
	}
	return KeyInfo{}, false
}

// ConfigValue is one key's value as Pulumi stack config holds it: a string (arrays as JSON).
type ConfigValue struct {
	Value  string
	Secret bool
}

// LoadConfig builds a Config from Pulumi config: get returns a key's raw value by its fully
// qualified name. Keys that are not set keep their defaults. set, when given, names every key
// the stack sets: one of the program's namespace that it does not declare is a problem (a
// typo), with the key probably meant. A value that does not parse is reported with the key;
// the result is validated, and every problem is returned at once.
func LoadConfig(get func(fullKey string) (string, bool), set ...string) (Config, error) {
	cfg := DefaultConfig()
	unknown := unknownKeys(set)
	var problems Problems
	for _, k := range configKeys {
		raw, ok := get(k.FullKey())
		if !ok {
			continue
		}
		if err := k.set(&cfg, raw); err != nil {
			problems.add(k.FullKey(), "%s", err)
		}
	}
	return cfg, allProblems(cfg, unknown, problems)
}

// allProblems is every problem of a configuration at once: the keys it does not declare, and
// the values that did not parse or else what validation finds (a value that did not parse
// left its key's default, which validation would only misjudge).
func allProblems(cfg Config, unknown, unparsed Problems) error {
	if len(unparsed) > 0 {
		return &ValidationError{Problems: append(unknown, unparsed...)}
	}
	err := cfg.Validate()
	if len(unknown) == 0 {
		return err
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		unknown = append(unknown, ve.Problems...)
	}
	return &ValidationError{Problems: unknown}
}

// ConfigFromMap builds a Config from a JSON object keyed by config key (short or fully
// qualified), as a portal sends it: values are JSON strings, numbers, booleans or arrays of
// strings. Unknown keys are problems. The result is validated.
func ConfigFromMap(values map[string]json.RawMessage) (Config, error) {
	cfg := DefaultConfig()
	var unknown, problems Problems
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	spelled := map[string]string{}
	for _, name := range names {
		k, ok := LookupKey(name)
		if !ok {
			unknown.add(name, "%s", unknownKeyMessage(strings.TrimPrefix(name, namespace)))
			continue
		}
		if other, twice := spelled[k.FullKey()]; twice {
			problems.add(k.FullKey(), "set twice, as %q and as %q: give it once", other, name)
			continue
		}
		spelled[k.FullKey()] = name
		if err := k.setJSON(&cfg, values[name]); err != nil {
			problems.add(k.FullKey(), "%s", err)
		}
	}
	return cfg, allProblems(cfg, unknown, problems)
}

// PulumiConfig is the Config as stack config, every key fully qualified, secrets marked.
// LoadConfig of its values returns the same Config.
func (c Config) PulumiConfig() map[string]ConfigValue {
	out := make(map[string]ConfigValue, len(configKeys))
	v := reflect.ValueOf(c)
	for _, k := range configKeys {
		fv := v.FieldByIndex(k.field)
		var s string
		switch k.Kind {
		case KindArray:
			items := fv.Interface().([]string)
			if items == nil {
				items = []string{}
			}
			b, _ := json.Marshal(items) // a []string always marshals
			s = string(b)
		case KindInteger:
			s = strconv.Itoa(int(fv.Int()))
		case KindBoolean:
			s = strconv.FormatBool(fv.Bool())
		default:
			s = fv.String() // Secret's underlying string: the plaintext
		}
		out[k.FullKey()] = ConfigValue{Value: s, Secret: k.Secret}
	}
	return out
}

// Value returns a key's value in c, for display: secrets are redacted.
func (c Config) Value(k KeyInfo) any {
	fv := reflect.ValueOf(c).FieldByIndex(k.field)
	if k.Secret {
		return Secret(fv.String()).String()
	}
	return fv.Interface()
}

func (k KeyInfo) set(cfg *Config, raw string) error {
	fv := reflect.ValueOf(cfg).Elem().FieldByIndex(k.field)
	switch k.Kind {
	case KindInteger:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", raw)
		}
		fv.SetInt(int64(n))
	case KindBoolean:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", raw)
		}
		fv.SetBool(b)
	case KindArray:
		var items []string
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return fmt.Errorf("expected a list of strings, got %q", raw)
		}
		if items == nil {
			items = []string{}
		}
		if hasControl(reflect.ValueOf(items), false) {
			return errControl(k)
		}
		if err := k.checkShape(reflect.ValueOf(items)); err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(items))
	default:
		if hasControl(reflect.ValueOf(raw), k.Lines) {
			return errControl(k)
		}
		if err := k.checkShape(reflect.ValueOf(raw)); err != nil {
			return err
		}
		fv.SetString(raw)
	}
	return nil
}

// checkShape refuses what a careless edit leaves in a value: spaces around a string (a
// pasted " m6i.large" is no instance type AWS knows), and in a list an empty item, spaces
// around an item, or an item given twice. Secrets and multi-line values are left as they are.
func (k KeyInfo) checkShape(v reflect.Value) error {
	if k.Secret || k.Lines {
		return nil
	}
	padded := func(s string) bool { return s != strings.TrimSpace(s) }
	switch v.Kind() {
	case reflect.String:
		if padded(v.String()) {
			return fmt.Errorf("expected no spaces around the value, got %q", truncate(v.String(), 60))
		}
	case reflect.Slice:
		seen := map[string]bool{}
		for i := 0; i < v.Len(); i++ {
			item := v.Index(i).String()
			switch {
			case strings.TrimSpace(item) == "":
				return fmt.Errorf("item %d is empty", i)
			case padded(item):
				return fmt.Errorf("item %d has spaces around it: %q", i, truncate(item, 60))
			case seen[item]:
				return fmt.Errorf("%q is listed twice", truncate(item, 60))
			}
			seen[item] = true
		}
	}
	return nil
}

func errControl(k KeyInfo) error {
	return fmt.Errorf("expected %s without control characters (newlines, tabs, NUL)", describeKind(k.Kind))
}

func (k KeyInfo) setJSON(cfg *Config, raw json.RawMessage) error {
	fv := reflect.ValueOf(cfg).Elem().FieldByIndex(k.field)
	target := reflect.New(fv.Type())
	if k.Secret { // Secret has no UnmarshalJSON of its own: decode its plaintext as a string
		target = reflect.New(reflect.TypeOf(""))
	}
	if err := json.Unmarshal(raw, target.Interface()); err != nil {
		if k.Secret {
			return fmt.Errorf("expected %s", describeKind(k.Kind)) // never echo a secret
		}
		return fmt.Errorf("expected %s, got %s", describeKind(k.Kind), truncate(string(raw), 40))
	}
	if k.Kind == KindArray && target.Elem().IsNil() {
		target.Elem().Set(reflect.ValueOf([]string{}))
	}
	if hasControl(target.Elem(), k.Lines) {
		return errControl(k)
	}
	if err := k.checkShape(target.Elem()); err != nil {
		return err
	}
	fv.Set(target.Elem().Convert(fv.Type()))
	return nil
}

// hasControl reports whether a decoded string, or a string of a decoded array, holds a control
// character (but line breaks where lines allows them): no other configuration value has a use
// for one, and a newline in a value ends up in generated files and commands.
func hasControl(v reflect.Value, lines bool) bool {
	has := func(s string) bool {
		lineBreak := func(r rune) bool { return r == '\n' || r == '\r' }
		return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && (!lines || !lineBreak(r)) }) >= 0
	}
	switch v.Kind() {
	case reflect.String:
		return has(v.String())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if v.Index(i).Kind() == reflect.String && has(v.Index(i).String()) {
				return true
			}
		}
	}
	return false
}

func describeKind(k ValueKind) string {
	switch k {
	case KindInteger:
		return "an integer"
	case KindBoolean:
		return "true or false"
	case KindArray:
		return "a list of strings"
	default:
		return "a string"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ChangedKeys lists, in declaration order, the fully qualified keys whose values differ between
// two configurations: names only (secrets are compared, never shown), for the audit trail.
func ChangedKeys(from, to Config) []string {
	a, b := from.PulumiConfig(), to.PulumiConfig()
	var out []string
	for _, k := range configKeys {
		if a[k.FullKey()].Value != b[k.FullKey()].Value {
			out = append(out, k.FullKey())
		}
	}
	return out
}
