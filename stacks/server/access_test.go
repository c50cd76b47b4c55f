package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// Static tokens of the tenants' principals (the tests' plaintext; the file holds their hashes).
const (
	aViewer   = "tok-a-viewer-0123456789"
	aDeployer = "tok-a-deployer-0123456789"
	aAdmin    = "tok-a-admin-0123456789"
	aExpired  = "tok-a-expired-0123456789"
	bAdmin    = "tok-b-admin-0123456789"
)

func digest(token string) string { s := sha256.Sum256([]byte(token)); return hex.EncodeToString(s[:]) }

func writeTokenFile(t *testing.T, path string, entries ...tokenEntry) {
	t.Helper()
	b, err := json.Marshal(tokenFile{Tokens: entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func standardTokens() []tokenEntry {
	past := time.Now().Add(-time.Hour)
	return []tokenEntry{
		{ID: "a-viewer", SHA256: digest(aViewer), Tenant: "team-a", Role: RoleViewer},
		{ID: "a-deployer", SHA256: digest(aDeployer), Tenant: "team-a", Role: RoleDeployer},
		{ID: "a-admin", SHA256: digest(aAdmin), Tenant: "team-a", Role: RoleAdmin},
		{ID: "a-expired", SHA256: digest(aExpired), Tenant: "team-a", Role: RoleAdmin, Expires: &past},
		{ID: "b-admin", SHA256: digest(bAdmin), Tenant: "team-b", Role: RoleAdmin},
	}
}

// tenantFixture is a server with two tenants, team-a (team-a-*) and team-b (team-b-*), whose
// tokens are in a file, and an audit trail; PORTAL_API_TOKEN is testToken (the operator).
type tenantFixture struct {
	*fixture
	tokens string
	state  string
}

func newTenantFixture(t *testing.T, state string, edit func(*AccessPolicy), configure ...func(*automation.ManagerOptions, *Options)) *tenantFixture {
	t.Helper()
	tokens := filepath.Join(state, "tokens.json")
	if _, err := os.Stat(tokens); err != nil {
		writeTokenFile(t, tokens, standardTokens()...)
	}
	policy := &AccessPolicy{Tokens: tokens, Tenants: map[string]*Tenant{
		"team-a": {Environments: []string{"team-a-*"}},
		"team-b": {Environments: []string{"team-b-*"}},
	}}
	if edit != nil {
		edit(policy)
	}
	if err := policy.check(); err != nil {
		t.Fatal(err)
	}
	f := newFixtureAt(t, testToken, state, 0, append([]func(*automation.ManagerOptions, *Options){func(_ *automation.ManagerOptions, o *Options) {
		o.Access = policy
		o.AuditLog = filepath.Join(state, "audit.jsonl")
	}}, configure...)...)
	return &tenantFixture{fixture: f, tokens: tokens, state: state}
}

func (f *tenantFixture) expect(method, path, body, token string, status int) response {
	f.t.Helper()
	r := f.do(method, path, body, token)
	if r.status != status {
		f.t.Errorf("%s %s as %s: %d %s, want %d", method, path, token, r.status, r.body, status)
	}
	return r
}

// startAs starts an operation as a principal and waits for it to finish.
func (f *tenantFixture) startAs(method, path, body, token string) string {
	f.t.Helper()
	r := f.expect(method, path, body, token, http.StatusAccepted)
	id, _ := r.json(f.t)["id"].(string)
	if id != "" {
		f.wait(id)
	}
	return id
}

func (f *tenantFixture) auditAs(token string) map[string]any {
	f.t.Helper()
	return f.expect(http.MethodGet, "/v1/audit?limit=1000", "", token, http.StatusOK).json(f.t)
}

func records(page map[string]any) []map[string]any {
	raw, _ := page["records"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.(map[string]any))
	}
	return out
}

// Each role against each action, and two tenants that cannot touch each other's environments;
// every change and every refusal is in the audit trail.
func TestRolesAndTenants(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), nil)
	const envA, envB = "/v1/environments/team-a-dev", "/v1/environments/team-b-dev"

	f.expect(http.MethodPut, envA, specBody("a.example.com"), aViewer, http.StatusForbidden)
	opA := f.startAs(http.MethodPut, envA, specBody("a.example.com"), aDeployer)
	f.startAs(http.MethodPost, envA+"/preview", specBody("a.example.com"), aDeployer)
	f.expect(http.MethodDelete, envA, "", aDeployer, http.StatusForbidden)
	f.expect(http.MethodPost, "/v1/operations/"+opA+"/cancel", "", aDeployer, http.StatusForbidden)
	f.expect(http.MethodGet, envA, "", aViewer, http.StatusOK)
	f.expect(http.MethodGet, "/v1/operations/"+opA, "", aViewer, http.StatusOK)
	f.startAs(http.MethodPut, envB, specBody("b.example.com"), bAdmin)

	// Across tenants: nothing to read, change or destroy.
	for _, c := range []struct{ method, path, body, token string }{
		{http.MethodGet, envA, "", bAdmin},
		{http.MethodPut, envA, specBody("evil.example.com"), bAdmin},
		{http.MethodPost, envA + "/preview", specBody("evil.example.com"), bAdmin},
		{http.MethodDelete, envA, "", bAdmin},
		{http.MethodGet, "/v1/operations/" + opA, "", bAdmin},
		{http.MethodGet, "/v1/operations/" + opA + "/events", "", bAdmin},
		{http.MethodPost, "/v1/operations/" + opA + "/cancel", "", bAdmin},
		{http.MethodDelete, envB, "", aAdmin},
	} {
		r := f.expect(c.method, c.path, c.body, c.token, http.StatusForbidden)
		if r.status == http.StatusForbidden && (r.errorCode(t) != "forbidden" || !strings.Contains(string(r.body), "is not tenant")) {
			t.Errorf("%s %s: the refusal gives no reason: %s", c.method, c.path, r.body)
		}
	}
	for token, want := range map[string]string{aViewer: "team-a-dev", bAdmin: "team-b-dev", testToken: "team-a-dev team-b-dev"} {
		var names []string
		list, _ := f.expect(http.MethodGet, "/v1/environments", "", token, http.StatusOK).json(t)["environments"].([]any)
		for _, e := range list {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		if strings.Join(names, " ") != want {
			t.Errorf("the list as %s shows %v, want %s", token, names, want)
		}
	}

	// Failed authentication is 401, not 403.
	for token, why := range map[string]string{aExpired: "expired", "tok-never-issued-0123456789": "unknown or revoked", "": "no bearer token"} {
		r := f.expect(http.MethodGet, "/v1/environments", "", token, http.StatusUnauthorized)
		if !strings.Contains(string(r.body), why) {
			t.Errorf("a %s token: %s", why, r.body)
		}
	}
	f.expect(http.MethodGet, "/v1/audit", "", aDeployer, http.StatusForbidden)
	f.startAs(http.MethodDelete, envA, "", aAdmin)

	// team-a's admin sees its own principals' records and every attempt on its environments.
	var seen []string
	for _, rec := range records(f.auditAs(aAdmin)) {
		seen = append(seen, fmt.Sprint(rec["principal"], " ", rec["action"], " ", rec["environment"], " ", rec["result"]))
		if rec["environment"] == "team-b-dev" && rec["principal"] != "token:a-admin" {
			t.Errorf("team-a's admin sees team-b's record %v", rec)
		}
	}
	for _, want := range []string{
		"token:a-viewer update team-a-dev refused", "token:a-deployer update team-a-dev accepted",
		"token:a-deployer preview team-a-dev accepted", "token:b-admin update team-a-dev refused",
		"token:b-admin destroy team-a-dev refused", "token:a-admin destroy team-b-dev refused", "token:a-admin destroy team-a-dev accepted",
	} {
		if !strings.Contains(strings.Join(seen, "\n"), want) {
			t.Errorf("team-a's audit trail lacks %q:\n%s", want, strings.Join(seen, "\n"))
		}
	}
	all := f.auditAs(testToken)
	if chain := all["chain"].(map[string]any); chain["intact"] != true {
		t.Errorf("the chain is reported broken: %v", chain)
	}
	first := records(all)[1] // the first accepted update
	if keys, _ := first["keys"].([]any); first["result"] != "accepted" || !contains(keys, "kong-alb-eks:domain") || !contains(keys, "kong-alb-eks:postgresPassword") {
		t.Errorf("the first update's record %v does not name the keys it changed", first)
	}
	if first["operationId"] != opA {
		t.Errorf("the first update's record names operation %v, want %s", first["operationId"], opA)
	}
	raw, _ := os.ReadFile(filepath.Join(f.state, "audit.jsonl"))
	if strings.Contains(string(raw), testPassword) || strings.Contains(string(raw), "a.example.com") {
		t.Error("the audit trail holds configuration values")
	}
}

func contains(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The token file is re-read when it changes: a removed token is refused at once, a new one
// admitted; a bad edit keeps the tokens loaded before.
func TestTokenFileReload(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), nil)
	f.expect(http.MethodGet, "/v1/environments", "", aDeployer, http.StatusOK)
	const fresh = "tok-a-fresh-0123456789"
	time.Sleep(1100 * time.Millisecond) // the store looks at most once a second
	writeTokenFile(t, f.tokens, tokenEntry{ID: "a-fresh", SHA256: digest(fresh), Tenant: "team-a", Role: RoleViewer})
	f.expect(http.MethodGet, "/v1/environments", "", aDeployer, http.StatusUnauthorized)
	f.expect(http.MethodGet, "/v1/environments", "", fresh, http.StatusOK)
	time.Sleep(1100 * time.Millisecond)
	if err := os.WriteFile(f.tokens, []byte(`{"tokens": [{"id": "x"`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.expect(http.MethodGet, "/v1/environments", "", fresh, http.StatusOK)
}

// A tenant may be barred from keys (chart sources) and held to its admin ranges.
func TestTenantConfigurationLimits(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) {
		p.Tenants["team-a"].DeniedKeys = []string{"kongChart", "kongChartRepository"}
		p.Tenants["team-a"].AdminAllowedCIDRsWithin = []string{"10.0.0.0/8"}
	})
	spec := func(extra string) string {
		return strings.Replace(specBody("a.example.com"), `"hostedZone"`, extra+`"hostedZone"`, 1)
	}
	for extra, want := range map[string]string{
		`"kongChart":"/tmp/evil-chart",`:                    "may not set kong-alb-eks:kongChart",
		`"adminAllowedCidrs":["192.168.0.0/16"],`:           "only within 10.0.0.0/8, not 192.168.0.0/16",
		`"adminAllowedCidrs":["10.0.0.0/16","11.0.0.0/8"],`: "not 11.0.0.0/8",
	} {
		r := f.expect(http.MethodPut, "/v1/environments/team-a-dev", spec(extra), aDeployer, http.StatusForbidden)
		if !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %s, want %q", extra, r.body, want)
		}
	}
	f.startAs(http.MethodPut, "/v1/environments/team-a-dev", spec(`"adminAllowedCidrs":["10.1.0.0/16"],`), aDeployer)
	f.startAs(http.MethodPut, "/v1/environments/team-a-ops", spec(`"kongChart":"/tmp/evil-chart",`), testToken) // the operator is not limited
}

// Over a quota the answer is 429 with the limit; concurrent requests cannot both slip under it.
func TestQuotas(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) {
		p.Tenants["team-a"].MaxEnvironments = 1
		p.Tenants["team-a"].MaxConcurrentOperations = 1
		p.Tenants["team-b"].MaxEnvironments = 2
	})
	entered, release := f.gate.hold("team-a-one")
	r := f.expect(http.MethodPut, "/v1/environments/team-a-one", specBody("a.example.com"), aDeployer, http.StatusAccepted)
	<-entered
	r2 := f.expect(http.MethodPost, "/v1/environments/team-a-two/preview", specBody("a.example.com"), aDeployer, http.StatusTooManyRequests)
	if !strings.Contains(string(r2.body), "at most 1 operations at once") {
		t.Errorf("the concurrency refusal does not give the limit: %s", r2.body)
	}
	release()
	f.wait(r.json(t)["id"].(string))
	r3 := f.expect(http.MethodPut, "/v1/environments/team-a-two", specBody("a.example.com"), aDeployer, http.StatusTooManyRequests)
	if r3.errorCode(t) != "quota_exceeded" || !strings.Contains(string(r3.body), "at most 1 environments") {
		t.Errorf("the environment quota refusal: %s", r3.body)
	}
	f.startAs(http.MethodPut, "/v1/environments/team-a-one", specBody("a2.example.com"), aDeployer) // an existing one

	var wg sync.WaitGroup
	statuses := make(chan int, 4)
	for _, name := range []string{"team-b-1", "team-b-2", "team-b-3", "team-b-4"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- f.do(http.MethodPut, "/v1/environments/"+name, specBody("b.example.com"), bAdmin).status
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusAccepted] != 2 || counts[http.StatusTooManyRequests] != 2 {
		t.Errorf("four concurrent creates under a quota of two: %v", counts)
	}
}

// The trail survives a restart with its chain intact and goes on from where it was; a trail
// changed while the service was down is reported broken.
func TestAuditTrailAcrossRestarts(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	f := newTenantFixture(t, state, nil)
	f.expect(http.MethodDelete, "/v1/environments/team-b-dev", "", aAdmin, http.StatusForbidden)
	f.expect(http.MethodGet, "/v1/environments", "", "", http.StatusUnauthorized)
	if err := f.srv.shutdown(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	again := newTenantFixture(t, state, nil)
	again.expect(http.MethodDelete, "/v1/environments/team-b-dev", "", aAdmin, http.StatusForbidden)
	page := again.auditAs(testToken)
	recs := records(page)
	if chain := page["chain"].(map[string]any); chain["intact"] != true || len(recs) != 3 || recs[2]["seq"] != 3.0 || recs[1]["principal"] != "anonymous" {
		t.Fatalf("after a restart: chain %v, records %v", chain, recs)
	}
	if err := again.srv.shutdown(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "audit.jsonl")
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `"refused"`, `"accepted"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := newTenantFixture(t, state, nil).auditAs(testToken)
	if chain := tampered["chain"].(map[string]any); chain["intact"] != false || !strings.Contains(chain["problem"].(string), "record 1") {
		t.Errorf("a changed trail: %v", chain)
	}
}

// A bad policy, token file or identity provider stops the service at start, saying what is wrong.
func TestBadAccessSettingsStopTheService(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"tenants": {"team a": {"environments": ["["], "deniedKeys": ["nope"]}},
		"oidc": {"issuer": "ftp://x", "clockSkew": "1h"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadAccessPolicy(policy)
	for _, want := range []string{"tenants.team a: a tenant name", `"[" is not a pattern`, `"nope" is not a configuration key`,
		"oidc.issuer", "oidc.audience: required", "oidc.clockSkew"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the policy's error %v does not say %q", err, want)
		}
	}

	tokens := filepath.Join(dir, "tokens.json")
	writeTokenFile(t, tokens, tokenEntry{ID: "x", SHA256: "abc", Tenant: "team-z", Role: "root"})
	p := &AccessPolicy{Tokens: tokens, Tenants: map[string]*Tenant{"team-a": {Environments: []string{"team-a-*"}}}}
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
	_, err = newTokenStore(tokens, p.Tenants, nil)
	for _, want := range []string{"tokens[0].sha256", `"team-z" is not a tenant`, `got "root"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the token file's error %v does not say %q", err, want)
		}
	}
	p = &AccessPolicy{Tenants: p.Tenants, OIDC: &OIDCConfig{Issuer: "http://127.0.0.1:1", Audience: "portal", Timeout: "2s"}}
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), baseCtx: context.Background()}
	if err := s.openAccess(Options{Access: p}); err == nil || !strings.Contains(err.Error(), "discovering http://127.0.0.1:1") {
		t.Errorf("an unreachable identity provider: %v", err)
	}
}

// A Kubernetes Secret mount: the kubelet writes a new timestamped directory and swaps the
// ..data link; the store follows the swap.
func TestTokensFromASecretMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(name string, entries ...tokenEntry) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTokenFile(t, filepath.Join(dir, name, "tokens.json"), entries...)
		_ = os.Remove(filepath.Join(dir, "..data_tmp"))
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_02_01", standardTokens()...)
	if err := os.Symlink("..data/tokens.json", filepath.Join(dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	tenants := map[string]*Tenant{"team-a": {Name: "team-a"}, "team-b": {Name: "team-b"}}
	s, err := newTokenStore(dir, tenants, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if p, why := s.authenticate(aDeployer); p == nil || p.ID != "token:a-deployer" || p.Role != RoleDeployer || p.Tenant != "team-a" {
		t.Fatalf("a token of the mount: %v %s", p, why)
	}
	version("..2026_12_02_02", tokenEntry{ID: "b-only", SHA256: digest(bAdmin), Tenant: "team-b", Role: RoleViewer})
	s.checked = time.Time{} // as if a second had passed
	if p, _ := s.authenticate(aDeployer); p != nil {
		t.Error("a token removed from the Secret is still admitted")
	}
	if p, why := s.authenticate(bAdmin); p == nil || p.Role != RoleViewer {
		t.Errorf("the Secret's new token: %v %s", p, why)
	}
}

// Every role against every action it may not take, through the HTTP stack: 403 naming the role,
// before anything runs.
func TestRolesRefuseWhatTheyMayNotDo(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), nil)
	op := f.startAs(http.MethodPut, "/v1/environments/team-a-dev", specBody("a.example.com"), aDeployer)
	requests := map[Action]struct{ method, path, body string }{
		ActionRead:    {http.MethodGet, "/v1/environments/team-a-dev", ""},
		ActionPreview: {http.MethodPost, "/v1/environments/team-a-dev/preview", specBody("a.example.com")},
		ActionUpdate:  {http.MethodPut, "/v1/environments/team-a-dev", specBody("a.example.com")},
		ActionDestroy: {http.MethodDelete, "/v1/environments/team-a-dev", ""},
		ActionCancel:  {http.MethodPost, "/v1/operations/" + op + "/cancel", ""},
		ActionAudit:   {http.MethodGet, "/v1/audit", ""},
	}
	for role, token := range map[Role]string{RoleViewer: aViewer, RoleDeployer: aDeployer, RoleAdmin: aAdmin} {
		for action, req := range requests {
			if role.Allows(action) {
				continue
			}
			r := f.expect(req.method, req.path, req.body, token, http.StatusForbidden)
			if !strings.Contains(string(r.body), "the "+string(role)+" role, which may not "+string(action)) {
				t.Errorf("%s %s: %s", role, action, r.body)
			}
		}
	}
	for _, c := range []struct {
		role   Role
		allows []Action
	}{
		{RoleViewer, []Action{ActionRead}},
		{RoleDeployer, []Action{ActionRead, ActionPreview, ActionUpdate}},
		{RoleAdmin, []Action{ActionRead, ActionPreview, ActionUpdate, ActionDestroy, ActionCancel, ActionAudit}},
	} {
		n := 0
		for action := range requests {
			if c.role.Allows(action) {
				n++
			}
		}
		if n != len(c.allows) {
			t.Errorf("the %s role allows %d actions, want %v", c.role, n, c.allows)
		}
	}
	// An admin may cancel: the finished operation is refused as not running, not as forbidden.
	if r := f.expect(http.MethodPost, "/v1/operations/"+op+"/cancel", "", aAdmin, http.StatusConflict); r.errorCode(t) != "not_running" {
		t.Errorf("an admin's cancel of a finished operation: %s", r.body)
	}
}
