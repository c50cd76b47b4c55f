package pullrequest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub serves the REST endpoints the comments use: one pull request and its comments,
// paged 100 at a time as GitHub pages them (a Link header to the next page).
type fakeGitHub struct {
	mu       sync.Mutex
	srv      *httptest.Server
	headSHA  string
	headRepo string
	comments []issueComment
	created  int
	patched  []int64
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{headSHA: sha, headRepo: "fork-owner/kong-alb-eks"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/o/r/pulls/17", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"head":{"sha":%q,"repo":{"full_name":%q}}}`, f.headSHA, f.headRepo)
	})
	mux.HandleFunc("GET /repos/o/r/issues/17/comments", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		from, to := (page-1)*100, min(page*100, len(f.comments))
		if to < len(f.comments) {
			w.Header().Set("Link", fmt.Sprintf(`<%s/repos/o/r/issues/17/comments?per_page=100&page=%d>; rel="next"`, f.srv.URL, page+1))
		}
		_ = json.NewEncoder(w).Encode(f.comments[min(from, to):to])
	})
	mux.HandleFunc("POST /repos/o/r/issues/17/comments", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		c := issueComment{ID: int64(1000 + len(f.comments)), Body: b["body"]}
		c.User.Login = DefaultBot
		f.comments = append(f.comments, c)
		f.created++
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("PATCH /repos/o/r/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		for i := range f.comments {
			if f.comments[i].ID == id {
				f.comments[i].Body = b["body"]
			}
		}
		f.patched = append(f.patched, id)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer gh-token" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) add(login, body string) {
	c := issueComment{ID: int64(len(f.comments) + 1), Body: body}
	c.User.Login = login
	f.comments = append(f.comments, c)
}

func (f *fakeGitHub) env(k string) string {
	return map[string]string{"GITHUB_API_URL": f.srv.URL, "GITHUB_TOKEN": "gh-token", "GITHUB_REPOSITORY": "o/r"}[k]
}

func writeArtifact(t *testing.T, root, stack, head string) {
	dir := filepath.Join(root, "synth-diff-"+stack)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"pr-number": "17", "stack": stack, "head-sha": head, "diff.txt": "2 added", "estimate.txt": "e"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Our earlier comment is found on any page and updated, never duplicated; a comment someone
// else wrote with our marker is not ours; an artifact from another commit or a pull request
// that moved on gets no comment.
func TestSynthDiffCommentsAreUpserted(t *testing.T) {
	gh := newFakeGitHub(t)
	for i := range 250 { // two and a half pages of chatter
		gh.add("someone", fmt.Sprintf("comment %d", i))
	}
	gh.add("mallory", Marker(KindSynthDiff, "dev")+"\nforged")
	gh.add(DefaultBot, Marker(KindSynthDiff, "dev")+"\nthe old diff")
	ours := gh.comments[len(gh.comments)-1].ID
	arts := t.TempDir()
	writeArtifact(t, arts, "dev", sha)
	writeArtifact(t, arts, "prod", sha)

	var stdout, stderr bytes.Buffer
	args := []string{"synth-diff-comment", "--artifacts", arts, "--run-head-sha", sha, "--run-head-repo", "Fork-Owner/kong-alb-eks"}
	if code := Command(args, &stdout, &stderr, gh.env); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if len(gh.patched) != 1 || gh.patched[0] != ours || gh.created != 1 {
		t.Errorf("patched %v (ours is %d), created %d: want ours updated and prod's created", gh.patched, ours, gh.created)
	}
	if forged := gh.comments[len(gh.comments)-3]; forged.Body != Marker(KindSynthDiff, "dev")+"\nforged" {
		t.Errorf("another user's comment was edited: %q", forged.Body)
	}

	// The pull request moved on, or comes from elsewhere: nothing is posted, and it says why.
	for _, tc := range []struct {
		name        string
		sha, repo   string
		devArtifact string
		wantWrites  int
	}{
		{"moved on", strings.Repeat("e", 40), "fork-owner/kong-alb-eks", sha, 0},
		{"another fork", sha, "someone-else/kong-alb-eks", sha, 0},
		{"an artifact of another commit", sha, "fork-owner/kong-alb-eks", strings.Repeat("d", 40), 1}, // prod's is still good
	} {
		name := tc.name
		edit := func() { gh.headSHA, gh.headRepo = tc.sha, tc.repo; writeArtifact(t, arts, "dev", tc.devArtifact) }
		edit()
		before := len(gh.patched) + gh.created
		stderr.Reset()
		if code := Command(args, &stdout, &stderr, gh.env); code != 1 || len(gh.patched)+gh.created != before+tc.wantWrites {
			t.Errorf("%s: exit %d, %d writes: %s", name, code, len(gh.patched)+gh.created-before, stderr.String())
		}
		if !strings.Contains(stderr.String(), "not") {
			t.Errorf("%s: no reason given: %s", name, stderr.String())
		}
	}
}

// A next-page link to another host would carry the token there: refused.
func TestPagesStayOnTheAPIHost(t *testing.T) {
	h := http.Header{}
	h.Set("Link", `<https://evil.example/steal?page=2>; rel="next"`)
	if _, err := nextPage(h, "https://api.github.com"); err == nil {
		t.Error("a next page on another host was followed")
	}
	h.Set("Link", `<https://api.github.com/repos/o/r/issues/1/comments?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`)
	if next, err := nextPage(h, "https://api.github.com"); err != nil || !strings.HasSuffix(next, "page=2") {
		t.Errorf("next page %q, %v", next, err)
	}
}

// download-artifact unpacks one matching artifact straight into the directory: that one is
// posted too.
func TestASingleArtifactIsPosted(t *testing.T) {
	gh := newFakeGitHub(t)
	root := t.TempDir()
	writeArtifact(t, root, "dev", sha)
	single := filepath.Join(root, "synth-diff-dev") // as if downloaded alone into this directory
	var stdout, stderr bytes.Buffer
	args := []string{"synth-diff-comment", "--artifacts", single, "--run-head-sha", sha, "--run-head-repo", "fork-owner/kong-alb-eks"}
	if code := Command(args, &stdout, &stderr, gh.env); code != 0 || gh.created != 1 {
		t.Errorf("exit %d, %d comments created: %s", code, gh.created, stderr.String())
	}
}
