// Package cabundle reads the certificate authorities Kong verifies its RDS database against:
// by default the region's bundle from AWS's trust store, as the RDS User Guide ("Using SSL/TLS
// to encrypt a connection to a DB instance") publishes it; or a bundle the stack names, from
// an https:// URL or a local file (for deploy machines that reach neither, a mirror).
//
// It is read on every deployment, before anything is registered: the bundle is fetched, as
// the charts are, and a bundle AWS has added a CA to reaches Kong with the next up, shown in
// its preview. What is read must be a bundle of CA certificates of which one at least is
// valid now; anything else stops the run.
package cabundle

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// URL is the region's bundle in AWS's trust store: every RDS CA of the region (the RSA2048,
// RSA4096 and ECC384 G1 roots, and the older ones still in use).
func URL(region string) string {
	return fmt.Sprintf("https://truststore.pki.rds.amazonaws.com/%s/%s-bundle.pem", region, region)
}

// maxSize bounds what is read: a region's bundle is a few tens of kilobytes.
const maxSize = 1 << 20

// Reader reads bundles.
type Reader struct {
	// Client fetches URLs; nil is a client with a one-minute timeout.
	Client *http.Client
	// Now is the time certificates are checked at; nil is time.Now.
	Now func() time.Time
}

// Read returns the bundle src names (empty: the region's from AWS), checked.
func (r Reader) Read(ctx context.Context, src, region string) (string, error) {
	if src == "" {
		src = URL(region)
	}
	var data []byte
	var err error
	if strings.HasPrefix(src, "https://") {
		data, err = r.fetch(ctx, src)
	} else {
		data, err = readFile(src)
	}
	if err != nil {
		return "", err
	}
	if err := r.check(data); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	return string(data), nil
}

// Read is Reader{}.Read.
func Read(ctx context.Context, src, region string) (string, error) {
	return Reader{}.Read(ctx, src, region)
}

func (r Reader) fetch(ctx context.Context, url string) ([]byte, error) {
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	// A redirect must not take the bundle to plain HTTP, where it could be swapped.
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("refusing the redirect to %s: the bundle is fetched over https only", req.URL)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	client = &c
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	return readLimited(resp.Body, url)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path)
}

func readLimited(r io.Reader, src string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a CA bundle", src, maxSize)
	}
	return data, nil
}

// check requires PEM CERTIFICATE blocks only, each a CA certificate, one at least valid now.
// Text between the blocks (a bundle's comments) is ignored, as OpenSSL and Kong ignore it;
// text after the last one is not a certificate and is refused.
func (r Reader) check(data []byte) error {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	var cas, valid int
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block: a CA bundle holds certificates only", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", cas+1, err)
		}
		if !cert.IsCA {
			return fmt.Errorf("certificate %d (%s) is not a CA certificate", cas+1, cert.Subject.CommonName)
		}
		cas++
		if now.After(cert.NotBefore) && now.Before(cert.NotAfter) {
			valid++
		}
	}
	switch {
	case strings.TrimSpace(string(rest)) != "":
		return errors.New("is not a PEM bundle of certificates")
	case cas == 0:
		return errors.New("holds no certificate")
	case valid == 0:
		return fmt.Errorf("none of its %d certificates is valid now", cas)
	}
	return nil
}
