package verify

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

var healthyVerdicts = map[string]want{
	CheckDNS:               {Pass, "addresses of the ALB " + testALB},
	CheckRedirect:          {Pass, "http://proxy.example.test/verify/redirect?probe=1 → 301 https://proxy.example.test/verify/redirect?probe=1"},
	CheckCertificate:       {Pass, "kong.example.test: valid until"},
	CheckProxyUnknownHost:  {Pass, "404"},
	CheckAdminAPI:          {Pass, "version " + testVersion},
	CheckAdminAPIAllowlist: {Skip, "--source-ip"},
	CheckKongManager:       {Pass, "200 text/html"},
	CheckDemoApp:           {Pass, "https://kuard.example.test → 200"},
}

func TestHealthyDeployment(t *testing.T) {
	e := start(t, deployment{})
	got := e.run(t)
	expect(t, got, healthyVerdicts)

	// The random name is fresh, under the domain, and is what was resolved and served.
	label := regexp.MustCompile(`^verify-[0-9a-f]{12}\.example\.test$`)
	random := e.resolver.randomLookups()
	if len(random) != 1 {
		t.Fatalf("want exactly one random name looked up, got %v", random)
	}
	for name := range random {
		if !label.MatchString(name) {
			t.Errorf("random name %q does not match %s", name, label)
		}
		if sni, host := e.seen(name); !sni || !host {
			t.Errorf("random name %q was not sent as SNI (%v) and Host (%v)", name, sni, host)
		}
	}
	// SNI and Host stay the real names although the servers listen on 127.0.0.1.
	for _, h := range []string{kongHost, demoHost} {
		if sni, host := e.seen(h); !sni || !host {
			t.Errorf("%s not seen as SNI (%v) and Host (%v)", h, sni, host)
		}
	}
	if _, host := e.seen("proxy." + testDomain); !host {
		t.Errorf("the redirect check did not reach proxy.%s", testDomain)
	}

	// A second run uses another random name.
	e.run(t)
	if n := len(e.resolver.randomLookups()); n != 2 {
		t.Errorf("two runs looked up %d random names, want 2", n)
	}
}

func TestResultsStreamThroughOnResult(t *testing.T) {
	e := start(t, deployment{})
	var seen []string
	e.checker.OnResult = func(r Result) { seen = append(seen, r.Name) }
	e.run(t)
	if strings.Join(seen, ",") != strings.Join(CheckNames, ",") {
		t.Errorf("OnResult saw %v, want %v", seen, CheckNames)
	}
}

func TestWrongCertificate(t *testing.T) {
	e := start(t, deployment{cert: &pkiOnce().wrongName})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckDNS:         {Pass, ""},
		CheckCertificate: {Fail, "does not cover the name (it covers *.other.test, other.test)"},
		// Every HTTPS request fails verification too.
		CheckProxyUnknownHost: {Fail, "certificate"},
		CheckAdminAPI:         {Fail, "certificate"},
		CheckKongManager:      {Fail, "certificate"},
		CheckDemoApp:          {Fail, "certificate"},
	})
	if !strings.Contains(got[CheckCertificate].Detail, "kong.example.test: the certificate served does not cover") {
		t.Errorf("kong.example.test not reported: %s", got[CheckCertificate].Detail)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	e := start(t, deployment{cert: &pkiOnce().untrusted})
	expect(t, e.run(t), map[string]want{
		CheckCertificate: {Fail, "does not verify"},
	})
}

func TestCertificateCloseToExpiry(t *testing.T) {
	e := start(t, deployment{cert: &pkiOnce().expiring})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckCertificate: {Fail, "in 5 days (less than 14 days)"},
		// Still valid, so everything else works.
		CheckProxyUnknownHost: {Pass, ""},
		CheckAdminAPI:         {Pass, ""},
		CheckDemoApp:          {Pass, ""},
	})

	// With a smaller margin the same certificate passes.
	e.checker.MinDaysValid = 3
	expect(t, e.run(t), map[string]want{CheckCertificate: {Pass, "(5 days)"}})

	// Expired by the checker's clock: everything over HTTPS fails.
	e.checker.MinDaysValid = 14
	e.checker.Now = func() time.Time { return t0.Add(30 * 24 * time.Hour) }
	expect(t, e.run(t), map[string]want{
		CheckCertificate: {Fail, "does not verify"},
		CheckAdminAPI:    {Fail, "failed after 1 attempt"}, // not retried: it will not go away
	})
}

func TestNoRedirect(t *testing.T) {
	e := start(t, deployment{noRedirect: true})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckRedirect: {Fail, "answered 404 Not Found over plain HTTP instead of redirecting to HTTPS"},
		CheckAdminAPI: {Pass, ""},
	})
}

func TestRedirectToPlainHTTP(t *testing.T) {
	e := start(t, deployment{redirectTo: "http://elsewhere.example.test/"})
	expect(t, e.run(t), map[string]want{CheckRedirect: {Fail, "not to https://"}})
}

func TestPlainHTTPAllowed(t *testing.T) {
	allowed := map[string]any{"plainHttpAllowed": true}
	e := start(t, deployment{noRedirect: true, outputOverrides: allowed})
	expect(t, e.run(t), map[string]want{CheckRedirect: {Pass, "answered 404 Not Found over plain HTTP"}})

	// Allowed, but the ALB still redirects: the configuration did not take.
	e = start(t, deployment{outputOverrides: allowed})
	expect(t, e.run(t), map[string]want{CheckRedirect: {Fail, "plainHttpAllowed is true, but"}})
}

func TestUnknownHostNotAnsweredByKong(t *testing.T) {
	e := start(t, deployment{unknownNotKong: true})
	expect(t, e.run(t), map[string]want{
		CheckProxyUnknownHost: {Fail, "answered 404 Not Found Not Found, expected Kong's 404"},
	})
}

func TestAdminAPIOpenToTheWorld(t *testing.T) {
	e := start(t, deployment{outputOverrides: map[string]any{"adminAllowedCidrs": []any{"10.0.0.0/8", "0.0.0.0/0"}}})
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Fail, "Admin API open to the world"},
		CheckAdminAPIAllowlist: {Skip, "includes 0.0.0.0/0"},
	})
	// Even when the Admin API is not published at all.
	e = start(t, deployment{outputOverrides: map[string]any{
		"adminAllowedCidrs": []any{}, "kongAdminApiUrl": nil, "kongManagerUrl": nil,
	}})
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:    {Fail, "Admin API open to the world: https://kong.example.test/api answered the gateway configuration (version " + testVersion + ") and adminAllowedCidrs is empty"},
		CheckKongManager: {Skip, "not published"},
	})
}

func TestAdminAPINotPublished(t *testing.T) {
	e := start(t, deployment{adminUnrouted: true, outputOverrides: map[string]any{
		"adminAllowedCidrs": []any{}, "kongAdminApiUrl": nil, "kongManagerUrl": nil,
	}})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckAdminAPI:          {Pass, "not published (no kongAdminApiUrl output); https://kong.example.test/api answers 404 Not Found"},
		CheckAdminAPIAllowlist: {Skip, "not published"},
		CheckKongManager:       {Skip, "not published"},
	})
	if e.hitCount(kongHost) == 0 {
		t.Error("the unpublished Admin API was not probed")
	}
}

func TestAdminAPIRefusedFromOutsideAllowlist(t *testing.T) {
	e := start(t, deployment{adminForbidden: true})
	e.checker.SourceIP = netip.MustParseAddr(outsideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Skip, "198.51.100.7) is outside adminAllowedCidrs"},
		CheckAdminAPIAllowlist: {Pass, "refused 198.51.100.7 (outside 203.0.113.0/24, 2001:db8::/32) with 403"},
		CheckKongManager:       {Pass, ""},
	})
}

func TestAdminAPIAllowlistNotEnforced(t *testing.T) {
	e := start(t, deployment{})
	e.checker.SourceIP = netip.MustParseAddr(outsideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPIAllowlist: {Fail, "ip-restriction is not enforced"},
	})
}

func TestAdminAPIFromInsideAllowlist(t *testing.T) {
	e := start(t, deployment{})
	e.checker.SourceIP = netip.MustParseAddr(insideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Pass, "200 JSON"},
		CheckAdminAPIAllowlist: {Skip, "inside adminAllowedCidrs (203.0.113.0/24)"},
	})
	// Inside the allowlist, a 403 is a failure.
	e = start(t, deployment{adminForbidden: true, managerStatus: http.StatusForbidden})
	e.checker.SourceIP = netip.MustParseAddr(insideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:    {Fail, "answered 403 Forbidden"},
		CheckKongManager: {Fail, "answered 403 Forbidden"},
	})
	// Without --source-ip a 403 cannot be judged.
	e = start(t, deployment{adminForbidden: true})
	expect(t, e.run(t), map[string]want{CheckAdminAPI: {Skip, "pass --source-ip"}})
}

func TestAdminAPIAnswersSomethingElse(t *testing.T) {
	e := start(t, deployment{adminUnrouted: true})
	expect(t, e.run(t), map[string]want{CheckAdminAPI: {Fail, "expected 200 JSON with a version field"}})
}

func TestDNSNotYetPropagated(t *testing.T) {
	e := start(t, deployment{wildcardErr: notFound("x")})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckDNS: {Fail, "did not resolve after 3 attempts"},
	})
	if d := got[CheckDNS].Detail; !strings.Contains(d, "lookup verify-") || !strings.Contains(d, "no such host") || !strings.Contains(d, "record is missing or not yet propagated") {
		t.Errorf("DNS detail not clear: %s", d)
	}
	for _, name := range CheckNames[1:] {
		expect(t, got, map[string]want{name: {Skip, "does not resolve (see wildcard-dns)"}})
	}
	for name, n := range e.resolver.randomLookups() {
		if n != 3 {
			t.Errorf("%s looked up %d times, want exactly the 3 attempts", name, n)
		}
	}
	if n := e.totalHits(); n != 0 {
		t.Errorf("the servers were reached %d times although DNS failed", n)
	}
}

func TestDNSPropagatesDuringRetries(t *testing.T) {
	e := start(t, deployment{dnsFailFirst: 2})
	expect(t, e.run(t), map[string]want{CheckDNS: {Pass, ""}, CheckDemoApp: {Pass, ""}})
}

func TestDNSPointsElsewhere(t *testing.T) {
	e := start(t, deployment{albAddrs: []string{"192.0.2.10", "192.0.2.11"}})
	expect(t, e.run(t), map[string]want{
		CheckDNS: {Fail, "resolves to 127.0.0.1, but the ALB " + testALB + " resolves to 192.0.2.10, 192.0.2.11"},
	})
	e = start(t, deployment{outputOverrides: map[string]any{"albHostname": nil}})
	expect(t, e.run(t), map[string]want{CheckDNS: {Fail, "albHostname output is missing"}})
}

func TestRetriesAreBoundedByTheContext(t *testing.T) {
	e := start(t, deployment{wildcardErr: notFound("x")})
	e.checker.DNSRetry = Retry{Attempts: 1000, Backoff: time.Hour}
	out, err := ParseOutputs(e.outputs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res := e.checker.Run(ctx, out)
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("Run took %s after its context ended", took)
	}
	if res[0].Status != Fail || !strings.Contains(res[0].Detail, "after 1 attempt") || !strings.Contains(res[0].Detail, "deadline exceeded") {
		t.Errorf("got %+v", res[0])
	}
}

func TestDemoAppDown(t *testing.T) {
	e := start(t, deployment{demoStatus: http.StatusServiceUnavailable})
	got := e.run(t)
	expect(t, got, map[string]want{
		CheckDemoApp:  {Fail, "https://kuard.example.test answered 503 Service Unavailable"},
		CheckAdminAPI: {Pass, ""},
	})
	if !strings.Contains(got[CheckDemoApp].Detail, "after 2 attempts") {
		t.Errorf("demo detail: %s", got[CheckDemoApp].Detail)
	}
	if n := e.hitCount(demoHost); n != 2 {
		t.Errorf("the demo app was asked %d times, want the 2 attempts", n)
	}
}

func TestDemoAppNotRouted(t *testing.T) {
	e := start(t, deployment{demoUnrouted: true})
	expect(t, e.run(t), map[string]want{CheckDemoApp: {Fail, "Kong has no route for it"}})
}

func TestDemoAppDisabled(t *testing.T) {
	e := start(t, deployment{outputOverrides: map[string]any{"demoUrl": nil}})
	expect(t, e.run(t), map[string]want{CheckDemoApp: {Skip, "not deployed"}})
	if n := e.hitCount(demoHost); n != 0 {
		t.Errorf("the disabled demo app was asked %d times", n)
	}
}

func TestKongManagerDown(t *testing.T) {
	e := start(t, deployment{managerStatus: http.StatusBadGateway})
	expect(t, e.run(t), map[string]want{CheckKongManager: {Fail, "502 Bad Gateway"}})
}

func TestRetryWait(t *testing.T) {
	// The wait before attempt n doubles from Backoff up to MaxBackoff.
	r := Retry{Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 3 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	if !r.wait(ctx, 2) || !r.wait(ctx, 5) {
		t.Error("wait returned false with a live context")
	}
	cancel()
	if r.wait(ctx, 2) {
		t.Error("wait returned true with a cancelled context")
	}
	if NewChecker().DNSRetry.Attempts < 5 {
		t.Error("production DNS retries are too few for a fresh record")
	}
}
