package stacks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/opthistory"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
	// Project is the Pulumi project name; default Project ("kong-alb-eks"). The config keys of
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
	// Program is the inline program every operation runs; default Run, the program main.go
	// runs: it loads the configuration this manager wrote into the stack's config, and deploys.
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
	sem             chan struct{}

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
		m.project = Project
	}
	if !tokens.IsName(m.project) {
		return nil, fmt.Errorf("stacks: invalid project name %q", m.project)
	}
	if m.program == nil {
		m.program = Run
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
	m.sem = make(chan struct{}, n)
	return m, nil
}

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
	return fmt.Errorf("stacks: unsupported %s %q: expected one of %s", what, redactURL(u), strings.Join(schemes, ", "))
}

// redactURL drops a URL's user information and query (which may hold credentials).
func redactURL(u string) string {
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

// BackendURL is the backend the manager uses.
func (m *Manager) BackendURL() string { return m.backendURL }

// Project is the manager's project name.
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
	select {
	case m.sem <- struct{}{}:
	case <-opCtx.Done():
		release()
		return nil, nil, &CanceledError{Stack: name, Operation: op, Err: context.Cause(opCtx)}
	}
	done := func() { <-m.sem; release() }
	if set.onStart != nil {
		if err := set.onStart(); err != nil {
			done()
			return nil, nil, &CanceledError{Stack: name, Operation: op, Err: err}
		}
	}
	return opCtx, done, nil
}

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
func (m *Manager) writeConfig(ctx context.Context, s auto.Stack, cfg Config) error {
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
func (m *Manager) configDigest(values map[string]ConfigValue) [32]byte {
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

func (m *Manager) setConfig(ctx context.Context, s auto.Stack, values map[string]ConfigValue) error {
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

// OpOption adjusts one operation.
type OpOption func(*opSettings)

type opSettings struct {
	onEvent EventHandler
	message string
	onStart func() error
}

// WithEvents streams the operation's events to h.
func WithEvents(h EventHandler) OpOption { return func(s *opSettings) { s.onEvent = h } }

// WithMessage sets the update's message in the stack's history.
func WithMessage(msg string) OpOption { return func(s *opSettings) { s.message = msg } }

// WithStart calls f once the operation has its concurrency slot, before anything of it runs.
// An operation waits for a slot while MaxConcurrent others run; f marks the end of that wait.
// If f returns an error the operation gives up its slot and fails with a *CanceledError
// wrapping it, having run nothing.
func WithStart(f func() error) OpOption { return func(s *opSettings) { s.onStart = f } }

func settings(opts []OpOption) opSettings {
	var s opSettings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// run is the frame of every engine operation: it translates events, keeps the tail of the
// engine's output, and classifies the error.
type run struct {
	m      *Manager
	name   string
	op     Operation
	ch     chan events.EngineEvent
	done   chan struct{}
	stop   chan struct{}
	tail   *tailBuffer
	set    opSettings
	start  time.Time
	events int
}

func (m *Manager) newRun(name string, op Operation, set opSettings) *run {
	r := &run{m: m, name: name, op: op, ch: make(chan events.EngineEvent, 64), done: make(chan struct{}), stop: make(chan struct{}),
		tail: newTailBuffer(32 << 10), set: set, start: time.Now()}
	tr := newEventTranslator(name, op)
	go func() {
		defer close(r.done)
		for {
			var e events.EngineEvent
			select {
			case ev, open := <-r.ch:
				if !open {
					return
				}
				e = ev
			case <-r.stop:
				return
			}
			ev, ok := tr.translate(e)
			if !ok {
				continue
			}
			r.events++
			if r.set.onEvent != nil {
				r.set.onEvent(ev)
			}
		}
	}()
	m.log.Info("operation started", "stack", name, "operation", string(op))
	return r
}

// finish waits for the last events (the Automation API closes the channel when the engine's
// event stream ends; if the engine never connected it is never closed) and classifies err.
func (r *run) finish(ctx context.Context, err error) error {
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		// The engine never connected its event stream (it failed first): stop waiting.
		close(r.stop)
		<-r.done
	}
	err = r.classify(ctx, err)
	attrs := []any{"stack", r.name, "operation", string(r.op), "duration", time.Since(r.start).Round(time.Millisecond).String(), "events", r.events}
	if err != nil {
		r.m.log.Warn("operation failed", append(attrs, "error", err.Error())...)
	} else {
		r.m.log.Info("operation succeeded", attrs...)
	}
	return err
}

func (r *run) classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &CanceledError{Stack: r.name, Operation: r.op, Tail: r.tail.Tail(tailLines), Err: context.Cause(ctx)}
	case auto.IsConcurrentUpdateError(err):
		return &BusyError{Stack: r.name, Source: BusyEngineLock, Err: err}
	case auto.IsSelectStack404Error(err):
		return &NotFoundError{Stack: r.name, Err: err}
	case errors.Is(err, ErrBusy) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCanceled):
		return err
	default:
		return &EngineError{Stack: r.name, Operation: r.op, Tail: r.tail.Tail(tailLines), Err: err}
	}
}

const tailLines = 40

// Changes counts an operation's steps by kind ("create", "update", "same", "delete", ...).
type Changes map[string]int

// PreviewResult is what a preview would do.
type PreviewResult struct {
	Changes Changes
	// Diff is the engine's full diff of the planned changes, as `pulumi preview --diff` prints
	// it (secrets masked by the engine).
	Diff string
}

// UpResult is what an update did.
type UpResult struct {
	Changes Changes
	// Outputs are the stack's outputs after the update, secrets redacted.
	Outputs Outputs
}

// RefreshResult is what a refresh found.
type RefreshResult struct{ Changes Changes }

// DestroyResult is what a destroy did.
type DestroyResult struct {
	Changes Changes
	// Removed is set when the stack itself was removed from the backend.
	Removed bool
}

// Preview writes the spec into the stack's config (creating the stack if needed) and previews
// the update.
func (m *Manager) Preview(ctx context.Context, spec Spec, opts ...OpOption) (*PreviewResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	set := settings(opts)
	opCtx, release, err := m.acquire(ctx, spec.Name, OpPreview, set)
	if err != nil {
		return nil, err
	}
	defer release()
	r := m.newRun(spec.Name, OpPreview, set)
	res, err := func() (auto.PreviewResult, error) {
		s, err := m.prepare(opCtx, spec)
		if err != nil {
			close(r.ch)
			return auto.PreviewResult{}, err
		}
		po := []optpreview.Option{optpreview.Diff(), optpreview.Color("never"), optpreview.EventStreams(r.ch),
			optpreview.ProgressStreams(r.tail), optpreview.ErrorProgressStreams(r.tail)}
		if set.message != "" {
			po = append(po, optpreview.Message(set.message))
		}
		return s.Preview(opCtx, po...)
	}()
	if err := r.finish(opCtx, err); err != nil {
		return nil, err
	}
	changes := Changes{}
	for op, n := range res.ChangeSummary {
		changes[string(op)] = n
	}
	return &PreviewResult{Changes: changes, Diff: res.StdOut}, nil
}

// Up writes the spec into the stack's config (creating the stack if needed) and updates it.
func (m *Manager) Up(ctx context.Context, spec Spec, opts ...OpOption) (*UpResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	set := settings(opts)
	opCtx, release, err := m.acquire(ctx, spec.Name, OpUp, set)
	if err != nil {
		return nil, err
	}
	defer release()
	r := m.newRun(spec.Name, OpUp, set)
	res, err := func() (auto.UpResult, error) {
		s, err := m.prepare(opCtx, spec)
		if err != nil {
			close(r.ch)
			return auto.UpResult{}, err
		}
		uo := []optup.Option{optup.Color("never"), optup.ShowSecrets(false), optup.EventStreams(r.ch),
			optup.ProgressStreams(r.tail), optup.ErrorProgressStreams(r.tail)}
		if set.message != "" {
			uo = append(uo, optup.Message(set.message))
		}
		return s.Up(opCtx, uo...)
	}()
	if err := r.finish(opCtx, err); err != nil {
		return nil, err
	}
	return &UpResult{Changes: changesOf(res.Summary), Outputs: redact(res.Outputs)}, nil
}

// prepare opens the stack and writes the spec's config.
func (m *Manager) prepare(ctx context.Context, spec Spec) (auto.Stack, error) {
	s, err := m.upsertStack(ctx, spec.Name)
	if err != nil {
		return s, err
	}
	return s, m.writeConfig(ctx, s, spec.Config)
}

// Refresh reconciles the stack's state with the cloud (the program does not run).
func (m *Manager) Refresh(ctx context.Context, name string, opts ...OpOption) (*RefreshResult, error) {
	if err := ValidateStackName(name); err != nil {
		return nil, err
	}
	set := settings(opts)
	opCtx, release, err := m.acquire(ctx, name, OpRefresh, set)
	if err != nil {
		return nil, err
	}
	defer release()
	r := m.newRun(name, OpRefresh, set)
	res, err := func() (auto.RefreshResult, error) {
		s, err := m.selectStack(opCtx, name)
		if err != nil {
			close(r.ch)
			return auto.RefreshResult{}, err
		}
		ro := []optrefresh.Option{optrefresh.Color("never"), optrefresh.ShowSecrets(false), optrefresh.EventStreams(r.ch),
			optrefresh.ProgressStreams(r.tail), optrefresh.ErrorProgressStreams(r.tail)}
		if set.message != "" {
			ro = append(ro, optrefresh.Message(set.message))
		}
		return s.Refresh(opCtx, ro...)
	}()
	if err := r.finish(opCtx, err); err != nil {
		return nil, err
	}
	return &RefreshResult{Changes: changesOf(res.Summary)}, nil
}

// Destroy deletes every resource of the stack, then removes the stack from the backend and its
// directory from the work directory.
func (m *Manager) Destroy(ctx context.Context, name string, opts ...OpOption) (*DestroyResult, error) {
	if err := ValidateStackName(name); err != nil {
		return nil, err
	}
	set := settings(opts)
	opCtx, release, err := m.acquire(ctx, name, OpDestroy, set)
	if err != nil {
		return nil, err
	}
	defer release()
	r := m.newRun(name, OpDestroy, set)
	var s auto.Stack
	res, err := func() (auto.DestroyResult, error) {
		var err error
		s, err = m.selectStack(opCtx, name)
		if err != nil {
			close(r.ch)
			return auto.DestroyResult{}, err
		}
		do := []optdestroy.Option{optdestroy.Color("never"), optdestroy.ShowSecrets(false), optdestroy.EventStreams(r.ch),
			optdestroy.ProgressStreams(r.tail), optdestroy.ErrorProgressStreams(r.tail)}
		if set.message != "" {
			do = append(do, optdestroy.Message(set.message))
		}
		return s.Destroy(opCtx, do...)
	}()
	if err := r.finish(opCtx, err); err != nil {
		return nil, err
	}
	out := &DestroyResult{Changes: changesOf(res.Summary)}
	if err := s.Workspace().RemoveStack(opCtx, name); err != nil {
		return out, m.cliError(name, "removing", err)
	}
	out.Removed = true
	if err := os.RemoveAll(m.stackDir(name)); err != nil {
		m.log.Warn("removing the stack's work directory", "stack", name, "error", err.Error())
	}
	m.mu.Lock()
	delete(m.prepared, m.stackDir(name))
	delete(m.written, name)
	m.mu.Unlock()
	return out, nil
}

// Cancel interrupts the stack's operation. If this manager runs it, its context is canceled:
// the engine stops cleanly and releases its lock, and the operation returns a *CanceledError.
// Otherwise the backend's current update is canceled (`pulumi cancel`: on a file or cloud
// backend this clears the lock of an update whose process was killed; never use it while
// another process is still running the update).
func (m *Manager) Cancel(ctx context.Context, name string) error {
	if err := ValidateStackName(name); err != nil {
		return err
	}
	m.mu.Lock()
	r, ok := m.running[name]
	m.mu.Unlock()
	if ok {
		m.log.Info("canceling operation", "stack", name, "operation", string(r.op))
		r.cancel()
		return nil
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return err
	}
	if err := s.Cancel(ctx); err != nil {
		return m.cliError(name, "canceling the update of", err)
	}
	m.log.Info("canceled the backend's current update", "stack", name)
	return nil
}

func changesOf(u auto.UpdateSummary) Changes {
	c := Changes{}
	if u.ResourceChanges != nil {
		for k, v := range *u.ResourceChanges {
			c[k] = v
		}
	}
	return c
}

// Redacted replaces a secret output's value.
const Redacted = "[secret]"

// OutputValue is one stack output.
type OutputValue struct {
	Value  any  `json:"value"`
	Secret bool `json:"secret,omitempty"`
}

// Outputs are a stack's outputs by name.
type Outputs map[string]OutputValue

func redact(in auto.OutputMap) Outputs {
	out := make(Outputs, len(in))
	for k, v := range in {
		if v.Secret {
			out[k] = OutputValue{Value: Redacted, Secret: true}
			continue
		}
		out[k] = OutputValue{Value: v.Value}
	}
	return out
}

// Outputs returns the stack's outputs, secret ones redacted.
func (m *Manager) Outputs(ctx context.Context, name string) (Outputs, error) {
	out, err := m.outputs(ctx, name)
	if err != nil {
		return nil, err
	}
	return redact(out), nil
}

// OutputsWithSecrets returns the stack's outputs with the plaintext of the secret ones. Only
// call it to hand a secret to its owner; never log the result.
func (m *Manager) OutputsWithSecrets(ctx context.Context, name string) (Outputs, error) {
	out, err := m.outputs(ctx, name)
	if err != nil {
		return nil, err
	}
	res := make(Outputs, len(out))
	for k, v := range out {
		res[k] = OutputValue{Value: v.Value, Secret: v.Secret}
	}
	return res, nil
}

func (m *Manager) outputs(ctx context.Context, name string) (auto.OutputMap, error) {
	if err := ValidateStackName(name); err != nil {
		return nil, err
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return nil, err
	}
	out, err := s.Outputs(ctx)
	if err != nil {
		return nil, m.cliError(name, "reading the outputs of", err)
	}
	return out, nil
}

// Update is one entry of a stack's history.
type Update struct {
	Version   int       `json:"version"`
	Kind      string    `json:"kind"`
	Result    string    `json:"result"`
	Message   string    `json:"message,omitempty"`
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime,omitzero"`
	Changes   Changes   `json:"changes,omitempty"`
}

// History returns the stack's most recent updates, newest first (all of them if limit <= 0).
// Config values are not included (they would carry secrets).
func (m *Manager) History(ctx context.Context, name string, limit int) ([]Update, error) {
	if err := ValidateStackName(name); err != nil {
		return nil, err
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return nil, err
	}
	page := 0
	if limit > 0 {
		page = 1
	}
	hist, err := s.History(ctx, limit, page, opthistory.ShowSecrets(false))
	if err != nil {
		return nil, m.cliError(name, "reading the history of", err)
	}
	out := make([]Update, 0, len(hist))
	for _, h := range hist {
		u := Update{Version: h.Version, Kind: h.Kind, Result: h.Result, Message: h.Message, Changes: changesOf(h)}
		// The Automation API passes the message as --message=%q: the quotes are kept.
		if uq, err := strconv.Unquote(u.Message); err == nil {
			u.Message = uq
		}
		u.StartTime, _ = time.Parse(time.RFC3339, h.StartTime)
		if h.EndTime != nil {
			u.EndTime, _ = time.Parse(time.RFC3339, *h.EndTime)
		}
		out = append(out, u)
	}
	return out, nil
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

var _ io.Writer = (*tailBuffer)(nil)

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// Tail returns the last n lines.
func (t *tailBuffer) Tail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.buf), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
