package fakecloud

import (
	"context"
	"fmt"
	"sort"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

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
	return diff(req.OldInputs, req.NewInputs, nil), nil
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

// Check accepts the inputs of a type the answers know, and fails loudly, naming it, otherwise.
func (p *Provider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	if _, _, err := p.cloud.Resource(string(req.Type), req.Name, req.News); err != nil {
		return plugin.CheckResponse{}, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	return plugin.CheckResponse{Properties: req.News}, nil
}

// Diff compares the old and new inputs, leaving out the ignored keys.
func (p *Provider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	return diff(req.OldInputs, req.NewInputs, req.IgnoreChanges), nil
}

func diff(olds, news resource.PropertyMap, ignore []string) plugin.DiffResult {
	ignored := map[resource.PropertyKey]bool{}
	for _, k := range ignore {
		ignored[resource.PropertyKey(k)] = true
	}
	d := olds.Diff(news, func(k resource.PropertyKey) bool { return ignored[k] })
	if d == nil || !d.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}
	}
	var changed []resource.PropertyKey
	for _, k := range d.ChangedKeys() {
		if !ignored[k] {
			changed = append(changed, k)
		}
	}
	if len(changed) == 0 {
		return plugin.DiffResult{Changes: plugin.DiffNone}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i] < changed[j] })
	return plugin.DiffResult{Changes: plugin.DiffSome, ChangedKeys: changed,
		DetailedDiff: plugin.NewDetailedDiffFromObjectDiff(d, true)}
}

// Create answers; in a preview the computed outputs stay unknown, as the real providers leave them.
func (p *Provider) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if err := p.record(Call{Method: "Create", Type: string(req.Type), URN: string(req.URN), Inputs: Plain(req.Properties), Preview: req.Preview}); err != nil {
		return plugin.CreateResponse{}, err
	}
	if req.Preview {
		return plugin.CreateResponse{Properties: req.Properties}, nil
	}
	id, state, err := p.answer(req.Type, req.Name, req.URN, "", req.Properties)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: id, Properties: state, Status: resource.StatusOK}, nil
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
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State}, Status: resource.StatusOK}, nil
}

// Update answers for the new inputs, keeping the ID.
func (p *Provider) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	if err := p.record(Call{Method: "Update", Type: string(req.Type), URN: string(req.URN), ID: string(req.ID), Inputs: Plain(req.NewInputs), Preview: req.Preview}); err != nil {
		return plugin.UpdateResponse{}, err
	}
	if req.Preview {
		return plugin.UpdateResponse{Properties: req.NewInputs}, nil
	}
	_, state, err := p.answer(req.Type, req.Name, req.URN, req.ID, req.NewInputs)
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: state, Status: resource.StatusOK}, nil
}

// answer is the resource's state for these inputs, kept in the world under its ID (the
// answered one for a new resource, id for an existing one).
func (p *Provider) answer(typ tokens.Type, name string, urn resource.URN, id resource.ID, inputs resource.PropertyMap) (resource.ID, resource.PropertyMap, error) {
	answered, state, err := p.cloud.Resource(string(typ), name, inputs)
	if err != nil {
		return "", nil, fmt.Errorf("fakecloud %s: %w", p.Name, err)
	}
	if id == "" {
		id = resource.ID(answered)
	}
	if err := p.World.Put(Resource{Type: string(typ), URN: string(urn), ID: string(id), Outputs: Plain(state)}); err != nil {
		return "", nil, err
	}
	return id, state, nil
}

// Delete forgets the resource.
func (p *Provider) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	if err := p.record(Call{Method: "Delete", Type: string(req.Type), URN: string(req.URN), ID: string(req.ID)}); err != nil {
		return plugin.DeleteResponse{}, err
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, p.World.Remove(string(req.Type), string(req.ID))
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
