package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestCommandRefusesUnsafeStarts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", []string{"serve", "--listen", "127.0.0.1:0"}, nil, "refusing to start without authentication"},
		{"no token, all interfaces", []string{"--listen", "0.0.0.0:0", "--allow-unauthenticated-loopback"}, nil, "needs a loopback address"},
		{"no token, empty host", []string{"--listen", ":8080", "--allow-unauthenticated-loopback"}, nil, "needs a loopback address"},
		{"no token, public IP", []string{"--listen", "192.0.2.1:8080", "--allow-unauthenticated-loopback"}, nil, "needs a loopback address"},
		{"short token", []string{"--listen", "127.0.0.1:0"}, map[string]string{EnvToken: "short"}, "too short"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"stray argument", []string{"--listen", "127.0.0.1:0", "extra"}, map[string]string{EnvToken: testToken}, "unexpected arguments"},
		{"bad access policy", []string{"--listen", "127.0.0.1:0", "--access-policy", badPolicy(t)}, nil, "--access-policy: access policy"},
		{"unknown executor", []string{"--listen", "127.0.0.1:0", "--executor", "lambda"}, map[string]string{EnvToken: testToken}, "--executor must be in-process or kubernetes-operator"},
		{"operator executor without its flags", []string{"--listen", "127.0.0.1:0", "--executor", "kubernetes-operator"}, map[string]string{EnvToken: testToken},
			"--operator-namespace is required with --executor kubernetes-operator; --program-repository is required"},
		{"bad workspace env", []string{"--listen", "127.0.0.1:0", "--operator-env", "PULUMI_CONFIG_PASSPHRASE"}, map[string]string{EnvToken: testToken}, "expected NAME=SECRET/KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncBuffer
			code := run(tc.args, runEnv{getenv: env(tc.env), stderr: &stderr, ready: func(net.Addr) { t.Error("it started") }})
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
	for _, l := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if !isLoopback(l) {
			t.Errorf("%s is loopback", l)
		}
	}
}

func badPolicy(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(`{"tenants": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// With an access policy and no PORTAL_API_TOKEN the service admits the tenants' tokens only,
// and keeps its audit trail in the state directory.
func TestCommandServesTenants(t *testing.T) {
	testkit.RequirePulumi(t)
	state := t.TempDir()
	t.Setenv(automation.EnvConfigPassphrase, "command-test-passphrase")
	tokens := filepath.Join(state, "tokens.json")
	writeTokenFile(t, tokens, standardTokens()...)
	policy := filepath.Join(state, "policy.json")
	doc := fmt.Sprintf(`{"tenants": {"team-a": {"environments": ["team-a-*"]}, "team-b": {"environments": ["team-b-*"]}}, "tokens": %q}`, tokens)
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _, stop := serve(t, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--access-policy", policy}, nil)
	if code, body := get(t, url+"/v1/environments", aViewer); code != http.StatusOK {
		t.Errorf("a tenant's viewer: %d %s", code, body)
	}
	if code, _ := get(t, url+"/v1/environments/team-b-dev", aViewer); code != http.StatusForbidden {
		t.Errorf("another tenant's environment: %d", code)
	}
	if code, _ := get(t, url+"/v1/environments", testToken); code != http.StatusUnauthorized {
		t.Errorf("a token the policy does not hold: %d", code)
	}
	// A second service on the same state directory refuses to start, naming the first.
	var stderr syncBuffer
	code := run([]string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--access-policy", policy},
		runEnv{getenv: env(nil), stderr: &stderr, ready: func(net.Addr) { t.Error("a second service started on the same state directory") }})
	if code != 1 || !strings.Contains(stderr.String(), fmt.Sprintf("in use by process %d", os.Getpid())) {
		t.Errorf("a second service: exit %d, %q", code, stderr.String())
	}
	stop()
	raw, err := os.ReadFile(filepath.Join(state, "audit.jsonl"))
	if err != nil || !strings.Contains(string(raw), `"principal":"token:a-viewer"`) || !strings.Contains(string(raw), `"principal":"anonymous"`) {
		t.Errorf("the audit trail in the state directory: %v %s", err, raw)
	}
}

// serve runs the command until the returned stop is called; it returns the base URL.
func serve(t *testing.T, args []string, vars map[string]string) (url string, logs *syncBuffer, stop func() int) {
	t.Helper()
	s := serveWith(t, args, vars, nil)
	return s.url, s.logs, s.stop
}

// served is a running serve command.
type served struct {
	t    *testing.T
	url  string
	logs *syncBuffer
	sig  chan os.Signal
	code chan int
	done bool
	exit int
}

// serveWith runs the command with program (nil: the deployment program) until stopped.
func serveWith(t *testing.T, args []string, vars map[string]string, program pulumi.RunFunc) *served {
	t.Helper()
	s := &served{t: t, logs: &syncBuffer{}, sig: make(chan os.Signal, 2), code: make(chan int, 1)}
	addr := make(chan net.Addr, 1)
	go func() {
		s.code <- run(args, runEnv{signals: s.sig, getenv: env(vars), stderr: s.logs, ready: func(a net.Addr) { addr <- a }, program: program})
	}()
	select {
	case a := <-addr:
		s.url = "http://" + a.String()
	case c := <-s.code:
		t.Fatalf("serve exited %d:\n%s", c, s.logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("serve did not start:\n%s", s.logs.String())
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// signal delivers a SIGTERM (dropped if two are pending already).
func (s *served) signal() {
	select {
	case s.sig <- syscall.SIGTERM:
	default:
	}
}

// wait returns the exit code once the command has stopped.
func (s *served) wait() int {
	s.t.Helper()
	if !s.done {
		select {
		case s.exit = <-s.code:
			s.done = true
		case <-time.After(2 * time.Minute):
			s.t.Fatalf("serve did not stop:\n%s", s.logs.String())
		}
	}
	return s.exit
}

// stop signals the command (unless it has stopped) and returns its exit code.
func (s *served) stop() int {
	s.t.Helper()
	if !s.done {
		s.signal()
	}
	return s.wait()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestCommandServesAndReportsTheBackend(t *testing.T) {
	testkit.RequirePulumi(t)
	state := t.TempDir()
	t.Setenv(automation.EnvConfigPassphrase, "command-test-passphrase")

	// What an earlier run of the service left: a stack, and a lock from a process killed mid-update.
	m, err := automation.NewManager(automation.ManagerOptions{StateDir: state, Program: program(&gate{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := stacks.DefaultConfig()
	cfg.Region, cfg.Domain, cfg.HostedZone = "us-east-1", "dev.example.com", "example.com"
	if _, err := m.Up(ctx, stacks.Spec{Name: "dev", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	lockDir := filepath.Join(state, "backend", ".pulumi", "locks", "organization", stacks.Project, "dev")
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := fmt.Sprintf(`{"pid":%d,"username":"ci","hostname":%q,"timestamp":"2026-01-02T03:04:05Z"}`, dead.Process.Pid, host)
	if err := os.WriteFile(filepath.Join(lockDir, "0123abcd.json"), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}

	// ... and the journal record of the update it was running.
	writeRecord(t, state, Operation{ID: "op-0c", Kind: automation.OpUp, Environment: "dev", State: StateRunning, CreatedAt: time.Now().UTC()})

	url, logs, stop := serve(t, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--shutdown-timeout", "5s"},
		map[string]string{EnvToken: testToken})
	for _, want := range []string{`"msg":"backend"`, `"stacks":1`, `"stack":"dev"`, "stack left locked by a killed process", "pulumi cancel --stack organization/kong-alb-eks/dev --yes", "0123abcd.json",
		"operation interrupted", `"operation":"op-0c"`, `"msg":"operations journal loaded"`, `"interrupted":1`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("startup logs lack %q:\n%s", want, logs.String())
		}
	}
	if code, _ := get(t, url+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	if code, _ := get(t, url+"/v1/environments", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	code, body := get(t, url+"/v1/environments", testToken)
	if code != http.StatusOK || !strings.Contains(body, `"name":"dev"`) || !strings.Contains(body, `"state":"stale-lock"`) || !strings.Contains(body, `"stale":true`) {
		t.Errorf("environments: %d %s", code, body)
	}
	// The interrupted update is its last operation, with how to clear the lock it left.
	if !strings.Contains(body, `"id":"op-0c"`) || !strings.Contains(body, `"state":"interrupted"`) {
		t.Errorf("environments lack the interrupted operation: %s", body)
	}
	if code, body := get(t, url+"/v1/operations/op-0c", testToken); code != http.StatusOK || !strings.Contains(body, `"state":"interrupted"`) ||
		strings.Contains(body, "0123abcd.json") || strings.Contains(body, state) || !strings.Contains(body, "/v1/environments/dev/unlock") {
		t.Errorf("interrupted operation: %d %s", code, body)
	}
	// An update of the locked environment is refused with the lock and how to clear it.
	req, _ := http.NewRequest(http.MethodPut, url+"/v1/environments/dev", strings.NewReader(`{"config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com"}}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "/v1/environments/dev/unlock") || !strings.Contains(string(b), `"locks"`) ||
		strings.Contains(string(b), state) {
		t.Errorf("update of a locked environment: %d %s", res.StatusCode, b)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d after SIGINT-equivalent", code)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no orderly stop in the logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "command-test-passphrase") || strings.Contains(logs.String(), testToken) {
		t.Error("the logs carry the passphrase or the token")
	}

	// Unauthenticated on loopback, with the flag: served without a token.
	url, _, stop = serve(t, []string{"--listen", "127.0.0.1:0", "--state-dir", state, "--allow-unauthenticated-loopback"}, nil)
	if code, body := get(t, url+"/v1/environments", ""); code != http.StatusOK {
		t.Errorf("unauthenticated loopback: %d %s", code, body)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// The operator executor refuses what cannot work before it serves: a file backend (the
// workspace pods would lose the state), a branch instead of a commit, an unpinned image.
func TestCommandChecksTheOperatorExecutor(t *testing.T) {
	t.Parallel()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"+
		"contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	code := run([]string{"--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--executor", "kubernetes-operator", "--operator-kubeconfig", kubeconfig,
		"--operator-namespace", "environments", "--program-repository", "https://github.com/o/kong-alb-eks.git", "--program-commit", "main",
		"--workspace-image", "pulumi/pulumi:latest", "--backend", "file:///var/lib/state"},
		runEnv{getenv: env(map[string]string{EnvToken: testToken}), stderr: &stderr, ready: func(net.Addr) { t.Error("it started") }})
	for _, want := range []string{"full 40-character SHA", "a file:// backend would lose the state", "must be pinned by tag or digest"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr.String())
		}
	}
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
}
