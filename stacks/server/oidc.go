package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCConfig accepts bearer JWTs from the portal's identity provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; tokens must carry it as "iss". Its discovery
	// document gives the JWKS, unless JWKSURL is set.
	Issuer string `json:"issuer"`
	// Audience must be one of a token's "aud".
	Audience string `json:"audience"`
	// JWKSURL, when set, is the key set's URL (no discovery request).
	JWKSURL string `json:"jwksUrl,omitempty"`
	// TenantClaim and RoleClaim name the claims holding the tenant and the role (default
	// "tenant" and "role"). Roles maps a role claim's values to roles: when it is set, only its
	// keys grant a role (a claim value "admin" that it does not list grants none); without it,
	// the claim's value is the role's name.
	TenantClaim string          `json:"tenantClaim,omitempty"`
	RoleClaim   string          `json:"roleClaim,omitempty"`
	Roles       map[string]Role `json:"roles,omitempty"`
	// ClockSkew is how far exp, nbf and iat may be off ("60s" by default, at most 5 minutes).
	ClockSkew string `json:"clockSkew,omitempty"`
	// Timeout bounds each request to the provider, discovery and key set ("5s" by default).
	Timeout string `json:"timeout,omitempty"`
	// Algorithms the tokens may be signed with (default RS256 and ES256); "none" never is.
	Algorithms []string `json:"algorithms,omitempty"`

	skew, timeout time.Duration
}

const maxClockSkew = 5 * time.Minute

func (c *OIDCConfig) check() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		add("oidc.issuer: expected the identity provider's issuer URL, got %q", c.Issuer)
	}
	if c.Audience == "" {
		add("oidc.audience: required (the audience the portal's tokens are issued for)")
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || u.Host == "" {
			add("oidc.jwksUrl: %q is not a URL", c.JWKSURL)
		}
	}
	if c.TenantClaim == "" {
		c.TenantClaim = "tenant"
	}
	if c.RoleClaim == "" {
		c.RoleClaim = "role"
	}
	for v, r := range c.Roles {
		if !r.valid() {
			add("oidc.roles.%s: expected viewer, deployer or admin, got %q", v, r)
		}
	}
	var err error
	if c.skew, err = durationOr(c.ClockSkew, time.Minute); err != nil || c.skew < 0 || c.skew > maxClockSkew {
		add("oidc.clockSkew: expected a duration from 0s to %s, got %q", maxClockSkew, c.ClockSkew)
	}
	if c.timeout, err = durationOr(c.Timeout, 5*time.Second); err != nil || c.timeout <= 0 {
		add("oidc.timeout: expected a positive duration, got %q", c.Timeout)
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{oidc.RS256, oidc.ES256}
	}
	for _, a := range c.Algorithms {
		if a == "" || a == "none" {
			add("oidc.algorithms: %q is not a signing algorithm", a)
		}
	}
	return problems
}

func durationOr(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

// oidcAuthenticator verifies JWTs: the signature against the issuer's JWKS (go-oidc caches the
// keys and re-fetches them on an unknown key ID), the issuer, the audience, then exp, nbf and
// iat within the clock skew; the tenant and role come from the configured claims.
type oidcAuthenticator struct {
	cfg      *OIDCConfig
	verifier *oidc.IDTokenVerifier
	tenants  map[string]*Tenant
	now      func() time.Time
}

// newOIDCAuthenticator discovers the provider's key set (unless configured) within the
// timeout: an unreachable provider or a bad discovery document stops the service at start.
func newOIDCAuthenticator(ctx context.Context, cfg *OIDCConfig, tenants map[string]*Tenant) (*oidcAuthenticator, error) {
	client := &http.Client{Timeout: cfg.timeout}
	ctx = oidc.ClientContext(ctx, client)
	jwks := cfg.JWKSURL
	if jwks == "" {
		dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
		p, err := oidc.NewProvider(dctx, cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("oidc: discovering %s: %w", cfg.Issuer, err)
		}
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil || doc.JWKSURI == "" {
			return nil, fmt.Errorf("oidc: the discovery document of %s names no jwks_uri", cfg.Issuer)
		}
		jwks = doc.JWKSURI
	}
	keys := oidc.NewRemoteKeySet(ctx, jwks)
	a := &oidcAuthenticator{cfg: cfg, tenants: tenants, now: time.Now}
	a.verifier = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
		ClientID: cfg.Audience, SupportedSigningAlgs: cfg.Algorithms,
		// Expiry is checked below, with the configured skew rather than none.
		SkipExpiryCheck: true,
	})
	return a, nil
}

// authenticate verifies the JWT, or says why it is refused.
func (a *oidcAuthenticator) authenticate(ctx context.Context, raw string) (*Principal, string) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.timeout)
	defer cancel()
	tok, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "invalid token: " + err.Error()
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return nil, "invalid token claims"
	}
	now := a.now()
	var times struct {
		Exp *float64 `json:"exp"`
		Nbf *float64 `json:"nbf"`
		Iat *float64 `json:"iat"`
	}
	if err := tok.Claims(&times); err != nil || times.Exp == nil {
		return nil, "the token has no expiry (exp)"
	}
	at := func(f float64) time.Time { return time.Unix(0, int64(f*float64(time.Second))) }
	switch {
	case !now.Before(at(*times.Exp).Add(a.cfg.skew)):
		return nil, "the token expired at " + at(*times.Exp).UTC().Format(time.RFC3339)
	case times.Nbf != nil && now.Add(a.cfg.skew).Before(at(*times.Nbf)):
		return nil, "the token is not valid before " + at(*times.Nbf).UTC().Format(time.RFC3339)
	case times.Iat != nil && now.Add(a.cfg.skew).Before(at(*times.Iat)):
		return nil, "the token was issued in the future (iat)"
	}
	var tenant, roleValue string
	if err := json.Unmarshal(claims[a.cfg.TenantClaim], &tenant); err != nil || a.tenants[tenant] == nil {
		return nil, fmt.Sprintf("the token's %s claim names no tenant of the access policy", a.cfg.TenantClaim)
	}
	if err := json.Unmarshal(claims[a.cfg.RoleClaim], &roleValue); err != nil {
		return nil, fmt.Sprintf("the token has no %s claim", a.cfg.RoleClaim)
	}
	role, ok := a.cfg.Roles[roleValue]
	if len(a.cfg.Roles) == 0 {
		role, ok = Role(roleValue), Role(roleValue).valid()
	}
	if !ok {
		return nil, fmt.Sprintf("the token's %s claim %q is not a role the access policy grants", a.cfg.RoleClaim, clip(roleValue, maxAuditText))
	}
	return &Principal{ID: "oidc:" + tok.Issuer + "#" + tok.Subject, Tenant: tenant, Role: role}, ""
}
