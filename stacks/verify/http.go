package verify

// Fetching over HTTP(S) with retries, and judging a request that got no answer.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
)

// maxBody bounds how much of an answer is read.
const maxBody = 64 << 10

// response is an answer, its body read (up to maxBody).
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
	n := p.do(ctx, func() bool {
		last, err = r.getOnce(ctx, client, u)
		return err == nil && last.status < 500 || err != nil && !transient(err)
	})
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
	// Whether a connection was made tells a client the ALB drops (no connection) from an
	// ALB or a Kong that is slow to answer.
	var connected atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}))
	resp, err := client.Do(req)
	if err != nil {
		if !connected.Load() {
			err = &connectError{err}
		}
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

// connectError is an error before any connection was made (a dial or, for HTTP, anything
// before the connection was handed to the request). Its text is the error's own.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// connectTimedOut reports whether err is a connection that timed out before it was made:
// what a client sees when a security group drops its packets.
func connectTimedOut(err error) bool {
	var ce *connectError
	return errors.As(err, &ce) && timedOut(ce.err)
}

// timedOut reports whether err, or any error it wraps or joins, is a timeout (the dial, the
// TLS handshake or the whole request ran out of time), as opposed to a refusal or a reset.
func timedOut(err error) bool {
	if err == nil {
		return false
	}
	// Checked on every error of the tree, not just the first that has the method: an
	// *url.Error wrapping the joined errors of several addresses says false itself.
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return true
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		return timedOut(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if timedOut(inner) {
				return true
			}
		}
	}
	return false
}

// noAnswer judges a check whose requests to the ALB got no answer at all, detail saying
// what failed. When the ALB admits only albInboundCidrs and this machine is outside them
// (by --source-ip or the address Kong reported), or when its address is unknown and the
// connection timed out before it was made, as it does for a client the ALB's security group
// drops, the check cannot be made from here: Skip, with the reason, rather than Fail. A
// connection made and then left unanswered is a failure all the same.
func (r *run) noAnswer(detail string, err error) (Status, string) {
	if r.out.albOpen() {
		return Fail, detail
	}
	ranges := prefixes(r.out.ALBInboundCIDRs)
	src, label := r.source()
	switch _, admitted := r.out.albAdmits(src); {
	case src.IsValid() && admitted:
		return Fail, fmt.Sprintf("%s (this machine, %s, is inside albInboundCidrs)", detail, label)
	case src.IsValid():
		return Skip, fmt.Sprintf("%s: this machine (%s) is outside albInboundCidrs (%s), the only clients the ALB admits: cannot be tested from here",
			detail, label, ranges)
	case connectTimedOut(err):
		return Skip, fmt.Sprintf("%s: this machine may be outside albInboundCidrs (%s), the only clients the ALB admits (it drops the others); pass --source-ip to tell",
			detail, ranges)
	}
	return Fail, detail
}
