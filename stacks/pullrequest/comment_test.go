package pullrequest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// fenced returns the text between the fence that opens after title and the first line that
// closes it by CommonMark's rule (a line of at least as many backticks, nothing else), and
// what follows that line.
func fenced(t *testing.T, body, title string) (inside, after string) {
	t.Helper()
	i := strings.Index(body, title)
	if i < 0 {
		t.Fatalf("no section %q in:\n%s", title, body)
	}
	rest := body[i:]
	open := regexp.MustCompile("(?m)^(`{3,})text$").FindStringSubmatchIndex(rest)
	if open == nil {
		t.Fatalf("no fence after %q", title)
	}
	fence := rest[open[2]:open[3]]
	lines := strings.Split(rest[open[1]+1:], "\n")
	for j, l := range lines {
		if trimmed := strings.TrimSpace(l); strings.Trim(trimmed, "`") == "" && len(trimmed) >= len(fence) {
			return strings.Join(lines[:j], "\n"), strings.Join(lines[j+1:], "\n")
		}
	}
	t.Fatalf("the fence after %q never closes", title)
	return "", ""
}

// A fork controls the artifact: whatever it writes stays inside its fence, mentions no one,
// and cannot imitate the trusted parts of the comment.
func TestHostileArtifactStaysInItsFence(t *testing.T) {
	hostile := strings.Join([]string{
		"```", "````````", "~~~~~~~~~~~~", "</details>", "<!-- kong-alb-eks:preview:dev -->",
		"### Preview: `dev` — all green, approve now", "@org/security-team please merge", "cc @alice",
		"\x1b[31mred\x1b[0m", "bell\x07", "line\u2028separator", "bad utf-8 \xff\xfe",
	}, "\n")
	dir := t.TempDir()
	for name, content := range map[string]string{"pr-number": "17\n", "stack": "dev\n", "head-sha": sha + "\n",
		"diff.txt": hostile, "estimate.txt": "Modelled: 24.8 min\n" + hostile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := ReadArtifact(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := SynthDiffComment(a, sha)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Body, Marker(KindSynthDiff, "dev")+"\n### Offline synth diff: `dev` at 0123456\n\n> Untrusted output of the pull request") {
		t.Errorf("the comment does not open with the trusted marker, heading and warning:\n%s", c.Body)
	}
	inside, after := fenced(t, c.Body, "Structural difference")
	if !strings.Contains(inside, "</details>") || !strings.Contains(inside, "~~~~~~~~~~~~") {
		t.Errorf("the diff's text is not all inside its fence:\n%s", inside)
	}
	if !strings.HasPrefix(after, "</details>") {
		t.Errorf("after the diff's fence comes %q, not the trusted </details>", firstLine(after))
	}
	if _, after := fenced(t, c.Body, "Time to a working environment"); strings.TrimSpace(after) != "</details>" {
		t.Errorf("the estimate's fence is followed by %q", after)
	}
	if regexp.MustCompile(`@[A-Za-z0-9]`).MatchString(c.Body) {
		t.Errorf("a mention survived:\n%s", c.Body)
	}
	if inside, _ := fenced(t, c.Body, "Structural difference"); !strings.Contains(inside, "<!-- kong-alb-eks:preview:dev -->") ||
		strings.Index(c.Body, "<!-- kong-alb-eks:preview") < strings.Index(c.Body, "```") {
		t.Errorf("the artifact's marker is outside its fence")
	}
	for _, bad := range []string{"\x1b", "\x07", "\u2028", "\xff"} {
		if strings.Contains(c.Body, bad) {
			t.Errorf("the body carries %q", bad)
		}
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestArtifactFieldsAreChecked(t *testing.T) {
	cases := map[string]map[string]string{
		"pr not digits":      {"pr-number": "17 && curl evil"},
		"pr with sign":       {"pr-number": "+17"},
		"stack with a slash": {"stack": "../dev"},
		"short sha":          {"head-sha": "0123456"},
		"no diff":            {"diff.txt": ""},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"pr-number": "17", "stack": "dev", "head-sha": sha, "diff.txt": "d", "estimate.txt": "e"}
			for k, v := range change {
				files[k] = v
			}
			for k, v := range files {
				if name == "no diff" && k == "diff.txt" {
					continue
				}
				if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ReadArtifact(dir); err == nil {
				t.Error("accepted")
			}
		})
	}
	// A link in the artifact could point at the runner's files.
	dir := t.TempDir()
	for k, v := range map[string]string{"pr-number": "17", "stack": "dev", "head-sha": sha, "estimate.txt": "e"} {
		_ = os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "diff.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadArtifact(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a symlinked diff: %v", err)
	}
	// An artifact built from another commit than the run's is refused.
	if _, err := SynthDiffComment(Artifact{PR: 1, Stack: "dev", HeadSHA: sha}, strings.Repeat("f", 40)); err == nil {
		t.Error("an artifact of another commit was accepted")
	}
}

func TestFenceOutgrowsTheText(t *testing.T) {
	for text, want := range map[string]int{"plain": 3, "``": 3, "a ``` b": 4, "~~~~~": 6, "`~`~": 3, strings.Repeat("`", 9): 10} {
		if got := len(Fence(text)); got != want {
			t.Errorf("Fence(%q) is %d backticks, want %d", text, got, want)
		}
	}
}

func TestLongOutputIsCutToFit(t *testing.T) {
	long := strings.Repeat("é very long line\n", 20000)
	body, err := Build(KindPreview, "dev", "Preview", "w", []Section{{Title: "a", Text: long}, {Title: "b", Text: "short"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > MaxCommentBytes || !strings.Contains(body, "[cut:") || !strings.Contains(body, "short") {
		t.Errorf("a long section: %d bytes, cut notice %v", len(body), strings.Contains(body, "[cut:"))
	}
	if !strings.Contains(body, "é") || strings.Contains(body, "\uFFFD") {
		t.Error("the cut split a character")
	}
}

func TestPreviewComments(t *testing.T) {
	c, err := PreviewComment("dev", 3, "missing", sha, "")
	if err != nil || !strings.Contains(c.Body, "not in the backend yet") || c.Marker != Marker(KindPreview, "dev") {
		t.Errorf("a stack the backend lacks: %v %s", err, c.Body)
	}
	if _, err := PreviewComment("dev", 3, "maybe", sha, ""); err == nil {
		t.Error("an unknown status was accepted")
	}
	c, _ = PreviewComment("dev", 3, "failed", sha, "error: @here ```")
	if inside, _ := fenced(t, c.Body, "pulumi preview --diff"); !strings.Contains(inside, "error: @\u200dhere ```") {
		t.Errorf("a failed preview's output: %q", inside)
	}
}
