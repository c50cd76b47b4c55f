package automation

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// Environment variables the Manager reads.
const (
	EnvConfigPassphrase     = "PULUMI_CONFIG_PASSPHRASE"
	EnvConfigPassphraseFile = "PULUMI_CONFIG_PASSPHRASE_FILE"
)

// SecretsPassphrase is the default secrets provider: a passphrase from the environment.
const SecretsPassphrase = "passphrase"

// ManagerOptions configures a Manager. Every field has a default except StateDir, which is
// required unless BackendURL, WorkDir and PulumiHome are all set.
type ManagerOptions struct {
	// stacks.Project is the Pulumi project name; default stacks.Project ("kong-alb-eks"). The config keys of
	// the spec are written in this project's namespace.
	Project string
	// StateDir holds the defaults below: backend/ (the file backend), work/ and home/.
	StateDir string
	// BackendURL is where stacks live: default file://<StateDir>/backend. s3://..., azblob://...,
	// gs://... and https://api.pulumi.com (Pulumi Cloud, with PULUMI_ACCESS_TOKEN) are accepted.
	BackendURL string
	// SecretsProvider encrypts the stacks' secrets: default "passphrase" (the passphrase from
	// Passphrase or PULUMI_CONFIG_PASSPHRASE / PULUMI_CONFIG_PASSPHRASE_FILE); awskms://...,
	// azurekeyvault://..., gcpkms://..., hashivault://... are accepted. Only used when a stack is created.
	SecretsProvider string
	// Passphrase overrides PULUMI_CONFIG_PASSPHRASE for the passphrase provider.
	Passphrase string
	// WorkDir holds one directory per stack with the project and stack settings files the CLI
	// reads (Pulumi.yaml, Pulumi.<stack>.yaml with the stack's config, secrets encrypted).
	// Default <StateDir>/work. Keep it: with a file backend the stack config lives only here.
	WorkDir string
	// PulumiHome is a private PULUMI_HOME (plugins, credentials); default <StateDir>/home.
	PulumiHome string
	// PulumiCommand runs the CLI; default the `pulumi` found at PulumiBinary, else on PATH.
	PulumiCommand auto.PulumiCommand
	// PulumiBinary is the path of the CLI binary, when not on PATH.
	PulumiBinary string
	// MaxConcurrent is the most engine operations run at once; default 4. Operations beyond it
	// wait (or give up when their context ends).
	MaxConcurrent int
	// Program is the inline program every operation runs; default stacks.Program, the program
	// main.go runs, with EnvVars: it loads the configuration this manager wrote into the
	// stack's config, and deploys.
	Program pulumi.RunFunc
	// EnvVars are added to the CLI's environment (e.g. AWS_PROFILE). They are never logged.
	EnvVars map[string]string
	// Logger receives structured logs; default slog.Default(). Secrets are never logged.
	Logger *slog.Logger
}

// Manager runs Automation API operations on the environments of one project. It serializes
// the operations of each stack (a second one gets a *BusyError at once), runs at most
// MaxConcurrent at a time, and is safe for concurrent use.
type Manager struct {
	project         string
	stateDir        string
	backendURL      string
	secretsProvider string
	workDir         string
	pulumiHome      string
	program         pulumi.RunFunc
	cmd             auto.PulumiCommand
	env             map[string]string
	log             *slog.Logger
	sem             Slots

	mu       sync.Mutex
	running  map[string]*runningOp
	closed   bool
	prepared map[string]*sync.Once
	// written remembers, per stack, the config this manager last wrote and the settings file it
	// produced, so that an unchanged spec is not written again (each write runs the CLI).
	written map[string]writtenConfig
	salt    [32]byte
}

type writtenConfig struct {
	digest  [32]byte
	size    int64
	modTime time.Time
}

type runningOp struct {
	op      Operation
	started time.Time
	cancel  context.CancelFunc
}

// NewManager checks the options, finds the CLI and prepares the state directories.
func NewManager(opts ManagerOptions) (*Manager, error) {
	m := &Manager{
		project:         opts.Project,
		backendURL:      opts.BackendURL,
		secretsProvider: opts.SecretsProvider,
		workDir:         opts.WorkDir,
		pulumiHome:      opts.PulumiHome,
		program:         opts.Program,
		cmd:             opts.PulumiCommand,
		log:             opts.Logger,
		running:         map[string]*runningOp{},
		prepared:        map[string]*sync.Once{},
		written:         map[string]writtenConfig{},
	}
	_, _ = rand.Read(m.salt[:])
	if m.project == "" {
		m.project = stacks.Project
	}
	if !tokens.IsName(m.project) {
		return nil, fmt.Errorf("stacks: invalid project name %q", m.project)
	}
	if m.program == nil {
		// The program runs in this process; its own `aws eks get-token` calls get the
		// environment the CLI's plugins get.
		m.program = stacks.Program(stacks.Operation{Env: maps.Clone(opts.EnvVars)})
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if opts.StateDir == "" && (m.backendURL == "" || m.workDir == "" || m.pulumiHome == "") {
		return nil, errors.New("stacks: ManagerOptions.StateDir is required unless BackendURL, WorkDir and PulumiHome are all set")
	}
	stateDir := opts.StateDir
	if stateDir != "" {
		abs, err := filepath.Abs(stateDir)
		if err != nil {
			return nil, err
		}
		stateDir = abs
	}
	m.stateDir = stateDir
	if m.backendURL == "" {
		dir := filepath.Join(stateDir, "backend")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("stacks: creating the file backend: %w", err)
		}
		m.backendURL = "file://" + filepath.ToSlash(dir)
	}
	if m.workDir == "" {
		m.workDir = filepath.Join(stateDir, "work")
	}
	if m.pulumiHome == "" {
		m.pulumiHome = filepath.Join(stateDir, "home")
	}
	for _, dir := range []string{m.workDir, m.pulumiHome} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("stacks: %w", err)
		}
	}
	if m.secretsProvider == "" {
		m.secretsProvider = SecretsPassphrase
	}
	if err := checkURL("backend URL", m.backendURL, []string{"file://", "s3://", "azblob://", "gs://", "https://", "http://"}); err != nil {
		return nil, err
	}
	if m.secretsProvider != SecretsPassphrase && m.secretsProvider != "default" {
		if err := checkURL("secrets provider", m.secretsProvider,
			[]string{"awskms://", "azurekeyvault://", "gcpkms://", "hashivault://", "passphrase://"}); err != nil {
			return nil, err
		}
	}

	m.env = map[string]string{}
	for k, v := range opts.EnvVars {
		m.env[k] = v
	}
	m.env["PULUMI_BACKEND_URL"] = m.backendURL
	m.env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
	m.env["PULUMI_HOME"] = m.pulumiHome
	if opts.Passphrase != "" {
		m.env[EnvConfigPassphrase] = opts.Passphrase
	}
	if m.usesPassphrase() {
		_, inEnv := m.env[EnvConfigPassphrase]
		if !inEnv {
			if v, ok := os.LookupEnv(EnvConfigPassphrase); ok {
				m.env[EnvConfigPassphrase] = v
				inEnv = true
			}
		}
		_, fileInOpts := m.env[EnvConfigPassphraseFile]
		_, fileInEnv := os.LookupEnv(EnvConfigPassphraseFile)
		if !inEnv && !fileInOpts && !fileInEnv {
			return nil, fmt.Errorf("stacks: the passphrase secrets provider needs %s or %s in the environment", EnvConfigPassphrase, EnvConfigPassphraseFile)
		}
	}

	if m.cmd == nil {
		cmd, err := newPulumiCommand(opts.PulumiBinary, m.pulumiHome)
		if err != nil {
			return nil, err
		}
		m.cmd = cmd
	}
	n := opts.MaxConcurrent
	if n <= 0 {
		n = 4
	}
	m.sem = NewSlots(n)
	return m, nil
}

// BackendURL is the backend the manager uses.
func (m *Manager) BackendURL() string { return m.backendURL }

// stacks.Project is the manager's project name.
func (m *Manager) Project() string { return m.project }

// PulumiVersion is the CLI's version.
func (m *Manager) PulumiVersion() string { return m.cmd.Version().String() }

// Locations names the manager's private places, longest first: its state, work and home
// directories and its backend, each with the placeholder a client may see instead (the
// service keeps the real ones in its log).
func (m *Manager) Locations() []Location {
	var out []Location
	add := func(value, placeholder string) {
		if value != "" {
			out = append(out, Location{Value: value, Placeholder: placeholder})
		}
	}
	add(m.stateDir, "<state-dir>")
	add(m.workDir, "<work-dir>")
	add(m.pulumiHome, "<pulumi-home>")
	add(m.backendURL, "<backend>")
	if root, ok := fileBackendPath(m.backendURL); ok {
		add(root, "<backend>")
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Value) > len(out[j].Value) })
	return out
}

// Location is a private place of the manager's (a path or URL) and what stands for it.
type Location struct{ Value, Placeholder string }

// MaxConcurrent is the most engine operations that run at once; the others wait for a slot.
func (m *Manager) MaxConcurrent() int { return cap(m.sem) }

// Running reports the operation this manager runs on a stack, if any.
func (m *Manager) Running(name string) (Operation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.running[name]
	if !ok {
		return "", false
	}
	return r.op, true
}

// Close refuses new operations and cancels the running ones (each stops cleanly: the engine is
// interrupted, which releases its lock). It does not wait for them.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, r := range m.running {
		r.cancel()
	}
}

// acquire takes the stack's lock (or fails with a *BusyError at once) and a concurrency slot
// (waiting for one), then calls the operation's start hook. The returned context is canceled by
// Cancel and by release.
func (m *Manager) acquire(ctx context.Context, name string, op Operation, set opSettings) (context.Context, func(), error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if r, busy := m.running[name]; busy {
		m.mu.Unlock()
		return nil, nil, &BusyError{Stack: name, Source: BusyManager, Running: r.op}
	}
	opCtx, cancel := context.WithCancel(ctx)
	r := &runningOp{op: op, started: time.Now(), cancel: cancel}
	m.running[name] = r
	m.mu.Unlock()

	release := func() {
		cancel()
		m.mu.Lock()
		if m.running[name] == r {
			delete(m.running, name)
		}
		m.mu.Unlock()
	}
	free, err := m.sem.Take(opCtx, set.onStart)
	if err != nil {
		release()
		return nil, nil, &CanceledError{Stack: name, Operation: op, Err: err}
	}
	return opCtx, func() { free(); release() }, nil
}
