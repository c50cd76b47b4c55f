package stacks

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// Environment is what Deploy built. (Filled in as the components land.)
type Environment struct{}

// Deploy registers the whole environment for a validated configuration.
func Deploy(ctx *pulumi.Context, cfg Config) (*Environment, error) {
	ctx.Export(OutputRegion, pulumi.String(cfg.Region))
	return &Environment{}, nil
}
