// Package testkit holds the helpers the test packages share: requiring the Pulumi CLI, and a
// certificate for imported-certificate configurations.
package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os/exec"
	"testing"
	"time"
)

// RequirePulumi fails the test when the Pulumi CLI is not on PATH: the Automation API needs
// it, and `make test` builds it (.ci/install-pulumi.sh) and puts it there.
func RequirePulumi(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("pulumi"); err != nil {
		t.Fatalf("the Pulumi CLI is not on PATH: run `make test`, which builds it with .ci/install-pulumi.sh and puts it on PATH (%v)", err)
	}
}

// SelfSigned makes a PEM certificate and its key for the names (the first is the subject),
// valid from an hour ago for 90 days.
func SelfSigned(t testing.TB, names ...string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Issue(t, k, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), names...)
}

// Issue makes a PEM certificate for the names (the first is the subject), signed by its own key,
// valid from notBefore to notAfter, and the key in PKCS #8 PEM.
func Issue(t testing.TB, key crypto.Signer, notBefore, notAfter time.Time, names ...string) (cert, pemKey string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// CA makes a PEM CA certificate named name (self-signed, for certificate signing), valid from
// notBefore to notAfter.
func CA(t testing.TB, name string, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
