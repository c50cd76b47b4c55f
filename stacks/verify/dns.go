package verify

// The wildcard DNS check: a fresh random name under the domain resolves to the ALB.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// lookup resolves host with the DNS retry policy.
func (r *run) lookup(ctx context.Context, host string) ([]string, int, error) {
	p := r.c.DNSRetry
	var err error
	var ips []string
	n := p.do(ctx, func() bool {
		ips, err = r.c.resolver().LookupHost(ctx, host)
		if err == nil && len(ips) == 0 {
			err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return err == nil
	})
	if err == nil {
		return ips, n, nil
	}
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
