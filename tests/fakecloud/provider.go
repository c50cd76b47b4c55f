package fakecloud

import (
	"time"

	"context"
	"fmt"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// Provider is a resource provider plugin (aws or random) that answers from the shared answers
// and keeps its resources in the world. It supports what the program uses of the providers:
// check, diff on inputs, create, read (refresh), update, delete and invoke.
type Provider struct {
	plugin.UnimplementedProvider

	Name    string // aws or random
	Version semver.Version
	World   *World

	cloud answers.Cloud
}

var _ plugin.Provider = (*Provider)(nil)

// GetPluginInfo reports the version the engine installed the plugin as.
func (p *Provider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v := p.Version
	return plugin.PluginInfo{Version: &v}, nil
}

// GetSchema is empty: Go programs never ask for it.
func (p *Provider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: []byte("{}")}, nil
}

// CheckConfig requires aws:region, as the real aws provider does when no profile gives one.
func (p *Provider) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	if p.Name == "aws" && answers.String(req.News, "region") == "" && !req.News["region"].IsComputed() {
		return plugin.CheckConfigResponse{Failures: []plugin.CheckFailure{{Property: "region",
			Reason: "missing required configuration key aws:region"}}}, nil
	}
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

// DiffConfig reports changed keys, never a replacement.
func (p *Provider) DiffConfig(_ context.Context, req plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return diffInputs(prune(req.OldInputs, nil), prune(req.NewInputs, nil)), nil
}

// Configure takes the region every answer is in, and points EKS clusters at the world's endpoint.
func (p *Provider) Configure(_ context.Context, req plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	ep, err := p.World.Endpoint()
	if err != nil {
		return plugin.ConfigureResponse{}, fmt.Errorf("fakecloud: reading the world's endpoint: %w", err)
	}
	p.cloud = answers.Cloud{Region: answers.String(req.Inputs, "region"), ClusterEndpoint: func(string) answers.Endpoint { return ep.Endpoint }}
	return plugin.ConfigureResponse{}, nil
}

// Check accepts the inputs of a type the answers and the replacement rules know, and fails
// loudly, naming it, otherwise. The checked inputs carry the bridge's list of defaulted
// properties (empty: the fake fills in none), which the order of a replacement reads.
func (p *Provider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	rules, err := rulesFor(string(req.Type))
	if err != nil {
		return plugin.CheckResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	news, filled := autonamed(rules, req.Name, req.Olds, withoutDefaultsList(req.News), req.RandomSeed)
	if _, _, err := p.cloud.Resource(string(req.Type), req.Name, news); err != nil {
		return plugin.CheckResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	if filled == "" {
		return plugin.CheckResponse{Properties: withDefaultsList(news)}, nil
	}
	return plugin.CheckResponse{Properties: withDefaultsList(news, filled)}, nil
}

// Diff compares the old and new inputs, leaving out the ignored paths, and answers a change
// of a property the real provider replaces on as a replacement, in the bridge's order
// (diffResource). A type without rules fails loudly, naming it.
func (p *Provider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	rules, err := rulesFor(string(req.Type))
	if err != nil {
		return plugin.DiffResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	olds := req.OldInputs
	if string(req.Type) == rdsInstance {
		olds = rdsPlannedFrom(olds, req.OldOutputs)
	}
	return diffResource(rules, olds, req.NewInputs, req.IgnoreChanges), nil
}

// Create answers; in a preview the computed outputs stay unknown, as the real providers leave
// them. AWS refuses a name a live resource holds (names.go), and EKS a version its rules
// refuse (eks_rules.go), which also fill in the versions EKS picks. An EKS cluster records the
// calling principal (PrincipalEnv) as its creator.
func (p *Provider) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	inputs := withoutDefaultsList(req.Properties)
	if err := p.record(Call{Method: "Create", Type: string(req.Type), URN: string(req.URN), Inputs: Plain(inputs), Preview: req.Preview}); err != nil {
		return plugin.CreateResponse{}, err
	}
	if req.Preview {
		return plugin.CreateResponse{Properties: inputs}, nil
	}
	id, state, err := p.cloud.Resource(string(req.Type), req.Name, inputs)
	if err != nil {
		return plugin.CreateResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	unique := uniqueNames[string(req.Type)]
	r := Resource{Type: string(req.Type), URN: string(req.URN), ID: id, Changed: time.Now()}
	if r.Type == eksCluster {
		// EKS remembers who created the cluster: its administrator while the bootstrap holds.
		if r.Creator, err = CallerPrincipal(); err != nil {
			return plugin.CreateResponse{}, err
		}
	}
	if unique.key != nil {
		r.Key = unique.key(inputs)
	}
	refuse := func() error { return unique.taken(inputs) }
	err = p.World.locked(func() error {
		if err := p.World.eksRules(&r, nil, inputs, state); err != nil {
			return err
		}
		if err := p.World.identityRules(&r, nil, inputs); err != nil {
			return err
		}
		if err := p.World.rdsRules(&r, nil, inputs, state); err != nil {
			return err
		}
		r.Outputs = Plain(state)
		return p.World.add(r, unique.upsert, refuse)
	})
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: state, Status: resource.StatusOK}, nil
}

// Read is a refresh: a resource the world still has keeps its state; one it lost is gone.
func (p *Provider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	if err := p.record(Call{Method: "Read", Type: string(req.Type), URN: string(req.URN), ID: string(req.ID)}); err != nil {
		return plugin.ReadResponse{}, err
	}
	_, ok, err := p.World.Get(string(req.Type), string(req.ID))
	if err != nil || !ok {
		return plugin.ReadResponse{}, err
	}
	state := req.State
	if string(req.Type) == rdsInstance {
		if state, err = p.World.rdsRunning(string(req.ID), state); err != nil {
			return plugin.ReadResponse{}, err
		}
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: state}, Status: resource.StatusOK}, nil
}

// Update answers for the new inputs, keeping the ID, unless EKS's version rules refuse the
// change (eks_rules.go). A preview answers the old state with the new inputs over it, as the
// bridge's planned state keeps the computed outputs a change leaves alone (the resource's ARN
// stays known to what depends on it).
func (p *Provider) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	inputs := withoutDefaultsList(req.NewInputs)
	if err := p.record(Call{Method: "Update", Type: string(req.Type), URN: string(req.URN), ID: string(req.ID), Inputs: Plain(inputs), Preview: req.Preview}); err != nil {
		return plugin.UpdateResponse{}, err
	}
	if req.Preview {
		planned := withoutDefaultsList(req.OldOutputs).Copy()
		for k, v := range inputs {
			planned[k] = overlay(planned[k], v)
		}
		return plugin.UpdateResponse{Properties: planned}, nil
	}
	_, state, err := p.cloud.Resource(string(req.Type), req.Name, inputs)
	if err != nil {
		return plugin.UpdateResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	r := Resource{Type: string(req.Type), URN: string(req.URN), ID: string(req.ID), Changed: time.Now()}
	err = p.World.locked(func() error {
		// What the resource is now: the world's record, or the engine's when the world lost it.
		old, ok, err := p.World.Get(r.Type, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			old = Resource{Type: r.Type, ID: r.ID, Outputs: Plain(withoutDefaultsList(req.OldOutputs))}
		}
		if err := p.World.eksRules(&r, &old, inputs, state); err != nil {
			return err
		}
		if err := p.World.identityRules(&r, &old, inputs); err != nil {
			return err
		}
		if err := p.World.rdsRules(&r, &old, inputs, state); err != nil {
			return err
		}
		r.Outputs = Plain(state)
		return p.World.put(r)
	})
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: state, Status: resource.StatusOK}, nil
}

// Delete forgets the resource (for an upsert type, the one AWS object its key names).
func (p *Provider) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	if err := p.record(Call{Method: "Delete", Type: string(req.Type), URN: string(req.URN), ID: string(req.ID)}); err != nil {
		return plugin.DeleteResponse{}, err
	}
	if string(req.Type) == rdsInstance {
		if err := p.World.rdsDelete(string(req.ID), req.Outputs); err != nil {
			return plugin.DeleteResponse{}, err
		}
	}
	upsert := uniqueNames[string(req.Type)].upsert
	return plugin.DeleteResponse{Status: resource.StatusOK}, p.World.Remove(string(req.Type), string(req.ID), upsert)
}

// Invoke answers a function.
func (p *Provider) Invoke(_ context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	if err := p.record(Call{Method: "Invoke", Type: string(req.Tok), Inputs: Plain(req.Args), Preview: req.Preview}); err != nil {
		return plugin.InvokeResponse{}, err
	}
	out, err := p.cloud.Invoke(string(req.Tok), req.Args)
	if err != nil {
		return plugin.InvokeResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	return plugin.InvokeResponse{Properties: out}, nil
}

func (p *Provider) record(c Call) error {
	c.Provider = p.Name
	if err := p.World.Record(c); err != nil {
		return fmt.Errorf("fakecloud: recording a call: %w", err)
	}
	return nil
}

// overlay is a planned value: the new input over the old output, object by object, so that
// what the provider computed inside a block the program sets (an EKS cluster's
// vpcConfig.clusterSecurityGroupId) stays known, as in the bridge's planned state.
func overlay(old, new resource.PropertyValue) resource.PropertyValue {
	if !old.IsObject() || !new.IsObject() {
		return new
	}
	out := old.ObjectValue().Copy()
	for k, v := range new.ObjectValue() {
		out[k] = overlay(out[k], v)
	}
	return resource.NewObjectProperty(out)
}
