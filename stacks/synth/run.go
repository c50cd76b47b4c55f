package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/cabundle"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/charts"
)

// Options says which stack to synthesize and with what configuration.
type Options struct {
	Project string // default stacks.Project
	Stack   string
	// Config holds plaintext values by fully qualified key ("kong-alb-eks:domain").
	Config map[string]string
	// SecretKeys names the keys of Config that are secrets.
	SecretKeys []string
	// Program is what runs, returning the stack outputs; default the real program
	// (stacks.LoadAndDeploy). Tests run single components this way.
	Program func(ctx *pulumi.Context) (pulumi.Map, error)
}

// realProgram loads the stack's configuration (every key the stack sets is checked) and
// deploys, as main.go does.
func realProgram(config map[string]string) func(ctx *pulumi.Context) (pulumi.Map, error) {
	set := make([]string, 0, len(config))
	for k := range config {
		set = append(set, k)
	}
	return func(ctx *pulumi.Context) (pulumi.Map, error) {
		env, err := stacks.LoadAndDeploy(ctx, stacks.Operation{CRDs: offlineCRDs, CABundle: offlineCABundle}, set...)
		if err != nil {
			return nil, err
		}
		return env.Outputs, nil
	}
}

// offlineCRDs reads the CRDs of a local chart. Synth downloads nothing: a chart from a
// repository or a registry shows no CRDs here; `pulumi up` and `pulumi preview` read them.
func offlineCRDs(src components.ChartSource) ([]components.CRD, error) {
	crds, err := charts.Local(src)
	if errors.Is(err, charts.ErrNotLocal) {
		return nil, nil
	}
	return crds, err
}

// offlineCABundle reads a local RDS CA bundle. Synth downloads nothing: a bundle from a URL
// (the region's, by default) is shown as where `pulumi up` fetches it from.
func offlineCABundle(ctx context.Context, src, region string) (string, error) {
	if src == "" || strings.HasPrefix(src, "https://") {
		if src == "" {
			src = cabundle.URL(region)
		}
		return "(fetched at deploy time from " + src + ")", nil
	}
	return cabundle.Read(ctx, src, region)
}

// Run runs the program under mocks, as a preview, and returns the desired state. A program
// error (an invalid configuration, say) is returned as is, with the document of what had
// been registered until then.
func Run(opts Options) (*Document, error) {
	if opts.Project == "" {
		opts.Project = stacks.Project
	}
	if opts.Program == nil {
		opts.Program = realProgram(opts.Config)
	}
	mocks := NewMocks(opts.Project, opts.Stack, opts.Config["aws:region"])
	ctx, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{
		Project:          opts.Project,
		Stack:            opts.Stack,
		Config:           opts.Config,
		ConfigSecretKeys: opts.SecretKeys,
		DryRun:           true,
		Mocks:            mocks,
	})
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	outputs := map[string]any{}
	err = pulumi.RunWithContext(ctx, func(ctx *pulumi.Context) error {
		exports, err := opts.Program(ctx)
		if err != nil {
			return err
		}
		for name, value := range exports {
			outputs[name], err = awaitPlain(ctx, value)
			if err != nil {
				return fmt.Errorf("output %s: %w", name, err)
			}
		}
		return nil
	})
	var invalid *stacks.ValidationError
	if errors.As(err, &invalid) { // the engine wraps program errors in a multi-error
		err = invalid
	}
	resources, invokes := mocks.Recorded()
	return &Document{
		Project:   opts.Project,
		Stack:     opts.Stack,
		Resources: nonNilSlice(resources),
		Invokes:   nonNilSlice(invokes),
		Outputs:   outputs,
	}, err
}

// awaitPlain resolves an output to a printable value.
func awaitPlain(ctx *pulumi.Context, in pulumi.Input) (any, error) {
	res, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(in))
	switch {
	case err != nil:
		return nil, err
	case res.Secret:
		return Secret, nil
	case !res.Known:
		return Computed, nil
	}
	// Normalise to JSON's types (map[string]any, []any, float64...), as a document read back
	// from JSON has them.
	b, err := json.Marshal(res.Value)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(b, &v)
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
