package automation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

func (m *Manager) usesPassphrase() bool {
	return m.secretsProvider == SecretsPassphrase || m.secretsProvider == "default" ||
		strings.HasPrefix(m.secretsProvider, "passphrase")
}

func checkURL(what, u string, schemes []string) error {
	for _, s := range schemes {
		if strings.HasPrefix(u, s) && len(u) > len(s) {
			return nil
		}
	}
	return fmt.Errorf("stacks: unsupported %s %q: expected one of %s", what, RedactURL(u), strings.Join(schemes, ", "))
}

// RedactURL drops a URL's user information and query (which may hold credentials), for logs
// and messages.
func RedactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "/") {
			rest = "****@" + rest[at+1:]
		}
		if q := strings.Index(rest, "?"); q >= 0 {
			rest = rest[:q] + "?..."
		}
		return u[:i+3] + rest
	}
	return u
}

// newPulumiCommand finds the CLI: binary (a path) or `pulumi` on PATH. auto.NewPulumiCommand
// wants an install root holding bin/pulumi, so a binary elsewhere is linked into one.
func newPulumiCommand(binary, home string) (auto.PulumiCommand, error) {
	if binary == "" {
		cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{SkipVersionCheck: true})
		if err != nil {
			return nil, fmt.Errorf("stacks: the Pulumi CLI is not on PATH: install it, or set ManagerOptions.PulumiBinary: %w", err)
		}
		return cmd, nil
	}
	abs, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(filepath.Dir(abs))
	if filepath.Base(filepath.Dir(abs)) != "bin" || filepath.Base(abs) != "pulumi" {
		root = filepath.Join(home, "cli")
		link := filepath.Join(root, "bin", "pulumi")
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			return nil, err
		}
		if cur, err := os.Readlink(link); err != nil || cur != abs {
			_ = os.Remove(link)
			if err := os.Symlink(abs, link); err != nil {
				return nil, fmt.Errorf("stacks: linking the Pulumi CLI: %w", err)
			}
		}
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		return nil, fmt.Errorf("stacks: running the Pulumi CLI %s: %w", abs, err)
	}
	return cmd, nil
}
