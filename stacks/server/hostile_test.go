package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// rawRequest writes head (request line and headers, no body) on a new connection and returns
// the status line that comes back within wait, or "" if none does.
func rawRequest(t *testing.T, addr, head string, wait time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.ReplaceAll(head, "\n", "\r\n") + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line)
}

// A client that declares a body and never sends it gets its answer at once: authentication
// comes before the body is read, and a declared body over the limit is refused unread.
func TestUnsentBodiesAreAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	addr := strings.TrimPrefix(f.http.URL, "http://")
	for name, tc := range map[string]struct{ head, want string }{
		"unauthenticated": {"PUT /v1/environments/x HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 10000\n", "HTTP/1.1 401"},
		"over the limit": {"PUT /v1/environments/x HTTP/1.1\nHost: x\nAuthorization: Bearer " + testToken +
			"\nContent-Type: application/json\nContent-Length: 100000000\n", "HTTP/1.1 413"},
	} {
		if got := rawRequest(t, addr, tc.head, 5*time.Second); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q within 5 s, want %s", name, got, tc.want)
		}
	}
}

// The scheme is case-insensitive (RFC 7235 2.1); two Authorization headers are refused, so that
// their order cannot decide.
func TestAuthorizationHeaderForms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	for name, tc := range map[string]struct {
		headers []string
		want    int
	}{
		"lower-case scheme": {[]string{"bearer " + testToken}, http.StatusOK},
		"upper-case scheme": {[]string{"BEARER " + testToken}, http.StatusOK},
		"two headers":       {[]string{"Bearer " + testToken, "Bearer nope-nope-nope-nope"}, http.StatusUnauthorized},
		"two, good last":    {[]string{"Bearer nope-nope-nope-nope", "Bearer " + testToken}, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/v1/environments", nil)
		for _, h := range tc.headers {
			req.Header.Add("Authorization", h)
		}
		res, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", name, res.StatusCode, tc.want)
		}
	}
}

// A body must be declared JSON (415 otherwise), and a name must be a DNS label.
func TestBodiesAndNamesAreStrict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	for name, contentType := range map[string]string{"none": "", "text": "text/plain", "form": "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest(http.MethodPut, f.http.URL+"/v1/environments/dev", strings.NewReader(specBody("dev.example.com")))
		req.Header.Set("Authorization", "Bearer "+testToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("content type %s: %d, want 415", name, res.StatusCode)
		}
	}
	if r := f.do(http.MethodPut, "/v1/environments/dev-", specBody("dev.example.com")); r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_name" {
		t.Errorf("a name ending in '-': %d %s", r.status, r.body)
	}
	// A misspelt key is refused, naming the key meant; so is a version range where a version is pinned.
	typo := strings.Replace(specBody("dev.example.com"), `"hostedZone"`, `"nodeInstanceTyp":"m6i.large","kongChartVersion":"^3.0","hostedZone"`, 1)
	if r := f.do(http.MethodPut, "/v1/environments/dev", typo); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "did you mean kong-alb-eks:nodeInstanceType?") || !strings.Contains(string(r.body), "an exact chart version") {
		t.Errorf("a misspelt key and a chart range: %d %s", r.status, r.body)
	}
	padded := strings.Replace(specBody("dev.example.com"), `"hostedZone"`, `"nodeAmiType":" AL2023_x86_64_STANDARD","hostedZone"`, 1)
	if r := f.do(http.MethodPut, "/v1/environments/dev", padded); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "no spaces around the value") {
		t.Errorf("a value with spaces around it: %d %s", r.status, r.body)
	}
	dup := strings.Replace(specBody("dev.example.com"), `"hostedZone"`, `"domain":"other.example.com","hostedZone"`, 1)
	if r := f.do(http.MethodPut, "/v1/environments/dev", dup); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "appears twice") {
		t.Errorf("a key given twice: %d %s", r.status, r.body)
	}
}

// A key given twice in another letter case is refused as a key given twice, at every level
// of the body: encoding/json matches the document's field names without regard to case, so
// {"config": ..., "CONFIG": ...} would apply the second silently. Nothing is created.
func TestKeysTwiceInAnotherCaseAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	config := strings.TrimSuffix(strings.TrimPrefix(specBody("dev.example.com"), `{"config":`), "}")
	other := strings.Replace(config, "dev.example.com", "evil.example.com", 1)
	for name, body := range map[string]string{
		"config and CONFIG": `{"config":` + config + `,"CONFIG":` + other + `}`,
		"Config and config": `{"Config":` + other + `,"config":` + config + `}`,
		"name and NAME":     `{"name":"dev","NAME":"prod","config":` + config + `}`,
		"escaped":           `{"config":` + config + `,"Config":` + other + `}`,
	} {
		r := f.do(http.MethodPut, "/v1/environments/dev", body)
		if r.status != http.StatusBadRequest || r.errorCode(t) != "malformed_request" || !strings.Contains(string(r.body), "appears twice") {
			t.Errorf("%s: %d %s, want 400 malformed_request naming the key given twice", name, r.status, r.body)
		}
	}
	// Below the top level keys are matched exactly: another case is another, unknown key; and
	// no configuration value is an object.
	for name, extra := range map[string]string{
		"domain and DOMAIN":  `"DOMAIN":"evil.example.com",`,
		"an object as value": `"adminAllowedCidrs":[{"cidr":"10.0.0.0/8","CIDR":"0.0.0.0/0"}],`,
	} {
		body := strings.Replace(specBody("dev.example.com"), `"hostedZone"`, extra+`"hostedZone"`, 1)
		if r := f.do(http.MethodPut, "/v1/environments/dev", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := f.do(http.MethodGet, "/v1/environments/dev", ""); r.status != http.StatusNotFound {
		t.Errorf("a refused body created the environment: %d %s", r.status, r.body)
	}
}

// closedWithin reports whether the server closes conn within wait (everything it sends is read
// and dropped).
func closedWithin(conn net.Conn, wait time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, conn)
	return err == nil // io.Copy returns nil at EOF; a deadline is an error
}

// A body sent too slowly and an idle keep-alive connection are both closed by the server: the
// read and idle timeouts bound what a client can hold.
func TestSlowAndIdleConnectionsAreClosed(t *testing.T) {
	testkit.RequirePulumi(t)
	t.Setenv(automation.EnvConfigPassphrase, "command-test-passphrase")
	s := serveWith(t, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--read-timeout", "1s", "--idle-timeout", "1s"},
		map[string]string{EnvToken: testToken}, program(&gate{}))
	addr := strings.TrimPrefix(s.url, "http://")

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	head := "PUT /v1/environments/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"config\":"
	if _, err := slow.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(slow, 20*time.Second) {
		t.Error("a body that never finishes keeps its connection past the read timeout")
	}

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("a keep-alive request: %v %v", res, err)
	}
	if !closedWithin(idle, 20*time.Second) {
		t.Error("an idle keep-alive connection stays open past the idle timeout")
	}
}

// Paths and the backend URL never reach a client, not even inside the engine's output.
func TestResponsesCarryNoServerPaths(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	f := newFixtureAt(t, testToken, state, 0)
	f.gate.failWith("cannot open " + filepath.Join(state, "work", "stacks", "dev", "notes.txt") + " or " + filepath.Join(state, "backend"))
	op := f.wait(f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com")))
	r := f.do(http.MethodGet, "/v1/operations/"+op["id"].(string), "")
	if op["state"] != StateFailed || strings.Contains(string(r.body), state) ||
		!strings.Contains(string(r.body), "<work-dir>/stacks/dev/notes.txt") || !strings.Contains(string(r.body), "<backend>") {
		t.Errorf("a failure naming server paths: %s", r.body)
	}
	for _, ev := range f.stream(op["id"].(string), "") {
		if strings.Contains(fmt.Sprint(ev.data), state) {
			t.Errorf("an event carries a server path: %v", ev.data)
		}
	}
}

// The list is a page of summaries: no outputs, results or engine output; ?limit and ?after
// page through it by name.
func TestEnvironmentListPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	f.gate.failWith("this environment fails, with a long engine output")
	for _, name := range []string{"c", "a", "b"} {
		f.wait(f.start(http.MethodPost, "/v1/environments/"+name+"/preview", specBody(name+".example.com")))
	}
	names := func(r response) (out []string) {
		envs, _ := r.json(t)["environments"].([]any)
		for _, e := range envs {
			out = append(out, e.(map[string]any)["name"].(string))
		}
		return out
	}
	first := f.do(http.MethodGet, "/v1/environments?limit=2", "")
	if got := names(first); !reflect.DeepEqual(got, []string{"a", "b"}) || first.json(t)["next"] != "b" {
		t.Errorf("first page: %s", first.body)
	}
	for _, leak := range []string{"outputTail", "result", "diff", "long engine output"} {
		if strings.Contains(string(first.body), leak) {
			t.Errorf("the list carries %s: %s", leak, first.body)
		}
	}
	if e := first.json(t)["environments"].([]any)[0].(map[string]any); e["lastOperation"].(map[string]any)["errorCode"] != "engine_failure" {
		t.Errorf("a summary's last operation: %v", e)
	}
	last := f.do(http.MethodGet, "/v1/environments?limit=2&after=b", "")
	if got := names(last); !reflect.DeepEqual(got, []string{"c"}) || last.json(t)["next"] != nil {
		t.Errorf("last page: %s", last.body)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "after=../x"} {
		if r := f.do(http.MethodGet, "/v1/environments?"+q, ""); r.status != http.StatusBadRequest {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
	// The single environment keeps the details.
	if r := f.do(http.MethodGet, "/v1/environments/a", ""); !strings.Contains(string(r.body), "long engine output") {
		t.Errorf("the environment lost its details: %s", r.body)
	}
}
