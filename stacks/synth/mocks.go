package synth

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// Mocks answers resource registrations and invokes as AWS and Kubernetes would (IDs, ARNs,
// hostnames of the right shape, derived deterministically from names so two runs agree), and
// records everything for the synth document.
type Mocks struct {
	Project, Stack, Region string

	mu        sync.Mutex
	resources []Resource
	invokes   []Invoke
}

// NewMocks returns mocks for one run.
func NewMocks(project, stack, region string) *Mocks {
	return &Mocks{Project: project, Stack: stack, Region: region}
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewResource records a registration and answers with the provider's state.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	r := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: plainMap(args.Inputs),
	}
	if rpc != nil {
		r.Parent = rpc.GetParent()
		r.URN = m.urn(r.Parent, r.Type, r.Name)
		deps := map[string]bool{}
		for _, d := range rpc.GetDependencies() {
			deps[d] = true
		}
		for _, pd := range rpc.GetPropertyDependencies() {
			for _, d := range pd.GetUrns() {
				deps[d] = true
			}
		}
		for _, ref := range resourceRefs(args.Inputs) { // a resource passed as an input is waited on too
			deps[ref] = true
		}
		for d := range deps {
			r.Dependencies = append(r.Dependencies, d)
		}
		sort.Strings(r.Dependencies)
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		if h := rpc.GetHooks(); h != nil {
			r.DeleteHooks = append(append([]string(nil), h.GetBeforeDelete()...), h.GetAfterDelete()...)
		}
		if p := rpc.GetProvider(); p != "" { // a provider reference is "<urn>::<id>"
			r.Provider = p[:max(strings.LastIndex(p, "::"), 0)]
		}
	}
	r.Dependencies = nonNil(r.Dependencies)
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	id, state, err := m.answer(args.TypeToken, args.Name, args.Custom, args.Inputs)
	if err != nil {
		return "", nil, fmt.Errorf("synth mocks: %w", err)
	}
	return id, state, nil
}

// Call records an invoke and answers it.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, Invoke{Token: args.Token, Args: plainMap(args.Args)})
	m.mu.Unlock()
	out, err := answers.Cloud{Region: m.Region}.Invoke(args.Token, args.Args)
	if err != nil {
		return nil, fmt.Errorf("synth mocks: %w", err)
	}
	return out, nil
}

// Recorded returns what was registered and invoked, sorted so that two runs compare equal.
func (m *Mocks) Recorded() ([]Resource, []Invoke) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := append([]Resource(nil), m.resources...)
	inv := append([]Invoke(nil), m.invokes...)
	sort.Slice(res, func(i, j int) bool { return res[i].URN < res[j].URN })
	sort.Slice(inv, func(i, j int) bool {
		if inv[i].Token != inv[j].Token {
			return inv[i].Token < inv[j].Token
		}
		a, _ := json.Marshal(inv[i].Args)
		b, _ := json.Marshal(inv[j].Args)
		return string(a) < string(b)
	})
	return res, inv
}

// urn builds a resource's URN the way the engine does.
func (m *Mocks) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType, tokens.Type(typ), name))
}

// answer returns the ID and state a provider would (components have none). AWS and random answer from the shared
// answers; Kubernetes objects get the IDs the Kubernetes provider gives them, and an Ingress
// the status hostname the load balancer controller writes.
func (m *Mocks) answer(typ, name string, custom bool, inputs resource.PropertyMap) (string, resource.PropertyMap, error) {
	if !custom { // a component: the engine gives it no ID
		return "", inputs.Copy(), nil
	}
	if strings.HasPrefix(typ, "pulumi:providers:") {
		return answers.UUIDOf(typ, name), inputs.Copy(), nil
	}
	if !strings.HasPrefix(typ, "kubernetes:") {
		return answers.Cloud{Region: m.Region}.Resource(typ, name, inputs)
	}
	state := inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	meta := object(inputs["metadata"])
	ns, n := answers.String(meta, "namespace"), answers.String(meta, "name")
	switch typ {
	case "kubernetes:helm.sh/v3:Release":
		rel := answers.String(inputs, "name")
		if rel == "" {
			rel = name
		}
		ns = answers.String(inputs, "namespace")
		if ns == "" {
			ns = "default"
		}
		set("status", map[string]any{"name": rel, "namespace": ns, "status": "deployed", "revision": 1.0,
			"chart": answers.String(inputs, "chart"), "version": answers.String(inputs, "version")})
		return ns + "/" + rel, state, nil
	case "kubernetes:networking.k8s.io/v1:Ingress":
		set("status", map[string]any{"loadBalancer": map[string]any{"ingress": []any{
			map[string]any{"hostname": answers.ALBHostname(m.Region, ns, n)},
		}}})
	}
	if ns != "" {
		return ns + "/" + n, state, nil
	}
	return n, state, nil
}

// resourceRefs lists the URNs of the resources referenced anywhere in the inputs.
func resourceRefs(m resource.PropertyMap) []string {
	var out []string
	var walk func(v resource.PropertyValue)
	walk = func(v resource.PropertyValue) {
		switch {
		case v.IsResourceReference():
			out = append(out, string(v.ResourceReferenceValue().URN))
		case v.IsSecret():
			walk(v.SecretValue().Element)
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e)
			}
		}
	}
	for _, v := range m {
		walk(v)
	}
	return out
}

func object(v resource.PropertyValue) resource.PropertyMap {
	if v.IsObject() {
		return v.ObjectValue()
	}
	return resource.PropertyMap{}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
