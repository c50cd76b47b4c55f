package stacks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"
)

// The certificate the ALB serves: one mode, and for an imported certificate what ACM's
// ImportCertificate accepts (ACM API reference, ImportCertificate; ACM User Guide,
// "Prerequisites for importing certificates") and an ALB listener can use.

// ACM's size limits on an import, in bytes (the ACM API's CertificateBodyBlob,
// CertificateChainBlob and PrivateKeyBlob).
const (
	maxCertificateBody  = 32768
	maxCertificateChain = 2097152
	maxPrivateKey       = 5120
)

func (c Config) validateCertificate(p *Problems) {
	cert := c.Certificate
	given := map[string]bool{
		"certificateArn": cert.ARN != "", "certificateBody": cert.Body != "",
		"certificateChain": cert.Chain != "", "certificatePrivateKey": cert.PrivateKey != "",
	}
	needs := map[string][]string{
		CertificateACM:    nil,
		CertificateImport: {"certificateBody", "certificatePrivateKey"},
		CertificateARN:    {"certificateArn"},
	}
	allowed := map[string][]string{
		CertificateACM:    nil,
		CertificateImport: {"certificateBody", "certificateChain", "certificatePrivateKey"},
		CertificateARN:    {"certificateArn"},
	}
	need, ok := needs[cert.Mode]
	if !ok {
		p.add(key("certificateMode"), "expected %q (a new ACM certificate validated in Route53), %q (PEM body and key) or %q (an existing ACM certificate), got %q",
			CertificateACM, CertificateImport, CertificateARN, cert.Mode)
		return
	}
	for _, n := range need {
		if !given[n] {
			p.add(key(n), "required when certificateMode is %q", cert.Mode)
		}
	}
	for _, n := range []string{"certificateArn", "certificateBody", "certificateChain", "certificatePrivateKey"} {
		if given[n] && !contains(allowed[cert.Mode], n) {
			p.add(key(n), "must not be set when certificateMode is %q: exactly one certificate mode applies", cert.Mode)
		}
	}
	switch cert.Mode {
	case CertificateACM:
		// ACM puts the first name of a request, here *.DOMAIN, in the certificate's subject
		// common name, which RFC 5280 limits to 64 characters (ACM API reference,
		// RequestCertificate: "cannot exceed 64 octets").
		if wildcard := "*." + c.Domain; len(wildcard) > 64 {
			p.add(key("domain"), "%s is %d characters, but ACM requests for at most 64: use a domain of at most 62 characters, or certificateMode import or arn", wildcard, len(wildcard))
		}
	case CertificateARN:
		if m := acmARN.FindStringSubmatch(cert.ARN); cert.ARN != "" && m == nil {
			p.add(key("certificateArn"), "expected an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:certificate/<uuid>, got %q", cert.ARN)
		} else if m != nil && m[1] != c.Region {
			p.add(key("certificateArn"), "the certificate is in %s but the ALB is in %s: an ALB can only serve certificates of its own region", m[1], c.Region)
		}
	case CertificateImport:
		c.validateImportedCertificate(p)
	}
}

func (c Config) validateImportedCertificate(p *Problems) {
	cert := c.Certificate
	var parsed *x509.Certificate
	if cert.Body != "" {
		parsed = c.checkCertificateBody(p)
	}
	if cert.Chain != "" {
		checkCertificateChain(p, cert.Chain)
	}
	if cert.PrivateKey != "" {
		checkPrivateKey(p, cert.PrivateKey.Reveal(), parsed)
	}
}

// checkCertificateBody checks the certificate itself and returns it when it parses.
func (c Config) checkCertificateBody(p *Problems) *x509.Certificate {
	k := key("certificateBody")
	body := c.Certificate.Body
	if len(body) > maxCertificateBody {
		p.add(k, "%d bytes is more than the %d ACM imports", len(body), maxCertificateBody)
		return nil
	}
	block, _ := pem.Decode([]byte(body))
	if block == nil || block.Type != "CERTIFICATE" {
		p.add(k, "expected a PEM certificate (-----BEGIN CERTIFICATE-----)")
		return nil
	}
	parsed, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		p.add(k, "the PEM certificate does not parse: %v", err)
		return nil
	}
	now := time.Now()
	switch {
	case parsed.Version != 3:
		p.add(k, "an X.509 version %d certificate: ACM imports version 3 only", parsed.Version)
	case len(parsed.Issuer.Names) == 0:
		p.add(k, "the certificate has no issuer: ACM refuses it")
	case now.Before(parsed.NotBefore):
		p.add(k, "the certificate is not valid before %s: ACM imports a certificate only within its validity period", parsed.NotBefore.UTC().Format(time.RFC3339))
	case now.After(parsed.NotAfter):
		p.add(k, "the certificate expired on %s: import a renewed one", parsed.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.Domain != "" {
		for _, host := range []string{"proxy." + c.Domain, c.Domain} {
			if parsed.VerifyHostname(host) != nil {
				p.add(k, "the certificate does not cover %s (it needs *.%s and %s)", host, c.Domain, c.Domain)
			}
		}
	}
	return parsed
}

func checkCertificateChain(p *Problems, chain string) {
	k := key("certificateChain")
	if len(chain) > maxCertificateChain {
		p.add(k, "%d bytes is more than the %d ACM imports", len(chain), maxCertificateChain)
		return
	}
	rest := []byte(chain)
	for n := 0; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n == 0 || strings.TrimSpace(string(rest)) != "" {
				p.add(k, "expected PEM certificates (-----BEGIN CERTIFICATE-----)")
			}
			return
		}
		if block.Type != "CERTIFICATE" {
			p.add(k, "block %d is a %s, expected only certificates", n+1, block.Type)
			return
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			p.add(k, "certificate %d does not parse: %v", n+1, err)
			return
		}
	}
}

// checkPrivateKey checks the key against what ACM imports and an ALB serves, and against the
// certificate when it parsed. No message includes the key.
func checkPrivateKey(p *Problems, pemKey string, cert *x509.Certificate) {
	k := key("certificatePrivateKey")
	if len(pemKey) > maxPrivateKey {
		p.add(k, "%d bytes is more than the %d ACM imports", len(pemKey), maxPrivateKey)
		return
	}
	block, _ := pem.Decode([]byte(pemKey))
	switch {
	case block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY"):
		p.add(k, "expected a PEM private key (-----BEGIN PRIVATE KEY-----)")
		return
	case block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
		p.add(k, "the key is encrypted: ACM imports only an unencrypted key (decrypt it, for example with openssl pkey)")
		return
	}
	priv, err := parsePrivateKey(block)
	if err != nil {
		p.add(k, "the private key does not parse: %v", err)
		return
	}
	switch priv := priv.(type) {
	case *rsa.PrivateKey:
		if bits := priv.N.BitLen(); bits != 2048 && bits != 3072 && bits != 4096 {
			p.add(k, "an RSA key of %d bits: an ALB serves RSA keys of 2048, 3072 or 4096 bits", bits)
		}
	case *ecdsa.PrivateKey:
		if name := priv.Curve.Params().Name; name != "P-256" && name != "P-384" && name != "P-521" {
			p.add(k, "an ECDSA key on curve %s: ACM imports P-256, P-384 and P-521 only", name)
		}
	case ed25519.PrivateKey:
		p.add(k, "an Ed25519 key: an ALB does not serve Ed25519 certificates; use RSA (2048 bits or more) or ECDSA")
	}
	type public interface{ Equal(crypto.PublicKey) bool }
	if signer, ok := priv.(crypto.Signer); ok && cert != nil {
		if eq, ok := signer.Public().(public); ok && !eq.Equal(cert.PublicKey) {
			p.add(k, "the key does not belong to certificateBody's certificate: ACM imports only the certificate's own key")
		}
	}
}

// parsePrivateKey reads a PKCS #8, PKCS #1 (RSA) or SEC 1 (EC) key.
func parsePrivateKey(block *pem.Block) (any, error) {
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}
