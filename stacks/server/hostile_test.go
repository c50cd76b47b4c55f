package server

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
	dup := strings.Replace(specBody("dev.example.com"), `"hostedZone"`, `"domain":"other.example.com","hostedZone"`, 1)
	if r := f.do(http.MethodPut, "/v1/environments/dev", dup); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "appears twice") {
		t.Errorf("a key given twice: %d %s", r.status, r.body)
	}
}
