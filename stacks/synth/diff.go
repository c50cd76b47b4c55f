package synth

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
)

// Diff is the structural difference between two synth documents, base and head. Resources are
// matched by URN. Everything in it is sorted, so two runs on the same inputs print the same.
//
// Secrets: a document already holds "[secret]" in place of every secret value. A value that is
// "[secret]" on both sides cannot be compared and counts as unchanged; a value that is secret on
// one side only is shown as "[secret]" on both sides, with a note, so that a value made secret
// in head is not revealed by the base's plaintext (nor the reverse).
type Diff struct {
	Base    DocumentRef      `json:"base"`
	Head    DocumentRef      `json:"head"`
	Added   []ResourceRef    `json:"added"`
	Removed []ResourceRef    `json:"removed"`
	Changed []ResourceChange `json:"changed"`
	// Outputs are the changes of the stack outputs, by output name.
	Outputs []ValueChange `json:"outputs"`
	// LookupsAdded and LookupsRemoved are the provider function calls only one side made,
	// each as "token {args as JSON}".
	LookupsAdded   []string `json:"lookupsAdded"`
	LookupsRemoved []string `json:"lookupsRemoved"`
	Summary        Summary  `json:"summary"`
}

// DocumentRef names the stack a document was synthesized for.
type DocumentRef struct {
	Project string `json:"project"`
	Stack   string `json:"stack"`
}

// ResourceRef identifies a resource.
type ResourceRef struct {
	URN  string `json:"urn"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// ResourceChange is a resource present on both sides that differs.
type ResourceChange struct {
	ResourceRef
	// Inputs are the changed inputs, by deep path.
	Inputs []ValueChange `json:"inputs"`
	// DependenciesAdded and DependenciesRemoved are URNs the resource waits on in head only,
	// or in base only.
	DependenciesAdded   []string `json:"dependenciesAdded"`
	DependenciesRemoved []string `json:"dependenciesRemoved"`
	// Attributes are changes of parent, provider or custom/component kind.
	Attributes []ValueChange `json:"attributes"`
}

// Change kinds of a value.
const (
	OpAdd    = "add"    // only in head
	OpRemove = "remove" // only in base
	OpChange = "change" // on both sides, different
)

// ValueChange is one changed value. Path is dotted ("values.env.role", "rules.0.host"); a map
// key holding a dot or bracket is quoted in brackets (`metadata.annotations["a.b/c"]`). Parts is
// the same path, one element a part, for tools.
type ValueChange struct {
	Path   string   `json:"path"`
	Parts  []string `json:"parts"`
	Op     string   `json:"op"`
	Before any      `json:"before"`
	After  any      `json:"after"`
	// Note says why a value is shown as "[secret]" although one side is not secret.
	Note string `json:"note,omitempty"`
}

// Summary counts resources as `pulumi preview` does.
type Summary struct {
	Add    int `json:"add"`
	Change int `json:"change"`
	Delete int `json:"delete"`
	// OutputsChanged counts changed stack outputs; LookupsChanged added and removed lookups.
	OutputsChanged int `json:"outputsChanged"`
	LookupsChanged int `json:"lookupsChanged"`
}

// Empty reports whether the two documents are the same.
func (d *Diff) Empty() bool {
	s := d.Summary
	return s.Add+s.Change+s.Delete+s.OutputsChanged+s.LookupsChanged == 0
}

// String is the summary line: "N to add, N to change, N to delete".
func (s Summary) String() string {
	line := fmt.Sprintf("%d to add, %d to change, %d to delete", s.Add, s.Change, s.Delete)
	if s.OutputsChanged > 0 {
		line += fmt.Sprintf(", %d output%s changed", s.OutputsChanged, plural(s.OutputsChanged))
	}
	if s.LookupsChanged > 0 {
		line += fmt.Sprintf(", %d lookup%s changed", s.LookupsChanged, plural(s.LookupsChanged))
	}
	return line
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Compare returns the structural difference from base to head.
func Compare(base, head *Document) *Diff {
	d := &Diff{
		Base:           DocumentRef{Project: base.Project, Stack: base.Stack},
		Head:           DocumentRef{Project: head.Project, Stack: head.Stack},
		Added:          []ResourceRef{},
		Removed:        []ResourceRef{},
		Changed:        []ResourceChange{},
		LookupsAdded:   []string{},
		LookupsRemoved: []string{},
	}
	baseByURN, headByURN := indexByURN(base), indexByURN(head)
	for _, urn := range sortedKeys(headByURN) {
		if _, ok := baseByURN[urn]; !ok {
			d.Added = append(d.Added, refOf(headByURN[urn]))
		}
	}
	for _, urn := range sortedKeys(baseByURN) {
		b := baseByURN[urn]
		h, ok := headByURN[urn]
		if !ok {
			d.Removed = append(d.Removed, refOf(b))
			continue
		}
		if c, changed := compareResources(b, h); changed {
			d.Changed = append(d.Changed, c)
		}
	}
	d.Outputs = diffValues(nil, base.Outputs, head.Outputs)
	d.LookupsAdded, d.LookupsRemoved = setDifference(lookupKeys(head), lookupKeys(base))
	d.Summary = Summary{
		Add: len(d.Added), Change: len(d.Changed), Delete: len(d.Removed),
		OutputsChanged: len(d.Outputs),
		LookupsChanged: len(d.LookupsAdded) + len(d.LookupsRemoved),
	}
	return d
}

func indexByURN(doc *Document) map[string]Resource {
	m := make(map[string]Resource, len(doc.Resources))
	for _, r := range doc.Resources {
		m[r.URN] = r
	}
	return m
}

func refOf(r Resource) ResourceRef {
	return ResourceRef{URN: r.URN, Type: r.Type, Name: r.Name}
}

// compareResources returns how h differs from b, and whether it does.
func compareResources(b, h Resource) (ResourceChange, bool) {
	c := ResourceChange{ResourceRef: refOf(h)}
	c.Inputs = diffValues(nil, b.Inputs, h.Inputs)
	c.DependenciesAdded, c.DependenciesRemoved = setDifference(h.Dependencies, b.Dependencies)
	c.Attributes = diffValues(nil,
		map[string]any{"parent": b.Parent, "provider": b.Provider, "custom": b.Custom},
		map[string]any{"parent": h.Parent, "provider": h.Provider, "custom": h.Custom})
	changed := len(c.Inputs)+len(c.DependenciesAdded)+len(c.DependenciesRemoved)+len(c.Attributes) > 0
	return c, changed
}

// diffValues compares two values at a path, descending into maps and lists (list elements by
// index), and returns the differences in path order.
func diffValues(path []string, before, after any) []ValueChange {
	out := []ValueChange{}
	walkDiff(path, before, after, &out)
	return out
}

func walkDiff(path []string, before, after any, out *[]ValueChange) {
	if before == Secret || after == Secret {
		if before != after {
			*out = append(*out, secretChange(path, before, after))
		}
		return
	}
	switch b := before.(type) {
	case map[string]any:
		if a, ok := after.(map[string]any); ok {
			walkMaps(path, b, a, out)
			return
		}
	case []any:
		if a, ok := after.([]any); ok {
			walkLists(path, b, a, out)
			return
		}
	}
	if !reflect.DeepEqual(before, after) {
		*out = append(*out, newChange(path, OpChange, before, after))
	}
}

func walkMaps(path []string, before, after map[string]any, out *[]ValueChange) {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		b, inBase := before[k]
		a, inHead := after[k]
		p := appendPath(path, k)
		switch {
		case !inBase:
			*out = append(*out, newChange(p, OpAdd, nil, a))
		case !inHead:
			*out = append(*out, newChange(p, OpRemove, b, nil))
		default:
			walkDiff(p, b, a, out)
		}
	}
}

func walkLists(path []string, before, after []any, out *[]ValueChange) {
	for i := 0; i < max(len(before), len(after)); i++ {
		p := appendPath(path, strconv.Itoa(i))
		switch {
		case i >= len(before):
			*out = append(*out, newChange(p, OpAdd, nil, after[i]))
		case i >= len(after):
			*out = append(*out, newChange(p, OpRemove, before[i], nil))
		default:
			walkDiff(p, before[i], after[i], out)
		}
	}
}

func appendPath(path []string, part string) []string {
	return append(append([]string(nil), path...), part)
}

func newChange(path []string, op string, before, after any) ValueChange {
	return ValueChange{Path: joinPath(path), Parts: nonNil(path), Op: op, Before: before, After: after}
}

// secretChange is a change where one side only is secret: both sides are shown as "[secret]"
// (a null stays null), since the plaintext side is likely the very value the other hides.
func secretChange(path []string, before, after any) ValueChange {
	c := newChange(path, OpChange, redact(before), redact(after))
	switch {
	case before == nil || after == nil:
	case before == Secret:
		c.Note = "no longer secret"
	default:
		c.Note = "became secret"
	}
	return c
}

func redact(v any) any {
	if v == nil {
		return nil
	}
	return Secret
}

// joinPath writes a path as dots, quoting a key that holds a dot, a bracket or a quote.
func joinPath(parts []string) string {
	b := &strings.Builder{}
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, `.[]"`) {
			b.WriteString("[" + strconv.Quote(p) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// setDifference returns the elements only in a and only in b, sorted and deduplicated.
func setDifference(a, b []string) (onlyA, onlyB []string) {
	inA, inB := toSet(a), toSet(b)
	onlyA, onlyB = []string{}, []string{}
	for _, s := range sortedKeys(inA) {
		if !inB[s] {
			onlyA = append(onlyA, s)
		}
	}
	for _, s := range sortedKeys(inB) {
		if !inA[s] {
			onlyB = append(onlyB, s)
		}
	}
	return onlyA, onlyB
}

func toSet(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

func lookupKeys(doc *Document) []string {
	keys := make([]string, 0, len(doc.Invokes))
	for _, inv := range doc.Invokes {
		args, _ := json.Marshal(inv.Args) // map keys sorted: a stable key
		keys = append(keys, inv.Token+" "+string(args))
	}
	return keys
}

// WriteDiffText writes the difference for people, ending with the summary line.
func WriteDiffText(w io.Writer, d *Diff) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Diff %s/%s (base) -> %s/%s (head)\n", d.Base.Project, d.Base.Stack, d.Head.Project, d.Head.Stack)
	writeRefs(b, "+", "to add", d.Added)
	writeChanges(b, d.Changed)
	writeRefs(b, "-", "to delete", d.Removed)
	if len(d.Outputs) > 0 {
		b.WriteString("\nOutputs:\n")
		writeValueChanges(b, "  ", d.Outputs)
	}
	if len(d.LookupsAdded)+len(d.LookupsRemoved) > 0 {
		b.WriteString("\nLookups:\n")
		for _, l := range d.LookupsAdded {
			fmt.Fprintf(b, "  + %s\n", l)
		}
		for _, l := range d.LookupsRemoved {
			fmt.Fprintf(b, "  - %s\n", l)
		}
	}
	if d.Empty() {
		b.WriteString("\nNo differences.\n")
	}
	fmt.Fprintf(b, "\n%s\n", d.Summary)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRefs(b *strings.Builder, mark, title string, refs []ResourceRef) {
	if len(refs) == 0 {
		return
	}
	fmt.Fprintf(b, "\nResources %s:\n", title)
	for _, r := range refs {
		fmt.Fprintf(b, "  %s %s %q\n      %s\n", mark, r.Type, r.Name, shortURN(r.URN))
	}
}

func writeChanges(b *strings.Builder, changes []ResourceChange) {
	if len(changes) == 0 {
		return
	}
	b.WriteString("\nResources to change:\n")
	for _, c := range changes {
		fmt.Fprintf(b, "  ~ %s %q\n      %s\n", c.Type, c.Name, shortURN(c.URN))
		writeValueChanges(b, "      ", c.Attributes)
		writeValueChanges(b, "      ", c.Inputs)
		for _, dep := range c.DependenciesAdded {
			fmt.Fprintf(b, "      + waits on: %s\n", shortURN(dep))
		}
		for _, dep := range c.DependenciesRemoved {
			fmt.Fprintf(b, "      - waits on: %s\n", shortURN(dep))
		}
	}
}

func writeValueChanges(b *strings.Builder, indent string, changes []ValueChange) {
	for _, c := range changes {
		note := ""
		if c.Note != "" {
			note = " (" + c.Note + ")"
		}
		switch c.Op {
		case OpAdd:
			fmt.Fprintf(b, "%s+ %s: %s%s\n", indent, c.Path, compact(c.After), note)
		case OpRemove:
			fmt.Fprintf(b, "%s- %s: %s%s\n", indent, c.Path, compact(c.Before), note)
		default:
			fmt.Fprintf(b, "%s~ %s: %s -> %s%s\n", indent, c.Path, compact(c.Before), compact(c.After), note)
		}
	}
}

// compact prints a value on one line: scalars as synth prints them (strings quoted when they
// hold spaces or line breaks, or are empty), maps and lists as JSON.
func compact(v any) string {
	switch x := v.(type) {
	case map[string]any, []any:
		out, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(out)
	case string:
		if x == "" || strings.ContainsAny(x, " \t\n\"") {
			return strconv.Quote(x)
		}
		return x
	default:
		return scalar(x)
	}
}

// WriteDiffJSON writes the difference as indented JSON.
func WriteDiffJSON(w io.Writer, d *Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// DiffCommand is `diff BASE.json HEAD.json`: the structural difference of two synth JSON
// documents (written by `synth --format json`). It exits 0 after printing the difference, 1
// when --exit-code is given and there are differences, and 2 on bad usage or an unreadable
// document (as diff(1) does). Flags may come before or after the two files.
func DiffCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output format: text (for people) or json (for tools)")
	exitCode := fs.Bool("exit-code", false, "exit 1 when the documents differ")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: diff [--format text|json] [--exit-code] BASE.json HEAD.json")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "diff: --format must be text or json, got %q\n", *format)
		return 2
	}
	if len(files) != 2 {
		fmt.Fprintf(stderr, "diff: want two synth JSON files (base and head), got %d\n", len(files))
		fs.Usage()
		return 2
	}
	base, err := readDocumentFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "diff: base: %v\n", err)
		return 2
	}
	head, err := readDocumentFile(files[1])
	if err != nil {
		fmt.Fprintf(stderr, "diff: head: %v\n", err)
		return 2
	}
	d := Compare(base, head)
	if *format == "json" {
		err = WriteDiffJSON(stdout, d)
	} else {
		err = WriteDiffText(stdout, d)
	}
	if err != nil {
		fmt.Fprintf(stderr, "diff: writing: %v\n", err)
		return 2
	}
	if *exitCode && !d.Empty() {
		return 1
	}
	return 0
}

// parseInterspersed parses flags wherever they stand among the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func readDocumentFile(path string) (*Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}
