package automation_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func TestManagerLifecycle(t *testing.T) {
	ctx, state, m, spec, sec := devStack(t)

	// Preview of a new stack: everything is a create, and the diff names the component.
	var pev eventLog
	prev, err := m.Preview(ctx, spec, automation.WithEvents(pev.handle))
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	if prev.Changes["create"] != 2 {
		t.Errorf("preview changes = %v, want 2 creates (the stack and the component)", prev.Changes)
	}
	if !strings.Contains(prev.Diff, "kong-alb-eks:test:Environment") || !strings.Contains(prev.Diff, "+ ") {
		t.Errorf("preview diff does not show the planned component:\n%s", prev.Diff)
	}
	if e, ok := pev.find(automation.EventResourceStarted, "kong-alb-eks:test:Environment"); !ok || !e.Planning || e.Op != "create" {
		t.Errorf("preview events lack the planned create of the component (%+v):\n%s", e, pev.String())
	}

	// Up: outputs, secrets redacted, events with durations.
	var uev eventLog
	up, err := m.Up(ctx, spec, automation.WithEvents(uev.handle), automation.WithMessage("first"))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	want := map[string]any{
		outputs.Region: "us-east-1", outputs.Domain: "dev.example.com",
		outputs.ClusterName: "kong-alb-eks-dev", "certificateMode": "import", "postgresDsn": automation.Redacted,
		outputs.KongVersion: spec.Config.Kong.Version,
	}
	for k, v := range want {
		if got := up.Outputs[k].Value; got != v {
			t.Errorf("up output %s = %v, want %v", k, got, v)
		}
	}
	if !up.Outputs["postgresDsn"].Secret || up.Outputs[outputs.Region].Secret {
		t.Errorf("secretness of outputs wrong: %+v", up.Outputs)
	}
	if up.Changes["create"] != 2 {
		t.Errorf("up changes = %v, want 2 creates", up.Changes)
	}
	started, ok1 := uev.find(automation.EventResourceStarted, "kong-alb-eks:test:Environment")
	finished, ok2 := uev.find(automation.EventResourceFinished, "kong-alb-eks:test:Environment")
	summary, ok3 := uev.find(automation.EventSummary, "")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("up events lack the component's start/finish or the summary:\n%s", uev.String())
	}
	if started.Planning || started.Op != "create" || !strings.HasSuffix(started.URN, "::env") || finished.URN != started.URN ||
		finished.Sequence <= started.Sequence || finished.Duration < 0 || finished.Operation != automation.OpUp || finished.Stack != "dev" {
		t.Errorf("component events wrong: started %+v finished %+v", started, finished)
	}
	if summary.Changes["create"] != 2 {
		t.Errorf("summary event changes = %v", summary.Changes)
	}
	for _, e := range uev.events {
		if strings.Contains(e.Message, sec.postgresPassword) {
			t.Errorf("an event carries the secret: %+v", e)
		}
	}

	// Outputs: redacted, unless asked.
	outs, err := m.Outputs(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if outs["postgresDsn"].Value != automation.Redacted || outs[outputs.Domain].Value != "dev.example.com" {
		t.Errorf("outputs = %+v", outs)
	}
	revealed, err := m.OutputsWithSecrets(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if dsn, _ := revealed["postgresDsn"].Value.(string); !strings.Contains(dsn, sec.postgresPassword) || !revealed["postgresDsn"].Secret {
		t.Errorf("revealed dsn output does not carry the password: %+v", revealed["postgresDsn"].Secret)
	}

	// A second preview sees no changes; refresh and history work.
	prev2, err := m.Preview(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if prev2.Changes["same"] != 2 || prev2.Changes["create"] != 0 {
		t.Errorf("second preview changes = %v, want 2 same", prev2.Changes)
	}
	var rev eventLog
	if _, err := m.Refresh(ctx, "dev", automation.WithEvents(rev.handle)); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if _, ok := rev.find(automation.EventSummary, ""); !ok {
		t.Errorf("refresh emitted no summary:\n%s", rev.String())
	}
	hist, err := m.History(ctx, "dev", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Kind != "refresh" || hist[1].Kind != "update" || hist[1].Result != "succeeded" || hist[1].Message != "first" {
		t.Errorf("history = %+v, want refresh then update", hist)
	}
	st, err := m.Status(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastUpdate == nil || st.LastUpdate.Kind != "refresh" || st.Outputs["postgresDsn"].Value != automation.Redacted || len(st.Locks) != 0 {
		t.Errorf("status = %+v", st)
	}
	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "dev" || list[0].LastUpdate.IsZero() {
		t.Errorf("list = %+v", list)
	}

	// A changed spec is written (the manager skips rewriting an unchanged one), and so is an
	// unchanged spec whose settings file changed behind the manager's back.
	changed := spec
	changed.Config.Domain = "staging.example.com"
	changed.Config.Certificate = stacks.CertificateConfig{Mode: stacks.CertificateACM}
	if up, err := m.Up(ctx, changed); err != nil || up.Outputs[outputs.Domain].Value != "staging.example.com" {
		t.Fatalf("update with a changed domain: %v %+v", err, up)
	}
	settingsFile := filepath.Join(state, "work", "stacks", "dev", "Pulumi.dev.yaml")
	if err := os.Remove(settingsFile); err != nil {
		t.Fatal(err)
	}
	if up, err := m.Up(ctx, changed); err != nil || up.Outputs[outputs.Domain].Value != "staging.example.com" {
		t.Fatalf("update after the settings file was removed: %v %+v", err, up)
	}
	if up, err := m.Up(ctx, spec); err != nil || up.Outputs[outputs.Domain].Value != "dev.example.com" {
		t.Fatalf("update back to the first spec: %v %+v", err, up)
	}

	// Secrets never reach the state directory in plaintext (backend, work dirs, home).
	assertNoPlaintext(t, state, sec.postgresPassword, sec.keyMaterial)
	cfgFile, err := os.ReadFile(filepath.Join(state, "work", "stacks", "dev", "Pulumi.dev.yaml"))
	if err != nil || !bytes.Contains(cfgFile, []byte("kong-alb-eks:postgresPassword:\n    secure:")) {
		t.Errorf("the stack config does not hold postgresPassword as a secret (%v):\n%s", err, cfgFile)
	}

	// Destroy removes the resources and the stack.
	var dev eventLog
	d, err := m.Destroy(ctx, "dev", automation.WithEvents(dev.handle))
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if !d.Removed || d.Changes["delete"] != 2 {
		t.Errorf("destroy = %+v, want removed and 2 deletes", d)
	}
	if _, ok := dev.findOp(automation.EventResourceFinished, "kong-alb-eks:test:Environment", "delete"); !ok {
		t.Errorf("destroy events lack the component's delete:\n%s", dev.String())
	}
	// The destroy ran the program (its registrations are "same" steps), which delete hooks need.
	if _, ok := dev.findOp(automation.EventResourceFinished, "kong-alb-eks:test:Environment", "same"); !ok {
		t.Errorf("the destroy did not run the program:\n%s", dev.String())
	}
	if _, err := m.Outputs(ctx, "dev"); !errors.Is(err, automation.ErrNotFound) {
		t.Errorf("outputs after destroy: %v, want ErrNotFound", err)
	}
	if _, err := m.Destroy(ctx, "dev"); !errors.Is(err, automation.ErrNotFound) {
		t.Errorf("destroy of a removed stack: %v, want ErrNotFound", err)
	}
	assertNoPlaintext(t, state, sec.postgresPassword, sec.keyMaterial)
}

func TestManagerRejectsInvalidSpecBeforeRunning(t *testing.T) {
	ctx := testContext(t)
	state := t.TempDir()
	h := newHooks()
	m := newManager(t, state, h, nil)
	good, _ := testConfig(t, "dev.example.com")
	bad := good
	bad.Region = "mars-1"
	bad.Kong.PostgresPassword = ""

	cases := []struct {
		name     string
		spec     stacks.Spec
		wantKeys []string
	}{
		{"config", stacks.Spec{Name: "dev", Config: bad}, []string{"aws:region", "kong-alb-eks:postgresPassword"}},
		{"path", stacks.Spec{Name: "../dev", Config: good}, []string{"name"}},
		{"upper", stacks.Spec{Name: "Dev", Config: good}, []string{"name"}},
		{"empty", stacks.Spec{Name: "", Config: good}, []string{"name"}},
		{"long", stacks.Spec{Name: strings.Repeat("a", 64), Config: good}, []string{"name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for op, run := range map[string]func() error{
				"up":      func() error { _, err := m.Up(ctx, tc.spec); return err },
				"preview": func() error { _, err := m.Preview(ctx, tc.spec); return err },
			} {
				err := run()
				var ise *stacks.InvalidSpecError
				if !errors.Is(err, stacks.ErrInvalidSpec) || !errors.As(err, &ise) {
					t.Fatalf("%s: got %v, want an InvalidSpecError", op, err)
				}
				var keys []string
				for _, p := range ise.Problems {
					keys = append(keys, p.Key)
				}
				for _, k := range tc.wantKeys {
					if !strings.Contains(strings.Join(keys, " "), k) {
						t.Errorf("%s: problems %v lack %s", op, ise.Problems, k)
					}
				}
			}
		})
	}
	if n := h.runs.Load(); n != 0 {
		t.Errorf("the program ran %d times for invalid specs", n)
	}
	if entries, _ := os.ReadDir(filepath.Join(state, "work", "stacks")); len(entries) != 0 {
		t.Errorf("invalid specs created stack directories: %v", entries)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 0 {
		t.Errorf("backend holds %v (%v), want nothing", list, err)
	}
	for _, name := range []string{"../x", "a/b", ".hidden"} {
		if _, err := m.Outputs(ctx, name); !errors.Is(err, stacks.ErrInvalidSpec) {
			t.Errorf("outputs of %q: %v, want ErrInvalidSpec", name, err)
		}
		if _, err := m.Destroy(ctx, name); !errors.Is(err, stacks.ErrInvalidSpec) {
			t.Errorf("destroy of %q: %v, want ErrInvalidSpec", name, err)
		}
	}
}

func TestManagerBusy(t *testing.T) {
	ctx := testContext(t)
	state := t.TempDir()
	h := newHooks()
	m := newManager(t, state, h, nil)
	// A second manager on the same state: another process, as far as the engine knows.
	other := newManager(t, state, h, nil)
	cfg, _ := testConfig(t, "dev.example.com")
	spec := stacks.Spec{Name: "dev", Config: cfg}

	entered, release := h.hold("dev")
	defer release()
	first := make(chan error, 1)
	go func() { _, err := m.Up(ctx, spec); first <- err }()
	select {
	case <-entered:
	case err := <-first:
		t.Fatalf("first update ended before its program ran: %v", err)
	case <-ctx.Done():
		t.Fatal("first update never reached its program")
	}

	// The manager's own lock: refused at once, before the engine runs.
	start := time.Now()
	_, err := m.Up(ctx, spec)
	var be *automation.BusyError
	if !errors.Is(err, automation.ErrBusy) || !errors.As(err, &be) || be.Source != automation.BusyManager || be.Running != automation.OpUp {
		t.Fatalf("second update through the same manager: %v, want a BusyError from the manager", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the manager took %v to refuse", d)
	}
	if _, err := m.Destroy(ctx, "dev"); !errors.Is(err, automation.ErrBusy) {
		t.Errorf("destroy during an update: %v, want ErrBusy", err)
	}
	if op, ok := m.Running("dev"); !ok || op != automation.OpUp {
		t.Errorf("Running = %v %v", op, ok)
	}

	// The engine's lock, held by the first update: the other manager gets a busy error too.
	locks, err := m.Locks("dev")
	if err != nil || len(locks) != 1 || locks[0].Stale || locks[0].PID == 0 {
		t.Errorf("locks during the update = %+v (%v), want one live lock", locks, err)
	}
	_, err = other.Up(ctx, spec)
	if !errors.Is(err, automation.ErrBusy) || !errors.As(err, &be) || be.Source != automation.BusyEngineLock {
		t.Fatalf("update from another manager: %v, want a BusyError from the engine lock", err)
	}

	release()
	if err := <-first; err != nil {
		t.Fatalf("first update: %v", err)
	}
	// Both locks are free again.
	if _, err := other.Up(ctx, spec); err != nil {
		t.Fatalf("update after the first ended: %v", err)
	}
	if locks, _ := m.Locks("dev"); len(locks) != 0 {
		t.Errorf("locks left after the updates: %+v", locks)
	}
}

func TestManagerParallelStacks(t *testing.T) {
	ctx := testContext(t)
	h := newHooks()
	m := newManager(t, t.TempDir(), h, func(o *automation.ManagerOptions) { o.MaxConcurrent = 2 })
	names := []string{"blue", "green"}
	// Each program waits until both are inside: they can only finish if they overlap.
	var releases []func()
	var entered []<-chan struct{}
	for _, n := range names {
		e, r := h.hold(n)
		entered, releases = append(entered, e), append(releases, r)
	}
	go func() {
		for _, e := range entered {
			select {
			case <-e:
			case <-ctx.Done():
				return
			}
		}
		for _, r := range releases {
			r()
		}
	}()
	t.Cleanup(func() {
		for _, r := range releases {
			r()
		}
	})
	errs := make(chan error, len(names))
	results := make([]*automation.UpResult, len(names))
	for i, n := range names {
		go func() {
			cfg, _ := testConfig(t, n+".example.com")
			res, err := m.Up(ctx, stacks.Spec{Name: n, Config: cfg})
			results[i] = res
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatalf("parallel update: %v", err)
		}
	}
	for i, n := range names {
		if got := results[i].Outputs[outputs.Domain].Value; got != n+".example.com" {
			t.Errorf("stack %s: domain output %v", n, got)
		}
		if got := results[i].Outputs[outputs.ClusterName].Value; got != "kong-alb-eks-"+n {
			t.Errorf("stack %s: cluster name output %v", n, got)
		}
	}
}

func TestManagerEngineFailure(t *testing.T) {
	ctx := testContext(t)
	h := newHooks()
	h.fail["dev"] = errors.New("kaboom: the program failed on purpose")
	m := newManager(t, t.TempDir(), h, nil)
	cfg, _ := testConfig(t, "dev.example.com")
	var ev eventLog
	_, err := m.Up(ctx, stacks.Spec{Name: "dev", Config: cfg}, automation.WithEvents(ev.handle))
	var ee *automation.EngineError
	if !errors.Is(err, automation.ErrEngine) || !errors.As(err, &ee) {
		t.Fatalf("got %v, want an EngineError", err)
	}
	if !strings.Contains(ee.Tail, "kaboom: the program failed on purpose") || ee.Operation != automation.OpUp {
		t.Errorf("engine error tail does not name the failure:\n%s", ee.Tail)
	}
	if len(strings.Split(ee.Tail, "\n")) > 40 {
		t.Errorf("tail has more than 40 lines")
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error message is not one line: %q", err.Error())
	}
	found := false
	for _, e := range ev.events {
		found = found || (e.Kind == automation.EventDiagnostic && e.Severity == "error" && strings.Contains(e.Message, "kaboom"))
	}
	if !found {
		t.Errorf("no error diagnostic event:\n%s", ev.String())
	}
}

func TestManagerCancelAndStaleLock(t *testing.T) {
	ctx, state, m, spec, _ := devStack(t)
	if _, err := m.Up(ctx, spec); err != nil {
		t.Fatal(err)
	}

	// A lock left by a killed process: a pid that no longer exists on this host.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	lockDir := filepath.Join(state, "backend", ".pulumi", "locks", "organization", "kong-alb-eks", "dev")
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := fmt.Sprintf(`{"pid":%d,"username":"ci","hostname":%q,"timestamp":"2026-01-02T03:04:05Z"}`, dead.Process.Pid, host)
	if err := os.WriteFile(filepath.Join(lockDir, "deadbeef.json"), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	locks, err := m.Locks("dev")
	if err != nil || len(locks) != 1 || !locks[0].Stale || !strings.Contains(locks[0].Clear, "pulumi cancel") {
		t.Fatalf("locks = %+v (%v), want one stale lock with instructions", locks, err)
	}
	if _, err := m.Up(ctx, spec); !errors.Is(err, automation.ErrBusy) {
		t.Fatalf("update of a stack with a stale lock: %v, want ErrBusy", err)
	}
	// Cancel (no operation of this manager runs) clears the backend's lock.
	if err := m.Cancel(ctx, "dev"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if locks, _ := m.Locks("dev"); len(locks) != 0 {
		t.Fatalf("locks after cancel: %+v", locks)
	}
	if _, err := m.Up(ctx, spec); err != nil {
		t.Fatalf("update after clearing the lock: %v", err)
	}
}

func TestManagerOptions(t *testing.T) {
	testkit.RequirePulumi(t)
	t.Setenv(automation.EnvConfigPassphrase, "")
	os.Unsetenv(automation.EnvConfigPassphrase)
	t.Setenv(automation.EnvConfigPassphraseFile, "")
	os.Unsetenv(automation.EnvConfigPassphraseFile)
	if _, err := automation.NewManager(automation.ManagerOptions{StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "PULUMI_CONFIG_PASSPHRASE") {
		t.Errorf("no passphrase: %v", err)
	}
	if _, err := automation.NewManager(automation.ManagerOptions{}); err == nil {
		t.Error("no state dir accepted")
	}
	if _, err := automation.NewManager(automation.ManagerOptions{StateDir: t.TempDir(), Passphrase: "x", BackendURL: "ftp://x"}); err == nil {
		t.Error("ftp backend accepted")
	}
	if _, err := automation.NewManager(automation.ManagerOptions{StateDir: t.TempDir(), Passphrase: "x", PulumiBinary: "/nonexistent/pulumi"}); err == nil {
		t.Error("missing CLI accepted")
	}
	m, err := automation.NewManager(automation.ManagerOptions{StateDir: t.TempDir(), BackendURL: "s3://bucket/prefix", SecretsProvider: "awskms://alias/portal?region=us-east-1"})
	if err != nil {
		t.Fatalf("s3 backend with KMS: %v", err)
	}
	if m.BackendURL() != "s3://bucket/prefix" || m.Project() != stacks.Project {
		t.Errorf("manager = %s %s", m.BackendURL(), m.Project())
	}
	if _, err := m.Locks("dev"); !errors.Is(err, automation.ErrLocksUnsupported) {
		t.Errorf("locks of an s3 backend: %v", err)
	}
}

// The Kong releases update in parallel, so the manager refuses a spec whose data planes would
// be newer than the control plane the environment runs now; the two-step upgrade (control
// plane first, kongDataPlaneVersion holding the data planes back) goes through.
func TestKongDataPlanesNeverOvertakeTheRunningControlPlane(t *testing.T) {
	t.Parallel()
	ctx, _, m, spec, _ := devStack(t)
	spec.Config.Kong.Version = "3.10.0.4"
	if _, err := m.Up(ctx, spec); err != nil {
		t.Fatalf("up: %v", err)
	}
	oneStep := spec
	oneStep.Config.Kong.Version = "3.11.0.0"
	for what, op := range map[string]func() error{
		"up":      func() error { _, err := m.Up(ctx, oneStep); return err },
		"preview": func() error { _, err := m.Preview(ctx, oneStep); return err },
	} {
		var ise *stacks.InvalidSpecError
		if err := op(); !errors.As(err, &ise) || len(ise.Problems) != 1 || ise.Problems[0].Key != "kong-alb-eks:kongVersion" ||
			!strings.Contains(ise.Problems[0].Message, "kongDataPlaneVersion 3.10.0.4") {
			t.Errorf("%s of kongVersion 3.10.0.4 → 3.11.0.0 in one step: %v, want the kongVersion key refused with the two steps", what, err)
		}
	}
	controlPlaneFirst := oneStep
	controlPlaneFirst.Config.Kong.DataPlaneVersion = "3.10.0.4"
	if _, err := m.Up(ctx, controlPlaneFirst); err != nil {
		t.Fatalf("step 1, the control plane: %v", err)
	}
	if _, err := m.Up(ctx, oneStep); err != nil {
		t.Fatalf("step 2, the data planes: %v", err)
	}
}
