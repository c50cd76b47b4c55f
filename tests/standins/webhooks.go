package standins

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// webhooks serves every admission webhook of the cluster's webhook configurations that is
// reached through a Service, the way its pod would, with the serving certificate the pod would
// have. The API server reaches the cluster network through the local cluster's egress proxy,
// whose dialer (dial) connects a Service's address to its server only while the Service has a
// Ready pod behind it (the endpoints controller's rule: pods matching the selector, Ready, not
// terminating; Endpoints themselves cannot hold the loopback pod IPs here). Before that the
// call fails, as on EKS ("no endpoints available for service"), and a failurePolicy of Fail
// rejects the request. The stand-in admits everything it is asked.
//
// Certificates: a configuration whose caBundle the chart rendered is served with the chart's
// TLS Secret whose ca.crt is that bundle (the load balancer controller's chart,
// templates/webhook.yaml, mounts that Secret into its pod). One annotated
// cert-manager.io/inject-ca-from-secret is cert-manager's: its webhook makes a CA Secret and
// serves a certificate of that CA (cert-manager's dynamic serving), and its cainjector writes
// the CA into the configuration; the stand-in does both once those Deployments are Ready.
type webhooks struct {
	s *Standins

	// reconciling serializes reconcile: the poll loop and a dial that finds no server both
	// run it, and two injections of one configuration would conflict.
	reconciling sync.Mutex

	mu      sync.Mutex
	servers map[serviceRef]*webhookServer
	cas     map[string]*authority // cert-manager CA secrets, ns/name
}

type webhookServer struct {
	srv  *http.Server
	addr string
	cert *tls.Certificate
}

type serviceRef struct {
	namespace, name string
	port            int
}

func newWebhooks(s *Standins) *webhooks {
	h := &webhooks{s: s, servers: map[serviceRef]*webhookServer{}, cas: map[string]*authority{}}
	s.cluster.SetClusterDialer(h.dial)
	return h
}

func (h *webhooks) reconcile() error {
	h.reconciling.Lock()
	defer h.reconciling.Unlock()
	wanted := map[serviceRef]*tls.Certificate{}
	for _, kind := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"} {
		configs, err := h.s.list("/apis/admissionregistration.k8s.io/v1/" + kind)
		if err != nil {
			return err
		}
		for _, cfg := range configs {
			if err := h.serveConfig(kind, cfg, wanted); err != nil {
				return fmt.Errorf("%s %s: %w", kind, nameOf(cfg), err)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ref, ws := range h.servers {
		if _, ok := wanted[ref]; !ok {
			_ = ws.srv.Close()
			delete(h.servers, ref)
		}
	}
	for ref, cert := range wanted {
		if ws, ok := h.servers[ref]; ok {
			ws.cert = cert
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ws := &webhookServer{addr: ln.Addr().String(), cert: cert}
		ws.srv = &http.Server{Handler: http.HandlerFunc(h.admit), ReadHeaderTimeout: 5 * time.Second,
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				h.mu.Lock()
				defer h.mu.Unlock()
				return ws.cert, nil
			}}}
		h.servers[ref] = ws
		go func() { _ = ws.srv.ServeTLS(ln, "", "") }()
	}
	return nil
}

func (h *webhooks) serveConfig(kind string, cfg Object, wanted map[serviceRef]*tls.Certificate) error {
	hooks, _ := cfg["webhooks"].([]any)
	injectFrom := str(meta(cfg), "annotations", "cert-manager.io/inject-ca-from-secret")
	var ca *authority
	if injectFrom != "" {
		var err error
		if ca, err = h.certManagerCA(injectFrom); err != nil || ca == nil {
			return err
		}
		if err := h.injectCA(kind, cfg, ca); err != nil {
			return err
		}
	}
	for _, raw := range hooks {
		hook, _ := raw.(Object)
		cc, _ := hook["clientConfig"].(Object)
		svc, _ := cc["service"].(Object)
		if svc == nil {
			continue
		}
		ref := serviceRef{namespace: str(svc, "namespace"), name: str(svc, "name"), port: 443}
		if p, ok := svc["port"].(float64); ok {
			ref.port = int(p)
		}
		var cert *tls.Certificate
		var err error
		if ca != nil {
			cert, err = ca.serving(ref.name + "." + ref.namespace + ".svc")
		} else {
			cert, err = h.chartCertificate(ref.namespace, str(cc, "caBundle"))
		}
		if err != nil {
			return err
		}
		if cert != nil {
			wanted[ref] = cert
		}
	}
	return nil
}

// dial connects the API server to a Service address (ClusterIP:port or NAME.NS.svc:port)
// whose webhook is served here, only while a Ready pod backs the Service.
func (h *webhooks) dial(addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portText)
	services, err := h.s.list("/api/v1/services")
	if err != nil {
		return nil, err
	}
	for _, svc := range services {
		m := meta(svc)
		ns, name := fmt.Sprint(m["namespace"]), fmt.Sprint(m["name"])
		if host != str(svc, "spec", "clusterIP") && strings.TrimSuffix(host, ".cluster.local") != name+"."+ns+".svc" {
			continue
		}
		ref := serviceRef{namespace: ns, name: name, port: port}
		h.mu.Lock()
		ws := h.servers[ref]
		h.mu.Unlock()
		if ws == nil { // the poll may not have seen a configuration the API server already uses
			err := h.reconcile()
			h.mu.Lock()
			ws = h.servers[ref]
			h.mu.Unlock()
			if ws == nil && err != nil {
				return nil, err
			}
		}
		ready, err := h.s.readyPods(svc)
		if err != nil {
			return nil, err
		}
		if ready == 0 || ws == nil {
			return nil, fmt.Errorf("no endpoints available for service %q", name)
		}
		return net.Dial("tcp", ws.addr)
	}
	return nil, fmt.Errorf("no service at %s", addr)
}

// chartCertificate is the serving certificate in the namespace's TLS Secret whose ca.crt is
// the configuration's caBundle.
func (h *webhooks) chartCertificate(namespace, caBundle string) (*tls.Certificate, error) {
	secrets, err := h.s.list("/api/v1/namespaces/" + namespace + "/secrets")
	if err != nil {
		return nil, err
	}
	for _, sec := range secrets {
		data, _ := sec["data"].(Object)
		if ca, _ := data["ca.crt"].(string); ca == "" || ca != caBundle {
			continue
		}
		_, _, cert, err := keyPair(sec)
		return cert, err
	}
	return nil, nil
}

// certManagerCA is the CA cert-manager's webhook keeps in the Secret ns/name, made (as the
// webhook does at start) once the webhook's Deployment is Ready; nil before.
func (h *webhooks) certManagerCA(ref string) (*authority, error) {
	h.mu.Lock()
	ca := h.cas[ref]
	h.mu.Unlock()
	if ca != nil {
		return ca, nil
	}
	if ready, err := h.s.deploymentReady("webhook"); err != nil || !ready {
		return nil, err
	}
	ns, name, _ := strings.Cut(ref, "/")
	ca, err := newAuthority("cert-manager-webhook-ca")
	if err != nil {
		return nil, err
	}
	if _, err := h.s.cluster.Do(http.MethodPost, "/api/v1/namespaces/"+ns+"/secrets", Object{
		"apiVersion": "v1", "kind": "Secret", "metadata": Object{"name": name, "namespace": ns}, "type": "kubernetes.io/tls",
		"data": Object{"ca.crt": b64(ca.certPEM), "tls.crt": b64(ca.certPEM), "tls.key": b64(ca.keyPEM)},
	}); err != nil && !isAlreadyExists(err) {
		return nil, err
	}
	h.mu.Lock()
	h.cas[ref] = ca
	h.mu.Unlock()
	h.s.logf("cert-manager webhook: CA secret %s made", ref)
	return ca, nil
}

// injectCA writes the CA into every webhook of the configuration, as cainjector does once
// its Deployment is Ready.
func (h *webhooks) injectCA(kind string, cfg Object, ca *authority) error {
	if ready, err := h.s.deploymentReady("cainjector"); err != nil || !ready {
		return err
	}
	bundle := b64(ca.certPEM)
	hooks, _ := cfg["webhooks"].([]any)
	changed := false
	for _, raw := range hooks {
		cc, _ := raw.(Object)["clientConfig"].(Object)
		if cc != nil && cc["caBundle"] != bundle {
			cc["caBundle"] = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := h.s.cluster.Do(http.MethodPut, objectPath("/apis/admissionregistration.k8s.io/v1", kind, cfg), cfg); err != nil {
		if localcluster.StatusCode(err) == http.StatusConflict {
			// Someone else (the chart's upgrade) wrote it since the list: cainjector requeues
			// and injects into the newer version on the next round.
			return nil
		}
		return err
	}
	h.s.logf("cainjector: CA injected into %s %s", kind, nameOf(cfg))
	return nil
}

// admit allows every AdmissionReview.
func (h *webhooks) admit(w http.ResponseWriter, r *http.Request) {
	var review struct {
		Request struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Object{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"response": Object{"uid": review.Request.UID, "allowed": true}})
}

func (h *webhooks) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ref, ws := range h.servers {
		_ = ws.srv.Close()
		delete(h.servers, ref)
	}
}

// authority is a CA that signs serving and leaf certificates.
type authority struct {
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
	certPEM, keyPEM []byte

	mu     sync.Mutex
	served map[string]*tls.Certificate // serving certificates by DNS name
}

func newAuthority(cn string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, certPEM: pemOf("CERTIFICATE", der), keyPEM: pemOf("EC PRIVATE KEY", keyDER)}, nil
}

// sign issues a certificate for the names (the first is the common name), a CA if isCA.
func (a *authority) sign(names []string, isCA bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, IsCA: isCA, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.DNSNames = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemOf("CERTIFICATE", der), pemOf("EC PRIVATE KEY", keyDER), nil
}

func (a *authority) serving(dnsName string) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.served[dnsName]; c != nil {
		return c, nil
	}
	crt, key, err := a.sign([]string{dnsName}, false)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, err
	}
	if a.served == nil {
		a.served = map[string]*tls.Certificate{}
	}
	a.served[dnsName] = &cert
	return &cert, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// keyPair is the tls.crt and tls.key of a TLS Secret, as PEM and parsed.
func keyPair(sec Object) (crtPEM, keyPEM []byte, cert *tls.Certificate, err error) {
	data, _ := sec["data"].(Object)
	crtPEM, _ = base64.StdEncoding.DecodeString(fmt.Sprint(data["tls.crt"]))
	keyPEM, _ = base64.StdEncoding.DecodeString(fmt.Sprint(data["tls.key"]))
	pair, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("secret %s: %w", nameOf(sec), err)
	}
	return crtPEM, keyPEM, &pair, nil
}
