package stacks_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// issue makes a certificate for the domain's names with the key, valid from notBefore to
// notAfter.
func issue(t *testing.T, key crypto.Signer, notBefore, notAfter time.Time) (cert, pemKey string) {
	t.Helper()
	return testkit.Issue(t, key, notBefore, notAfter, "*.eks.example.com", "eks.example.com")
}

// The rules of ACM's ImportCertificate (ACM API reference: "the private key that matches the
// certificate", "must be unencrypted", "The current time must be between the Not Before and
// Not After certificate fields", the size limits) and of an ALB listener (no Ed25519 keys).
func TestImportedCertificateAsACMImportsIt(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body, key := issue(t, ec, now.Add(-time.Hour), now.Add(24*time.Hour))
	otherBody, _ := issue(t, mustECDSA(t), now.Add(-time.Hour), now.Add(24*time.Hour))
	expired, expiredKey := issue(t, ec, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future, futureKey := issue(t, ec, now.Add(24*time.Hour), now.Add(48*time.Hour))
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, weakKey := issue(t, rsa1024, now.Add(-time.Hour), now.Add(24*time.Hour))
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, edKey := issue(t, edPriv, now.Add(-time.Hour), now.Add(24*time.Hour))
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"

	for _, c := range []struct {
		name, body, key, chain string
		problemKey, message    string
	}{
		{"a matching pair", body, key, "", "", ""},
		{"another certificate's key", otherBody, key, "", "kong-alb-eks:certificatePrivateKey", "does not belong to certificateBody's certificate"},
		{"expired", expired, expiredKey, "", "kong-alb-eks:certificateBody", "the certificate expired on"},
		{"not valid yet", future, futureKey, "", "kong-alb-eks:certificateBody", "the certificate is not valid before"},
		{"an encrypted key", body, encrypted, "", "kong-alb-eks:certificatePrivateKey", "the key is encrypted"},
		{"a 1024-bit RSA key", weak, weakKey, "", "kong-alb-eks:certificatePrivateKey", "an RSA key of 1024 bits"},
		{"an Ed25519 key", ed, edKey, "", "kong-alb-eks:certificatePrivateKey", "an ALB does not serve Ed25519 certificates"},
		{"a chain with a key in it", body, key, otherBody + key, "kong-alb-eks:certificateChain", "is a PRIVATE KEY, expected only certificates"},
		{"a body too large", body + strings.Repeat("#", 32768), key, "", "kong-alb-eks:certificateBody", "more than the 32768 ACM imports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.Certificate.Mode = stacks.CertificateImport
			cfg.Certificate.Body, cfg.Certificate.PrivateKey, cfg.Certificate.Chain = c.body, stacks.Secret(c.key), c.chain
			err := cfg.Validate()
			if c.message == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			problems := problemsOf(t, err)
			if len(problems) != 1 || problems[0].Key != c.problemKey || !strings.Contains(problems[0].Message, c.message) {
				t.Errorf("problems = %v, want one for %s saying %q", problems, c.problemKey, c.message)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") && c.problemKey == "kong-alb-eks:certificatePrivateKey" {
				t.Errorf("the key's value is echoed: %v", err)
			}
		})
	}
}

func mustECDSA(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ACM puts the request's first name, *.DOMAIN, in the subject common name, which has at most
// 64 characters (ACM API reference, RequestCertificate).
func TestACMRequestFitsTheCommonName(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.Domain = strings.Repeat("a", 62-len(".example.com")) + ".example.com"
	if err := c.Validate(); err != nil {
		t.Fatalf("a 62-character domain: %v", err)
	}
	c.Domain = "b" + c.Domain
	problems := problemsOf(t, c.Validate())
	if len(problems) != 1 || problems[0].Key != "kong-alb-eks:domain" || !strings.Contains(problems[0].Message, "ACM requests for at most 64") {
		t.Errorf("problems = %v", problems)
	}
	c.Certificate.Mode, c.Certificate.ARN = stacks.CertificateARN, "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	if err := c.Validate(); err != nil {
		t.Errorf("an existing certificate has no such limit: %v", err)
	}
}
