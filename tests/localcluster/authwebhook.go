package localcluster

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Access stands in for what EKS puts beside the API server's own authentication and RBAC:
// IAM authentication of `aws eks get-token` tokens, and the authorizer that grants a principal
// what its access entry's access-policy associations allow. Options.Access installs it. The API
// server asks it from many goroutines at once: an implementation must be safe for concurrent use.
type Access interface {
	// Authenticate names the user a bearer token stands for, ok false for a token it does not
	// know (the request is answered 401). It is asked only about tokens neither the static
	// token file (the administrator's Cluster.Token) nor the ServiceAccount authenticator knows.
	Authenticate(token string) (u User, ok bool)
	// Authorize decides a request RBAC does not allow (RBAC runs first, and the
	// administrator's group system:masters before it). Not allowed is answered 403, with
	// reason in the message.
	Authorize(u User, attrs RequestAttributes) (allowed bool, reason string)
}

// User is an authenticated user as the API server holds it (user.Info). Authenticate
// returns it; Authorize gets it back with the groups the API server adds itself
// (system:authenticated). Extra carries what EKS's authenticator adds, such as the principal's
// "arn" and "sessionName", and comes back to Authorize as returned.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// RequestAttributes is what a request asks to do, as the API server's authorizers see it
// (authorizer.Attributes; SubjectAccessReview's resourceAttributes or nonResourceAttributes).
type RequestAttributes struct {
	// Verb is the API verb (get, list, watch, create, update, patch, delete, deletecollection,
	// ...) of a resource request, or the lower-cased HTTP method of a non-resource one.
	Verb string
	// A resource request's API group ("" for the core group), version, resource, subresource,
	// namespace ("" for cluster-scoped resources and across all namespaces) and object name
	// ("" for list, watch and create).
	Group, Version, Resource, Subresource, Namespace, Name string
	// Path is set for a non-resource request only (such as /metrics), the fields above but Verb
	// then being empty.
	Path string
}

// IsResourceRequest reports whether the request is for an API resource, not a bare path.
func (r RequestAttributes) IsResourceRequest() bool { return r.Path == "" }

func (r RequestAttributes) String() string {
	if !r.IsResourceRequest() {
		return r.Verb + " " + r.Path
	}
	s := r.Verb + " " + r.Resource
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	if r.Group != "" {
		s += "." + r.Group
	}
	if r.Name != "" {
		s += " " + r.Name
	}
	if r.Namespace != "" {
		s += " in " + r.Namespace
	}
	return s
}

// accessWebhook serves Access to the API server: a webhook token authenticator (TokenReview)
// at /authenticate and a webhook authorizer (SubjectAccessReview) at /authorize, over mutual
// TLS on loopback, with a certificate authority of its own. Each decision is logged to
// access-webhook.log in the cluster's directory.
type accessWebhook struct {
	access      Access
	srv         *http.Server
	log         *log.Logger
	logFile     *os.File
	authnConfig string // the kubeconfig-format webhook configuration files
	authzConfig string
}

func startAccessWebhook(dir string, access Access) (*accessWebhook, error) {
	ca, err := newAuthority("localcluster-access-webhook-ca")
	if err != nil {
		return nil, err
	}
	serverCert, serverKey, err := ca.issue(&x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		return nil, err
	}
	// The API server's client certificate: only it gets answers.
	clientCert, clientKey, err := ca.issue(&x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	serving, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		return nil, err
	}
	clients := x509.NewCertPool()
	clients.AddCert(ca.cert)
	logFile, err := os.Create(filepath.Join(dir, "access-webhook.log"))
	if err != nil {
		return nil, err
	}
	w := &accessWebhook{access: access, log: log.New(logFile, "", log.Ltime|log.Lmicroseconds), logFile: logFile}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /authenticate", w.authenticate)
	mux.HandleFunc("POST /authorize", w.authorize)
	w.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          w.log,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients,
		},
	}
	// Listening before the configuration is written: the port is this one, no other process's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() { _ = w.srv.ServeTLS(ln, "", "") }()
	base := "https://" + ln.Addr().String()
	w.authnConfig = filepath.Join(dir, "authentication-webhook.kubeconfig")
	w.authzConfig = filepath.Join(dir, "authorization-webhook.kubeconfig")
	for path, url := range map[string]string{w.authnConfig: base + "/authenticate", w.authzConfig: base + "/authorize"} {
		// The webhook client posts to the server URL's exact path (tokenReviewInterfaceFromConfig
		// in k8s.io/apiserver/plugin/pkg/authenticator/token/webhook/webhook.go; the same for
		// the authorizer).
		kc, err := kubeconfig(url, ca.pem, map[string]any{
			"client-certificate-data": b64(clientCert), "client-key-data": b64(clientKey),
		})
		if err == nil {
			err = os.WriteFile(path, kc, 0o600)
		}
		if err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// flags are kube-apiserver's flags for the webhooks, every cache of Access's answers turned off
// but one no flag reaches (below). Citations are to the v1.34.4 sources of k8s.io/kubernetes
// and the v0.34.4 staging modules.
//
// Authorization: --authorization-mode=RBAC,Webhook builds the chain privileged groups
// (system:masters), RBAC, then the webhook (buildAuthorizationConfiguration in
// k8s.io/kubernetes/pkg/kubeapiserver/options/authorization.go; the superuserAuthorizer in
// pkg/kubeapiserver/authorizer/reload.go). The first to allow or deny decides
// (k8s.io/apiserver/pkg/authorization/union/union.go) and RBAC never denies, it has no opinion
// (plugin/pkg/auth/authorizer/rbac/rbac.go, Authorize), so the webhook is asked exactly what
// RBAC does not allow. A TTL of 0 turns caching off: buildAuthorizationConfiguration sets
// CacheAuthorizedRequests and CacheUnauthorizedRequests to "TTL != 0" (authorization.go lines
// 277-280), and reload.go (lines 145-151) hands webhook.New a TTL of 0 for each that is false.
// The authorizer still stores each answer with that TTL (WebhookAuthorizer.Authorize in
// k8s.io/apiserver/plugin/pkg/authorizer/webhook/webhook.go, responseCache.Add), that is expiring
// the moment it is stored, and LRUExpireCache.Get drops an entry once the clock is past its
// expiry (k8s.io/apimachinery/pkg/util/cache/lruexpirecache.go): a later request asks again.
// The flags bypass the validation of an --authorization-config file, whose webhook TTLs must be
// > 0 (ValidateWebhookConfiguration in k8s.io/apiserver/pkg/apis/apiserver/validation), and
// cannot be given with it (BuiltInAuthorizationOptions.Validate). Their failure policy is
// NoOpinion (authorization.go line 284): a webhook that does not answer means 403.
//
// Authentication: the webhook authenticator comes after the token file and the ServiceAccount
// authenticators in the API server's union of token authenticators, the first to know a token
// deciding (New in k8s.io/kubernetes/pkg/kubeapiserver/authenticator/config.go;
// k8s.io/apiserver/pkg/authentication/token/union), so it is asked only about tokens they do
// not know. Its own cache, tokencache.New(webhook, false, ttl, ttl)
// (newWebhookTokenAuthenticator in config.go), stores nothing with a TTL of 0 ("A ttl of 0
// bypasses the cache": New in
// k8s.io/apiserver/pkg/authentication/token/cache/cached_token_authenticator.go, which stores
// only when the TTL is > 0). But the whole union is cached as well, 10 s after a success and
// not after a failure (TokenSuccessCacheTTL: 10s, TokenFailureCacheTTL: 0 in
// NewBuiltInAuthenticationOptions, pkg/kubeapiserver/options/authentication.go, which no flag
// changes; the cache in config.go lines 197-199): a token Access starts to know authenticates
// at once, one it stops knowing goes on authenticating for up to 10 s. A revocation through
// Authorize takes effect at once.
func (w *accessWebhook) flags() []string {
	return []string{
		"--authentication-token-webhook-config-file=" + w.authnConfig,
		"--authentication-token-webhook-version=v1",
		"--authentication-token-webhook-cache-ttl=0s",
		"--authorization-mode=RBAC,Webhook",
		"--authorization-webhook-config-file=" + w.authzConfig,
		"--authorization-webhook-version=v1",
		"--authorization-webhook-cache-authorized-ttl=0s",
		"--authorization-webhook-cache-unauthorized-ttl=0s",
	}
}

func (w *accessWebhook) close() {
	_ = w.srv.Close()
	_ = w.logFile.Close()
}

// authenticate answers a TokenReview: the API server posts one with spec.token (and
// spec.audiences, its API audiences), and takes status.authenticated and status.user. Status
// audiences are left empty, which the API server reads as its own audiences (AuthenticateToken
// in k8s.io/apiserver/plugin/pkg/authenticator/token/webhook/webhook.go).
func (w *accessWebhook) authenticate(rw http.ResponseWriter, r *http.Request) {
	var review authenticationv1.TokenReview
	if !w.read(rw, r, &review, &review.TypeMeta, authenticationv1.SchemeGroupVersion.String(), "TokenReview") {
		return
	}
	u, ok := w.access.Authenticate(review.Spec.Token)
	if ok && u.Name == "" {
		ok = false
		review.Status.Error = "localcluster: Access authenticated the token to a user without a name"
	}
	review.Status.Authenticated = ok
	token := "token sha256:" + hashPrefix(review.Spec.Token)
	if !ok {
		w.log.Printf("authenticate %s: unknown %s", token, review.Status.Error)
	} else {
		review.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		if len(u.Extra) > 0 {
			review.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range u.Extra {
				review.Status.User.Extra[k] = v
			}
		}
		w.log.Printf("authenticate %s: %s %v", token, u.Name, u.Groups)
	}
	review.Spec = authenticationv1.TokenReviewSpec{}
	w.write(rw, review)
}

// authorize answers a SubjectAccessReview: the API server posts the user and the request's
// attributes (spec), and takes status.allowed, status.denied and status.reason. Not allowed is
// answered as no opinion (denied false): the webhook is the chain's last authorizer, so the
// request is refused (403) all the same (WebhookAuthorizer.Authorize in
// k8s.io/apiserver/plugin/pkg/authorizer/webhook/webhook.go).
func (w *accessWebhook) authorize(rw http.ResponseWriter, r *http.Request) {
	var review authorizationv1.SubjectAccessReview
	if !w.read(rw, r, &review, &review.TypeMeta, authorizationv1.SchemeGroupVersion.String(), "SubjectAccessReview") {
		return
	}
	u := User{Name: review.Spec.User, UID: review.Spec.UID, Groups: review.Spec.Groups}
	if len(review.Spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range review.Spec.Extra {
			u.Extra[k] = v
		}
	}
	var attrs RequestAttributes
	switch ra, nra := review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes; {
	case ra != nil:
		attrs = RequestAttributes{
			Verb: ra.Verb, Group: ra.Group, Version: ra.Version, Resource: ra.Resource,
			Subresource: ra.Subresource, Namespace: ra.Namespace, Name: ra.Name,
		}
	case nra != nil:
		attrs = RequestAttributes{Verb: nra.Verb, Path: nra.Path}
	default:
		http.Error(rw, "SubjectAccessReview without resourceAttributes or nonResourceAttributes", http.StatusBadRequest)
		return
	}
	allowed, reason := w.access.Authorize(u, attrs)
	w.log.Printf("authorize %s %v to %s: allowed %t %s", u.Name, u.Groups, attrs, allowed, reason)
	w.write(rw, authorizationv1.SubjectAccessReview{
		TypeMeta: review.TypeMeta,
		Status:   authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason},
	})
}

// read decodes a review whose apiVersion and kind (in meta, within into) must be the given
// ones, or answers 400.
func (w *accessWebhook) read(rw http.ResponseWriter, r *http.Request, into any, meta *metav1.TypeMeta, apiVersion, kind string) bool {
	err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20)).Decode(into)
	if err == nil && (meta.APIVersion != apiVersion || meta.Kind != kind) {
		err = fmt.Errorf("got a %s %s, want a %s %s", meta.APIVersion, meta.Kind, apiVersion, kind)
	}
	if err != nil {
		w.log.Printf("%s: bad review: %v", r.URL.Path, err)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func (w *accessWebhook) write(rw http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write(b)
}

// hashPrefix names a token in the log without writing it there.
func hashPrefix(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
