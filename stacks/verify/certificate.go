package verify

// The certificate check: what the ALB serves covers the names, verifies and is not close
// to expiry.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

func (r *run) checkCertificates(ctx context.Context) (Status, string) {
	names := []string{r.label, "kong." + r.out.Domain}
	var details []string
	status := Pass
	for _, name := range names {
		st, detail := r.checkCertificate(ctx, name)
		// A failure of either name fails the check; otherwise a name that could not be
		// tested from here skips it.
		if st == Fail || (st == Skip && status == Pass) {
			status = st
		}
		details = append(details, detail)
	}
	return status, strings.Join(details, "; ")
}

// checkCertificate connects to name:443 with SNI name and checks what is served.
func (r *run) checkCertificate(ctx context.Context, name string) (Status, string) {
	p := r.c.HTTPRetry
	var certs []*x509.Certificate
	var err error
	n := p.do(ctx, func() bool {
		certs, err = r.fetchCertificates(ctx, name)
		return err == nil
	})
	if err != nil {
		return r.noAnswer(fmt.Sprintf("%s: TLS handshake failed after %s: %v", name, plural(n, "attempt"), err), err)
	}
	leaf := certs[0]
	now := r.c.now()
	if err := leaf.VerifyHostname(name); err != nil {
		return Fail, fmt.Sprintf("%s: the certificate served does not cover the name (it covers %s)", name, certNames(leaf))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		DNSName: name, Roots: r.c.RootCAs, Intermediates: inter, CurrentTime: now,
	}); err != nil {
		return Fail, fmt.Sprintf("%s: the certificate does not verify: %v", name, err)
	}
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	minLeft := time.Duration(r.c.MinDaysValid) * 24 * time.Hour
	if left < minLeft {
		return Fail, fmt.Sprintf("%s: the certificate expires %s, in %s (less than %d days)",
			name, leaf.NotAfter.UTC().Format(time.DateOnly), plural(days, "day"), r.c.MinDaysValid)
	}
	return Pass, fmt.Sprintf("%s: valid until %s (%s), issued by %s",
		name, leaf.NotAfter.UTC().Format(time.DateOnly), plural(days, "day"), leaf.Issuer.CommonName)
}

func (r *run) fetchCertificates(ctx context.Context, name string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, r.c.timeout())
	defer cancel()
	raw, err := r.c.dial(ctx, "tcp", net.JoinHostPort(name, "443"))
	if err != nil {
		return nil, &connectError{err}
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
