package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The deployment the tests play: *.example.test behind an "ALB" that is two httptest servers
// on 127.0.0.1 (TLS for :443, plain HTTP for :80), reached through an injected resolver and
// port mapping while SNI and Host stay the real names.
const (
	testDomain  = "example.test"
	testALB     = "k8s-kong-kongalb-0123456789.us-east-1.elb.amazonaws.com"
	kongHost    = "kong." + testDomain
	demoHost    = "kuard." + testDomain
	insideIP    = "203.0.113.9"  // inside the test allowlist 203.0.113.0/24
	outsideIP   = "198.51.100.7" // outside it
	testVersion = "3.10.0.4-enterprise-edition"
)

// t0 is the clock the Checker sees; the certificates are issued relative to it.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// ---- certificates ------------------------------------------------------------------------

type testPKI struct {
	pool      *x509.CertPool    // trusts ca
	good      tls.Certificate   // *.example.test, example.test, 90 days left
	wrongName tls.Certificate   // *.other.test
	expiring  tls.Certificate   // *.example.test, 5 days left
	untrusted tls.Certificate   // *.example.test from a CA the checker does not trust
	ca        *x509.Certificate // issuer of good, wrongName, expiring
}

var pkiOnce = sync.OnceValue(func() *testPKI {
	ca, caKey := newCA("Test Root CA")
	other, otherKey := newCA("Some Other CA")
	p := &testPKI{pool: x509.NewCertPool(), ca: ca}
	p.pool.AddCert(ca)
	names := []string{"*." + testDomain, testDomain}
	p.good = newLeaf(ca, caKey, names, t0.Add(90*24*time.Hour))
	p.wrongName = newLeaf(ca, caKey, []string{"*.other.test", "other.test"}, t0.Add(90*24*time.Hour))
	p.expiring = newLeaf(ca, caKey, names, t0.Add(5*24*time.Hour+time.Hour))
	p.untrusted = newLeaf(other, otherKey, names, t0.Add(90*24*time.Hour))
	return p
})

var serial int64

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             t0.Add(-365 * 24 * time.Hour),
		NotAfter:              t0.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert, key
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, notAfter time.Time) tls.Certificate {
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    t0.Add(-24 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ---- DNS ---------------------------------------------------------------------------------

func notFound(host string) error {
	return &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// fakeResolver answers *.example.test with wildcard and the ALB's name with alb.
type fakeResolver struct {
	mu          sync.Mutex
	wildcard    []string
	wildcardErr error // e.g. NXDOMAIN: the record is not there yet
	failFirst   int   // the first failFirst wildcard lookups answer NXDOMAIN
	alb         []string
	calls       map[string]int
	wildcardN   int
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[host]++
	switch {
	case host == testALB:
		return f.alb, nil
	case strings.HasSuffix(host, "."+testDomain):
		f.wildcardN++
		if f.wildcardErr != nil {
			if de, ok := f.wildcardErr.(*net.DNSError); ok {
				cp := *de
				cp.Name = host
				return nil, &cp
			}
			return nil, f.wildcardErr
		}
		if f.wildcardN <= f.failFirst {
			return nil, notFound(host)
		}
		return f.wildcard, nil
	}
	return nil, notFound(host)
}

// randomLookups returns the lookups of names that are none of the fixed ones.
func (f *fakeResolver) randomLookups() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for h, n := range f.calls {
		if h != testALB && h != kongHost && h != demoHost && h != "proxy."+testDomain {
			m[h] = n
		}
	}
	return m
}

// ---- the deployment ----------------------------------------------------------------------

// deployment says how the played deployment behaves; the zero value of every knob is the
// healthy behaviour.
type deployment struct {
	cert            *tls.Certificate // nil: pki.good
	noRedirect      bool             // HTTP answers Kong's 404 instead of redirecting
	redirectTo      string           // Location of the redirect; "" means the same URL over HTTPS
	adminUnrouted   bool             // kong.DOMAIN/api is not routed (Kong's 404)
	adminForbidden  bool             // kong.DOMAIN/api answers 403 (ip-restriction)
	kongSees        string           // the client address a 403 of ip-restriction names; "": none (Kong before 3.4)
	managerStatus   int              // 0: 200 HTML; 403 answers as ip-restriction does
	albDrops        bool             // the ALB's security group drops this machine: every dial hangs until it times out
	albRefuses      bool             // every dial is refused at once
	stall           bool             // connections are accepted (TLS too), requests never answered
	demoStatus      int              // 0: 200
	demoUnrouted    bool             // kuard.DOMAIN is not routed (Kong's 404)
	unknownNotKong  bool             // an unknown host gets the ALB's fixed 404, not Kong's
	wildcardErr     error
	dnsFailFirst    int
	wildcardAddrs   []string // nil: 127.0.0.1
	albAddrs        []string // nil: 127.0.0.1
	outputOverrides map[string]any
}

type env struct {
	checker  *Checker
	outputs  map[string]any
	resolver *fakeResolver

	mu    sync.Mutex
	hits  map[string]int // by Host, https and http together
	snis  map[string]bool
	hosts map[string]bool
}

func (e *env) record(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hits[host]++
	e.hosts[host] = true
	if r.TLS != nil {
		e.snis[r.TLS.ServerName] = true
	}
	return host
}

func (e *env) hitCount(host string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits[host]
}

// seen reports whether name was sent as SNI and as Host.
func (e *env) seen(name string) (sni, host bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.snis[name], e.hosts[name]
}

func (e *env) totalHits() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.hits {
		n += v
	}
	return n
}

func kong404(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{
  "message":"no Route matched with those values",
  "request_id":"b1c0ffee"
}`)
}

// kong403 answers as Kong's ip-restriction plugin refusing a client: since Kong 3.4 the
// message names the address Kong sees (addr), before it did not (addr "").
func kong403(w http.ResponseWriter, addr string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	if addr == "" {
		_, _ = io.WriteString(w, `{"message":"Your IP address is not allowed"}`)
		return
	}
	fmt.Fprintf(w, `{
  "message":"IP address not allowed: %s",
  "request_id":"b1c0ffee"
}`, addr)
}

// healthyOutputs are the outputs of the played deployment, as `pulumi stack output --json`
// prints them.
func healthyOutputs() map[string]any {
	return map[string]any{
		"region":            "us-east-1",
		"domain":            testDomain,
		"clusterName":       "kong-alb-eks-dev",
		"kubeconfig":        "[secret]",
		"albHostname":       testALB,
		"proxyUrl":          "https://proxy." + testDomain,
		"kongManagerUrl":    "https://" + kongHost,
		"kongAdminApiUrl":   "https://" + kongHost + "/api",
		"adminAllowedCidrs": []any{"203.0.113.0/24", "2001:db8::/32"},
		"albInboundCidrs":   []any{},
		"plainHttpAllowed":  false,
		"kongVersion":       "3.10.0.4",
		"demoUrl":           "https://" + demoHost,
	}
}

// start plays d and returns a Checker wired to it, with tiny retries and timeouts.
func start(t *testing.T, d deployment) *env {
	t.Helper()
	p := pkiOnce()
	e := &env{hits: map[string]int{}, snis: map[string]bool{}, hosts: map[string]bool{}}
	quiet := log.New(io.Discard, "", 0)

	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := e.record(r)
		if d.stall {
			<-r.Context().Done() // until the client gives up
			return
		}
		switch {
		case host == kongHost && strings.HasPrefix(r.URL.Path, "/api"):
			switch {
			case d.adminUnrouted:
				kong404(w)
			case d.adminForbidden:
				kong403(w, d.kongSees)
			default:
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				fmt.Fprintf(w, `{"configuration":{"database":"postgres","role":"control_plane"},"hostname":"kong-aws-cp-0","tagline":"Welcome to kong","version":%q}`, testVersion)
			}
		case host == kongHost:
			if d.managerStatus == http.StatusForbidden {
				kong403(w, d.kongSees)
				return
			}
			if d.managerStatus != 0 && d.managerStatus != http.StatusOK {
				http.Error(w, "nope", d.managerStatus)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Kong Manager</title></head><body></body></html>")
		case host == demoHost && !d.demoUnrouted:
			if d.demoStatus != 0 && d.demoStatus != http.StatusOK {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(d.demoStatus)
				_, _ = io.WriteString(w, "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><title>KUAR Demo</title></html>")
		case d.unknownNotKong:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "Not Found")
		default:
			kong404(w)
		}
	}))
	cert := p.good
	if d.cert != nil {
		cert = *d.cert
	}
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	tlsSrv.Config.ErrorLog = quiet
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	httpSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := e.record(r)
		if d.stall {
			<-r.Context().Done()
			return
		}
		if d.noRedirect {
			kong404(w)
			return
		}
		loc := d.redirectTo
		if loc == "" {
			loc = "https://" + host + r.URL.RequestURI()
		}
		http.Redirect(w, r, loc, http.StatusMovedPermanently)
	}))
	httpSrv.Config.ErrorLog = quiet
	httpSrv.Start()
	t.Cleanup(httpSrv.Close)

	localhost := []string{"127.0.0.1"}
	e.resolver = &fakeResolver{
		wildcard: localhost, alb: localhost,
		wildcardErr: d.wildcardErr, failFirst: d.dnsFailFirst,
	}
	if d.wildcardAddrs != nil {
		e.resolver.wildcard = d.wildcardAddrs
	}
	if d.albAddrs != nil {
		e.resolver.alb = d.albAddrs
	}
	e.checker = &Checker{
		Resolver:       e.resolver,
		Ports:          map[string]string{"443": port(t, tlsSrv.Listener), "80": port(t, httpSrv.Listener)},
		RootCAs:        p.pool,
		Now:            func() time.Time { return t0 },
		RequestTimeout: 5 * time.Second,
		DNSRetry:       Retry{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		HTTPRetry:      Retry{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		MinDaysValid:   DefaultMinDaysValid,
	}
	if d.stall {
		e.checker.RequestTimeout = 100 * time.Millisecond
	}
	switch {
	case d.albDrops:
		// A dropped SYN: nothing comes back until the dialler gives up, with the error
		// net.Dialer gives then. The timeout is short for the test's sake.
		e.checker.RequestTimeout = 100 * time.Millisecond
		e.checker.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			<-ctx.Done()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = os.ErrDeadlineExceeded
			}
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	case d.albRefuses:
		e.checker.Dial = func(_ context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
	}
	e.outputs = healthyOutputs()
	for k, v := range d.outputOverrides {
		if v == nil {
			delete(e.outputs, k)
		} else {
			e.outputs[k] = v
		}
	}
	return e
}

func port(t *testing.T, l net.Listener) string {
	t.Helper()
	_, p, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run parses the outputs and runs every check.
func (e *env) run(t *testing.T) map[string]Result {
	t.Helper()
	out, err := ParseOutputs(e.outputs)
	if err != nil {
		t.Fatalf("ParseOutputs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := e.checker.Run(ctx, out)
	if len(results) != len(CheckNames) {
		t.Fatalf("got %d results, want %d: %+v", len(results), len(CheckNames), results)
	}
	m := map[string]Result{}
	for i, r := range results {
		if r.Name != CheckNames[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, CheckNames[i])
		}
		t.Logf("%s", FormatResult(r))
		m[r.Name] = r
	}
	return m
}

// expect asserts the status of every named check and, when given, a substring of its detail.
type want struct {
	status Status
	detail string // substring; "" means any
}

func expect(t *testing.T, got map[string]Result, wants map[string]want) {
	t.Helper()
	for name, w := range wants {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if r.Status != w.status {
			t.Errorf("%s: status %s, want %s (detail: %s)", name, r.Status, w.status, r.Detail)
		}
		if w.detail != "" && !strings.Contains(r.Detail, w.detail) {
			t.Errorf("%s: detail %q does not contain %q", name, r.Detail, w.detail)
		}
	}
}
