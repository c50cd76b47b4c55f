package automation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

func (m *Manager) stackDir(name string) string { return filepath.Join(m.workDir, "stacks", name) }

func (m *Manager) projectSettings() workspace.Project {
	return workspace.Project{
		Name:    tokens.PackageName(m.project),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: m.backendURL},
	}
}

// workspace returns a LocalWorkspace on dir. The project file is written once per directory,
// so that concurrent commands in it never read it half-written.
func (m *Manager) workspace(ctx context.Context, dir string) (auto.Workspace, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	m.mu.Lock()
	once, ok := m.prepared[dir]
	if !ok {
		once = &sync.Once{}
		m.prepared[dir] = once
	}
	m.mu.Unlock()
	opts := []auto.LocalWorkspaceOption{
		auto.WorkDir(dir),
		auto.Program(m.program),
		auto.PulumiHome(m.pulumiHome),
		auto.Pulumi(m.cmd),
		auto.SecretsProvider(m.secretsProvider),
		auto.EnvVars(m.env),
	}
	var err error
	once.Do(func() {
		var ws auto.Workspace
		ws, err = auto.NewLocalWorkspace(ctx, opts...)
		if err == nil {
			err = ws.SaveProjectSettings(ctx, ptr(m.projectSettings()))
		}
		if err != nil { // try again next time
			m.mu.Lock()
			delete(m.prepared, dir)
			m.mu.Unlock()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("stacks: preparing workspace: %w", err)
	}
	return auto.NewLocalWorkspace(ctx, opts...)
}

func ptr[T any](v T) *T { return &v }

// selectStack opens an existing stack (a *NotFoundError if the backend holds none).
func (m *Manager) selectStack(ctx context.Context, name string) (auto.Stack, error) {
	ws, err := m.workspace(ctx, m.stackDir(name))
	if err != nil {
		return auto.Stack{}, err
	}
	s, err := auto.SelectStack(ctx, name, ws)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			return auto.Stack{}, &NotFoundError{Stack: name, Err: err}
		}
		return auto.Stack{}, m.cliError(name, "select", err)
	}
	return s, nil
}

// upsertStack opens a stack, creating it if needed.
func (m *Manager) upsertStack(ctx context.Context, name string) (auto.Stack, error) {
	ws, err := m.workspace(ctx, m.stackDir(name))
	if err != nil {
		return auto.Stack{}, err
	}
	s, err := auto.UpsertStack(ctx, name, ws)
	if err != nil {
		return auto.Stack{}, m.cliError(name, "create", err)
	}
	return s, nil
}

// cliError wraps an error of a CLI command that is not an engine operation: the Automation
// API's error text holds the command's whole output, so only its first line is kept in the
// message (the full error stays reachable with errors.Unwrap).
func (m *Manager) cliError(name, what string, err error) error {
	if auto.IsConcurrentUpdateError(err) {
		return &BusyError{Stack: name, Source: BusyEngineLock, Err: err}
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return &cliError{msg: fmt.Sprintf("stacks: %s stack %q: %s", what, name, first), err: err}
}

type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// writeConfig writes the spec's configuration into the stack's config: every key, secrets
// encrypted by the stack's secrets provider. Plain values go in one `config set-all`; each
// secret goes through the CLI's standard input, never its command line (which other users of
// the machine can read).
func (m *Manager) writeConfig(ctx context.Context, s auto.Stack, cfg stacks.Config) error {
	values := cfg.PulumiConfig()
	digest := m.configDigest(values)
	settingsFile := filepath.Join(s.Workspace().WorkDir(), "Pulumi."+s.Name()+".yaml")
	m.mu.Lock()
	prev, ok := m.written[s.Name()]
	m.mu.Unlock()
	if fi, err := os.Stat(settingsFile); ok && err == nil && prev.digest == digest && fi.Size() == prev.size && fi.ModTime().Equal(prev.modTime) {
		return nil // this manager wrote exactly this config, and nothing touched the file since
	}
	if err := m.setConfig(ctx, s, values); err != nil {
		m.mu.Lock()
		delete(m.written, s.Name())
		m.mu.Unlock()
		return err
	}
	if fi, err := os.Stat(settingsFile); err == nil {
		m.mu.Lock()
		m.written[s.Name()] = writtenConfig{digest: digest, size: fi.Size(), modTime: fi.ModTime()}
		m.mu.Unlock()
	}
	return nil
}

// configDigest identifies a config without keeping its secrets: a salted SHA-256.
func (m *Manager) configDigest(values map[string]stacks.ConfigValue) [32]byte {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write(m.salt[:])
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%t:%d:%s;", len(k), k, values[k].Secret, len(values[k].Value), values[k].Value)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (m *Manager) setConfig(ctx context.Context, s auto.Stack, values map[string]stacks.ConfigValue) error {
	plain := auto.ConfigMap{}
	var secretKeys []string
	for k, v := range values {
		if v.Secret && v.Value != "" {
			secretKeys = append(secretKeys, k)
			continue
		}
		plain[k] = auto.ConfigValue{Value: v.Value, Secret: v.Secret}
	}
	if err := s.SetAllConfig(ctx, plain); err != nil {
		return m.cliError(s.Name(), "writing the config of", err)
	}
	sort.Strings(secretKeys)
	for _, k := range secretKeys {
		_, stderr, _, err := m.cmd.Run(ctx, s.Workspace().WorkDir(), strings.NewReader(values[k].Value),
			nil, nil, m.envList(), "config", "set", "--stack", s.Name(), "--secret", "--raw", k)
		if err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
			return &cliError{msg: fmt.Sprintf("stacks: writing secret %s of stack %q: %v: %s", k, s.Name(), err, first), err: err}
		}
	}
	return nil
}

func (m *Manager) envList() []string {
	out := make([]string, 0, len(m.env))
	for k, v := range m.env {
		out = append(out, k+"="+v)
	}
	return out
}
