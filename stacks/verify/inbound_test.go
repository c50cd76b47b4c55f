package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restricted are outputs of a stack whose ALB admits only 192.0.2.0/24 and 203.0.113.0/24
// (insideIP), not outsideIP.
var restricted = map[string]any{"albInboundCidrs": []any{"192.0.2.0/24", "203.0.113.0/24"}}

// throughALB are the checks that go through the ALB: all but DNS.
var throughALB = CheckNames[1:]

func TestOutsideALBInboundCIDRsBySourceIP(t *testing.T) {
	// The ALB would drop this machine: nothing is tried, nothing fails.
	e := start(t, deployment{albDrops: true, outputOverrides: restricted})
	var stdout, stderr bytes.Buffer
	code := command([]string{"--outputs", writeOutputs(t, e.outputs), "--source-ip", outsideIP}, &stdout, &stderr, noLoader, e.checker)
	if code != ExitOK {
		t.Errorf("exit %d, want %d\n%s", code, ExitOK, stdout.String())
	}
	e.checker.SourceIP = netip.MustParseAddr(outsideIP)
	got := e.run(t)
	expect(t, got, map[string]want{CheckDNS: {Pass, ""}})
	for _, name := range throughALB {
		expect(t, got, map[string]want{name: {Skip, "not run: this machine (198.51.100.7) is outside albInboundCidrs (192.0.2.0/24, 203.0.113.0/24), the only clients the ALB admits"}})
	}
	if n := e.totalHits(); n != 0 {
		t.Errorf("the ALB was reached %d times from outside albInboundCidrs", n)
	}

	// Inside the ranges, or with the ALB open to everyone, everything runs.
	for _, tc := range []struct {
		src     string
		outputs map[string]any
	}{
		{insideIP, restricted},
		{outsideIP, map[string]any{"albInboundCidrs": []any{}}},
		{outsideIP, map[string]any{"albInboundCidrs": []any{"192.0.2.0/24", "0.0.0.0/0"}}},
	} {
		e := start(t, deployment{outputOverrides: tc.outputs})
		e.checker.SourceIP = netip.MustParseAddr(tc.src)
		expect(t, e.run(t), map[string]want{CheckRedirect: {Pass, ""}, CheckDemoApp: {Pass, ""}})
	}
}

func TestALBTimesOutWithUnknownSource(t *testing.T) {
	// albInboundCidrs set, this machine's address unknown, every connection timing out: it
	// may be outside the ranges, so every check through the ALB is skipped, saying why.
	e := start(t, deployment{albDrops: true, outputOverrides: restricted})
	var stdout, stderr bytes.Buffer
	begin := time.Now()
	code := command([]string{"--outputs", writeOutputs(t, e.outputs)}, &stdout, &stderr, noLoader, e.checker)
	if code != ExitOK {
		t.Errorf("exit %d, want %d\n%s", code, ExitOK, stdout.String())
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("the run took %s", took)
	}
	got := e.run(t)
	expect(t, got, map[string]want{CheckDNS: {Pass, ""}})
	for _, name := range []string{CheckRedirect, CheckCertificate, CheckProxyUnknownHost, CheckAdminAPI, CheckKongManager, CheckDemoApp} {
		expect(t, got, map[string]want{name: {Skip, "this machine may be outside albInboundCidrs (192.0.2.0/24, 203.0.113.0/24), the only clients the ALB admits (it drops the others); pass --source-ip to tell"}})
	}
	// The allowlist check cannot tell either, for want of an address.
	expect(t, got, map[string]want{CheckAdminAPIAllowlist: {Skip, "pass --source-ip"}})
	// What timed out is still named.
	expect(t, got, map[string]want{
		CheckRedirect:    {Skip, "GET " + redirectFrom + " failed after 2 attempts"},
		CheckCertificate: {Skip, "kong.example.test: TLS handshake failed after 2 attempts"},
	})
}

func TestALBTimeoutsAreFailuresWhenTheyCannotBeExplained(t *testing.T) {
	// The ALB admits everyone: a timeout is a failure.
	e := start(t, deployment{albDrops: true})
	got := e.run(t)
	for _, name := range []string{CheckRedirect, CheckCertificate, CheckProxyUnknownHost, CheckAdminAPI, CheckKongManager, CheckDemoApp} {
		expect(t, got, map[string]want{name: {Fail, "failed after 2 attempts"}})
	}

	// This machine is inside the ranges (--source-ip): a timeout is a failure.
	e = start(t, deployment{albDrops: true, outputOverrides: restricted})
	e.checker.SourceIP = netip.MustParseAddr(insideIP)
	got = e.run(t)
	for _, name := range []string{CheckRedirect, CheckCertificate, CheckProxyUnknownHost, CheckKongManager, CheckDemoApp} {
		expect(t, got, map[string]want{name: {Fail, "(this machine, 203.0.113.9, is inside albInboundCidrs)"}})
	}
	// The Admin API: inside adminAllowedCidrs too, so its failure is the ALB's.
	expect(t, got, map[string]want{CheckAdminAPI: {Fail, "is inside albInboundCidrs"}})

	// Connected, then never answered: the ALB admitted this machine, something behind it is
	// stuck. A failure, with the address unknown too.
	e = start(t, deployment{stall: true, outputOverrides: restricted})
	got = e.run(t)
	for _, name := range []string{CheckRedirect, CheckProxyUnknownHost, CheckAdminAPI, CheckKongManager, CheckDemoApp} {
		expect(t, got, map[string]want{name: {Fail, "Client.Timeout exceeded"}})
	}
	expect(t, got, map[string]want{CheckCertificate: {Pass, ""}})

	// Refused rather than dropped: a security group does not refuse, so it is a failure even
	// with the address unknown.
	e = start(t, deployment{albRefuses: true, outputOverrides: restricted})
	got = e.run(t)
	for _, name := range []string{CheckRedirect, CheckCertificate, CheckProxyUnknownHost, CheckAdminAPI, CheckKongManager, CheckDemoApp} {
		expect(t, got, map[string]want{name: {Fail, "connection refused"}})
	}
}

func TestNoAnswerUsesTheAddressKongReported(t *testing.T) {
	timeout := &connectError{&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}
	refused := &connectError{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	unanswered := &url.Error{Op: "Get", URL: "https://x", Err: context.DeadlineExceeded} // connected, then nothing
	out, err := ParseOutputs(map[string]any{"domain": testDomain, "albInboundCidrs": []any{"192.0.2.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		flag, learned string
		err           error
		status        Status
		detail        string
	}{
		{"learned outside", "", outsideIP, refused, Skip, "this machine (198.51.100.7 as Kong reports it) is outside albInboundCidrs (192.0.2.0/24)"},
		{"learned inside", "", "192.0.2.7", timeout, Fail, "(this machine, 192.0.2.7 as Kong reports it, is inside albInboundCidrs)"},
		{"flag wins", "192.0.2.7", outsideIP, timeout, Fail, "(this machine, 192.0.2.7, is inside albInboundCidrs)"},
		{"unknown, timeout", "", "", timeout, Skip, "may be outside albInboundCidrs (192.0.2.0/24)"},
		{"unknown, refused", "", "", refused, Fail, "boom"},
		{"unknown, unanswered", "", "", unanswered, Fail, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{c: &Checker{}, out: out}
			if tc.flag != "" {
				r.c.SourceIP = netip.MustParseAddr(tc.flag)
			}
			if tc.learned != "" {
				r.learned = netip.MustParseAddr(tc.learned)
			}
			st, detail := r.noAnswer("boom", tc.err)
			if st != tc.status || !strings.Contains(detail, tc.detail) || !strings.HasPrefix(detail, "boom") {
				t.Errorf("got %s %q, want %s containing %q", st, detail, tc.status, tc.detail)
			}
		})
	}
}

func TestTimedOut(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{refused, false},
		{errors.New("x509: certificate signed by unknown authority"), false},
		{context.Canceled, false},
		{timeout, true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("handshake: %w", context.DeadlineExceeded), true},
		// Two addresses, one refused, one dropped, inside an *url.Error that says false itself.
		{&url.Error{Op: "Get", URL: "https://x", Err: errors.Join(refused, timeout)}, true},
		{&url.Error{Op: "Get", URL: "https://x", Err: errors.Join(refused, refused)}, false},
	} {
		if got := timedOut(tc.err); got != tc.want {
			t.Errorf("timedOut(%v) = %v, want %v", tc.err, got, tc.want)
		}
		// Only a timeout before the connection was made is a connection that timed out.
		if got := connectTimedOut(tc.err); got {
			t.Errorf("connectTimedOut(%v) = true outside a connectError", tc.err)
		}
		if got := connectTimedOut(fmt.Errorf("attempt 2: %w", &connectError{tc.err})); got != tc.want {
			t.Errorf("connectTimedOut(connectError{%v}) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestParseALBInboundCIDRs(t *testing.T) {
	for in, want := range map[string]string{
		`["192.0.2.0/24", "2001:db8::/32"]`: "192.0.2.0/24, 2001:db8::/32",
		`["192.0.2.7/24"]`:                  "192.0.2.0/24",
		`"192.0.2.0/24, 198.51.100.0/24"`:   "192.0.2.0/24, 198.51.100.0/24",
		`[]`:                                "",
		`null`:                              "",
	} {
		o, err := ParseOutputsJSON([]byte(`{"domain":"example.com","albInboundCidrs":` + in + `}`))
		if err != nil || prefixes(o.ALBInboundCIDRs) != want {
			t.Errorf("%s: got %q, %v; want %q", in, prefixes(o.ALBInboundCIDRs), err, want)
		}
	}
	// Absent, as from a stack deployed before the output existed: the ALB taken as open.
	if o, err := ParseOutputsJSON([]byte(`{"domain":"example.com"}`)); err != nil || !o.albOpen() {
		t.Errorf("absent: %+v %v", o, err)
	}
	for _, bad := range []string{`["192.0.2.0"]`, `["10.0.0.0/33"]`, `[1]`, `{"a":"b"}`} {
		if _, err := ParseOutputsJSON([]byte(`{"domain":"example.com","albInboundCidrs":` + bad + `}`)); err == nil || !strings.Contains(err.Error(), "albInboundCidrs") {
			t.Errorf("%s: error %v, want one naming albInboundCidrs", bad, err)
		}
	}
}

func TestALBAdmits(t *testing.T) {
	for in, want := range map[string]bool{
		`[]`: true, `["0.0.0.0/0"]`: true, `["192.0.2.0/24","::/0"]`: true,
		`["203.0.113.0/24"]`: false, `["198.51.100.7/32"]`: true, `["198.51.100.0/24"]`: true,
	} {
		o, err := ParseOutputsJSON([]byte(`{"domain":"example.com","albInboundCidrs":` + in + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, got := o.albAdmits(netip.MustParseAddr(outsideIP)); got != want {
			t.Errorf("%s admits %s: %v, want %v", in, outsideIP, got, want)
		}
		// An IPv4-mapped address is the IPv4 address.
		if _, got := o.albAdmits(netip.MustParseAddr("::ffff:" + outsideIP)); got != want {
			t.Errorf("%s admits ::ffff:%s: %v, want %v", in, outsideIP, got, want)
		}
	}
}
