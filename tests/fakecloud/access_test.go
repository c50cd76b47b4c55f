package fakecloud

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

const (
	creatorRole = "arn:aws:iam::123456789012:role/platform-bootstrap"
	ciRole      = "arn:aws:iam::123456789012:role/ci"
	opsRole     = "arn:aws:iam::123456789012:role/ops/admins" // with a path
	devUser     = "arn:aws:iam::123456789012:user/dev"
)

// accessCloud is a provider on a fresh world that enforces access, and an Access bound to it.
func accessCloud(t *testing.T) (*Provider, *Access) {
	t.Helper()
	w, err := NewWorld(t.TempDir(), ClusterAt("https://127.0.0.1:6443", "Q0E=", "static-admin-token"), EnforceAccess())
	if err != nil {
		t.Fatal(err)
	}
	p := awsOn(t, w)
	a := &Access{}
	if err := a.Bind(w); err != nil {
		t.Fatal(err)
	}
	return p, a
}

// eksCluster creates the cluster name as the program does (access entries only, the creator an
// administrator when bootstrap), as the principal creator.
func (p *Provider) eksCluster(t *testing.T, name, creator string, bootstrap bool) *live {
	t.Helper()
	t.Setenv(PrincipalEnv, creator)
	in := clusterAt("1.34")
	in["name"] = name
	in["accessConfig"] = map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": bootstrap}
	return p.mustCreate(t, clusterType, name, in)
}

// entry gives principal an access entry on cluster, with the associations policy -> namespaces
// (none: the cluster), as the program's grantAccess does; it returns the associations.
func (p *Provider) entry(t *testing.T, cluster, principal string, policies map[string][]string) (*live, map[string]*live) {
	t.Helper()
	e := p.mustCreate(t, eksAccessEntry, cluster+"-"+principal, map[string]any{
		"clusterName": cluster, "principalArn": principal, "type": "STANDARD",
	})
	assocs := map[string]*live{}
	for policy, namespaces := range policies {
		scope := map[string]any{"type": "cluster"}
		if namespaces != nil {
			ns := make([]any, len(namespaces))
			for i, n := range namespaces {
				ns[i] = n
			}
			scope = map[string]any{"type": "namespace", "namespaces": ns}
		}
		assocs[policy] = p.mustCreate(t, eksAssociation, cluster+"-"+principal+"-"+policy, map[string]any{
			"clusterName": cluster, "principalArn": principal, "policyArn": policyARNPrefix + policy, "accessScope": scope,
		})
	}
	return e, assocs
}

// ask is what Authorize answers principal's request on cluster, authenticated by a token the
// world signed.
func ask(t *testing.T, p *Provider, a *Access, cluster, principal string, attrs localcluster.RequestAttributes) (bool, string) {
	t.Helper()
	token, err := p.World.Token(cluster, principal)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := a.Authenticate(token)
	if !ok {
		t.Fatalf("the world's token of %s for %s does not authenticate", principal, cluster)
	}
	return a.Authorize(u, attrs)
}

func mustAllow(t *testing.T, p *Provider, a *Access, cluster, principal string, attrs localcluster.RequestAttributes) {
	t.Helper()
	if ok, reason := ask(t, p, a, cluster, principal, attrs); !ok {
		t.Errorf("%s may not %s: %s", principal, attrs, reason)
	}
}

// mustDeny checks the denial names the principal and says why (want).
func mustDeny(t *testing.T, p *Provider, a *Access, cluster, principal string, attrs localcluster.RequestAttributes, want string) {
	t.Helper()
	ok, reason := ask(t, p, a, cluster, principal, attrs)
	if ok {
		t.Errorf("%s may %s: %s", principal, attrs, reason)
		return
	}
	if !strings.Contains(reason, principal) || !strings.Contains(reason, want) {
		t.Errorf("%s denied %s with %q, want the principal and %q", principal, attrs, reason, want)
	}
}

// in is a request for resource (group/resource[/subresource]) in namespace ("" for
// cluster-scoped or across all namespaces).
func in(verb, resource, namespace string) localcluster.RequestAttributes {
	a := localcluster.RequestAttributes{Verb: verb, Version: "v1", Namespace: namespace}
	if g, r, ok := strings.Cut(resource, "/"); ok && (strings.Contains(g, ".") || g == "apps" || g == "batch") {
		a.Group, resource = g, r
	}
	a.Resource, a.Subresource, _ = strings.Cut(resource, "/")
	return a
}

func TestATokenCarriesItsClusterAndPrincipal(t *testing.T) {
	p, a := accessCloud(t)
	token, err := p.World.Token("prod", ciRole)
	if err != nil {
		t.Fatal(err)
	}
	encoded, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		t.Fatalf("token %q is not EKS's shape k8s-aws-v1.<base64url>", token)
	}
	url, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || !strings.HasPrefix(string(url), "https://sts.amazonaws.com/?Action=GetCallerIdentity&") {
		t.Fatalf("token decodes to %q (%v), want a presigned STS GetCallerIdentity URL", url, err)
	}
	for _, tc := range []struct{ principal, name string }{
		{ciRole, "arn:aws:sts::123456789012:assumed-role/ci/fakecloud"},
		{opsRole, "arn:aws:sts::123456789012:assumed-role/admins/fakecloud"}, // the path removed
		{devUser, devUser},
	} {
		token, err := p.World.Token("prod", tc.principal)
		if err != nil {
			t.Fatal(err)
		}
		u, ok := a.Authenticate(token)
		if !ok {
			t.Fatalf("the token of %s does not authenticate", tc.principal)
		}
		if u.Name != tc.name || u.Extra[ExtraARN][0] != tc.principal || u.Extra[ExtraCluster][0] != "prod" || u.Extra[ExtraSession][0] != SessionName {
			t.Errorf("the token of %s authenticates as %+v, want %s with its ARN and the cluster prod", tc.principal, u, tc.name)
		}
		if !strings.HasPrefix(u.UID, "aws-iam-authenticator:123456789012:") {
			t.Errorf("UID %q", u.UID)
		}
	}
	if _, err := p.World.Token("prod", "arn:aws:iam::123456789012:policy/x"); err == nil {
		t.Error("a token for a policy ARN was made")
	}
}

func TestAForgedAlteredOrExpiredTokenIsRefused(t *testing.T) {
	p, a := accessCloud(t)
	token, err := p.World.Token("prod", ciRole)
	if err != nil {
		t.Fatal(err)
	}
	// alter rewrites the URL a token carries, keeping its signature.
	alter := func(from, to string) string {
		url, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, tokenPrefix))
		if err != nil || !strings.Contains(string(url), from) {
			t.Fatalf("the token's URL %q lacks %q", url, from)
		}
		return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(url), from, to, 1)))
	}
	other, _ := accessCloud(t)
	forged, err := other.World.Token("prod", ciRole)
	if err != nil {
		t.Fatal(err)
	}
	for what, bad := range map[string]string{
		"another world's token":    forged,
		"another principal":        alter("role%2Fci", "role%2Fadmin"),
		"another cluster":          alter("X-K8s-Aws-Id=prod", "X-K8s-Aws-Id=staging"),
		"a later date":             alter("X-Amz-Date=2", "X-Amz-Date=3"),
		"another STS endpoint":     alter("sts.amazonaws.com", "sts.us-west-2.amazonaws.com"),
		"not STS":                  alter("sts.amazonaws.com", "sts.example.com"),
		"a parameter added":        alter("Action=", "Extra=1&Action="),
		"the signature cut":        token[:len(token)-8],
		"the endpoint's token":     "static-admin-token",
		"no prefix":                strings.TrimPrefix(token, tokenPrefix),
		"empty":                    "",
		"not base64":               tokenPrefix + "!!!",
		"a ServiceAccount's token": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
	} {
		if u, ok := a.Authenticate(bad); ok {
			t.Errorf("%s authenticates as %+v", what, u)
		}
	}
	if _, ok := a.Authenticate(token); !ok {
		t.Fatal("the token itself does not authenticate")
	}

	// It lasts the 15 minutes of EKS's tokens.
	a.now = func() time.Time { return time.Now().Add(14 * time.Minute) }
	if _, ok := a.Authenticate(token); !ok {
		t.Error("a 14-minute-old token is refused")
	}
	a.now = func() time.Time { return time.Now().Add(16 * time.Minute) }
	if _, ok := a.Authenticate(token); ok {
		t.Error("a 16-minute-old token authenticates")
	}

	// Unbound, Access knows no token; a world without access mode makes none.
	if _, ok := (&Access{}).Authenticate(token); ok {
		t.Error("an unbound Access authenticates")
	}
	plain := cloud(t)
	if _, err := plain.World.Token("prod", ciRole); err == nil {
		t.Error("a world without EnforceAccess made a token")
	}
	if err := (&Access{}).Bind(plain.World); err == nil {
		t.Error("an Access bound to a world without EnforceAccess")
	}
}

func TestTheCreatorIsAnAdministratorOnlyWhileTheBootstrapHolds(t *testing.T) {
	p, a := accessCloud(t)
	prod := p.eksCluster(t, "prod", creatorRole, true)
	if got := p.live(t, clusterType)[0].Creator; got != creatorRole {
		t.Fatalf("the cluster's creator is %q, want %s", got, creatorRole)
	}
	for _, attrs := range []localcluster.RequestAttributes{
		in("delete", "rbac.authorization.k8s.io/clusterroles", ""),
		in("get", "secrets", "kube-system"),
		{Verb: "get", Path: "/metrics"},
	} {
		mustAllow(t, p, a, "prod", creatorRole, attrs)
	}
	mustDeny(t, p, a, "prod", DeployerPrincipal, in("list", "pods", "default"), "no access entry")

	// An update of the cluster keeps its creator.
	p.mustUpdate(t, prod, map[string]any{"tags": map[string]any{"team": "platform"}})
	mustAllow(t, p, a, "prod", creatorRole, in("list", "nodes", ""))

	// Without the bootstrap the creator is no one.
	p.mustUpdate(t, prod, map[string]any{"accessConfig": map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": false}})
	mustDeny(t, p, a, "prod", creatorRole, in("list", "nodes", ""), "bootstrapClusterCreatorAdminPermissions false")

	// Unset, the caller is the deployer.
	t.Setenv(PrincipalEnv, "")
	p.mustCreate(t, clusterType, "staging", map[string]any{"name": "staging", "version": "1.34",
		"accessConfig": map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": true}})
	mustAllow(t, p, a, "staging", DeployerPrincipal, in("create", "namespaces", ""))
	mustDeny(t, p, a, "prod", DeployerPrincipal, in("create", "namespaces", ""), "no access entry")
}

func TestAClusterScopedViewListsPodsButReadsNoSecrets(t *testing.T) {
	p, a := accessCloud(t)
	p.eksCluster(t, "prod", creatorRole, true)
	p.entry(t, "prod", ciRole, map[string][]string{ViewPolicy: nil})
	mustAllow(t, p, a, "prod", ciRole, in("list", "pods", "kong"))
	mustAllow(t, p, a, "prod", ciRole, in("list", "pods", ""))
	mustAllow(t, p, a, "prod", ciRole, in("watch", "apps/deployments", "kube-system"))
	mustDeny(t, p, a, "prod", ciRole, in("get", "secrets", "kong"), "none of its access policies (AmazonEKSViewPolicy on the cluster) allows get secrets in kong")
	mustDeny(t, p, a, "prod", ciRole, in("create", "pods/exec", "kong"), ViewPolicy)
	mustDeny(t, p, a, "prod", ciRole, in("patch", "apps/deployments", "kong"), ViewPolicy)
}

func TestANamespaceScopedEditWorksOnlyInItsNamespaces(t *testing.T) {
	p, a := accessCloud(t)
	p.eksCluster(t, "prod", creatorRole, true)
	p.entry(t, "prod", ciRole, map[string][]string{EditPolicy: {"kong", "dev-*"}})
	for _, ns := range []string{"kong", "dev-a"} {
		mustAllow(t, p, a, "prod", ciRole, in("create", "apps/deployments", ns))
		mustAllow(t, p, a, "prod", ciRole, in("update", "secrets", ns))
	}
	mustAllow(t, p, a, "prod", ciRole, localcluster.RequestAttributes{Verb: "get", Version: "v1", Resource: "namespaces", Namespace: "kong", Name: "kong"})
	mustDeny(t, p, a, "prod", ciRole, in("create", "apps/deployments", "default"), "AmazonEKSEditPolicy in namespaces kong, dev-*")
	mustDeny(t, p, a, "prod", ciRole, in("create", "apps/deployments", "dev"), EditPolicy)
	mustDeny(t, p, a, "prod", ciRole, in("list", "pods", ""), EditPolicy)       // across all namespaces
	mustDeny(t, p, a, "prod", ciRole, in("list", "namespaces", ""), EditPolicy) // cluster-scoped
	mustDeny(t, p, a, "prod", ciRole, in("create", "rbac.authorization.k8s.io/rolebindings", "kong"), EditPolicy)
}

// A revocation holds from the next request; deleting an entry or a cluster deletes what EKS
// deletes with it.
func TestDeletingTheAssociationOrTheEntryRevokesAtOnce(t *testing.T) {
	p, a := accessCloud(t)
	p.eksCluster(t, "prod", creatorRole, true)
	listPods := in("list", "pods", "kong")
	entry, assocs := p.entry(t, "prod", ciRole, map[string][]string{ViewPolicy: nil})
	token, err := p.World.Token("prod", ciRole)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := a.Authenticate(token)
	if !ok {
		t.Fatal("the token does not authenticate")
	}
	// The same user throughout: the API server's 10 s cache of the authentication changes nothing.
	allowed := func() (bool, string) { return a.Authorize(u, listPods) }
	if ok, reason := allowed(); !ok {
		t.Fatalf("before: %s", reason)
	}
	view := assocs[ViewPolicy]
	p.delete(t, eksAssociation, view.name, view.id)
	if ok, reason := allowed(); ok || !strings.Contains(reason, "its access entry has no access policy associated") {
		t.Errorf("the association deleted: allowed %t, %q", ok, reason)
	}
	view = p.mustCreate(t, eksAssociation, view.name, view.in)
	if ok, reason := allowed(); !ok {
		t.Errorf("the association made again: %s", reason)
	}
	p.delete(t, eksAccessEntry, entry.name, entry.id)
	if ok, reason := allowed(); ok || !strings.Contains(reason, "no access entry") {
		t.Errorf("the entry deleted: allowed %t, %q", ok, reason)
	}
	// EKS deleted the association with the entry: made again, the entry has none.
	if left := p.live(t, eksAssociation); len(left) != 0 {
		t.Errorf("the entry deleted, its association is left: %+v", left)
	}
	p.delete(t, eksAssociation, view.name, view.id) // the engine's delete of it finds nothing
	p.mustCreate(t, eksAccessEntry, entry.name, entry.in)
	if ok, reason := allowed(); ok || !strings.Contains(reason, "no access policy associated") {
		t.Errorf("the entry made again: allowed %t, %q", ok, reason)
	}
	p.mustCreate(t, eksAssociation, view.name, view.in)
	if ok, reason := allowed(); !ok {
		t.Errorf("the entry and association made again: %s", reason)
	}

	// A deleted cluster takes its entries with it; a cluster made again under its name has none.
	p.entry(t, "prod", opsRole, map[string][]string{AdminPolicy: {"kong"}})
	p.eksCluster(t, "staging", creatorRole, true)
	p.entry(t, "staging", ciRole, map[string][]string{ViewPolicy: nil})
	p.delete(t, clusterType, "prod", "prod")
	if ok, reason := allowed(); ok || !strings.Contains(reason, "no such cluster") {
		t.Errorf("the cluster deleted: allowed %t, %q", ok, reason)
	}
	for _, typ := range []string{eksAccessEntry, eksAssociation} {
		if left := p.live(t, typ); len(left) != 1 || outString(left[0].Outputs, "clusterName") != "staging" {
			t.Errorf("the cluster prod deleted, %s left: %+v, want staging's only", typ, left)
		}
	}
	p.eksCluster(t, "prod", creatorRole, true)
	if ok, reason := allowed(); ok || !strings.Contains(reason, "no access entry") {
		t.Errorf("the cluster made again: allowed %t, %q", ok, reason)
	}
}

func TestWithoutAnEntryOrAnAssociationNothingIsAllowed(t *testing.T) {
	p, a := accessCloud(t)
	p.eksCluster(t, "prod", creatorRole, true)
	p.eksCluster(t, "staging", creatorRole, true)
	mustDeny(t, p, a, "prod", ciRole, in("list", "pods", "kong"), "no access entry")
	p.entry(t, "prod", opsRole, nil)
	mustDeny(t, p, a, "prod", opsRole, in("get", "pods", "kong"), "its access entry has no access policy associated")
	// An entry counts on its cluster only.
	p.entry(t, "prod", ciRole, map[string][]string{ClusterAdminPolicy: nil})
	mustAllow(t, p, a, "prod", ciRole, in("delete", "namespaces", ""))
	mustDeny(t, p, a, "staging", ciRole, in("list", "pods", "kong"), "no access entry")
	mustDeny(t, p, a, "gone", ciRole, in("list", "pods", "kong"), "no such cluster")

	// Authorize believes only what Authenticate said.
	for what, u := range map[string]localcluster.User{
		"no extras":        {Name: "arn:aws:sts::123456789012:assumed-role/ci/fakecloud"},
		"another name":     {Name: "ci", Extra: map[string][]string{ExtraARN: {ciRole}, ExtraCluster: {"prod"}}},
		"a ServiceAccount": {Name: "system:serviceaccount:kong:default", Groups: []string{"system:serviceaccounts"}},
	} {
		if ok, reason := a.Authorize(u, in("list", "pods", "kong")); ok {
			t.Errorf("%s: allowed: %s", what, reason)
		}
	}
}

// The table: what each policy allows of a few telling requests, from the EKS user guide's
// "Review access policy permissions".
func TestTheAccessPolicies(t *testing.T) {
	requests := []localcluster.RequestAttributes{
		in("list", "pods", "kong"),
		in("get", "secrets", "kong"),
		in("create", "apps/deployments", "kong"),
		in("create", "pods/exec", "kong"),
		in("create", "rbac.authorization.k8s.io/rolebindings", "kong"),
		in("create", "rbac.authorization.k8s.io/clusterrolebindings", ""),
		in("list", "nodes", ""),
		{Verb: "get", Path: "/metrics"},
	}
	want := map[string]string{ // one letter per request: y allowed, n not
		ViewPolicy:         "ynnnnnnn",
		EditPolicy:         "yyyynnnn",
		AdminPolicy:        "yyyyynnn",
		AdminViewPolicy:    "yynnnnyn",
		ClusterAdminPolicy: "yyyyyyyy",
	}
	for policy, w := range want {
		var got strings.Builder
		for _, r := range requests {
			if allows(accessPolicies[policy], r) {
				got.WriteByte('y')
			} else {
				got.WriteByte('n')
			}
		}
		if got.String() != w {
			t.Errorf("%s allows %s, want %s (of %v)", policy, got.String(), w, requests)
		}
	}
	// Edit's and Admin's tables are View's rows and more, never fewer.
	if len(editRules) != len(viewRules)+10 || len(adminRules) != len(editRules)+2 {
		t.Errorf("rows: View %d, Edit %d, Admin %d; the guide has 10, 20, 22", len(viewRules), len(editRules), len(adminRules))
	}
}

// `aws eks get-token` gives the caller's token in a world that enforces access, and the
// endpoint's static token otherwise.
func TestGetTokenIsTheCallers(t *testing.T) {
	p, a := accessCloud(t)
	t.Setenv(PrincipalEnv, opsRole)
	cred := getToken(t, p.World, "prod")
	u, ok := a.Authenticate(cred)
	if !ok || u.Extra[ExtraARN][0] != opsRole || u.Extra[ExtraCluster][0] != "prod" {
		t.Fatalf("get-token's token authenticates as %+v (%t), want %s on prod", u, ok, opsRole)
	}
	calls, err := p.World.Calls()
	if err != nil {
		t.Fatal(err)
	}
	if last := calls[len(calls)-1]; last.Method != "get-token" || last.Inputs["principal"] != opsRole {
		t.Errorf("the journal's last call %+v, want get-token by %s", last, opsRole)
	}
	t.Setenv(PrincipalEnv, "not-an-arn")
	if err := awsCLI(p.World, []string{"eks", "get-token", "--cluster-name", "prod", "--region", "us-east-1"}); err == nil {
		t.Error("get-token as a principal that is no ARN")
	}

	plain := cloud(t)
	if got := getToken(t, plain.World, "prod"); got != "token" {
		t.Errorf("without access mode, get-token gives %q, want the endpoint's token", got)
	}
}

// getToken runs `aws eks get-token` and returns the ExecCredential's token.
func getToken(t *testing.T, w *World, cluster string) string {
	t.Helper()
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = pw
	err = awsCLI(w, []string{"eks", "get-token", "--cluster-name", cluster, "--region", "us-east-1", "--output", "json"})
	os.Stdout = stdout
	_ = pw.Close()
	var out bytes.Buffer
	_, _ = io.Copy(&out, r)
	if err != nil {
		t.Fatal(err)
	}
	var cred struct {
		Kind   string
		Status struct{ Token, ExpirationTimestamp string }
	}
	if err := json.Unmarshal(out.Bytes(), &cred); err != nil || cred.Kind != "ExecCredential" {
		t.Fatalf("get-token printed %q (%v)", out.String(), err)
	}
	return cred.Status.Token
}
