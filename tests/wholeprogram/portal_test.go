package wholeprogram

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/server"
)

const portalToken = "portal-test-token"

// The portal end to end, on the same harness: PUT an environment, follow its events to the
// end, GET it (outputs included), DELETE it and follow that, and the environment is gone.
func TestPortalEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "defaults", nil)
	srv, err := server.New(server.Options{Executor: e.manager, Token: portalToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	body, err := json.Marshal(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	op := portalCall(t, ts, http.MethodPut, "/v1/environments/"+e.name, body, http.StatusAccepted)
	followEvents(t, ts, op, server.StateSucceeded)

	got := portalCall(t, ts, http.MethodGet, "/v1/environments/"+e.name, nil, http.StatusOK)
	outputs, _ := got["outputs"].(map[string]any)
	alb, _ := outputs["albHostname"].(map[string]any)
	if host, _ := alb["value"].(string); !strings.HasSuffix(host, ".elb.amazonaws.com") {
		t.Errorf("GET environment: albHostname output %v, want the ALB's hostname", outputs["albHostname"])
	}
	if kc, _ := outputs["kubeconfig"].(map[string]any); kc == nil || kc["value"] != "[secret]" {
		t.Errorf("GET environment shows the kubeconfig output as %v, want it redacted", outputs["kubeconfig"])
	}

	op = portalCall(t, ts, http.MethodDelete, "/v1/environments/"+e.name, nil, http.StatusAccepted)
	followEvents(t, ts, op, server.StateSucceeded)
	portalCall(t, ts, http.MethodGet, "/v1/environments/"+e.name, nil, http.StatusNotFound)
}

func portalCall(t *testing.T, ts *httptest.Server, method, path string, body []byte, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+portalToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// followEvents reads an operation's event stream to its end, then checks how it ended.
func followEvents(t *testing.T, ts *httptest.Server, op map[string]any, want string) {
	t.Helper()
	id, _ := op["id"].(string)
	if id == "" {
		t.Fatalf("the operation has no id: %v", op)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/operations/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+portalToken)
	client := &http.Client{Timeout: 25 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") {
			events++
		}
	}
	_ = resp.Body.Close()
	if events == 0 {
		t.Errorf("operation %s streamed no events", id)
	}
	got := portalCall(t, ts, http.MethodGet, "/v1/operations/"+id, nil, http.StatusOK)
	if got["state"] != want {
		t.Fatalf("operation %s ended %v, want %s: %v", id, got["state"], want, got["error"])
	}
}
