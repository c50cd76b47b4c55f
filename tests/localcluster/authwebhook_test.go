package localcluster

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

const ciRole = "arn:aws:iam::123456789012:role/ci"

// fakeAccess knows the tokens the test teaches it and allows every request of a user the test
// grants; it records what the API server asks it.
type fakeAccess struct {
	mu             sync.Mutex
	tokens         map[string]User
	granted        map[string]bool
	authenticating []string // the tokens asked about
	authorizing    []question
}

type question struct {
	user  User
	attrs RequestAttributes
}

func newFakeAccess() *fakeAccess {
	return &fakeAccess{tokens: map[string]User{}, granted: map[string]bool{}}
}

func (f *fakeAccess) Authenticate(token string) (User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authenticating = append(f.authenticating, token)
	u, ok := f.tokens[token]
	return u, ok
}

func (f *fakeAccess) Authorize(u User, attrs RequestAttributes) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authorizing = append(f.authorizing, question{u, attrs})
	if f.granted[u.Name] {
		return true, "granted by the test"
	}
	return false, "no access policy associated with " + u.Name
}

func (f *fakeAccess) learn(token string, u User) { f.set(func() { f.tokens[token] = u }) }
func (f *fakeAccess) forget(token string)        { f.set(func() { delete(f.tokens, token) }) }
func (f *fakeAccess) grant(user string, on bool) { f.set(func() { f.granted[user] = on }) }
func (f *fakeAccess) reset()                     { f.set(func() { f.authenticating, f.authorizing = nil, nil }) }

func (f *fakeAccess) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

// askedToAuthenticate reports whether the API server has asked about token since the last reset.
func (f *fakeAccess) askedToAuthenticate(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.authenticating, token)
}

// asked is what the API server has asked to authorize for user since the last reset.
func (f *fakeAccess) asked(user string) []question {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []question
	for _, q := range f.authorizing {
		if q.user.Name == user {
			out = append(out, q)
		}
	}
	return out
}

// One cluster with an Access hook serves every case: a token the hook knows is allowed exactly
// while the hook grants it, with no cache between a change and the next request; an unknown
// token is refused 401; the administrator's token and a ServiceAccount that RBAC allows never
// reach the hook.
func TestAccessWebhook(t *testing.T) {
	access := newFakeAccess()
	c := Start(t, Options{Nodes: 1, Access: access})
	ciToken := mustToken(t)
	access.learn(ciToken, User{Name: ciRole, Groups: []string{"eks-ci"}, Extra: map[string][]string{"arn": {ciRole}}})

	t.Run("a grant allows and its revocation forbids at once", func(t *testing.T) {
		access.reset()
		access.grant(ciRole, true)
		defer access.grant(ciRole, false)
		list, err := c.DoAs(ciToken, http.MethodGet, "/api/v1/namespaces", nil)
		if err != nil {
			t.Fatalf("granted: %v", err)
		}
		if list["kind"] != "NamespaceList" {
			t.Fatalf("granted: got %v, want a NamespaceList", list["kind"])
		}
		asked := access.asked(ciRole)
		if len(asked) == 0 {
			t.Fatal("the access webhook was not asked to authorize the request")
		}
		q := asked[0]
		if want := (RequestAttributes{Verb: "list", Version: "v1", Resource: "namespaces"}); q.attrs != want {
			t.Errorf("asked to authorize %+v, want %+v", q.attrs, want)
		}
		if !slices.Contains(q.user.Groups, "eks-ci") || !slices.Contains(q.user.Groups, "system:authenticated") {
			t.Errorf("the user's groups %v lack the token's (eks-ci) or system:authenticated", q.user.Groups)
		}
		if got := q.user.Extra["arn"]; !slices.Equal(got, []string{ciRole}) {
			t.Errorf("the user's extra arn %v, want the one Authenticate gave", got)
		}

		// Each change holds from the very next request: no sleep, no poll.
		for round := range 3 {
			access.grant(ciRole, false)
			_, err = c.DoAs(ciToken, http.MethodGet, "/api/v1/namespaces", nil)
			if StatusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "no access policy associated with "+ciRole) {
				t.Fatalf("round %d, revoked: got %v, want 403 with Authorize's reason", round, err)
			}
			access.grant(ciRole, true)
			if _, err := c.DoAs(ciToken, http.MethodGet, "/api/v1/namespaces", nil); err != nil {
				t.Fatalf("round %d, granted again: %v", round, err)
			}
		}
	})

	t.Run("the hook sees the request's attributes", func(t *testing.T) {
		access.reset()
		access.grant(ciRole, true)
		defer access.grant(ciRole, false)
		// Authorized, then not found: authorization comes before the handler.
		_, err := c.DoAs(ciToken, http.MethodGet, "/api/v1/namespaces/kube-system/pods/none/log", nil)
		if !IsNotFound(err) {
			t.Fatalf("a granted GET of a missing pod's log: got %v, want 404", err)
		}
		// A non-resource path RBAC grants no one but the administrator; not JSON.
		if _, err := c.send(c.tokenClient, ciToken, http.MethodGet, "/metrics", nil); err != nil {
			t.Fatalf("a granted GET /metrics: %v", err)
		}
		want := []RequestAttributes{
			{Verb: "get", Version: "v1", Resource: "pods", Subresource: "log", Namespace: "kube-system", Name: "none"},
			{Verb: "get", Path: "/metrics"},
		}
		var got []RequestAttributes
		for _, q := range access.asked(ciRole) {
			got = append(got, q.attrs)
		}
		if !slices.Equal(got, want) {
			t.Errorf("asked to authorize %+v, want %+v", got, want)
		}
	})

	t.Run("an unknown token is refused 401 and the hook's answer is not cached", func(t *testing.T) {
		access.reset()
		late := mustToken(t)
		_, err := c.DoAs(late, http.MethodGet, "/api/v1/namespaces", nil)
		if StatusCode(err) != http.StatusUnauthorized {
			t.Fatalf("unknown token: got %v, want 401", err)
		}
		if !access.askedToAuthenticate(late) {
			t.Error("the access webhook was not asked about the unknown token")
		}
		// The API server keeps no failure: the token works as soon as the hook knows it.
		const lateRole = "arn:aws:iam::123456789012:role/late"
		access.learn(late, User{Name: lateRole})
		access.grant(lateRole, true)
		if _, err := c.DoAs(late, http.MethodGet, "/api/v1/namespaces", nil); err != nil {
			t.Fatalf("a token the hook has just learnt: %v", err)
		}
		// It does keep a success, for 10 s, and no flag changes that (accessWebhook.flags): a
		// token the hook forgets is refused within those 10 s; 30 s leave a loaded machine room.
		access.forget(late)
		start := time.Now()
		if err := c.Eventually(30*time.Second, "the forgotten token refused", func() (bool, error) {
			_, err := c.DoAs(late, http.MethodGet, "/api/v1/namespaces", nil)
			return StatusCode(err) == http.StatusUnauthorized, fmt.Errorf("got %v", err)
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("a forgotten token was refused after %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("the administrator's token passes by the hook", func(t *testing.T) {
		access.reset()
		if _, err := c.DoAs(c.Token, http.MethodGet, "/api/v1/namespaces", nil); err != nil {
			t.Fatalf("the administrator's token: %v", err)
		}
		if access.askedToAuthenticate(c.Token) {
			t.Error("the access webhook was asked about the token file's token")
		}
		if asked := access.asked("eks-admin"); len(asked) > 0 {
			t.Errorf("the access webhook was asked to authorize the administrator: %v", asked)
		}
	})

	t.Run("a ServiceAccount that RBAC allows passes by the hook", func(t *testing.T) {
		const ns, sa = "access-sa", "deployer"
		user := "system:serviceaccount:" + ns + ":" + sa
		mustDo(t, c, http.MethodPost, "/api/v1/namespaces", Object{"apiVersion": "v1", "kind": "Namespace", "metadata": Object{"name": ns}})
		mustDo(t, c, http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts", Object{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": Object{"name": sa}})
		rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}
		mustDo(t, c, http.MethodPost, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/roles", Object{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": Object{"name": "read-configmaps"},
			"rules": rules,
		})
		mustDo(t, c, http.MethodPost, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings", Object{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": Object{"name": "read-configmaps"},
			"roleRef":  Object{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
			"subjects": []any{Object{"kind": "ServiceAccount", "name": sa, "namespace": ns}},
		})
		if err := c.WaitAllowed(60*time.Second, user, ns, rules); err != nil {
			t.Fatal(err)
		}
		tr := mustDo(t, c, http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token", Object{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": Object{"expirationSeconds": 3600},
		})
		token, _ := tr["status"].(Object)["token"].(string)
		if token == "" {
			t.Fatalf("no token in the TokenRequest's answer %v", tr)
		}

		access.reset()
		if _, err := c.DoAs(token, http.MethodGet, "/api/v1/namespaces/"+ns+"/configmaps", nil); err != nil {
			t.Fatalf("the ServiceAccount, allowed by RBAC: %v", err)
		}
		if access.askedToAuthenticate(token) {
			t.Error("the access webhook was asked about a ServiceAccount's token")
		}
		if asked := access.asked(user); len(asked) > 0 {
			t.Errorf("the access webhook was asked to authorize what RBAC allows: %v", asked)
		}
		// What RBAC does not allow goes on to the hook, which refuses it.
		_, err := c.DoAs(token, http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets", nil)
		if StatusCode(err) != http.StatusForbidden {
			t.Fatalf("the ServiceAccount, beyond RBAC: got %v, want 403", err)
		}
		want := RequestAttributes{Verb: "list", Version: "v1", Resource: "secrets", Namespace: ns}
		if asked := access.asked(user); len(asked) != 1 || asked[0].attrs != want {
			t.Errorf("asked to authorize %v, want once %+v", asked, want)
		}
	})
}

// Without an Access hook the API server runs exactly as before: RBAC alone, no webhook.
func TestAPIServerFlags(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain := apiServerArgs("http://127.0.0.1:1", 2, p, "tokens.csv", "egress.yaml", nil)
	if !slices.Contains(plain, "--authorization-mode=RBAC") || !slices.Contains(plain, "--token-auth-file=tokens.csv") {
		t.Errorf("without Access: %v lacks RBAC or the token file", plain)
	}
	for _, a := range plain {
		if strings.Contains(a, "webhook") {
			t.Errorf("without Access: a webhook flag %s", a)
		}
	}

	hooked := apiServerArgs("http://127.0.0.1:1", 2, p, "tokens.csv", "egress.yaml", &accessWebhook{authnConfig: "authn.kubeconfig", authzConfig: "authz.kubeconfig"})
	for _, want := range []string{
		"--token-auth-file=tokens.csv", "--client-ca-file=" + p.caCert,
		"--authorization-mode=RBAC,Webhook",
		"--authentication-token-webhook-config-file=authn.kubeconfig", "--authentication-token-webhook-version=v1",
		"--authentication-token-webhook-cache-ttl=0s",
		"--authorization-webhook-config-file=authz.kubeconfig", "--authorization-webhook-version=v1",
		"--authorization-webhook-cache-authorized-ttl=0s", "--authorization-webhook-cache-unauthorized-ttl=0s",
	} {
		if !slices.Contains(hooked, want) {
			t.Errorf("with Access: no %s in %v", want, hooked)
		}
	}
	modes := 0
	for _, a := range hooked {
		if strings.HasPrefix(a, "--authorization-mode=") {
			modes++
		}
		if strings.HasPrefix(a, "--authorization-config") {
			t.Errorf("with Access: %s, which conflicts with --authorization-mode", a)
		}
	}
	if modes != 1 {
		t.Errorf("with Access: %d --authorization-mode flags, want 1", modes)
	}
}

// KubeconfigFor's kubeconfig has the token as its only credential.
func TestKubeconfigFor(t *testing.T) {
	c := &Cluster{Server: "https://127.0.0.1:6443", caPEM: []byte("CA"), CAData: b64([]byte("CA"))}
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User map[string]string `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(c.KubeconfigFor("k8s-aws-v1.abc")), &kc); err != nil {
		t.Fatal(err)
	}
	if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster["server"] != c.Server || kc.Clusters[0].Cluster["certificate-authority-data"] != c.CAData {
		t.Errorf("clusters %v, want the server with its CA", kc.Clusters)
	}
	if len(kc.Users) != 1 || !maps.Equal(kc.Users[0].User, map[string]string{"token": "k8s-aws-v1.abc"}) {
		t.Errorf("users %v, want the token alone", kc.Users)
	}
}

func mustToken(t *testing.T) string {
	t.Helper()
	token, err := randomToken()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// The webhooks answer the reviews as the API server sends them, over mutual TLS, at the URLs
// of the configuration files they write; without the API server.
func TestAccessWebhookReviews(t *testing.T) {
	access := newFakeAccess()
	access.learn("good", User{Name: ciRole, UID: "AROAEXAMPLE", Groups: []string{"eks-ci"}, Extra: map[string][]string{"arn": {ciRole}}})
	access.grant(ciRole, true)
	w, err := startAccessWebhook(t.TempDir(), access)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	authn, authnURL := webhookClient(t, w.authnConfig)
	authz, authzURL := webhookClient(t, w.authzConfig)

	review := func(client *http.Client, url string, in any) (int, Object) {
		t.Helper()
		b, _ := json.Marshal(in)
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var out Object
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	tokenReview := func(token string) Object {
		return Object{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": Object{"token": token, "audiences": []any{"https://kubernetes.default.svc"}}}
	}

	code, got := review(authn, authnURL, tokenReview("good"))
	status, _ := got["status"].(Object)
	want := Object{"authenticated": true, "user": Object{"username": ciRole, "uid": "AROAEXAMPLE", "groups": []any{"eks-ci"}, "extra": Object{"arn": []any{ciRole}}}}
	if code != http.StatusOK || got["kind"] != "TokenReview" || got["apiVersion"] != "authentication.k8s.io/v1" || toString(status) != toString(want) {
		t.Errorf("a known token: %d %v, want 200 and status %v", code, got, want)
	}
	if strings.Contains(toString(got), `"good"`) {
		t.Errorf("the answer %v repeats the token", got)
	}
	if code, got := review(authn, authnURL, tokenReview("bad")); code != http.StatusOK || toString(got["status"]) != `{"user":{}}` {
		t.Errorf("an unknown token: %d %v, want 200 and not authenticated", code, got)
	}
	if code, _ := review(authn, authnURL, Object{"apiVersion": "authentication.k8s.io/v1beta1", "kind": "TokenReview"}); code != http.StatusBadRequest {
		t.Errorf("a v1beta1 TokenReview: %d, want 400", code)
	}

	sar := func(attrs Object) Object {
		spec := Object{"user": ciRole, "groups": []any{"eks-ci", "system:authenticated"}, "extra": Object{"arn": []any{ciRole}}}
		for k, v := range attrs {
			spec[k] = v
		}
		return Object{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
	}
	code, got = review(authz, authzURL, sar(Object{"resourceAttributes": Object{"verb": "delete", "group": "apps", "version": "v1", "resource": "deployments", "namespace": "kong", "name": "kong"}}))
	if code != http.StatusOK || got["kind"] != "SubjectAccessReview" || toString(got["status"]) != `{"allowed":true,"reason":"granted by the test"}` {
		t.Errorf("a granted resource request: %d %v", code, got)
	}
	access.grant(ciRole, false)
	code, got = review(authz, authzURL, sar(Object{"nonResourceAttributes": Object{"verb": "get", "path": "/metrics"}}))
	if code != http.StatusOK || toString(got["status"]) != `{"allowed":false,"reason":"no access policy associated with `+ciRole+`"}` {
		t.Errorf("a refused non-resource request: %d %v", code, got)
	}
	wantAsked := []question{
		{User{Name: ciRole, Groups: []string{"eks-ci", "system:authenticated"}, Extra: map[string][]string{"arn": {ciRole}}},
			RequestAttributes{Verb: "delete", Group: "apps", Version: "v1", Resource: "deployments", Namespace: "kong", Name: "kong"}},
		{User{Name: ciRole, Groups: []string{"eks-ci", "system:authenticated"}, Extra: map[string][]string{"arn": {ciRole}}},
			RequestAttributes{Verb: "get", Path: "/metrics"}},
	}
	if asked := access.asked(ciRole); !reflect.DeepEqual(asked, wantAsked) {
		t.Errorf("asked %v, want %v", asked, wantAsked)
	}
	if code, _ := review(authz, authzURL, sar(nil)); code != http.StatusBadRequest {
		t.Errorf("a review without attributes: %d, want 400", code)
	}

	// Only the API server's certificate gets an answer.
	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: authn.Transport.(*http.Transport).TLSClientConfig.Clone()}}
	anonymous.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
	if _, err := anonymous.Post(authnURL, "application/json", strings.NewReader("{}")); err == nil {
		t.Error("a client without the API server's certificate got an answer")
	}
}

// webhookClient is a client as the API server makes one from a webhook configuration file,
// and the URL it posts to.
func webhookClient(t *testing.T, path string) (*http.Client, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CA     []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Cert []byte `json:"client-certificate-data"`
				Key  []byte `json:"client-key-data"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal(raw, &kc); err != nil || len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		t.Fatalf("%s: %v %s", path, err, raw)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(kc.Clusters[0].Cluster.CA) {
		t.Fatalf("%s: no CA", path)
	}
	cert, err := tls.X509KeyPair(kc.Users[0].User.Cert, kc.Users[0].User.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}}}, kc.Clusters[0].Cluster.Server
}
