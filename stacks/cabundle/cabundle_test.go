package cabundle

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is the time the tests' certificates are valid around; Reader.Now is set from it.
var base = time.Date(2030, time.June, 1, 0, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// certificate is a self-signed certificate named cn, valid from notBefore to notAfter, a CA
// certificate if ca, in PEM.
func certificate(t *testing.T, cn string, ca bool, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Amazon Web Services, Inc."}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{cn}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// validCA is a CA certificate valid for a year around base.
func validCA(t *testing.T, cn string) string {
	return certificate(t, cn, true, base.AddDate(0, -6, 0), base.AddDate(0, 6, 0))
}

// expiredCA is a CA certificate that expired a year before base.
func expiredCA(t *testing.T, cn string) string {
	return certificate(t, cn, true, base.AddDate(-3, 0, 0), base.AddDate(-1, 0, 0))
}

func privateKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// roundTripper records the URLs it is asked for and answers each with status and body, without
// the network.
type roundTripper struct {
	status int
	body   string

	mu   sync.Mutex
	urls []string
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, req.URL.String())
	rt.mu.Unlock()
	return &http.Response{
		StatusCode: rt.status,
		Status:     fmt.Sprintf("%d %s", rt.status, http.StatusText(rt.status)),
		Body:       io.NopCloser(strings.NewReader(rt.body)),
		Header:     http.Header{},
		Request:    req,
	}, nil
}

func (rt *roundTripper) requested() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.urls...)
}

func TestURL(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"us-west-2":     "https://truststore.pki.rds.amazonaws.com/us-west-2/us-west-2-bundle.pem",
		"eu-central-1":  "https://truststore.pki.rds.amazonaws.com/eu-central-1/eu-central-1-bundle.pem",
		"us-gov-west-1": "https://truststore.pki.rds.amazonaws.com/us-gov-west-1/us-gov-west-1-bundle.pem",
	} {
		if got := URL(region); got != want {
			t.Errorf("URL(%q) = %q, want %q", region, got, want)
		}
	}
}

func TestReadFromHTTPS(t *testing.T) {
	t.Parallel()
	bundle := validCA(t, "Amazon RDS us-west-2 Root CA RSA2048 G1") + validCA(t, "Amazon RDS us-west-2 Root CA ECC384 G1")
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/rds/bundle.pem" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, bundle)
	}))
	t.Cleanup(srv.Close)
	r := Reader{Client: srv.Client(), Now: at(base)}

	got, err := r.Read(context.Background(), srv.URL+"/rds/bundle.pem", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	if got != bundle {
		t.Errorf("Read returned %d bytes, not the %d bytes served", len(got), len(bundle))
	}

	missing := srv.URL + "/rds/missing.pem"
	_, err = r.Read(context.Background(), missing, "us-west-2")
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404: %v, want an error naming %s and the status", err, missing)
	}

	mu.Lock()
	defer mu.Unlock()
	if strings.Join(paths, " ") != "/rds/bundle.pem /rds/missing.pem" {
		t.Errorf("the server was asked for %v", paths)
	}
}

// What is fetched is checked as a file is: a page that is not a bundle is refused, naming
// the URL.
func TestReadFromHTTPSChecksTheBundle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html><body>Sign in to the proxy</body></html>\n")
	}))
	t.Cleanup(srv.Close)
	_, err := Reader{Client: srv.Client(), Now: at(base)}.Read(context.Background(), srv.URL+"/bundle.pem", "us-west-2")
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/bundle.pem") || !strings.Contains(err.Error(), "is not a PEM bundle") {
		t.Errorf("an HTML page: %v", err)
	}
}

// An empty source is the region's bundle in AWS's trust store.
func TestReadDefaultsToTheRegionsBundle(t *testing.T) {
	t.Parallel()
	rt := &roundTripper{status: http.StatusNotFound, body: "not here"}
	_, err := Reader{Client: &http.Client{Transport: rt}}.Read(context.Background(), "", "us-west-2")
	want := "https://truststore.pki.rds.amazonaws.com/us-west-2/us-west-2-bundle.pem"
	if got := rt.requested(); len(got) != 1 || got[0] != want {
		t.Errorf("requested %v, want [%s]", got, want)
	}
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("a 404 from the trust store: %v, want an error naming %s and the status", err, want)
	}
}

// Only https:// sources are fetched: anything else is a path, never a plain-HTTP request.
func TestReadFetchesHTTPSOnly(t *testing.T) {
	t.Parallel()
	rt := &roundTripper{status: http.StatusOK, body: validCA(t, "served")}
	r := Reader{Client: &http.Client{Transport: rt}, Now: at(base)}
	for _, src := range []string{"http://mirror.example.com/rds.pem", "ftp://mirror.example.com/rds.pem"} {
		if _, err := r.Read(context.Background(), src, "us-west-2"); err == nil {
			t.Errorf("%s was read", src)
		}
	}
	if got := rt.requested(); len(got) != 0 {
		t.Errorf("requested %v", got)
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	valid := validCA(t, "Amazon RDS us-west-2 Root CA RSA2048 G1")
	expired := expiredCA(t, "Amazon RDS us-west-2 CA 2019")
	leaf := certificate(t, "kong.abc123.us-west-2.rds.amazonaws.com", false, base.AddDate(0, -1, 0), base.AddDate(0, 1, 0))
	key := privateKeyPEM(t)
	// Padding after the certificate: whitespace is allowed around PEM blocks.
	padded := func(size int) string { return valid + strings.Repeat("\n", size-len(valid)) }

	for _, c := range []struct {
		name, content string
		now           time.Time
		errs          []string // empty: accepted
	}{
		{"one valid CA", valid, base, nil},
		{"one expired CA and one valid", expired + valid, base, nil},
		{"one valid CA and one expired", valid + expired, base, nil},
		{"a CA not valid yet and one valid", certificate(t, "next", true, base.AddDate(1, 0, 0), base.AddDate(5, 0, 0)) + valid, base, nil},
		{"with CRLF line ends", strings.ReplaceAll(valid, "\n", "\r\n"), base, nil},
		{"exactly 1 MiB", padded(maxSize), base, nil},
		{"larger than 1 MiB", padded(maxSize + 1), base, []string{"is larger than 1048576 bytes: not a CA bundle"}},
		{"a leaf certificate", valid + leaf, base, []string{"certificate 2 (kong.abc123.us-west-2.rds.amazonaws.com) is not a CA certificate"}},
		{"only expired CAs", expired + expiredCA(t, "Amazon RDS us-west-2 CA 2015"), base, []string{"none of its 2 certificates is valid now"}},
		{"valid CAs seen after they expire", valid, base.AddDate(1, 0, 0), []string{"none of its 1 certificates is valid now"}},
		{"valid CAs seen before they start", valid, base.AddDate(-1, 0, 0), []string{"none of its 1 certificates is valid now"}},
		{"a private key", valid + key, base, []string{"holds a PRIVATE KEY block: a CA bundle holds certificates only"}},
		{"a private key first", key + valid, base, []string{"holds a PRIVATE KEY block"}},
		{"text that is not PEM", "this is not a certificate bundle\n", base, []string{"is not a PEM bundle of certificates"}},
		{"text after the certificates", valid + "trailing junk\n", base, []string{"is not a PEM bundle of certificates"}},
		{"a broken certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", base, []string{"certificate 1:"}},
		{"an empty file", "", base, []string{"holds no certificate"}},
		{"only whitespace", "\n\n  \n", base, []string{"holds no certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "bundle.pem", c.content)
			got, err := Reader{Now: at(c.now)}.Read(context.Background(), path, "us-west-2")
			if len(c.errs) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got != c.content {
					t.Errorf("Read returned %d bytes, not the file's %d", len(got), len(c.content))
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got != "" {
				t.Errorf("a refused bundle returned %d bytes", len(got))
			}
			for _, want := range append([]string{path}, c.errs...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%v does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("the error echoes the file: %v", err)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.pem")
	if _, err := (Reader{}).Read(context.Background(), path, "us-west-2"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a missing file: %v, want an error naming %s", err, path)
	}
}

// Without Now, certificates are checked at the current time.
func TestReadChecksAtTheCurrentTime(t *testing.T) {
	t.Parallel()
	now := time.Now()
	current := certificate(t, "current", true, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := Read(context.Background(), writeFile(t, "current.pem", current), "us-west-2"); err != nil {
		t.Errorf("a CA valid now: %v", err)
	}
	past := certificate(t, "past", true, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if _, err := Read(context.Background(), writeFile(t, "past.pem", past), "us-west-2"); err == nil || !strings.Contains(err.Error(), "is valid now") {
		t.Errorf("a CA that expired an hour ago: %v", err)
	}
}

// A redirect from https to plain http is refused: the bundle could be swapped there.
func TestReadRefusesARedirectToHTTP(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, validCA(t, "Amazon RDS us-west-2 Root CA RSA2048 G1"))
	}))
	t.Cleanup(plain.Close)
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/bundle.pem", http.StatusFound))
	t.Cleanup(srv.Close)
	_, err := Reader{Client: srv.Client(), Now: at(base)}.Read(context.Background(), srv.URL+"/bundle.pem", "us-west-2")
	if err == nil || !strings.Contains(err.Error(), "https only") {
		t.Errorf("a redirect to http: %v, want it refused", err)
	}
}
