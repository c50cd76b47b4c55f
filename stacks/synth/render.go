package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the document as indented JSON (keys sorted, as encoding/json does).
func WriteJSON(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// ReadJSON reads a document written by WriteJSON.
func ReadJSON(r io.Reader) (*Document, error) {
	var d Document
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("reading synth JSON: %w", err)
	}
	return &d, nil
}

// WriteText writes the document for people: each resource with its type, parent,
// dependencies and inputs, then the lookups and the outputs.
func WriteText(w io.Writer, d *Document) error {
	b := &strings.Builder{}
	custom := 0
	for _, r := range d.Resources {
		if r.Custom {
			custom++
		}
	}
	fmt.Fprintf(b, "Stack %s/%s: %d resources (%d components), %d lookups\n", d.Project, d.Stack,
		len(d.Resources), len(d.Resources)-custom, len(d.Invokes))
	for _, r := range d.Resources {
		kind := "+"
		if !r.Custom {
			kind = "+ component"
		}
		fmt.Fprintf(b, "\n%s %s %q\n", kind, r.Type, r.Name)
		fmt.Fprintf(b, "    urn:    %s\n", r.URN)
		if r.Parent != "" {
			fmt.Fprintf(b, "    parent: %s\n", shortURN(r.Parent))
		}
		if r.Provider != "" {
			fmt.Fprintf(b, "    provider: %s\n", shortURN(r.Provider))
		}
		for _, dep := range r.Dependencies {
			fmt.Fprintf(b, "    waits on: %s\n", shortURN(dep))
		}
		writeValues(b, "    ", r.Inputs)
	}
	if len(d.Invokes) > 0 {
		b.WriteString("\nLookups:\n")
		for _, inv := range d.Invokes {
			args, _ := json.Marshal(inv.Args)
			fmt.Fprintf(b, "  %s %s\n", inv.Token, args)
		}
	}
	b.WriteString("\nOutputs:\n")
	writeValues(b, "  ", d.Outputs)
	_, err := io.WriteString(w, b.String())
	return err
}

// shortURN drops the URN's fixed prefix: "urn:pulumi:dev::kong-alb-eks::" .
func shortURN(urn string) string {
	parts := strings.SplitN(urn, "::", 3)
	if len(parts) == 3 {
		return parts[2]
	}
	return urn
}

func writeValues(b *strings.Builder, indent string, m map[string]any) {
	for _, k := range sortedKeys(m) {
		writeValue(b, indent, k, m[k])
	}
}

func writeValue(b *strings.Builder, indent, key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			fmt.Fprintf(b, "%s%s: {}\n", indent, key)
			return
		}
		fmt.Fprintf(b, "%s%s:\n", indent, key)
		writeValues(b, indent+"  ", x)
	case []any:
		if len(x) == 0 {
			fmt.Fprintf(b, "%s%s: []\n", indent, key)
			return
		}
		if scalars(x) {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = scalar(e)
			}
			fmt.Fprintf(b, "%s%s: [%s]\n", indent, key, strings.Join(parts, ", "))
			return
		}
		fmt.Fprintf(b, "%s%s:\n", indent, key)
		for i, e := range x {
			writeValue(b, indent+"  ", fmt.Sprintf("[%d]", i), e)
		}
	case string:
		if strings.Contains(x, "\n") {
			fmt.Fprintf(b, "%s%s: |\n", indent, key)
			lines := strings.Split(strings.TrimRight(x, "\n"), "\n")
			for _, l := range lines {
				fmt.Fprintf(b, "%s  %s\n", indent, l)
			}
			return
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, key, scalar(x))
	default:
		fmt.Fprintf(b, "%s%s: %s\n", indent, key, scalar(x))
	}
}

func scalars(items []any) bool {
	for _, e := range items {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if x == "" {
			return `""`
		}
		return x
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
	default:
		return fmt.Sprint(x)
	}
}
