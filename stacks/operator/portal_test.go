package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/operator"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/server"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
	"github.com/kong-alb-eks/kong-alb-eks/tests/operatorstandin"
)

const portalToken = "portal-token-0123456789abcdef"

// portal is the HTTP service over an operator executor, on a journal directory.
type portal struct {
	t   *testing.T
	srv *server.Server
	hs  *httptest.Server
}

func startPortal(t *testing.T, w *world, journal string) *portal {
	t.Helper()
	srv, err := server.New(server.Options{Executor: w.executor(t), Token: portalToken, OperationsDir: journal,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p := &portal{t: t, srv: srv, hs: httptest.NewServer(srv)}
	t.Cleanup(p.hs.Close)
	return p
}

// stop stops the service as a signal does, and reports how its shutdown ended.
func (p *portal) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	p.hs.Close()
	return err
}

func (p *portal) do(method, path, body string) (int, map[string]any) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.hs.URL+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+portalToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// operation waits for an operation to reach a state and returns it.
func (p *portal) operation(id string, states ...string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, op := p.do("GET", "/v1/operations/"+id, "")
		for _, s := range states {
			if code == http.StatusOK && op["state"] == s {
				return op
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("operation %s: %d %v, want state %v", id, code, op, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func specJSON(name string) string {
	return fmt.Sprintf(`{"config":{"aws:region":"us-east-1","domain":%q,"hostedZone":"example.com","postgresHost":"db.example.com","postgresPassword":"s3cret-password"}}`, name+".example.com")
}

// The HTTP API reports each path over the operator: a run that succeeds (with its outputs),
// one that fails (with the operator's message), a destroy.
func portalReportsEachPath(t *testing.T, w *world) {
	w.scriptFor("portal-", func(st *operator.Stack, typ string) operatorstandin.Outcome {
		if strings.HasPrefix(st.Labels[operator.LabelEnvironment], "portal-fail") {
			return operatorstandin.Outcome{Fail: true, Message: "error: 1 resource failed: aws:eks:Cluster"}
		}
		return operatorstandin.Outcome{Outputs: map[string]any{"albHostname": "k8s-kong-1.elb.amazonaws.com"}}
	})
	p := startPortal(t, w, t.TempDir())
	code, op := p.do("PUT", "/v1/environments/portal-ok", specJSON("portal-ok"))
	if code != http.StatusAccepted {
		t.Fatalf("PUT: %d %v", code, op)
	}
	done := p.operation(op["id"].(string), "succeeded", "failed")
	outputs, _ := done["result"].(map[string]any)["Outputs"].(map[string]any)
	if done["state"] != "succeeded" || outputs["albHostname"] == nil {
		t.Errorf("the update: %v", done)
	}
	if code, env := p.do("GET", "/v1/environments/portal-ok", ""); code != http.StatusOK {
		t.Errorf("GET the environment: %d %v", code, env)
	}
	_, op = p.do("PUT", "/v1/environments/portal-fail", specJSON("portal-fail"))
	failed := p.operation(op["id"].(string), "succeeded", "failed")
	e, _ := failed["error"].(map[string]any)
	if failed["state"] != "failed" || e["code"] != "update_failed" || !strings.Contains(fmt.Sprint(e["message"]), "aws:eks:Cluster") {
		t.Errorf("the failed update: %v", failed)
	}
	_, op = p.do("DELETE", "/v1/environments/portal-ok", "")
	if destroyed := p.operation(op["id"].(string), "succeeded", "failed"); destroyed["state"] != "succeeded" {
		t.Errorf("the destroy: %v", destroyed)
	}
	if code, _ := p.do("GET", "/v1/environments/portal-ok", ""); code != http.StatusNotFound {
		t.Errorf("the destroyed environment: %d", code)
	}
}

// A service stopped while an update runs in the operator hands the update off, and the next
// start follows it from the Stack's status to its end: the operation is not "interrupted". An
// operation whose record says running but whose ID never reached a Stack never ran.
func restartResumesFromTheStack(t *testing.T, w *world) {
	hold := make(chan struct{})
	w.scriptFor("restart-", func(*operator.Stack, string) operatorstandin.Outcome {
		return operatorstandin.Outcome{Hold: hold, Outputs: map[string]any{"albHostname": "k8s-kong-2.elb.amazonaws.com"}}
	})
	journal := t.TempDir()
	p := startPortal(t, w, journal)
	_, op := p.do("PUT", "/v1/environments/restart-a", specJSON("restart-a"))
	id := op["id"].(string)
	if err := w.cluster.Eventually(30*time.Second, "the operator runs the update", func() (bool, error) {
		st, err := w.cluster.Do("GET", "/apis/pulumi.com/v1/namespaces/"+namespace+"/stacks/restart-a", nil)
		if err != nil {
			return false, nil
		}
		status, _ := st["status"].(localcluster.Object)
		return status["currentUpdate"] != nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("a hand-off is no cut-short shutdown: %v", err)
	}
	// A record the old service wrote as running, of an operation that never reached a Stack.
	never := fmt.Sprintf(`{"id":"op-00000000000000000000beef","kind":"up","environment":"restart-never","state":"running","createdAt":%q,"startedAt":%q,"events":0}`,
		time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(journal, "op-00000000000000000000beef.json"), []byte(never), 0o600); err != nil {
		t.Fatal(err)
	}

	p = startPortal(t, w, journal)
	if running := p.operation(id, "running", "succeeded", "failed", "interrupted"); running["state"] != "running" {
		t.Fatalf("after the restart, the held update is %v", running)
	}
	// The operator has no way to stop a run: the service says so rather than pretend.
	if code, body := p.do("POST", "/v1/operations/"+id+"/cancel", ""); code != http.StatusConflict || body["error"].(map[string]any)["code"] != "cancel_unsupported" {
		t.Errorf("cancel of a running update: %d %v", code, body)
	}
	close(hold)
	done := p.operation(id, "succeeded", "failed", "interrupted")
	if done["state"] != "succeeded" {
		t.Errorf("the resumed update: %v", done)
	}
	notRun := p.operation("op-00000000000000000000beef", "canceled", "failed", "interrupted", "succeeded")
	if e, _ := notRun["error"].(map[string]any); notRun["state"] != "canceled" || e["code"] != "not_started" {
		t.Errorf("the operation that never reached a Stack: %v", notRun)
	}
}
