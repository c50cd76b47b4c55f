package server

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// identityProvider is an OIDC provider for tests: discovery, a JWKS it can rotate, and tokens
// signed with go-jose.
type identityProvider struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	key      *rsa.PrivateKey
	kid      string
	keyFetch int
}

func newIdentityProvider(t *testing.T) *identityProvider {
	p := &identityProvider{t: t}
	p.rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys",
			"authorization_endpoint": p.srv.URL + "/auth", "token_endpoint": p.srv.URL + "/token", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.keyFetch++
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// rotate replaces the signing key: the JWKS serves only the new one from now on.
func (p *identityProvider) rotate() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key, p.kid = key, fmt.Sprintf("key-%d", time.Now().UnixNano())
	return key
}

// claims are a valid token's claims for team-a's deployer; edit changes them.
func (p *identityProvider) claims(edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": p.srv.URL, "aud": "kong-alb-eks-portal", "sub": "alice", "iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(), "groups": "team-a", "portal_role": "deploy"}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs claims with key (the provider's current key when nil) as kid.
func (p *identityProvider) sign(claims map[string]any, key *rsa.PrivateKey) string {
	p.mu.Lock()
	kid := p.kid
	if key == nil {
		key = p.key
	}
	p.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// A JWT from the identity provider is a principal of the tenant and role its claims name; a
// forged, expired or misdirected one is 401; a rotated key is fetched when a token names it.
func TestOIDCPrincipals(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) {
		p.OIDC = &OIDCConfig{Issuer: idp.srv.URL, Audience: "kong-alb-eks-portal", TenantClaim: "groups", RoleClaim: "portal_role",
			Roles: map[string]Role{"deploy": RoleDeployer, "read": RoleViewer}, ClockSkew: "30s"}
	})
	valid := idp.sign(idp.claims(nil), nil)
	f.expect(http.MethodGet, "/v1/environments", "", valid, http.StatusOK)
	f.startAs(http.MethodPut, "/v1/environments/team-a-dev", specBody("a.example.com"), valid)
	f.expect(http.MethodDelete, "/v1/environments/team-a-dev", "", valid, http.StatusForbidden) // a deployer
	f.expect(http.MethodGet, "/v1/environments/team-b-dev", "", valid, http.StatusForbidden)

	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, _ := json.Marshal(idp.claims(nil))
	for name, token := range map[string]string{
		"signed with another key": idp.sign(idp.claims(nil), stranger),
		"alg none":                header + "." + base64.RawURLEncoding.EncodeToString(body) + ".",
		"another issuer":          idp.sign(idp.claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), nil),
		"another audience":        idp.sign(idp.claims(func(c map[string]any) { c["aud"] = "someone-else" }), nil),
		"expired beyond the skew": idp.sign(idp.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), nil),
		"not yet valid":           idp.sign(idp.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), nil),
		"no expiry":               idp.sign(idp.claims(func(c map[string]any) { delete(c, "exp") }), nil),
		"an unknown tenant":       idp.sign(idp.claims(func(c map[string]any) { c["groups"] = "team-z" }), nil),
		"an unknown role":         idp.sign(idp.claims(func(c map[string]any) { c["portal_role"] = "root" }), nil),
		"tampered claims": func() string {
			parts := strings.Split(valid, ".")
			forged, _ := json.Marshal(idp.claims(func(c map[string]any) { c["groups"] = "team-b" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
		}(),
	} {
		if r := f.do(http.MethodGet, "/v1/environments", "", token); r.status != http.StatusUnauthorized {
			t.Errorf("a token %s: %d %s, want 401", name, r.status, r.body)
		}
	}
	inSkew := idp.sign(idp.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), nil)
	f.expect(http.MethodGet, "/v1/environments", "", inSkew, http.StatusOK)

	// Rotation: a token under the new key ID makes the service fetch the key set again.
	idp.mu.Lock()
	fetches := idp.keyFetch
	idp.mu.Unlock()
	idp.rotate()
	f.expect(http.MethodGet, "/v1/environments", "", idp.sign(idp.claims(nil), nil), http.StatusOK)
	idp.mu.Lock()
	if idp.keyFetch <= fetches {
		t.Errorf("the key set was not fetched again after the rotation (%d fetches)", idp.keyFetch)
	}
	idp.mu.Unlock()
	f.expect(http.MethodGet, "/v1/environments", "", valid, http.StatusUnauthorized) // the retired key

	var principals []string
	for _, rec := range records(f.auditAs(testToken)) {
		principals = append(principals, fmt.Sprint(rec["principal"]))
	}
	if !strings.Contains(strings.Join(principals, " "), "oidc:"+idp.srv.URL+"#alice") {
		t.Errorf("the audit trail does not name the OIDC principal: %v", principals)
	}
}

// Once the policy maps role claim values, only its keys grant a role: an identity provider's
// group that happens to be called "admin" grants nothing. Without a mapping, the claim's value
// names the role.
func TestOIDCRolesComeFromTheMapping(t *testing.T) {
	t.Parallel()
	idp := newIdentityProvider(t)
	oidcPolicy := func(roles map[string]Role) func(*AccessPolicy) {
		return func(p *AccessPolicy) {
			p.OIDC = &OIDCConfig{Issuer: idp.srv.URL, Audience: "kong-alb-eks-portal", TenantClaim: "groups", RoleClaim: "portal_role", Roles: roles}
		}
	}
	as := func(role string) string {
		return idp.sign(idp.claims(func(c map[string]any) { c["portal_role"] = role }), nil)
	}
	mapped := newTenantFixture(t, t.TempDir(), oidcPolicy(map[string]Role{"portal-deployers": RoleDeployer}))
	for _, literal := range []string{"admin", "deployer", "viewer"} {
		r := mapped.expect(http.MethodGet, "/v1/audit", "", as(literal), http.StatusUnauthorized)
		if !strings.Contains(string(r.body), `claim \"`+literal+`\" is not a role the access policy grants`) {
			t.Errorf("a role claim %q the mapping does not list: %s", literal, r.body)
		}
	}
	mapped.expect(http.MethodGet, "/v1/environments", "", as("portal-deployers"), http.StatusOK)
	mapped.expect(http.MethodGet, "/v1/audit", "", as("portal-deployers"), http.StatusForbidden)

	literal := newTenantFixture(t, t.TempDir(), oidcPolicy(nil))
	literal.expect(http.MethodGet, "/v1/audit", "", as("admin"), http.StatusOK)
	literal.expect(http.MethodGet, "/v1/environments", "", as("portal-deployers"), http.StatusUnauthorized)
}
