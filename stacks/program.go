package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Run is the program main.go runs: it loads and validates the configuration from the stack's
// config (registering nothing when it is invalid), then deploys.
func Run(ctx *pulumi.Context) error {
	_, err := LoadAndDeploy(ctx)
	return err
}
