package fakecloud

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// defaultsKey is the reserved input the bridge's Check writes (reservedkeys.Defaults): the
// properties it filled in by default, autonamed names among them. It is bookkeeping, never
// compared and never sent to the cloud.
const defaultsKey = resource.PropertyKey("__defaults")

// withDefaultsList is the checked inputs as the bridge's Check leaves them: with the list of
// properties filled in by default. The fake fills in only the names of the types whose rules
// say Autoname (autonamed); every other name in the inputs is one the program set.
func withDefaultsList(news resource.PropertyMap, filled ...string) resource.PropertyMap {
	out := news.Copy()
	if _, ok := out[defaultsKey]; !ok {
		list := []resource.PropertyValue{}
		for _, k := range filled {
			list = append(list, resource.NewStringProperty(k))
		}
		out[defaultsKey] = resource.NewArrayProperty(list)
	}
	return out
}

// autonamed fills in the rules' autonamed property as pulumi-terraform-bridge's Check does
// when the program leaves it (and NAMEPrefix) out: the old resource's name if it had one
// filled in, else the resource's name, "-" and seven hex digits (resource.NewUniqueHex).
// The engine checks a resource it is about to replace again without its olds
// (pkg/resource/deploy/step_generator.go, "recompute the default values"), so the new half
// of a replacement gets a name of its own. It returns the property filled in, if any.
func autonamed(rules resourceRules, name string, olds, news resource.PropertyMap, seed []byte) (resource.PropertyMap, string) {
	if !rules.Autoname || len(rules.AutoNamed) == 0 {
		return news, ""
	}
	key := resource.PropertyKey(rules.AutoNamed[0])
	if v, ok := news[key]; ok && !v.IsNull() {
		return news, ""
	}
	if v, ok := news[key+"Prefix"]; ok && !v.IsNull() {
		return news, ""
	}
	out := news.Copy()
	if old, ok := olds[key]; ok && old.IsString() && filledIn(olds, string(key)) {
		out[key] = old
	} else {
		out[key] = resource.NewStringProperty(name + "-" + answers.HexOf(7, name, string(seed)))
	}
	return out, string(key)
}

// filledIn reports whether the checked inputs list key among the properties filled in.
func filledIn(checked resource.PropertyMap, key string) bool {
	defaults, ok := checked[defaultsKey]
	if !ok || !defaults.IsArray() {
		return false
	}
	for _, k := range defaults.ArrayValue() {
		if k.IsString() && k.StringValue() == key {
			return true
		}
	}
	return false
}

// withoutDefaultsList is the inputs without the bridge's bookkeeping.
func withoutDefaultsList(m resource.PropertyMap) resource.PropertyMap {
	if _, ok := m[defaultsKey]; !ok {
		return m
	}
	out := m.Copy()
	delete(out, defaultsKey)
	return out
}

// diffResource is a resource's diff as the bridged provider answers it: the changed inputs,
// each a replacement where the rules say so, in the bridge's order.
func diffResource(rules resourceRules, olds, news resource.PropertyMap, ignore []string) plugin.DiffResult {
	prunedOlds, prunedNews := prune(olds, ignore), prune(news, ignore)
	res := diffInputs(prunedOlds, prunedNews)
	if res.Changes != plugin.DiffSome {
		return res
	}
	var replaced []resource.PropertyPath
	for _, r := range rules.Replace {
		path := splitPath(r.Path)
		if r.replaces(project(resource.NewObjectProperty(prunedOlds), path), project(resource.NewObjectProperty(prunedNews), path)) {
			replaced = append(replaced, path)
		}
	}
	if len(replaced) == 0 {
		return res
	}
	keys := map[resource.PropertyKey]bool{}
	for _, p := range replaced {
		keys[resource.PropertyKey(p[0].(string))] = true
	}
	for k := range keys {
		res.ReplaceKeys = append(res.ReplaceKeys, k)
	}
	sort.Slice(res.ReplaceKeys, func(i, j int) bool { return res.ReplaceKeys[i] < res.ReplaceKeys[j] })
	markReplacements(res.DetailedDiff, replaced)
	res.DeleteBeforeReplace = deleteBeforeReplace(rules, news)
	return res
}

// diffInputs compares two input maps: which top-level keys changed, and the detailed diff.
func diffInputs(olds, news resource.PropertyMap) plugin.DiffResult {
	d := olds.Diff(news)
	if d == nil || !d.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}
	}
	changed := d.ChangedKeys()
	sort.Slice(changed, func(i, j int) bool { return changed[i] < changed[j] })
	return plugin.DiffResult{Changes: plugin.DiffSome, ChangedKeys: changed,
		DetailedDiff: plugin.NewDetailedDiffFromObjectDiff(d, true)}
}

// prune is a deep copy of the inputs as the providers compare them: plain values (see
// plain), without the bridge's bookkeeping and without the ignored paths (the engine has
// already put the old values there; taking them out of both sides keeps them out of the diff
// whatever it sent).
func prune(m resource.PropertyMap, ignore []string) resource.PropertyMap {
	obj := plain(resource.NewObjectProperty(withoutDefaultsList(m)))
	for _, s := range ignore {
		if p, err := resource.ParsePropertyPath(s); err == nil {
			p.Delete(obj)
		}
	}
	return obj.ObjectValue()
}

// markReplacements turns the detailed diff's entries at, under or above a replaced path
// into replacements, so the engine's display says which property forces the replacement.
func markReplacements(detailed map[string]plugin.PropertyDiff, replaced []resource.PropertyPath) {
	for k, d := range detailed {
		p, err := resource.ParsePropertyPath(k)
		if err != nil {
			continue
		}
		p = withoutIndexes(p)
		for _, r := range replaced {
			if r.Contains(p) || p.Contains(r) {
				d.Kind = d.Kind.AsReplace()
				detailed[k] = d
				break
			}
		}
	}
}

// withoutIndexes drops the array indexes of a path: a rule's path names a property in every
// element of a list.
func withoutIndexes(p resource.PropertyPath) resource.PropertyPath {
	var out resource.PropertyPath
	for _, seg := range p {
		if s, ok := seg.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// deleteBeforeReplace is pulumi-terraform-bridge's order for a replacement
// (pkg/tfbridge/provider.go, Diff, and pkg/tfbridge/schema.go, nameRequiresDeleteBeforeReplace,
// lines 195-246 at v3.110.0, unchanged to v3.119.0): delete before create when the resource
// info asks for it (none of the program's types does) or when an autonamed property was set
// by the program rather than by the autonamer, since the new resource would then take the
// name the old one still holds. Inputs without the defaults list (written before the bridge
// kept it) count as autonamed.
func deleteBeforeReplace(rules resourceRules, news resource.PropertyMap) bool {
	defaults, ok := news[defaultsKey]
	if !ok || !defaults.IsArray() {
		return false
	}
	filled := map[string]bool{}
	for _, k := range defaults.ArrayValue() {
		if k.IsString() {
			filled[k.StringValue()] = true
		}
	}
	for _, k := range rules.AutoNamed {
		if v, set := news[resource.PropertyKey(k)]; set && !v.IsNull() && !filled[k] {
			return true
		}
	}
	return false
}

// replaces reports whether the values at the rule's path, old and new, make a replacement.
func (r replaceRule) replaces(old, new resource.PropertyValue) bool {
	if hasUnknown(new) || hasUnknown(old) {
		// A ForceNew attribute whose new value is not known yet plans a replacement
		// ("known after apply # forces replacement").
		return true
	}
	if r.Computed && isAbsent(new) {
		return false
	}
	if r.Default != nil {
		if isAbsent(old) {
			old = *r.Default
		}
		if isAbsent(new) {
			new = *r.Default
		}
	}
	if isAbsent(old) && isAbsent(new) {
		return false
	}
	if r.Set {
		old, new = sorted(old), sorted(new)
	}
	if old.DeepEquals(new) {
		return false
	}
	return r.If == nil || r.If(old, new)
}

func splitPath(s string) resource.PropertyPath {
	var p resource.PropertyPath
	for _, seg := range strings.Split(s, ".") {
		p = append(p, seg)
	}
	return p
}

// project is the value at a path of property names: through objects, and through every
// element of an array (the result is then an array of the elements' values). A missing
// property is null; an unknown value on the way is unknown.
func project(v resource.PropertyValue, path resource.PropertyPath) resource.PropertyValue {
	v = plain(v)
	if len(path) == 0 {
		return v
	}
	switch {
	case v.IsComputed():
		return v
	case v.IsObject():
		next, ok := v.ObjectValue()[resource.PropertyKey(path[0].(string))]
		if !ok {
			return resource.NewNullProperty()
		}
		return project(next, path[1:])
	case v.IsArray():
		var out []resource.PropertyValue
		for _, e := range v.ArrayValue() {
			out = append(out, project(e, path))
		}
		return resource.NewArrayProperty(out)
	}
	return resource.NewNullProperty()
}

// plain unwraps secrets and known outputs (the providers compare values, not their
// secretness) and turns unknown outputs into computed values.
func plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		if !v.OutputValue().Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return plain(v.OutputValue().Element)
	case v.IsArray():
		out := make([]resource.PropertyValue, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			out = append(out, plain(e))
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			out[k] = plain(e)
		}
		return resource.NewObjectProperty(out)
	}
	return v
}

func hasUnknown(v resource.PropertyValue) bool {
	v = plain(v)
	switch {
	case v.IsComputed():
		return true
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if hasUnknown(e) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if hasUnknown(e) {
				return true
			}
		}
	}
	return false
}

// isAbsent: left out (null).
func isAbsent(v resource.PropertyValue) bool { return plain(v).IsNull() }

// sorted is a set's elements in a stable order (by their JSON), for comparing as sets.
func sorted(v resource.PropertyValue) resource.PropertyValue {
	if !v.IsArray() {
		return v
	}
	elems := append([]resource.PropertyValue(nil), v.ArrayValue()...)
	key := func(e resource.PropertyValue) string {
		b, _ := json.Marshal(e.Mappable())
		return string(b)
	}
	sort.Slice(elems, func(i, j int) bool { return key(elems[i]) < key(elems[j]) })
	return resource.NewArrayProperty(elems)
}
