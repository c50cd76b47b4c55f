package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Run is the program main.go runs: it loads and validates the configuration from the stack's
// config (registering nothing when it is invalid), then deploys.
func Run(ctx *pulumi.Context) error { return Program(Operation{})(ctx) }

// Program is Run for an operation whose plugins run with more than this process's environment:
// the Automation API runs the program inline, in its own process, and gives the workspace's
// variables to the CLI and its plugins only.
func Program(op Operation) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		_, err := LoadAndDeploy(ctx, op)
		return err
	}
}

// Operation is what the program knows of the operation running it, beyond the stack's
// configuration.
type Operation struct {
	// Env is the environment the operation's plugins run with on top of this process's (the
	// Automation API's workspace variables, AWS_PROFILE say); empty when the CLI runs the
	// program, whose environment is already the operation's. What the program itself runs
	// (the kubeconfig's `aws eks get-token`) runs with it. Never logged.
	Env map[string]string
}
