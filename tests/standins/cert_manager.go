package standins

import (
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"time"
)

// certManager stands in for cert-manager's controller, only while its Deployment is Ready: a
// SelfSigned or CA issuer becomes Ready (a CA issuer once its Secret holds a key pair), and a
// Certificate whose issuer is Ready gets its Secret (tls.crt, tls.key, ca.crt) signed by that
// issuer's key, then becomes Ready (cert-manager pkg/controller/certificates: the Secret is
// written before the Ready condition). A Certificate whose Issuing condition is True (what
// renewal time, or `cmctl renew`, sets: cert-manager pkg/controller/certificates/trigger) is
// issued again, with a new key and serial, into the same Secret, which keeps its name, and the
// Issuing condition goes.
func (s *Standins) certManager() error {
	ready, err := s.deploymentReady("cert-manager")
	if err != nil || !ready {
		return err
	}
	issuers := map[string]Object{} // by issuerKey
	for kind, resource := range map[string]string{"ClusterIssuer": "clusterissuers", "Issuer": "issuers"} {
		list, err := s.list("/apis/cert-manager.io/v1/" + resource)
		if err != nil {
			return err
		}
		for _, iss := range list {
			spec, _ := iss["spec"].(Object)
			ok := spec["selfSigned"] != nil
			if ca, _ := spec["ca"].(Object); ca != nil {
				_, err := s.caOf(fmt.Sprint(meta(iss)["namespace"]), fmt.Sprint(ca["secretName"]))
				ok = err == nil
			}
			if err := s.setReady("/apis/cert-manager.io/v1", resource, iss, ok); err != nil {
				return err
			}
			issuers[issuerKey(kind, fmt.Sprint(meta(iss)["namespace"]), fmt.Sprint(meta(iss)["name"]))] = iss
		}
	}
	certs, err := s.list("/apis/cert-manager.io/v1/certificates")
	if err != nil {
		return err
	}
	for _, c := range certs {
		if err := s.issue(c, issuers); err != nil {
			return fmt.Errorf("certificate %s: %w", nameOf(c), err)
		}
	}
	return nil
}

func (s *Standins) issue(c Object, issuers map[string]Object) error {
	spec, _ := c["spec"].(Object)
	ns := fmt.Sprint(meta(c)["namespace"])
	ref, _ := spec["issuerRef"].(Object)
	kind, _ := ref["kind"].(string)
	if kind == "" {
		kind = "Issuer" // cert-manager's default issuerRef kind
	}
	key := issuerKey(kind, ns, fmt.Sprint(ref["name"]))
	iss, ok := issuers[key]
	if !ok || condition(iss, "Ready") != "True" {
		return s.setReady("/apis/cert-manager.io/v1", "certificates", c, false)
	}
	secretName := fmt.Sprint(spec["secretName"])
	renew := condition(c, "Issuing") == "True"
	_, err := s.cluster.Do(http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets/"+secretName, nil)
	exists := err == nil
	if exists && !renew {
		return s.setReady("/apis/cert-manager.io/v1", "certificates", c, true)
	}
	var names []string
	if cn, _ := spec["commonName"].(string); cn != "" {
		names = append(names, cn)
	}
	dns, _ := spec["dnsNames"].([]any)
	for _, d := range dns {
		names = append(names, fmt.Sprint(d))
	}
	if len(names) == 0 {
		names = []string{fmt.Sprint(meta(c)["name"])}
	}
	isCA, _ := spec["isCA"].(bool)
	var signer *authority
	if ca, _ := iss["spec"].(Object)["ca"].(Object); ca != nil {
		var err error
		if signer, err = s.caOf(fmt.Sprint(meta(iss)["namespace"]), fmt.Sprint(ca["secretName"])); err != nil {
			return err
		}
	} else { // selfSigned: the certificate signs itself
		self, err := newAuthority(names[0])
		if err != nil {
			return err
		}
		if err := s.writeTLSSecret(ns, secretName, exists, self.certPEM, self.keyPEM, self.certPEM); err != nil {
			return err
		}
		s.logf("cert-manager: %s issued (self-signed)", nameOf(c))
		return s.issued(c, renew)
	}
	crt, k, err := signer.sign(names, isCA)
	if err != nil {
		return err
	}
	if err := s.writeTLSSecret(ns, secretName, exists, crt, k, signer.certPEM); err != nil {
		return err
	}
	s.logf("cert-manager: %s issued by %s", nameOf(c), key)
	return s.issued(c, renew)
}

// issued sets Ready; after a renewal it also drops the Issuing condition.
func (s *Standins) issued(c Object, renewed bool) error {
	if !renewed {
		return s.setReady("/apis/cert-manager.io/v1", "certificates", c, true)
	}
	_, err := s.cluster.Do(http.MethodPatch, objectPath("/apis/cert-manager.io/v1", "certificates", c)+"/status", Object{"status": Object{
		"conditions": []any{Object{"type": "Ready", "status": "True", "reason": "StandIn",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}})
	return err
}

// issuerKey names an Issuer (namespaced) or a ClusterIssuer (not).
func issuerKey(kind, ns, name string) string {
	if kind == "ClusterIssuer" {
		ns = ""
	}
	return kind + "/" + ns + "/" + name
}

// writeTLSSecret creates the Secret, or rewrites the data of the one there (a renewal).
func (s *Standins) writeTLSSecret(ns, name string, exists bool, crt, key, ca []byte) error {
	data := Object{"tls.crt": b64(crt), "tls.key": b64(key), "ca.crt": b64(ca)}
	if exists {
		_, err := s.cluster.Do(http.MethodPatch, "/api/v1/namespaces/"+ns+"/secrets/"+name, Object{"data": data})
		return err
	}
	_, err := s.cluster.Do(http.MethodPost, "/api/v1/namespaces/"+ns+"/secrets", Object{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": Object{"name": name, "namespace": ns, "annotations": Object{"cert-manager.io/certificate-name": name}},
		"data":     data,
	})
	return err
}

// caOf is the key pair in a CA issuer's Secret.
func (s *Standins) caOf(ns, secret string) (*authority, error) {
	sec, err := s.cluster.Do(http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets/"+secret, nil)
	if err != nil {
		return nil, err
	}
	crt, key, pair, err := keyPair(sec)
	if err != nil {
		return nil, err
	}
	signer, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("secret %s/%s: the CA key is not ECDSA", ns, secret)
	}
	return &authority{cert: pair.Leaf, key: signer, certPEM: crt, keyPEM: key}, nil
}

// setReady writes the Ready condition when it changes.
func (s *Standins) setReady(prefix, resource string, o Object, ready bool) error {
	want := "False"
	if ready {
		want = "True"
	}
	if condition(o, "Ready") == want {
		return nil
	}
	_, err := s.cluster.Do(http.MethodPatch, objectPath(prefix, resource, o)+"/status", Object{"status": Object{
		"conditions": []any{Object{"type": "Ready", "status": want, "reason": "StandIn",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}})
	if err == nil && ready {
		s.logf("cert-manager: %s %s Ready", resource, nameOf(o))
	}
	return err
}

func condition(o Object, typ string) string {
	status, _ := o["status"].(Object)
	conds, _ := status["conditions"].([]any)
	for _, c := range conds {
		if co, _ := c.(Object); co["type"] == typ {
			return fmt.Sprint(co["status"])
		}
	}
	return ""
}
