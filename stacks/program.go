package stacks

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/cabundle"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/charts"
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
	// CRDs reads a chart's crds/; nil is charts.CRDs, which downloads a chart that is not
	// local, as the Helm release does. Synth, which is offline, passes its own.
	CRDs func(components.ChartSource) ([]components.CRD, error)
	// CABundle reads the RDS CA bundle databaseCaBundle names (empty: the region's from AWS's
	// trust store); nil is cabundle.Read. Synth, which is offline, passes its own.
	CABundle func(ctx context.Context, src, region string) (string, error)
}

// chartCRDs are the crds/ of the charts that have them (cert-manager templates its own).
type chartCRDs struct {
	LoadBalancerController, Kong []components.CRD
}

// readCRDs reads the charts' CRDs, naming the configuration key of a chart it cannot read.
func (op Operation) readCRDs(c ChartsConfig, autoMode bool) (chartCRDs, error) {
	read := op.CRDs
	if read == nil {
		read = charts.CRDs
	}
	var out chartCRDs
	type chart struct {
		key string
		src components.ChartSource
		to  *[]components.CRD
	}
	installed := []chart{{"kongChart", c.Kong, &out.Kong}}
	if !autoMode { // Auto Mode's load balancing is EKS's: the controller's chart is not installed
		installed = append(installed, chart{"loadBalancerControllerChart", c.LoadBalancerController, &out.LoadBalancerController})
	}
	for _, chart := range installed {
		crds, err := read(chart.src)
		if err != nil {
			return chartCRDs{}, fmt.Errorf("reading the CRDs of the chart %s:%s names: %w", Project, chart.key, err)
		}
		*chart.to = crds
	}
	return out, nil
}

// readCABundle reads the certificate authorities Kong verifies the RDS instance against,
// naming the key that says where they come from.
func (op Operation) readCABundle(ctx context.Context, cfg Config) (string, error) {
	read := op.CABundle
	if read == nil {
		read = cabundle.Read
	}
	bundle, err := read(ctx, cfg.Database.CABundle, cfg.Region)
	if err != nil {
		return "", fmt.Errorf("reading the RDS CA bundle (%s:databaseCaBundle; empty is the region's from AWS's trust store): %w", Project, err)
	}
	return bundle, nil
}
