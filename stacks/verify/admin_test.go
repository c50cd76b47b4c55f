package verify

import (
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestRefusedAddr(t *testing.T) {
	forbidden := func(body string) *response {
		return &response{status: http.StatusForbidden, body: []byte(body)}
	}
	for _, tc := range []struct {
		resp *response
		want string // "" when no address is read
	}{
		{forbidden(`{"message":"IP address not allowed: 198.51.100.7"}`), "198.51.100.7"},
		{forbidden(`{"message":"IP address not allowed: 198.51.100.7","request_id":"x"}`), "198.51.100.7"},
		{forbidden(`{"message":"IP address not allowed: 2001:db8::7"}`), "2001:db8::7"},
		{forbidden(`{"message":"IP address not allowed: ::ffff:10.0.1.23"}`), "10.0.1.23"},
		{forbidden(` {"message":"IP address not allowed:  10.0.1.23 "} `), "10.0.1.23"},
		// Kong before 3.4, or a custom message: no address.
		{forbidden(`{"message":"Your IP address is not allowed"}`), ""},
		{forbidden(`{"message":"IP address not allowed: unknown"}`), ""},
		{forbidden(`{"message":"IP address not allowed: "}`), ""},
		{forbidden(`IP address not allowed: 10.0.1.23`), ""},
		{forbidden(`{"msg":"IP address not allowed: 10.0.1.23"}`), ""},
		{&response{status: http.StatusUnauthorized, body: []byte(`{"message":"IP address not allowed: 10.0.1.23"}`)}, ""},
		{nil, ""},
	} {
		got, ok := refusedAddr(tc.resp)
		if tc.want == "" {
			if ok {
				t.Errorf("%v: read %s, want no address", tc.resp, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%v: read %s (%v), want %s", tc.resp, got, ok, tc.want)
		}
	}
}

func TestInternalAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"10.0.1.23": true, "172.16.5.4": true, "172.31.255.1": true, "192.168.1.1": true, // RFC 1918
		"fd12:3456::1": true, "fc00::1": true, // RFC 4193
		"127.0.0.1": true, "::1": true, // loopback
		"169.254.1.1": true, "fe80::1": true, // link-local
		"198.51.100.7": false, "203.0.113.9": false, "172.32.0.1": false, "2001:db8::7": false, "8.8.8.8": false,
	} {
		if got := internalAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("internalAddr(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestAdminAPIRefusesEveryoneWhenKongSeesTheALB(t *testing.T) {
	// Kong names a VPC address: it sees the ALB, not the client, and refuses everyone.
	for _, addr := range []string{"10.0.1.23", "fd00:ec2::23", "127.0.0.1"} {
		e := start(t, deployment{adminForbidden: true, kongSees: addr})
		got := e.run(t)
		expect(t, got, map[string]want{
			CheckAdminAPI:          {Fail, "Kong sees " + addr + ", a private address (the ALB's or another in the VPC), not the client's"},
			CheckAdminAPIAllowlist: {Skip, "Kong refuses every client, seeing them all as " + addr},
		})
		if !strings.Contains(got[CheckAdminAPI].Detail, `"IP address not allowed: `+addr+`"`) {
			t.Errorf("the detail does not quote Kong's answer: %s", got[CheckAdminAPI].Detail)
		}
	}

	// --source-ip does not hide it, whichever side of the allowlist it puts this machine.
	for _, src := range []string{insideIP, outsideIP} {
		e := start(t, deployment{adminForbidden: true, kongSees: "10.0.1.23"})
		e.checker.SourceIP = netip.MustParseAddr(src)
		expect(t, e.run(t), map[string]want{
			CheckAdminAPI:          {Fail, "Kong sees 10.0.1.23"},
			CheckAdminAPIAllowlist: {Skip, "refuses every client"},
		})
	}

	// The exit status says so.
	e := start(t, deployment{adminForbidden: true, kongSees: "10.0.1.23"})
	var stdout, stderr bytes.Buffer
	if code := command([]string{"--outputs", writeOutputs(t, e.outputs)}, &stdout, &stderr, noLoader, e.checker); code != ExitFail {
		t.Errorf("exit %d, want %d\n%s", code, ExitFail, stdout.String())
	}
}

func TestAdminAPIRefusalNamesThisMachine(t *testing.T) {
	// Kong names a public address outside the allowlist: as if --source-ip had given it.
	e := start(t, deployment{adminForbidden: true, kongSees: outsideIP})
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Skip, "this machine (198.51.100.7 as Kong reports it) is outside adminAllowedCidrs"},
		CheckAdminAPIAllowlist: {Pass, "refused 198.51.100.7 as Kong reports it (outside 203.0.113.0/24, 2001:db8::/32) with 403"},
		CheckKongManager:       {Pass, ""},
	})
	var stdout, stderr bytes.Buffer
	if code := command([]string{"--outputs", writeOutputs(t, e.outputs)}, &stdout, &stderr, noLoader, e.checker); code != ExitOK {
		t.Errorf("exit %d, want %d\n%s", code, ExitOK, stdout.String())
	}

	// An address inside the allowlist refused: Kong's allowlist is not the stack's.
	e = start(t, deployment{adminForbidden: true, kongSees: insideIP})
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Fail, "answered 403 Forbidden"},
		CheckAdminAPIAllowlist: {Skip, "this machine (203.0.113.9 as Kong reports it) is inside adminAllowedCidrs (203.0.113.0/24)"},
	})

	// Kong Manager, behind the same plugin, reads it the same way when it alone refuses.
	e = start(t, deployment{managerStatus: http.StatusForbidden, kongSees: outsideIP})
	expect(t, e.run(t), map[string]want{
		CheckKongManager: {Skip, "answered 403 to 198.51.100.7 as Kong reports it, outside adminAllowedCidrs"},
	})
	e = start(t, deployment{managerStatus: http.StatusForbidden, kongSees: "10.0.1.23"})
	expect(t, e.run(t), map[string]want{CheckKongManager: {Fail, "Kong sees 10.0.1.23, a private address"}})
}

func TestSourceIPOverridesKongsAddress(t *testing.T) {
	// --source-ip inside the allowlist, Kong refusing another address: the flag decides, the
	// detail says what Kong saw.
	e := start(t, deployment{adminForbidden: true, kongSees: outsideIP})
	e.checker.SourceIP = netip.MustParseAddr(insideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Fail, "expected 200 JSON with a version field (Kong reports this machine as 198.51.100.7)"},
		CheckAdminAPIAllowlist: {Skip, "this machine (203.0.113.9) is inside adminAllowedCidrs"},
	})

	// --source-ip outside it.
	e = start(t, deployment{adminForbidden: true, kongSees: "192.0.2.44"})
	e.checker.SourceIP = netip.MustParseAddr(outsideIP)
	expect(t, e.run(t), map[string]want{
		CheckAdminAPI:          {Skip, "this machine (198.51.100.7) is outside adminAllowedCidrs: answering cannot be tested from here (see admin-api-allowlist) (Kong reports this machine as 192.0.2.44)"},
		CheckAdminAPIAllowlist: {Pass, "refused 198.51.100.7 (outside"},
	})
}
