package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// StackOutputs reads the outputs of stack, of the Pulumi project in dir, from the backend the
// Pulumi CLI (on PATH) is logged in to: `pulumi stack output --json --stack NAME`. Without
// --show-secrets the CLI decrypts nothing (a secret output reads "[secret]", which
// ParseOutputs takes as absent), so no PULUMI_CONFIG_PASSPHRASE is needed; the Automation
// API's Stack.Outputs, by contrast, always also runs --show-secrets, and fails without it.
func StackOutputs(ctx context.Context, dir, stack string) (map[string]any, error) {
	cli, err := exec.LookPath("pulumi")
	if err != nil {
		return nil, fmt.Errorf("--stack needs the Pulumi CLI (or use --outputs FILE): %w", err)
	}
	// --stack=NAME, so that a name starting with "-" is not read as a flag.
	args := []string{"stack", "output", "--json", "--non-interactive", "--stack=" + stack}
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("pulumi %s: %w", strings.Join(args, " "), err)
		}
		return nil, fmt.Errorf("pulumi %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("pulumi %s: expected a JSON object: %w", strings.Join(args, " "), err)
	}
	if m == nil {
		return nil, errors.New("pulumi " + strings.Join(args, " ") + ": expected a JSON object, got null")
	}
	return m, nil
}
