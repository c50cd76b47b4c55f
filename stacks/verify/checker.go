package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
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
	// whether the Admin API must answer or refuse.
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

// Kong's answer when no route matches.
const kongNoRoute = "no Route matched with those values"

const maxBody = 64 << 10

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
}

// RandomHost returns a fresh random name under domain, e.g. verify-1a2b3c4d5e6f.example.com.
func RandomHost(domain string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "verify-" + hex.EncodeToString(b) + "." + domain
}

// Run runs every check against the deployment described by out, in the order of CheckNames,
// and returns one result per check. When the wildcard name does not resolve at all, the
// checks that need it are skipped rather than retried one by one.
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
	if !r.resolved {
		why := fmt.Sprintf("not run: %s does not resolve (see %s)", r.label, CheckDNS)
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

// ---- 1. wildcard DNS -------------------------------------------------------------------

// lookup resolves host with the DNS retry policy.
func (r *run) lookup(ctx context.Context, host string) ([]string, int, error) {
	p := r.c.DNSRetry
	var err error
	var ips []string
	n := 0
	for n = 1; n <= p.attempts(); n++ {
		if n > 1 && !p.wait(ctx, n) {
			n--
			break
		}
		ips, err = r.c.resolver().LookupHost(ctx, host)
		if err == nil && len(ips) > 0 {
			return ips, n, nil
		}
		if err == nil {
			err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	n = min(n, p.attempts())
	if cerr := ctx.Err(); cerr != nil {
		err = fmt.Errorf("%w (retries stopped: %v)", err, cerr)
	}
	return nil, n, err
}

func plural(n int, one string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// checkDNS resolves the random name and the ALB; it sets r.resolved when the random name
// resolves at all, so that Run can skip the checks that need it otherwise.
func (r *run) checkDNS(ctx context.Context) (Status, string) {
	start := time.Now()
	ips, n, err := r.lookup(ctx, r.label)
	r.resolved = err == nil
	if err != nil {
		hint := ""
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			hint = fmt.Sprintf(": the *.%s record is missing or not yet propagated", r.out.Domain)
		}
		return Fail, fmt.Sprintf("%s did not resolve after %s in %s: %v%s",
			r.label, plural(n, "attempt"), time.Since(start).Round(time.Millisecond), err, hint)
	}
	if r.out.ALBHostname == "" {
		return Fail, fmt.Sprintf("%s resolves to %s, but the albHostname output is missing: cannot tell whether that is the ALB",
			r.label, strings.Join(ips, ", "))
	}
	albIPs, _, err := r.lookup(ctx, r.out.ALBHostname)
	if err != nil {
		return Fail, fmt.Sprintf("%s resolves to %s, but the ALB %s does not: %v",
			r.label, strings.Join(ips, ", "), r.out.ALBHostname, err)
	}
	for _, ip := range ips {
		if slices.Contains(albIPs, ip) {
			return Pass, fmt.Sprintf("%s resolves to %s, addresses of the ALB %s",
				r.label, strings.Join(ips, ", "), r.out.ALBHostname)
		}
	}
	return Fail, fmt.Sprintf("%s resolves to %s, but the ALB %s resolves to %s: the record does not point at this stack's ALB",
		r.label, strings.Join(ips, ", "), r.out.ALBHostname, strings.Join(albIPs, ", "))
}

// ---- HTTP helper ------------------------------------------------------------------------

type response struct {
	status int
	header http.Header
	body   []byte
}

func (resp *response) contentType() string { return resp.header.Get("Content-Type") }

// snippet is the start of the body on one line, for details.
func (resp *response) snippet() string {
	s := strings.Join(strings.Fields(string(resp.body)), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

func (resp *response) statusText() string {
	return fmt.Sprintf("%d %s", resp.status, http.StatusText(resp.status))
}

// get fetches u, retrying connection errors and 5xx answers with the HTTP retry policy. It
// returns the last answer, or the last error when there was none.
func (r *run) get(ctx context.Context, client *http.Client, u string) (*response, int, error) {
	p := r.c.HTTPRetry
	var last *response
	var err error
	n := 1
	for ; n <= p.attempts(); n++ {
		if n > 1 && !p.wait(ctx, n) {
			n--
			break
		}
		last, err = r.getOnce(ctx, client, u)
		if err == nil && last.status < 500 {
			return last, n, nil
		}
		if err != nil && !transient(err) {
			break
		}
	}
	n = min(n, p.attempts())
	if last != nil {
		return last, n, nil
	}
	return nil, n, err
}

// transient reports whether an error may go away on retry: a served certificate that does
// not verify will not.
func transient(err error) bool {
	var verr *tls.CertificateVerificationError
	return !errors.As(err, &verr)
}

func (r *run) getOnce(ctx context.Context, client *http.Client, u string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "kong-alb-eks-verify")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func failedAfter(u string, n int, err error) string {
	return fmt.Sprintf("GET %s failed after %s: %v", u, plural(n, "attempt"), err)
}

// ---- 2. HTTP → HTTPS redirect -------------------------------------------------------------

func (r *run) proxyHost() string {
	if u, err := url.Parse(r.out.ProxyURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "proxy." + r.out.Domain
}

func (r *run) checkRedirect(ctx context.Context) (Status, string) {
	u := "http://" + r.proxyHost() + "/"
	resp, n, err := r.get(ctx, r.noFollow, u)
	if err != nil {
		return Fail, failedAfter(u, n, err)
	}
	loc := resp.header.Get("Location")
	redirects := isRedirect(resp.status)
	toHTTPS := redirects && strings.HasPrefix(strings.ToLower(loc), "https://")
	if r.out.PlainHTTPAllowed {
		if toHTTPS {
			return Fail, fmt.Sprintf("plainHttpAllowed is true, but %s redirects to %s (%d)", u, loc, resp.status)
		}
		return Pass, fmt.Sprintf("plainHttpAllowed: %s answered %s over plain HTTP", u, resp.statusText())
	}
	if toHTTPS {
		return Pass, fmt.Sprintf("%s → %d %s", u, resp.status, loc)
	}
	if redirects {
		return Fail, fmt.Sprintf("%s redirects (%d) to %q, not to https://", u, resp.status, loc)
	}
	return Fail, fmt.Sprintf("%s answered %s over plain HTTP instead of redirecting to HTTPS (plainHttpAllowed is false)", u, resp.statusText())
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// ---- 3. certificate ---------------------------------------------------------------------

func (r *run) checkCertificates(ctx context.Context) (Status, string) {
	names := []string{r.label, "kong." + r.out.Domain}
	var details []string
	status := Pass
	for _, name := range names {
		ok, detail := r.checkCertificate(ctx, name)
		if !ok {
			status = Fail
		}
		details = append(details, detail)
	}
	return status, strings.Join(details, "; ")
}

// checkCertificate connects to name:443 with SNI name and checks what is served.
func (r *run) checkCertificate(ctx context.Context, name string) (bool, string) {
	p := r.c.HTTPRetry
	var certs []*x509.Certificate
	var err error
	n := 1
	for ; n <= p.attempts(); n++ {
		if n > 1 && !p.wait(ctx, n) {
			n--
			break
		}
		if certs, err = r.fetchCertificates(ctx, name); err == nil {
			break
		}
	}
	if err != nil {
		return false, fmt.Sprintf("%s: TLS handshake failed after %s: %v", name, plural(min(n, p.attempts()), "attempt"), err)
	}
	leaf := certs[0]
	now := r.c.now()
	if err := leaf.VerifyHostname(name); err != nil {
		return false, fmt.Sprintf("%s: the certificate served does not cover the name (it covers %s)", name, certNames(leaf))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		DNSName: name, Roots: r.c.RootCAs, Intermediates: inter, CurrentTime: now,
	}); err != nil {
		return false, fmt.Sprintf("%s: the certificate does not verify: %v", name, err)
	}
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	minLeft := time.Duration(r.c.MinDaysValid) * 24 * time.Hour
	if left < minLeft {
		return false, fmt.Sprintf("%s: the certificate expires %s, in %s (less than %d days)",
			name, leaf.NotAfter.UTC().Format(time.DateOnly), plural(days, "day"), r.c.MinDaysValid)
	}
	return true, fmt.Sprintf("%s: valid until %s (%s), issued by %s",
		name, leaf.NotAfter.UTC().Format(time.DateOnly), plural(days, "day"), leaf.Issuer.CommonName)
}

func (r *run) fetchCertificates(ctx context.Context, name string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, r.c.timeout())
	defer cancel()
	raw, err := r.c.dial(ctx, "tcp", net.JoinHostPort(name, "443"))
	if err != nil {
		return nil, err
	}
	// Verification is done by hand afterwards, to tell a wrong name from an untrusted chain
	// from an expiring certificate.
	conn := tls.Client(raw, &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate served")
	}
	return certs, nil
}

func certNames(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{"CN=" + c.Subject.CommonName}
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}

// ---- 4. unknown host → Kong 404 -----------------------------------------------------------

func kongMessage(body []byte) (string, bool) {
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &m) != nil || m.Message == nil {
		return "", false
	}
	return *m.Message, true
}

func (r *run) checkUnknownHost(ctx context.Context) (Status, string) {
	u := "https://" + r.label + "/"
	resp, n, err := r.get(ctx, r.noFollow, u)
	if err != nil {
		return Fail, failedAfter(u, n, err)
	}
	msg, isJSON := kongMessage(resp.body)
	if resp.status == http.StatusNotFound && isJSON && msg == kongNoRoute {
		return Pass, fmt.Sprintf("%s → 404 {\"message\":%q} from Kong", u, kongNoRoute)
	}
	return Fail, fmt.Sprintf("%s answered %s %s, expected Kong's 404 {\"message\":%q}",
		u, resp.statusText(), resp.snippet(), kongNoRoute)
}

// ---- 5. Admin API -----------------------------------------------------------------------

// adminVersion returns the version field of an Admin API root answer.
func adminVersion(resp *response) (string, bool) {
	if resp == nil || resp.status != http.StatusOK {
		return "", false
	}
	var m map[string]any
	if json.Unmarshal(bytes.TrimSpace(resp.body), &m) != nil {
		return "", false
	}
	v, ok := m["version"]
	if !ok || v == nil {
		return "", false
	}
	return fmt.Sprint(v), true
}

func (r *run) checkAdmin() {
	start := time.Now()
	ctx := r.ctx
	out, c := r.out, r.c
	published := out.KongAdminAPIURL != ""
	u := out.KongAdminAPIURL
	if !published {
		u = "https://kong." + out.Domain + "/api"
	}
	resp, n, err := r.get(ctx, r.noFollow, u)
	version, answers := adminVersion(resp)
	open, openWhy := out.adminOpen()
	srcKnown := c.SourceIP.IsValid()
	match, inside := out.adminAllows(c.SourceIP)

	var st Status
	var detail string
	switch {
	case answers && open:
		st, detail = Fail, fmt.Sprintf("Admin API open to the world: %s answered the gateway configuration (version %s) and %s", u, version, openWhy)
	case !published && answers:
		st, detail = Fail, fmt.Sprintf("%s answers the gateway configuration (version %s) although the Admin API is not published (no kongAdminApiUrl output)", u, version)
	case !published && err != nil:
		st, detail = Skip, fmt.Sprintf("not published (no kongAdminApiUrl output); could not probe %s: %v", u, err)
	case !published:
		st, detail = Pass, fmt.Sprintf("not published (no kongAdminApiUrl output); %s answers %s, not the gateway configuration", u, resp.statusText())
	case srcKnown && !inside:
		st, detail = Skip, fmt.Sprintf("this machine (%s) is outside adminAllowedCidrs: answering cannot be tested from here (see %s)", c.SourceIP, CheckAdminAPIAllowlist)
	case err != nil:
		st, detail = Fail, failedAfter(u, n, err)
	case answers:
		st, detail = Pass, fmt.Sprintf("%s → 200 JSON, version %s", u, version)
	case resp.status == http.StatusForbidden && !srcKnown:
		st, detail = Skip, fmt.Sprintf("%s answered 403: this machine looks outside adminAllowedCidrs (%s); run from an allowed network, or pass --source-ip", u, prefixes(out.AdminAllowedCIDRs))
	default:
		st, detail = Fail, fmt.Sprintf("%s answered %s %s, expected 200 JSON with a version field", u, resp.statusText(), resp.snippet())
	}
	if len(out.InvalidAdminCIDRs) > 0 {
		detail += fmt.Sprintf(" (ignored invalid adminAllowedCidrs entries: %s)", strings.Join(out.InvalidAdminCIDRs, ", "))
	}
	r.add(Result{Name: CheckAdminAPI, Status: st, Detail: detail, Duration: time.Since(start)})

	// Refusal from outside the allowlist, from the same answer.
	switch {
	case !published:
		st, detail = Skip, "the Admin API is not published"
	case open:
		st, detail = Skip, fmt.Sprintf("%s: there is no outside to refuse", openWhy)
	case !srcKnown:
		st, detail = Skip, "cannot tell whether this machine is outside adminAllowedCidrs: pass --source-ip with its public address"
	case inside:
		st, detail = Skip, fmt.Sprintf("this machine (%s) is inside adminAllowedCidrs (%s): refusal cannot be tested from here", c.SourceIP, match)
	case err != nil:
		st, detail = Fail, failedAfter(u, n, err)
	case resp.status == http.StatusForbidden:
		st, detail = Pass, fmt.Sprintf("%s refused %s (outside %s) with 403", u, c.SourceIP, prefixes(out.AdminAllowedCIDRs))
	case answers:
		st, detail = Fail, fmt.Sprintf("%s answered the gateway configuration to %s, which is outside adminAllowedCidrs (%s): the ip-restriction is not enforced",
			u, c.SourceIP, prefixes(out.AdminAllowedCIDRs))
	default:
		st, detail = Fail, fmt.Sprintf("%s answered %s %s to %s (outside adminAllowedCidrs), expected 403", u, resp.statusText(), resp.snippet(), c.SourceIP)
	}
	r.add(Result{Name: CheckAdminAPIAllowlist, Status: st, Detail: detail, Duration: time.Since(start)})
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// ---- 6. Kong Manager --------------------------------------------------------------------

func isHTML(resp *response) bool {
	return strings.Contains(strings.ToLower(resp.contentType()), "text/html") ||
		bytes.Contains(bytes.ToLower(resp.body), []byte("<html"))
}

func (r *run) checkManager(ctx context.Context) (Status, string) {
	u := r.out.KongManagerURL
	if u == "" {
		return Skip, "not published (no kongManagerUrl output: adminAllowedCidrs is empty)"
	}
	resp, n, err := r.get(ctx, r.follow, u)
	if err != nil {
		return Fail, failedAfter(u, n, err)
	}
	if resp.status == http.StatusOK && isHTML(resp) {
		return Pass, fmt.Sprintf("%s → 200 %s", u, resp.contentType())
	}
	if resp.status == http.StatusForbidden {
		if !r.c.SourceIP.IsValid() {
			return Skip, fmt.Sprintf("%s answered 403: this machine looks outside adminAllowedCidrs; run from an allowed network, or pass --source-ip", u)
		}
		if _, inside := r.out.adminAllows(r.c.SourceIP); !inside {
			return Skip, fmt.Sprintf("%s answered 403 to %s, outside adminAllowedCidrs: cannot be tested from here", u, r.c.SourceIP)
		}
	}
	return Fail, fmt.Sprintf("%s answered %s %s, expected 200 HTML", u, resp.statusText(), resp.snippet())
}

// ---- 7. demo app ------------------------------------------------------------------------

func (r *run) checkDemo(ctx context.Context) (Status, string) {
	u := r.out.DemoURL
	if u == "" {
		return Skip, "the demo app is not deployed (no demoUrl output)"
	}
	resp, n, err := r.get(ctx, r.follow, u)
	if err != nil {
		return Fail, failedAfter(u, n, err)
	}
	if resp.status == http.StatusOK {
		return Pass, fmt.Sprintf("%s → 200 %s", u, resp.contentType())
	}
	hint := ""
	if msg, ok := kongMessage(resp.body); ok && msg == kongNoRoute {
		hint = ": Kong has no route for it (Ingress of class kong not picked up?)"
	}
	return Fail, fmt.Sprintf("%s answered %s %s after %s%s", u, resp.statusText(), resp.snippet(), plural(n, "attempt"), hint)
}
