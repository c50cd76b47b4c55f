package verify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Resolver resolves host names; *net.Resolver implements it. Tests inject their own to play DNS.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Retry bounds how often an operation is tried and how long Run waits in between: the wait
// starts at Backoff and doubles up to MaxBackoff (zero MaxBackoff: no doubling). Attempts
// below 1 count as 1.
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Checker runs the checks. The zero value works (system resolver, system roots, real clock,
// one attempt each); NewChecker returns the production settings.
type Checker struct {
	// Resolver resolves every name the checks use; nil means net.DefaultResolver.
	Resolver Resolver
	// Ports maps the port of a URL (e.g. "443") to the port actually dialled, so that tests
	// can send https://x.DOMAIN to an httptest server while SNI and Host stay the real names.
	Ports map[string]string
	// Dial dials a resolved address (ip:port); nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies the served certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Now is the clock certificates are checked against; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds one connection attempt or HTTP request; zero means 30s.
	RequestTimeout time.Duration
	// DNSRetry retries resolving the wildcard name and the ALB (fresh records propagate slowly).
	DNSRetry Retry
	// HTTPRetry retries connection errors and 5xx answers (targets still registering).
	HTTPRetry Retry
	// MinDaysValid fails the certificate check when a certificate expires sooner.
	MinDaysValid int
	// SourceIP is this machine's public address as the ALB sees it, if known: it decides
	// whether the Admin API must answer or refuse, and whether the ALB admits this machine
	// at all (albInboundCidrs). Unset, the address Kong names when it refuses the Admin API
	// stands in for it (see kongRefusal).
	SourceIP netip.Addr
	// OnResult, if set, is called with each result as soon as it is known.
	OnResult func(Result)
}

// Production defaults.
const (
	DefaultMinDaysValid   = 14
	DefaultRequestTimeout = 20 * time.Second
)

// NewChecker returns a Checker with production settings: DNS retried for about four minutes
// (2s, 4s, 8s, 16s, then every 30s), HTTP retried for about half a minute.
func NewChecker() *Checker {
	return &Checker{
		RequestTimeout: DefaultRequestTimeout,
		DNSRetry:       Retry{Attempts: 12, Backoff: 2 * time.Second, MaxBackoff: 30 * time.Second},
		HTTPRetry:      Retry{Attempts: 5, Backoff: 2 * time.Second, MaxBackoff: 15 * time.Second},
		MinDaysValid:   DefaultMinDaysValid,
	}
}

func (c *Checker) resolver() Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return net.DefaultResolver
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) timeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return 30 * time.Second
}

// dial resolves host through the Resolver, maps the port through Ports and dials the
// addresses in turn.
func (c *Checker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if p, ok := c.Ports[port]; ok {
		port = p
	}
	var ips []string
	if _, err := netip.ParseAddr(host); err == nil {
		ips = []string{host}
	} else if ips, err = c.resolver().LookupHost(ctx, host); err != nil {
		return nil, err
	} else if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	dial := c.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: c.timeout()}
		dial = d.DialContext
	}
	var errs []error
	for _, ip := range ips {
		conn, err := dial(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// wait sleeps before attempt n (1-based, n >= 2) of r; false when ctx ends first.
func (r Retry) wait(ctx context.Context, n int) bool {
	d := r.Backoff
	for i := 2; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	if r.MaxBackoff > 0 && d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r Retry) attempts() int { return max(r.Attempts, 1) }

// do calls try until it reports done, at most attempts times with the policy's waits between
// (fewer when ctx ends), and returns how many attempts it made.
func (r Retry) do(ctx context.Context, try func() (done bool)) int {
	n := 1
	for ; n <= r.attempts(); n++ {
		if n > 1 && !r.wait(ctx, n) {
			return n - 1
		}
		if try() {
			return n
		}
	}
	return r.attempts()
}

// run is the state of one Run.
type run struct {
	ctx      context.Context
	c        *Checker
	out      Outputs
	label    string // random host under the domain
	noFollow *http.Client
	follow   *http.Client
	results  []Result
	resolved bool // the random name resolved (whether or not to the ALB)
	// learned is this machine's public address as Kong reported it in a 403 of its
	// ip-restriction plugin; it stands in for SourceIP when that is unset.
	learned netip.Addr
}

// source returns the address the checks take for this machine's (SourceIP, else the one Kong
// reported) and how to name it in a detail: "198.51.100.7", or "198.51.100.7 as Kong
// reports it". It is invalid when neither is known.
func (r *run) source() (netip.Addr, string) {
	switch {
	case r.c.SourceIP.IsValid():
		return r.c.SourceIP, r.c.SourceIP.String()
	case r.learned.IsValid():
		return r.learned, r.learned.String() + " as Kong reports it"
	}
	return netip.Addr{}, ""
}

// RandomHost returns a fresh random name under domain, e.g. verify-1a2b3c4d5e6f.example.com.
func RandomHost(domain string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "verify-" + hex.EncodeToString(b) + "." + domain
}

// Run runs every check against the deployment described by out, in the order of CheckNames,
// and returns one result per check. When the wildcard name does not resolve at all, or
// SourceIP is outside the client ranges the ALB admits (albInboundCidrs), the checks that need
// the ALB are skipped rather than retried one by one.
func (c *Checker) Run(ctx context.Context, out Outputs) []Result {
	tr := &http.Transport{
		Proxy:               nil, // the checks exercise the public path itself
		DialContext:         c.dial,
		TLSClientConfig:     &tls.Config{RootCAs: c.RootCAs, Time: c.now, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: c.timeout(),
		DisableKeepAlives:   true,
	}
	defer tr.CloseIdleConnections()
	r := &run{
		ctx:   ctx,
		c:     c,
		out:   out,
		label: RandomHost(out.Domain),
		noFollow: &http.Client{Transport: tr, Timeout: c.timeout(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		follow: &http.Client{Transport: tr, Timeout: c.timeout()},
	}

	r.timed(CheckDNS, r.checkDNS)
	why := ""
	if !r.resolved {
		why = fmt.Sprintf("not run: %s does not resolve (see %s)", r.label, CheckDNS)
	} else if _, admitted := out.albAdmits(c.SourceIP); c.SourceIP.IsValid() && !admitted {
		// The ALB's security group drops this machine: every check would only time out.
		why = fmt.Sprintf("not run: this machine (%s) is outside albInboundCidrs (%s), the only clients the ALB admits; run verify from inside them",
			c.SourceIP, prefixes(out.ALBInboundCIDRs))
	}
	if why != "" {
		for _, name := range CheckNames[1:] {
			r.add(Result{Name: name, Status: Skip, Detail: why})
		}
		return r.results
	}
	r.timed(CheckRedirect, r.checkRedirect)
	r.timed(CheckCertificate, r.checkCertificates)
	r.timed(CheckProxyUnknownHost, r.checkUnknownHost)
	r.checkAdmin() // two results from one request
	r.timed(CheckKongManager, r.checkManager)
	r.timed(CheckDemoApp, r.checkDemo)
	return r.results
}

func (r *run) add(res Result) {
	r.results = append(r.results, res)
	if r.c.OnResult != nil {
		r.c.OnResult(res)
	}
}

// timed runs a check returning (status, detail) and records its result.
func (r *run) timed(name string, f func(ctx context.Context) (Status, string)) {
	start := time.Now()
	st, detail := f(r.ctx)
	r.add(Result{Name: name, Status: st, Detail: detail, Duration: time.Since(start)})
}
