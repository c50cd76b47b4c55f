package stacks

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// LocalStackOutputs reads the outputs of a stack of the project in dir, from the backend the
// Pulumi CLI is logged in to, as `pulumi stack output` would. Secret outputs are left out.
func LocalStackOutputs(ctx context.Context, dir, stack string) (map[string]any, error) {
	s, err := auto.SelectStackLocalSource(ctx, stack, dir)
	if err != nil {
		return nil, fmt.Errorf("selecting stack %s: %w", stack, err)
	}
	outs, err := s.Outputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the outputs of stack %s: %w", stack, err)
	}
	m := make(map[string]any, len(outs))
	for k, v := range outs {
		if !v.Secret {
			m[k] = v.Value
		}
	}
	return m, nil
}
