package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program returns the stack's program for a validated configuration: main.go runs it with the
// configuration loaded from Pulumi config, the Automation API runs it inline.
func Program(cfg Config) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		_, err := Deploy(ctx, cfg)
		return err
	}
}

// Run is the program main.go runs: it loads and validates the configuration from the stack's
// config (registering nothing when it is invalid), then deploys.
func Run(ctx *pulumi.Context) error {
	_, err := LoadAndDeploy(ctx)
	return err
}
