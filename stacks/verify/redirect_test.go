package verify

import (
	"strings"
	"testing"
)

// The URL the redirect check asks for, and the one the redirect must go to.
const (
	redirectFrom = "http://proxy." + testDomain + redirectProbe
	redirectTo   = "https://proxy." + testDomain + redirectProbe
)

func TestRedirectKeepsHostPathAndQuery(t *testing.T) {
	// The harness's default redirect is https://<Host><request URI>: the same URL.
	e := start(t, deployment{})
	expect(t, e.run(t), map[string]want{CheckRedirect: {Pass, redirectFrom + " → 301 " + redirectTo}})

	// As the ALB writes it (https://#{host}:443/#{path}?#{query}), with the port, and with
	// the host in other case.
	for _, loc := range []string{
		"https://proxy." + testDomain + ":443" + redirectProbe,
		"https://PROXY.Example.Test" + redirectProbe,
		"HTTPS://proxy." + testDomain + redirectProbe,
	} {
		e := start(t, deployment{redirectTo: loc})
		expect(t, e.run(t), map[string]want{CheckRedirect: {Pass, "→ 301 " + loc}})
	}
}

func TestRedirectElsewhereFails(t *testing.T) {
	for loc, why := range map[string]string{
		"https://proxy." + testDomain + "/":                                "another path",
		"https://proxy." + testDomain:                                      "another path",
		"https://proxy." + testDomain + "/verify/redirect":                 "another query",
		"https://proxy." + testDomain + "/verify/redirect?probe=2":         "another query",
		"https://proxy." + testDomain + redirectProbe + "&extra=1":         "another query",
		"https://proxy." + testDomain + "/verify/other?probe=1":            "another path",
		"https://elsewhere." + testDomain + redirectProbe:                  "another host",
		"https://proxy." + testDomain + ".evil.test" + redirectProbe:       "another host",
		"https://proxy." + testDomain + ":8443" + redirectProbe:            "another port",
		"https://user@proxy." + testDomain + redirectProbe:                 "with user information",
		"https:///verify/redirect?probe=1":                                 "another host",
		"https://" + testALB + redirectProbe:                               "another host",
		"https://proxy." + testDomain + "/verify/redirect/?probe=1":        "another path",
		"https://proxy." + testDomain + "/Verify/Redirect?probe=1":         "another path",
		"https://proxy." + testDomain + "/verify/redirect?PROBE=1":         "another query",
		"https://proxy." + testDomain + "/verify/redirect?probe=1&probe=1": "another query",
	} {
		t.Run(loc, func(t *testing.T) {
			e := start(t, deployment{redirectTo: loc})
			got := e.run(t)
			// The detail names the Location and what was expected.
			expect(t, got, map[string]want{CheckRedirect: {Fail, "redirects (301) to \"" + loc + "\": " + why + ", expected " + redirectTo}})
		})
	}
}

func TestRedirectNotToHTTPSFails(t *testing.T) {
	// A relative Location, or one to plain HTTP, is not a redirect to HTTPS at all.
	for _, loc := range []string{redirectProbe, "http://proxy." + testDomain + redirectProbe, "//proxy." + testDomain + redirectProbe} {
		e := start(t, deployment{redirectTo: loc})
		got := e.run(t)
		expect(t, got, map[string]want{CheckRedirect: {Fail, "not to https://"}})
		if d := got[CheckRedirect].Detail; !strings.Contains(d, "\""+loc+"\"") {
			t.Errorf("the detail does not name the Location %q: %s", loc, d)
		}
	}
}

func TestRedirectToAnUnparsableLocationFails(t *testing.T) {
	// Go's client rejects the Location before the check sees the answer: still a failure
	// that names it.
	loc := "https://proxy." + testDomain + "/%zz"
	e := start(t, deployment{redirectTo: loc})
	expect(t, e.run(t), map[string]want{CheckRedirect: {Fail, loc}})
}
