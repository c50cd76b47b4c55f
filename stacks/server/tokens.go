package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// tokenFile is a token file: static API tokens, each kept as the SHA-256 of the token (never
// the token), with its tenant, role and optional expiry.
//
//	{"tokens": [{"id": "team-a-ci", "sha256": "<64 hex>", "tenant": "team-a", "role": "deployer",
//	             "expires": "2027-06-30T00:00:00Z"}]}
type tokenFile struct {
	Tokens []tokenEntry `json:"tokens"`
}

type tokenEntry struct {
	ID      string     `json:"id"`
	SHA256  string     `json:"sha256"`
	Tenant  string     `json:"tenant"`
	Role    Role       `json:"role"`
	Expires *time.Time `json:"expires,omitempty"`
}

// tokenStore authenticates static API tokens from a file, or from every file of a directory (a
// Kubernetes Secret mount: each key a file; the kubelet swaps the ..data link on change). It
// re-reads them when they change, at most once a second; a change that does not parse keeps
// the tokens it had and logs why, so a bad edit never locks everyone out, and revoking a token
// is deleting its entry.
type tokenStore struct {
	path    string
	tenants map[string]*Tenant
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	byHash  map[string]tokenEntry
	stamp   string
	checked time.Time
}

// newTokenStore loads the tokens at path: an error here (a missing or bad file) stops the
// service at start.
func newTokenStore(path string, tenants map[string]*Tenant, log *slog.Logger) (*tokenStore, error) {
	s := &tokenStore{path: path, tenants: tenants, log: log, now: time.Now}
	stamp, err := s.stampOf()
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	byHash, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	s.byHash, s.stamp, s.checked = byHash, stamp, s.now()
	return s, nil
}

// files are the token files: path itself, or the regular files of the directory path (not
// the Secret mount's dot entries).
func (s *tokenStore) files() ([]string, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{s.path}, nil
	}
	entries, err := os.ReadDir(s.path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(s.path, e.Name())
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the directory holds no token file")
	}
	sort.Strings(out)
	return out, nil
}

// stampOf identifies the files' current content cheaply: names, sizes, modification times.
func (s *tokenStore) stampOf() (string, error) {
	files, err := s.files()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// read parses and checks every token file, reporting every problem at once.
func (s *tokenStore) read() (map[string]tokenEntry, error) {
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	out := map[string]tokenEntry{}
	ids := map[string]bool{}
	var problems []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc tokenFile
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", filepath.Base(f), err))
			continue
		}
		for i, t := range doc.Tokens {
			where := fmt.Sprintf("%s: tokens[%d]", filepath.Base(f), i)
			sum, err := hex.DecodeString(t.SHA256)
			switch {
			case t.ID == "":
				problems = append(problems, where+".id: required")
			case ids[t.ID]:
				problems = append(problems, fmt.Sprintf("%s.id: %q is used twice", where, t.ID))
			}
			if err != nil || len(sum) != sha256.Size {
				problems = append(problems, where+".sha256: expected the token's SHA-256 as 64 hex digits (sha256sum of the token)")
			}
			if s.tenants[t.Tenant] == nil {
				problems = append(problems, fmt.Sprintf("%s.tenant: %q is not a tenant of the access policy", where, t.Tenant))
			}
			if !t.Role.valid() {
				problems = append(problems, fmt.Sprintf("%s.role: expected viewer, deployer or admin, got %q", where, t.Role))
			}
			ids[t.ID] = true
			out[strings.ToLower(t.SHA256)] = t
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// refresh re-reads the files if they changed since the last look (at most once a second).
func (s *tokenStore) refresh() {
	now := s.now()
	if now.Sub(s.checked) < time.Second {
		return
	}
	s.checked = now
	stamp, err := s.stampOf()
	if err != nil {
		s.log.Error("token file unreadable: keeping the tokens loaded before", "path", s.path, "error", err)
		return
	}
	if stamp == s.stamp {
		return
	}
	byHash, err := s.read()
	if err != nil {
		s.log.Error("token file changed but is invalid: keeping the tokens loaded before", "path", s.path, "error", err)
		return
	}
	s.byHash, s.stamp = byHash, stamp
	s.log.Info("token file reloaded", "path", s.path, "tokens", len(byHash))
}

// authenticate finds the token's principal, or says why it is refused. The token is looked
// up by its SHA-256: what an attacker controls is the token, not its digest, so the map
// lookup leaks nothing useful about a valid one.
func (s *tokenStore) authenticate(token string) (*Principal, string) {
	sum := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	t, ok := s.byHash[hex.EncodeToString(sum[:])]
	if !ok {
		return nil, "unknown or revoked token"
	}
	if t.Expires != nil && !s.now().Before(*t.Expires) {
		return nil, "token " + t.ID + " expired at " + t.Expires.UTC().Format(time.RFC3339)
	}
	return &Principal{ID: "token:" + t.ID, Tenant: t.Tenant, Role: t.Role}, ""
}
