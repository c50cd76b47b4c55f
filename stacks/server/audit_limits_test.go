package server

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// auditLines are the audit trail's lines as the file holds them.
func (f *tenantFixture) auditLines() []string {
	f.t.Helper()
	raw, err := os.ReadFile(filepath.Join(f.state, "audit.jsonl"))
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
}

// What a request puts in the audit trail is bounded and escaped: an invalid environment name
// is recorded as invalid with a short escaped beginning, and a reason carrying what an
// anonymous client sent (a JWT's issuer, read before its signature is checked) is cut short.
func TestAuditRecordsAreBounded(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) {
		p.OIDC = &OIDCConfig{Issuer: idp.srv.URL, Audience: "kong-alb-eks-portal", TenantClaim: "groups", RoleClaim: "portal_role"}
	})
	long := strings.Repeat("a", 8000)
	f.expect(http.MethodGet, "/v1/environments/"+long, "", "", http.StatusUnauthorized)
	f.expect(http.MethodPut, "/v1/environments/"+long, specBody("a.example.com"), aViewer, http.StatusBadRequest)
	f.expect(http.MethodDelete, "/v1/environments/%E2%80%AEv%0A%1B%5B1m", "", "", http.StatusUnauthorized)
	forged := idp.sign(idp.claims(func(c map[string]any) { c["iss"] = strings.Repeat("https://evil.example.com/", 400) }), nil)
	f.expect(http.MethodPut, "/v1/environments/team-a-dev", specBody("a.example.com"), forged, http.StatusUnauthorized)

	recs := records(f.auditAs(testToken))
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4: %v", len(recs), recs)
	}
	wantLong := "invalid:" + strings.Repeat("a", maxInvalidName) + "…(8000 bytes)"
	for i, want := range []string{wantLong, wantLong, `invalid:\u202ev\u000a\u001b[1m`} {
		if recs[i]["environment"] != want {
			t.Errorf("record %d names environment %.80q, want %q", i+1, recs[i]["environment"], want)
		}
	}
	if reason, _ := recs[3]["reason"].(string); len(reason) > maxAuditReason+20 || !strings.HasSuffix(reason, " bytes)") {
		t.Errorf("a forged token's reason is %d bytes: %.200s", len(reason), reason)
	}
	for i, line := range f.auditLines() {
		if len(line) > 1024 {
			t.Errorf("record %d is %d bytes", i+1, len(line))
		}
	}
}

// An anonymous or failing client makes the service write a bounded number of records: past
// a burst, its refusals are answered as before but counted, not recorded, until its bucket
// refills; the next record says how many were left out.
func TestRefusalsAreRateLimited(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), nil)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.srv.refusals.mu.Lock()
	f.srv.refusals.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f.srv.refusals.mu.Unlock()
	anonymous := func() int {
		n := 0
		for _, rec := range records(f.auditAs(testToken)) {
			if rec["principal"] == "anonymous" {
				n++
			}
		}
		return n
	}
	for i := 0; i < refusalBurst+5; i++ {
		f.expect(http.MethodGet, fmt.Sprintf("/v1/environments/x-%d", i), "", "", http.StatusUnauthorized)
	}
	if n := anonymous(); n != refusalBurst {
		t.Errorf("%d of %d refusals recorded at once, want %d", n, refusalBurst+5, refusalBurst)
	}
	f.startAs(http.MethodPut, "/v1/environments/team-a-dev", specBody("a.example.com"), aDeployer)
	recs := records(f.auditAs(testToken))
	if last := recs[len(recs)-1]; last["result"] != "accepted" || last["unrecorded"] != 5.0 {
		t.Errorf("the record after the refusals left out: %v, want unrecorded 5", last)
	}
	mu.Lock()
	now = now.Add(time.Duration(float64(time.Second) / refusalPerSecond))
	mu.Unlock()
	f.expect(http.MethodGet, "/v1/environments/x", "", "", http.StatusUnauthorized)
	f.expect(http.MethodGet, "/v1/environments/x", "", "", http.StatusUnauthorized)
	if n := anonymous(); n != refusalBurst+1 {
		t.Errorf("after the bucket refilled by one: %d refusals recorded, want %d", n, refusalBurst+1)
	}
}

// Every client together is held to the service-wide bucket; a quiet client is forgotten.
func TestRefusalLimiterBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRefusalLimiter()
	l.now = func() time.Time { return now }
	allowed := 0
	for i := 0; i < 2*refusalBurstAll; i++ {
		if ok, _ := l.allow(fmt.Sprintf("192.0.2.%d", i%250)); ok {
			allowed++
		}
	}
	if allowed != refusalBurstAll || l.takeUnrecorded() != refusalBurstAll {
		t.Errorf("%d refusals of many clients recorded, want %d", allowed, refusalBurstAll)
	}
	for i := 0; i < maxRefusalClients+10; i++ {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	if len(l.clients) > maxRefusalClients {
		t.Errorf("%d clients tracked, at most %d wanted", len(l.clients), maxRefusalClients)
	}
	if got := clientOf("[2001:db8:1:2:3:4:5:6]:443"); got != "2001:db8:1:2::/64" {
		t.Errorf("an IPv6 client is %q, want its /64", got)
	}
	if got := clientOf("[::ffff:192.0.2.7]:443"); got != "192.0.2.7" {
		t.Errorf("an IPv4-mapped client is %q", got)
	}
}

// clip escapes what a terminal or a log viewer would act on, and cuts at its bound.
func TestClip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"team-a-dev", 63, "team-a-dev"},
		{"a\nb\x1b[31m\u202ec", 63, `a\u000ab\u001b[31m\u202ec`},
		{"bad\xffutf8", 63, `bad\xffutf8`},
		{strings.Repeat("é", 10), 8, "éééé…(20 bytes)"},
	} {
		if got := clip(tc.in, tc.max); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
