package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

const (
	testToken    = "test-token-0123456789abcdef"
	testPassword = "pg-password-never-in-a-response-7f3a9c"
)

// gate holds a stack's program inside the engine until released; with fail set, the program
// fails with that message.
type gate struct {
	mu    sync.Mutex
	holds map[string]chan struct{}
	in    map[string]chan struct{}
	fail  string
}

func (g *gate) failWith(msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = msg
}

func (g *gate) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail == "" {
		return nil
	}
	return errors.New(g.fail)
}

func (g *gate) hold(stack string) (entered <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds == nil {
		g.holds, g.in = map[string]chan struct{}{}, map[string]chan struct{}{}
	}
	r, e := make(chan struct{}), make(chan struct{})
	g.holds[stack], g.in[stack] = r, e
	var once sync.Once
	return e, func() { once.Do(func() { close(r) }) }
}

func (g *gate) wait(ctx *pulumi.Context) {
	g.mu.Lock()
	r, e := g.holds[ctx.Stack()], g.in[ctx.Stack()]
	delete(g.holds, ctx.Stack())
	delete(g.in, ctx.Stack())
	g.mu.Unlock()
	if r != nil {
		close(e)
		select {
		case <-r:
		case <-ctx.Context().Done():
		case <-time.After(2 * time.Minute):
		}
	}
}

type comp struct{ pulumi.ResourceState }

// program is provider-free and reads the configuration through the stacks mapping.
func program(g *gate) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := stacks.LoadConfig(ctx.GetConfig)
		if err != nil {
			return err
		}
		g.wait(ctx)
		if err := g.failure(); err != nil {
			return err
		}
		var c comp
		if err := ctx.RegisterComponentResource("kong-alb-eks:test:Environment", "env", &c); err != nil {
			return err
		}
		ctx.Export(outputs.Domain, pulumi.String(cfg.Domain))
		ctx.Export("postgresPassword", pulumi.ToSecret(pulumi.String(cfg.Kong.PostgresPassword.Reveal())))
		return nil
	}
}

type fixture struct {
	t    *testing.T
	srv  *Server
	http *httptest.Server
	gate *gate
	m    *automation.Manager
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	return newFixtureAt(t, token, t.TempDir(), 0)
}

// executorWrapper is a stand-in a configure may set as Options.Executor: it gets the manager
// to wrap.
type executorWrapper interface{ wrap(automation.Executor) }

// newFixtureAt builds a server on a state directory (backend, work directories, and the
// operations journal in <state>/operations), as Command does. Each configure adjusts the
// manager's options and the server's before either is made.
func newFixtureAt(t *testing.T, token, state string, maxOps int, configure ...func(*automation.ManagerOptions, *Options)) *fixture {
	t.Helper()
	testkit.RequirePulumi(t)
	g := &gate{}
	mopts := automation.ManagerOptions{
		StateDir:   state,
		Passphrase: "server-test-passphrase",
		Program:    program(g),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	opts := Options{Token: token, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: 64 << 10,
		MaxOperations: maxOps, OperationsDir: filepath.Join(state, "operations")}
	for _, c := range configure {
		c(&mopts, &opts)
	}
	m, err := automation.NewManager(mopts)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := opts.Executor.(executorWrapper); ok {
		w.wrap(m)
	} else {
		opts.Executor = m
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.shutdown(ctx, 30*time.Second)
		hs.Close()
	})
	return &fixture{t: t, srv: srv, http: hs, gate: g, m: m}
}

func specBody(domain string) string {
	return fmt.Sprintf(`{"config":{"aws:region":"us-east-1","domain":%q,"hostedZone":"example.com",
		"postgresHost":"db.example.com","postgresPassword":%q}}`, domain, testPassword)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object (%v): %s", err, r.body)
	}
	return v
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (f *fixture) do(method, path, body string, auth ...string) response {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	token := testToken
	if len(auth) > 0 {
		token = auth[0]
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if bytes.Contains(b, []byte(testPassword)) {
		f.t.Errorf("%s %s: the response carries the secret's plaintext", method, path)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// start issues a request that starts an operation and returns its ID.
func (f *fixture) start(method, path, body string) string {
	f.t.Helper()
	r := f.do(method, path, body)
	if r.status != http.StatusAccepted {
		f.t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	id, _ := r.json(f.t)["id"].(string)
	if !strings.HasPrefix(id, "op-") || r.header.Get("Location") != "/v1/operations/"+id {
		f.t.Fatalf("%s %s: operation id %q, Location %q", method, path, id, r.header.Get("Location"))
	}
	return id
}

type sseEvent struct {
	id, name string
	data     map[string]any
}

// stream reads an operation's event stream to its end.
func (f *fixture) stream(id string, lastEventID string) []sseEvent {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.http.URL+"/v1/operations/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
				if cur.name == "end" {
					if sc.Scan() {
						f.t.Errorf("data after the end event: %q", sc.Text())
					}
					return out
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				f.t.Fatalf("event data is not JSON: %q", line)
			}
		}
	}
	f.t.Fatalf("the stream ended without an end event (%v): %d events", sc.Err(), len(out))
	return nil
}

func (f *fixture) wait(id string) map[string]any {
	f.t.Helper()
	evs := f.stream(id, "")
	end := evs[len(evs)-1].data
	r := f.do(http.MethodGet, "/v1/operations/"+id, "")
	if r.status != http.StatusOK {
		f.t.Fatalf("operation %s: %d %s", id, r.status, r.body)
	}
	op := r.json(f.t)
	if op["state"] != end["state"] {
		f.t.Errorf("operation state %v, end event %v", op["state"], end["state"])
	}
	return op
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	for _, tc := range []struct {
		name, header string
	}{
		{"missing", ""},
		{"wrong", "Bearer test-token-0123456789abcdeX"},
		{"wrong length", "Bearer x"},
		{"not bearer", "Basic " + testToken},
		{"bare token", testToken},
	} {
		req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/v1/environments", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		res, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") ||
			!strings.Contains(string(b), `"code":"unauthorized"`) {
			t.Errorf("%s: %d %s %s", tc.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), b)
		}
	}
	// Every /v1 endpoint is protected, including unknown ones and the mutating ones.
	for _, p := range []struct{ method, path string }{
		{"PUT", "/v1/environments/dev"}, {"POST", "/v1/environments/dev/preview"}, {"DELETE", "/v1/environments/dev"},
		{"GET", "/v1/environments/dev"}, {"GET", "/v1/operations/op-1"}, {"GET", "/v1/operations/op-1/events"},
		{"POST", "/v1/operations/op-1/cancel"}, {"GET", "/v1/nope"},
	} {
		if r := f.do(p.method, p.path, specBody("dev.example.com"), ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", p.method, p.path, r.status)
		}
	}
	if r := f.do(http.MethodGet, "/v1/environments", ""); r.status != http.StatusOK {
		t.Errorf("with the token: %d %s", r.status, r.body)
	}
	if r := f.do(http.MethodGet, "/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("healthz: %d", r.status)
	}
}

func TestEnvironmentLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	if r := f.do(http.MethodGet, "/v1/environments", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"environments":[]`) {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}

	// PUT starts an update; its events stream and end.
	id := f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))
	evs := f.stream(id, "")
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.name]++
		if e.name != "end" && (e.data["stack"] != "dev" || e.data["operation"] != "up" || e.id == "") {
			t.Errorf("event %+v", e)
		}
	}
	if kinds["resource-started"] < 2 || kinds["resource-finished"] < 1 || kinds["summary"] != 1 || kinds["end"] != 1 {
		t.Errorf("event kinds %v", kinds)
	}
	end := evs[len(evs)-1].data
	if end["state"] != StateSucceeded {
		t.Fatalf("update ended %v: %v", end["state"], end["error"])
	}
	// Resuming after the first event replays the rest.
	if again := f.stream(id, "1"); len(again) != len(evs)-1 || again[0].id != "2" {
		t.Errorf("resumed stream has %d events (first %q), want %d from 2", len(again), again[0].id, len(evs)-1)
	}

	op := f.wait(id)
	res, _ := op["result"].(map[string]any)
	outs, _ := res["Outputs"].(map[string]any)
	if pw, _ := outs["postgresPassword"].(map[string]any); pw["value"] != automation.Redacted || pw["secret"] != true {
		t.Errorf("update result outputs %v", outs)
	}

	// The environment: status, outputs redacted, last operation.
	r := f.do(http.MethodGet, "/v1/environments/dev", "")
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	env := r.json(t)
	if env["state"] != "ready" || env["name"] != "dev" {
		t.Errorf("environment %s", r.body)
	}
	if o, _ := env["outputs"].(map[string]any); o == nil || o["domain"].(map[string]any)["value"] != "dev.example.com" {
		t.Errorf("environment outputs %s", r.body)
	}
	if last, _ := env["lastOperation"].(map[string]any); last["id"] != id {
		t.Errorf("last operation %v, want %s", env["lastOperation"], id)
	}
	if lu, _ := env["lastUpdate"].(map[string]any); lu["kind"] != "update" || lu["message"] != "portal update" {
		t.Errorf("last update %v", env["lastUpdate"])
	}
	r = f.do(http.MethodGet, "/v1/environments", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"name":"dev"`) || !strings.Contains(string(r.body), id) {
		t.Errorf("list: %d %s", r.status, r.body)
	}

	// Preview: no changes, a diff.
	pid := f.start(http.MethodPost, "/v1/environments/dev/preview", specBody("dev.example.com"))
	pop := f.wait(pid)
	pres, _ := pop["result"].(map[string]any)
	if ch, _ := pres["Changes"].(map[string]any); pop["state"] != StateSucceeded || ch["same"] != float64(2) || pres["Diff"] == "" {
		t.Errorf("preview %v", pop)
	}

	// DELETE destroys and removes.
	did := f.start(http.MethodDelete, "/v1/environments/dev", "")
	dop := f.wait(did)
	if dres, _ := dop["result"].(map[string]any); dop["state"] != StateSucceeded || dres["Removed"] != true {
		t.Errorf("destroy %v", dop)
	}
	if r := f.do(http.MethodGet, "/v1/environments/dev", ""); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
		t.Errorf("get after delete: %d %s", r.status, r.body)
	}
	if r := f.do(http.MethodDelete, "/v1/environments/dev", ""); r.status != http.StatusNotFound {
		t.Errorf("delete after delete: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/v1/operations/op-nope", "/v1/operations/op-nope/events"} {
		if r := f.do(http.MethodGet, p, ""); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	huge := `{"config":{"domain":"` + strings.Repeat("a", 70<<10) + `"}}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		problemKey               string
	}{
		{"oversized", "PUT", "/v1/environments/dev", huge, 413, "body_too_large", ""},
		{"oversized preview", "POST", "/v1/environments/dev/preview", huge, 413, "body_too_large", ""},
		{"malformed", "PUT", "/v1/environments/dev", `{"config":`, 400, "malformed_request", ""},
		{"empty body", "PUT", "/v1/environments/dev", ``, 400, "malformed_request", ""},
		{"trailing", "PUT", "/v1/environments/dev", `{"config":{}} x`, 400, "malformed_request", ""},
		{"unknown field", "PUT", "/v1/environments/dev", `{"config":{},"replicas":3}`, 400, "unknown_field", ""},
		{"unknown config key", "PUT", "/v1/environments/dev", `{"config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","bogus":true}}`, 400, "invalid_spec", "bogus"},
		{"invalid config", "PUT", "/v1/environments/dev", `{"config":{"aws:region":"moon","domain":"dev.example.com","hostedZone":"example.com"}}`, 400, "invalid_spec", "aws:region"},
		{"name mismatch", "PUT", "/v1/environments/dev", `{"name":"prod","config":{}}`, 400, "invalid_spec", "name"},
		{"upper-case name", "PUT", "/v1/environments/Dev", specBody("dev.example.com"), 400, "invalid_name", "name"},
		{"dot-dot name", "PUT", "/v1/environments/%2E%2E", specBody("dev.example.com"), 400, "invalid_name", "name"},
		{"slash name", "DELETE", "/v1/environments/a%2Fb", "", 400, "invalid_name", "name"},
		{"long name", "GET", "/v1/environments/" + strings.Repeat("a", 64), "", 400, "invalid_name", "name"},
		{"underscore name", "POST", "/v1/environments/a_b/preview", specBody("dev.example.com"), 400, "invalid_name", "name"},
		{"unknown env", "GET", "/v1/environments/ghost", "", 404, "not_found", ""},
		{"unknown env delete", "DELETE", "/v1/environments/ghost", "", 404, "not_found", ""},
		{"unknown operation cancel", "POST", "/v1/operations/op-x/cancel", "", 404, "not_found", ""},
		{"unknown endpoint", "GET", "/v1/whatever", "", 404, "not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.method, tc.path, tc.body)
			if r.status != tc.status || r.errorCode(t) != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", r.header.Get("Content-Type"))
			}
			if tc.problemKey != "" {
				e := r.json(t)["error"].(map[string]any)
				probs, _ := e["problems"].([]any)
				found := false
				for _, p := range probs {
					pm := p.(map[string]any)
					found = found || (pm["key"] == tc.problemKey && pm["message"] != "")
				}
				if !found {
					t.Errorf("problems %v lack %s", probs, tc.problemKey)
				}
			}
		})
	}
	if r := f.do(http.MethodPatch, "/v1/environments/dev", "{}"); r.status != http.StatusMethodNotAllowed ||
		r.errorCode(t) != "method_not_allowed" || !strings.Contains(r.header.Get("Allow"), "PUT") {
		t.Errorf("PATCH: %d %s %q", r.status, r.body, r.header.Get("Allow"))
	}
	if r := f.do(http.MethodPatch, "/v1/environments/dev", "{}", ""); r.status != http.StatusUnauthorized {
		t.Errorf("PATCH without a token: %d", r.status)
	}
	// None of it reached the backend.
	if r := f.do(http.MethodGet, "/v1/environments", ""); !strings.Contains(string(r.body), `"environments":[]`) {
		t.Errorf("bad requests created environments: %s", r.body)
	}
}

func TestBusyAndCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	entered, release := f.gate.hold("dev")
	defer release()
	id := f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the update never reached its program")
	}
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/v1/environments/dev", specBody("dev.example.com")},
		{"POST", "/v1/environments/dev/preview", specBody("dev.example.com")},
		{"DELETE", "/v1/environments/dev", ""},
	} {
		if r := f.do(req.method, req.path, req.body); r.status != http.StatusConflict || r.errorCode(t) != "busy" {
			t.Errorf("%s %s while updating: %d %s", req.method, req.path, r.status, r.body)
		}
	}
	if r := f.do(http.MethodGet, "/v1/environments/dev", ""); r.status != http.StatusOK || r.json(t)["state"] != "running" {
		t.Errorf("environment while updating: %d %s", r.status, r.body)
	}
	// Another environment is not blocked.
	other := f.start(http.MethodPut, "/v1/environments/other", specBody("other.example.com"))
	release()
	if op := f.wait(id); op["state"] != StateSucceeded {
		t.Fatalf("update: %v", op)
	}
	if op := f.wait(other); op["state"] != StateSucceeded {
		t.Fatalf("other update: %v", op)
	}

	// Cancel a running update: it stops cleanly and the stack is usable again.
	entered, release = f.gate.hold("dev")
	defer release()
	id = f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))
	<-entered
	if r := f.do(http.MethodPost, "/v1/operations/"+id+"/cancel", ""); r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	op := f.wait(id)
	if op["state"] != StateCanceled {
		t.Fatalf("canceled update ended %v: %v", op["state"], op["error"])
	}
	if e, _ := op["error"].(map[string]any); e["code"] != "canceled" {
		t.Errorf("canceled error %v", op["error"])
	}
	if locks, _ := f.m.Locks("dev"); len(locks) != 0 {
		t.Errorf("the canceled update left locks: %+v", locks)
	}
	if op := f.wait(f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))); op["state"] != StateSucceeded {
		t.Errorf("update after cancel: %v", op)
	}
}

func TestShutdownDrainsThenCancels(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	entered, release := f.gate.hold("dev")
	defer release()
	id := f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.srv.shutdown(ctx, time.Minute)
	if cut, ok := err.(*CutShortError); !ok || cut.Canceled != 1 || cut.NotStarted != 0 {
		t.Errorf("shutdown: %v, want one operation canceled", err)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	r := f.do(http.MethodGet, "/v1/operations/"+id, "")
	if st := r.json(t)["state"]; st != StateCanceled {
		t.Errorf("operation after shutdown: %s", r.body)
	}
	if r := f.do(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com")); r.status != http.StatusServiceUnavailable || r.errorCode(t) != "shutting_down" {
		t.Errorf("update while shut down: %d %s", r.status, r.body)
	}
	if locks, _ := f.m.Locks("dev"); len(locks) != 0 {
		t.Errorf("the canceled update left locks: %+v", locks)
	}

	// With nothing running, shutdown returns at once.
	g := newFixture(t, testToken)
	if err := g.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("idle shutdown: %v", err)
	}
}
