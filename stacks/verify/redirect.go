package verify

// The redirect check: plain HTTP is redirected to the same URL over HTTPS.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// redirectProbe is the path and query the redirect check asks for. A redirect must keep both
// (the ALB's, from the ssl-redirect annotation, goes to https://#{host}:443/#{path}?#{query}),
// so a redirect to a fixed URL, or one that drops the path or the query, is caught.
const redirectProbe = "/verify/redirect?probe=1"

func (r *run) proxyHost() string {
	if u, err := url.Parse(r.out.ProxyURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "proxy." + r.out.Domain
}

func (r *run) checkRedirect(ctx context.Context) (Status, string) {
	host := r.proxyHost()
	u := "http://" + host + redirectProbe
	resp, n, err := r.get(ctx, r.noFollow, u)
	if err != nil {
		return r.noAnswer(failedAfter(u, n, err), err)
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
	if !redirects {
		return Fail, fmt.Sprintf("%s answered %s over plain HTTP instead of redirecting to HTTPS (plainHttpAllowed is false)", u, resp.statusText())
	}
	if !toHTTPS {
		return Fail, fmt.Sprintf("%s redirects (%d) to %q, not to https://", u, resp.status, loc)
	}
	if why := redirectMismatch(loc, host, redirectProbe); why != "" {
		return Fail, fmt.Sprintf("%s redirects (%d) to %q: %s, expected https://%s%s", u, resp.status, loc, why, host, redirectProbe)
	}
	return Pass, fmt.Sprintf("%s → %d %s", u, resp.status, loc)
}

// redirectMismatch says how the https:// URL loc differs from https://host + requestURI (the
// port 443 may be explicit), or returns "" when it does not.
func redirectMismatch(loc, host, requestURI string) string {
	got, err := url.Parse(loc)
	if err != nil {
		return "not a URL"
	}
	want, err := url.Parse(requestURI)
	if err != nil {
		return "the request's own URL does not parse" // requestURI is a constant: not reached
	}
	path := func(u *url.URL) string {
		if u.Path == "" {
			return "/"
		}
		return u.Path
	}
	switch {
	case got.Scheme != "https": // url.Parse lowercases the scheme
		return "not https"
	case !strings.EqualFold(got.Hostname(), host):
		return "another host"
	case got.Port() != "" && got.Port() != "443":
		return "another port"
	case got.User != nil:
		return "with user information"
	case path(got) != path(want):
		return "another path"
	case !maps.EqualFunc(got.Query(), want.Query(), slices.Equal):
		return "another query"
	}
	return ""
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}
