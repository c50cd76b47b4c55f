package automation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// testSecrets are the plaintexts that must never reach the state directory.
type testSecrets struct {
	postgresPassword string
	privateKeyPEM    string
	// keyMaterial is a line of the private key's base64, long enough to be unique.
	keyMaterial string
}

// testConfig is a valid configuration with two secrets: an external Postgres password and an
// imported certificate's private key (a real self-signed certificate for *.domain and domain).
func testConfig(t testing.TB, domain string) (stacks.Config, testSecrets) {
	t.Helper()
	body, keyPEM := testkit.SelfSigned(t, "*."+domain, domain)
	lines := strings.Split(keyPEM, "\n")

	cfg := stacks.DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Domain = domain
	cfg.HostedZone = "example.com"
	cfg.Certificate = stacks.CertificateConfig{
		Mode:       stacks.CertificateImport,
		Body:       body,
		PrivateKey: stacks.Secret(keyPEM),
	}
	pw := fmt.Sprintf("pg-pass-%d-%s", time.Now().UnixNano(), lines[1][:8])
	cfg.Kong.PostgresHost = "kong.abc123.us-east-1.rds.amazonaws.com"
	cfg.Kong.PostgresPassword = stacks.Secret(pw)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration invalid: %v", err)
	}
	return cfg, testSecrets{postgresPassword: pw, privateKeyPEM: keyPEM, keyMaterial: lines[1]}
}

// hooks let a test hold a program inside the engine, to make operations overlap deterministically.
type hooks struct {
	mu      sync.Mutex
	entered map[string]chan struct{}
	release map[string]chan struct{}
	fail    map[string]error
	runs    atomic.Int64
}

func newHooks() *hooks {
	return &hooks{entered: map[string]chan struct{}{}, release: map[string]chan struct{}{}, fail: map[string]error{}}
}

// hold makes the next run of stack block until released; the returned channel closes when it
// has entered the program.
func (h *hooks) hold(stack string) (entered <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, r := make(chan struct{}), make(chan struct{})
	h.entered[stack], h.release[stack] = e, r
	var once sync.Once
	return e, func() { once.Do(func() { close(r) }) }
}

func (h *hooks) wait(ctx *pulumi.Context) error {
	h.mu.Lock()
	e, r := h.entered[ctx.Stack()], h.release[ctx.Stack()]
	delete(h.entered, ctx.Stack())
	delete(h.release, ctx.Stack())
	err := h.fail[ctx.Stack()]
	h.mu.Unlock()
	if e != nil {
		close(e)
		select {
		case <-r:
		case <-time.After(2 * time.Minute):
			return errors.New("test program held too long")
		}
	}
	return err
}

type envComponent struct{ pulumi.ResourceState }

// testProgram is provider-free: it loads the configuration through the same mapping main.go
// uses and exports outputs, one of them secret (derived from a secret config key).
func testProgram(h *hooks) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		h.runs.Add(1)
		cfg, err := stacks.LoadConfig(ctx.GetConfig)
		if err != nil {
			return err
		}
		if err := h.wait(ctx); err != nil {
			return err
		}
		var comp envComponent
		if err := ctx.RegisterComponentResource("kong-alb-eks:test:Environment", "env", &comp); err != nil {
			return err
		}
		dsn := pulumi.ToSecret(pulumi.String(fmt.Sprintf("postgres://%s:%s@%s:%d/%s",
			cfg.Kong.PostgresUser, cfg.Kong.PostgresPassword.Reveal(), cfg.Kong.PostgresHost, cfg.Kong.PostgresPort, cfg.Kong.PostgresDatabase)))
		if err := ctx.RegisterResourceOutputs(&comp, pulumi.Map{"dsn": dsn}); err != nil {
			return err
		}
		ctx.Export(outputs.Region, pulumi.String(cfg.Region))
		ctx.Export(outputs.Domain, pulumi.String(cfg.Domain))
		ctx.Export(outputs.ClusterName, pulumi.String(cfg.ClusterName(ctx.Stack())))
		ctx.Export("certificateMode", pulumi.String(cfg.Certificate.Mode))
		ctx.Export(outputs.KongVersion, pulumi.String(cfg.Kong.Version))
		ctx.Export("postgresDsn", dsn)
		return nil
	}
}

const testPassphrase = "correct horse battery staple"

func newManager(t testing.TB, stateDir string, h *hooks, mod func(*automation.ManagerOptions)) *automation.Manager {
	t.Helper()
	testkit.RequirePulumi(t)
	opts := automation.ManagerOptions{
		StateDir:      stateDir,
		Passphrase:    testPassphrase,
		Program:       testProgram(h),
		MaxConcurrent: 4,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	m, err := automation.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventLog collects an operation's events.
type eventLog struct {
	mu     sync.Mutex
	events []automation.Event
}

func (l *eventLog) handle(e automation.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) find(kind automation.EventKind, typ string) (automation.Event, bool) {
	return l.findOp(kind, typ, "")
}

// findOp is the first event of the kind, on a resource of typ ("" any), with op ("" any).
func (l *eventLog) findOp(kind automation.EventKind, typ, op string) (automation.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == kind && (typ == "" || e.Type == typ) && (op == "" || e.Op == op) {
			return e, true
		}
	}
	return automation.Event{}, false
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.events {
		fmt.Fprintf(&b, "  %d %s %s %s %s %s %v\n", e.Sequence, e.Kind, e.Op, e.Type, e.URN, e.Message, e.Duration)
	}
	return b.String()
}

// assertNoPlaintext fails if a secret's plaintext is in any file under dir.
func assertNoPlaintext(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the plaintext of a secret (%.6s...) is in %s", s, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s: the scan proves nothing", dir)
	}
}

// devStack is a manager on a fresh state directory, and the spec of a dev environment.
func devStack(t *testing.T) (ctx context.Context, state string, m *automation.Manager, spec stacks.Spec, sec testSecrets) {
	t.Helper()
	ctx, state = testContext(t), t.TempDir()
	m = newManager(t, state, newHooks(), nil)
	cfg, sec := testConfig(t, "dev.example.com")
	return ctx, state, m, stacks.Spec{Name: "dev", Config: cfg}, sec
}
