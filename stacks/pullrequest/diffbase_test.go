package pullrequest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repo is a real git repository in a temporary directory.
type repo struct {
	t   *testing.T
	dir string
}

func (r repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %v: %v %s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (r repo) commit(file string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, file), []byte(file), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", file)
	r.git("commit", "-q", "-m", "add "+file)
	return r.git("rev-parse", "HEAD")
}

// changed lists the files that differ from base to head.
func (r repo) changed(base, head string) string {
	return strings.Join(strings.Fields(r.git("diff", "--name-status", base, head)), " ")
}

// A pull request branched from main; main moved on after the event's base commit; GitHub's
// merge commit joins them. The diff must show the pull request's change only, never main's
// newer commit reversed.
func TestDiffBaseIsWhatTheMergeChanges(t *testing.T) {
	r := repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("a")
	r.git("checkout", "-q", "-b", "feature")
	head := r.commit("feature-file")
	r.git("checkout", "-q", "main")
	eventBase := r.commit("main-1") // the base branch's tip when the event fired
	r.commit("main-2")              // and a newer one, merged into the merge commit GitHub made later
	r.git("merge", "-q", "--no-ff", "-m", "merge", "feature")

	p, err := DiffBase(t.Context(), r.dir, head, eventBase)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.changed(p.Base, p.Head); got != "A feature-file" || p.How != "the merge commit against its first parent" {
		t.Errorf("diff %s..%s (%s) changes %q, want only the pull request's file", p.Base[:7], p.Head[:7], p.How, got)
	}
	// What the old base selection showed: main's newer commit, reversed.
	if got := r.changed(eventBase, head); !strings.Contains(got, "D main-1") {
		t.Errorf("the event's base against the head: %q", got)
	}

	// No merge commit (the pull request conflicts, or the checkout is the head): the head
	// against its merge base, which is what the pull request changed.
	r.git("checkout", "-q", head)
	p, err = DiffBase(t.Context(), r.dir, head, eventBase)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.changed(p.Base, p.Head); got != "A feature-file" || p.How != "the head against its merge base" {
		t.Errorf("without a merge commit: %s..%s (%s) changes %q", p.Base[:7], p.Head[:7], p.How, got)
	}

	if _, err := DiffBase(t.Context(), r.dir, "HEAD; rm -rf /", eventBase); err == nil {
		t.Error("a head that is not a SHA was accepted")
	}
}
