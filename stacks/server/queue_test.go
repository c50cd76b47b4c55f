package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// waitState polls an operation until it is in state, and returns it.
func (f *fixture) waitState(id, state string) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := f.do(http.MethodGet, "/v1/operations/"+id, "")
		op := r.json(f.t)
		if op["state"] == state {
			return op
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("operation %s never became %s: %s", id, state, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heldUpdate starts an update of env that holds inside its program until released.
func (f *fixture) heldUpdate(env string) (id string, release func()) {
	f.t.Helper()
	entered, release := f.gate.hold(env)
	id = f.start(http.MethodPut, "/v1/environments/"+env, specBody(env+".example.com"))
	select {
	case <-entered:
	case <-time.After(time.Minute):
		release()
		f.t.Fatalf("the update of %s never reached its program", env)
	}
	return id, release
}

func oneSlot(queued int) func(*automation.ManagerOptions, *Options) {
	return func(m *automation.ManagerOptions, o *Options) { m.MaxConcurrent, o.MaxQueued = 1, queued }
}

// An operation waiting for a slot is queued (no start time), the queue is bounded (429 beyond
// it), a queued operation can be canceled without ever running, and a queued one starts when
// the slot frees.
func TestQueueIsReportedAndBounded(t *testing.T) {
	t.Parallel()
	f := newFixtureAt(t, testToken, t.TempDir(), 0, oneSlot(2))
	a, release := f.heldUpdate("a")
	defer release()
	if op := f.waitState(a, StateRunning); op["startedAt"] == nil {
		t.Errorf("a running operation has no startedAt: %v", op)
	}
	b := f.start(http.MethodPost, "/v1/environments/b/preview", specBody("b.example.com"))
	c := f.start(http.MethodPost, "/v1/environments/c/preview", specBody("c.example.com"))
	for _, id := range []string{b, c} {
		op := f.do(http.MethodGet, "/v1/operations/"+id, "").json(t)
		if op["state"] != StateQueued || op["startedAt"] != nil {
			t.Errorf("an operation waiting for the one slot: %v", op)
		}
	}
	if r := f.do(http.MethodGet, "/v1/environments/b", ""); r.json(t)["state"] != StateQueued {
		t.Errorf("the environment of a queued operation: %s", r.body)
	}
	r := f.do(http.MethodPost, "/v1/environments/d/preview", specBody("d.example.com"))
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "queue_full" || r.header.Get("Retry-After") == "" {
		t.Errorf("a third waiting operation with --max-queued 2: %d %v %s", r.status, r.header, r.body)
	}
	if r := f.do(http.MethodPost, "/v1/operations/"+c+"/cancel", ""); r.status != http.StatusAccepted {
		t.Fatalf("cancel of a queued operation: %d %s", r.status, r.body)
	}
	op := f.wait(c)
	if e, _ := op["error"].(map[string]any); op["state"] != StateCanceled || e["code"] != "not_started" || op["startedAt"] != nil {
		t.Errorf("a queued operation canceled: %v", op)
	}
	// The canceled one left the queue: there is room again.
	d := f.start(http.MethodPost, "/v1/environments/d/preview", specBody("d.example.com"))
	release()
	for _, id := range []string{a, b, d} {
		if op := f.wait(id); op["state"] != StateSucceeded || op["startedAt"] == nil {
			t.Errorf("operation %s: %v", id, op)
		}
	}
	// b waited for a: it started only once a had finished.
	ra, rb := f.do(http.MethodGet, "/v1/operations/"+a, "").json(t), f.do(http.MethodGet, "/v1/operations/"+b, "").json(t)
	if fa, sb := ra["finishedAt"].(string), rb["startedAt"].(string); sb < fa {
		t.Errorf("b started at %s, before a finished at %s", sb, fa)
	}
}

// Draining: queued operations never start, running ones go on, reads are served, new
// operations and /healthz answer 503; the deadline cancels what still runs, and the shutdown
// says what it cut short.
func TestDrainStartsNothingQueued(t *testing.T) {
	t.Parallel()
	f := newFixtureAt(t, testToken, t.TempDir(), 0, oneSlot(4))
	a, release := f.heldUpdate("a")
	defer release()
	b := f.start(http.MethodPut, "/v1/environments/b", specBody("b.example.com"))

	if n := f.srv.Drain(); n != 1 {
		t.Errorf("drain ended %d queued operations, want 1", n)
	}
	op := f.wait(b)
	if e, _ := op["error"].(map[string]any); op["state"] != StateCanceled || e["code"] != "not_started" || op["startedAt"] != nil {
		t.Errorf("a queued operation when the drain began: %v", op)
	}
	if r := f.do(http.MethodGet, "/v1/operations/"+a, ""); r.status != http.StatusOK || r.json(t)["state"] != StateRunning {
		t.Errorf("reading a running operation while draining: %d %s", r.status, r.body)
	}
	if r := f.do(http.MethodGet, "/v1/environments", ""); r.status != http.StatusOK {
		t.Errorf("listing while draining: %d %s", r.status, r.body)
	}
	if r := f.do(http.MethodPut, "/v1/environments/c", specBody("c.example.com")); r.status != http.StatusServiceUnavailable ||
		r.errorCode(t) != "shutting_down" {
		t.Errorf("a new operation while draining: %d %s", r.status, r.body)
	}
	if r := f.do(http.MethodGet, "/healthz", "", ""); r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "draining") {
		t.Errorf("healthz while draining: %d %s", r.status, r.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := f.srv.shutdown(ctx, time.Minute)
	cut, ok := err.(*CutShortError)
	if !ok || cut.NotStarted != 1 || cut.Canceled != 1 {
		t.Errorf("shutdown: %v, want 1 not started and 1 canceled", err)
	}
	if op := f.wait(a); op["state"] != StateCanceled || op["startedAt"] == nil {
		t.Errorf("the running operation at the deadline: %v", op)
	}
}

// The command keeps serving reads while it drains, a second signal cancels at once, and the
// exit code says whether the shutdown cut anything short.
func TestCommandDrainsOnSignals(t *testing.T) {
	testkit.RequirePulumi(t)
	t.Setenv(automation.EnvConfigPassphrase, "command-test-passphrase")
	for name, tc := range map[string]struct {
		queue, secondSignal bool
		want                int
		wantA               string
	}{
		"the running operation finishes":  {want: ExitOK, wantA: StateSucceeded},
		"a queued operation never starts": {queue: true, want: ExitCutShort, wantA: StateSucceeded},
		"a second signal cancels":         {secondSignal: true, want: ExitCutShort, wantA: StateCanceled},
	} {
		t.Run(name, func(t *testing.T) {
			g := &gate{}
			entered, release := g.hold("a")
			defer release()
			s := serveWith(t, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--max-concurrent", "1",
				"--shutdown-timeout", "5m"}, map[string]string{EnvToken: testToken}, program(g))
			c := client{t: t, url: s.url}
			a := c.start(http.MethodPut, "/v1/environments/a", specBody("a.example.com"))
			<-entered
			var b string
			if tc.queue {
				b = c.start(http.MethodPut, "/v1/environments/b", specBody("b.example.com"))
			}
			// The operation's event stream, opened before the drain, runs to its end event.
			final := make(chan string, 1)
			go func() { final <- c.finalState(a) }()
			s.signal()
			c.eventually("healthz says draining", func() bool { code, _ := c.get("/healthz"); return code == http.StatusServiceUnavailable })
			if code, body := c.get("/v1/operations/" + a); code != http.StatusOK || !strings.Contains(body, `"state":"running"`) {
				t.Errorf("reading the running operation while draining: %d %s", code, body)
			}
			if tc.queue {
				c.eventually("the queued operation ends not started", func() bool {
					_, body := c.get("/v1/operations/" + b)
					return strings.Contains(body, `"code":"not_started"`) && !strings.Contains(body, "startedAt")
				})
			}
			if tc.secondSignal {
				s.signal()
			} else {
				release()
			}
			if got := <-final; got != tc.wantA {
				t.Errorf("the running operation ended %s, want %s", got, tc.wantA)
			}
			if code := s.wait(); code != tc.want {
				t.Errorf("exit code %d, want %d:\n%s", code, tc.want, s.logs.String())
			}
		})
	}
}

// client talks to a served command as the operator.
type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (c client) get(path string) (int, string) { c.t.Helper(); return c.do(http.MethodGet, path, "") }

func (c client) start(method, path, body string) string {
	c.t.Helper()
	code, b := c.do(method, path, body)
	var op Operation
	if err := json.Unmarshal([]byte(b), &op); code != http.StatusAccepted || err != nil || op.ID == "" {
		c.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	return op.ID
}

// finalState reads an operation's event stream to its end event and returns the final state
// ("" if the stream broke off).
func (c client) finalState(id string) string {
	req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/operations/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	end := false
	for sc.Scan() {
		line := sc.Text()
		if line == "event: end" {
			end = true
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && end {
			var op Operation
			_ = json.Unmarshal([]byte(data), &op)
			return op.State
		}
	}
	return ""
}

func (c client) eventually(what string, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
