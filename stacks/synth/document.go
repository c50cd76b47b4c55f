// Package synth runs the real program under Pulumi mocks and prints the desired state: the
// project's offline preview. It also compares two synth documents (diff) and models the time
// from `pulumi up` to a working environment (estimate).
package synth

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Placeholders for values that cannot be shown.
const (
	Computed = "<computed>" // known only after deployment
	Secret   = "[secret]"   // never printed
)

// Document is the desired state of one stack.
type Document struct {
	Project   string         `json:"project"`
	Stack     string         `json:"stack"`
	Resources []Resource     `json:"resources"`
	Invokes   []Invoke       `json:"invokes"`
	Outputs   map[string]any `json:"outputs"`
}

// Resource is one registered resource.
type Resource struct {
	URN    string `json:"urn"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	Parent string `json:"parent"`
	Custom bool   `json:"custom"`
	// Provider is the URN of the explicit provider, if any.
	Provider string `json:"provider,omitempty"`
	// Dependencies lists every resource this one waits on: explicit (dependsOn) and through
	// its inputs.
	Dependencies []string       `json:"dependencies"`
	Inputs       map[string]any `json:"inputs"`
	// DeleteHooks names the hooks the engine runs before and after deleting it (which make
	// `pulumi destroy` need --run-program).
	DeleteHooks []string `json:"deleteHooks,omitempty"`
	// RetainOnDelete: deleting it from the stack leaves it in the cloud or the cluster.
	RetainOnDelete bool `json:"retainOnDelete,omitempty"`
}

// Invoke is one provider function call (a lookup).
type Invoke struct {
	Token string         `json:"token"`
	Args  map[string]any `json:"args"`
}

// Find returns the resources of a type, in URN order.
func (d *Document) Find(typ string) []Resource {
	var out []Resource
	for _, r := range d.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// ByURN returns the resource with that URN.
func (d *Document) ByURN(urn string) (Resource, bool) {
	for _, r := range d.Resources {
		if r.URN == urn {
			return r, true
		}
	}
	return Resource{}, false
}

// plainMap turns property values into JSON-friendly values: secrets become "[secret]",
// unknowns "<computed>", resource references their URN.
func plainMap(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if strings.HasPrefix(string(k), "__") { // __defaults and the like
			continue
		}
		out[string(k)] = plain(v)
	}
	return out
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Secret
	case v.IsComputed(), v.IsOutput() && !v.OutputValue().Known:
		return Computed
	case v.IsOutput():
		if v.OutputValue().Secret {
			return Secret
		}
		return plain(v.OutputValue().Element)
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsArray():
		items := make([]any, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			items = append(items, plain(e))
		}
		return items
	case v.IsObject():
		return plainMap(v.ObjectValue())
	case v.IsNull():
		return nil
	case v.IsAsset() || v.IsArchive():
		return "<asset>"
	default:
		return v.V
	}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Named returns the resource of a type with a logical name.
func (d *Document) Named(typ, name string) (Resource, bool) {
	for _, r := range d.Resources {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// WaitsOn reports whether r waits on the resource with URN dep, directly.
func (r Resource) WaitsOn(dep string) bool {
	for _, d := range r.Dependencies {
		if d == dep {
			return true
		}
	}
	return false
}

// Input returns the input at a dotted path ("values.env.role", "rules.0.host"), or nil.
func (r Resource) Input(path string) any {
	return Lookup(r.Inputs, path)
}

// Annotation returns a metadata annotation of a Kubernetes resource ("" if absent); its key
// has dots, so it is not a dotted path.
func (r Resource) Annotation(key string) string {
	s, _ := LookupParts(r.Inputs, "metadata", "annotations", key).(string)
	return s
}

// Lookup follows a dotted path through maps and lists (list elements by index).
func Lookup(v any, path string) any {
	return LookupParts(v, strings.Split(path, ".")...)
}

// LookupParts follows a path given part by part.
func LookupParts(v any, parts ...string) any {
	for _, part := range parts {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Strings returns the strings of a list value (a list input of a resource, an output);
// anything else gives none.
func Strings(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, i := range items {
		s, _ := i.(string)
		out = append(out, s)
	}
	return out
}
