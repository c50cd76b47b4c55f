package pullrequest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxArtifactFile bounds what is read of each artifact file.
const maxArtifactFile = 1 << 20

// Artifact is what the synth-diff job uploads for one stack. It was made by the pull
// request's code, so every field is untrusted until checked.
type Artifact struct {
	PR       int
	Stack    string
	HeadSHA  string
	Diff     string
	Estimate string
}

// ReadArtifact reads and checks one stack's artifact directory: pr-number (digits), stack (a
// stack name), head-sha (a full commit SHA), diff.txt and estimate.txt (text, bounded).
func ReadArtifact(dir string) (Artifact, error) {
	var a Artifact
	var problems []string
	read := func(name string) string {
		s, err := readBounded(filepath.Join(dir, name))
		if err != nil {
			problems = append(problems, err.Error())
		}
		return s
	}
	pr := strings.TrimSpace(read("pr-number"))
	if n, err := strconv.Atoi(pr); err != nil || n <= 0 || strconv.Itoa(n) != pr {
		problems = append(problems, fmt.Sprintf("pr-number %q is not a pull request number", truncate(pr)))
	} else {
		a.PR = n
	}
	a.Stack = strings.TrimSpace(read("stack"))
	if !stackName.MatchString(a.Stack) {
		problems = append(problems, fmt.Sprintf("stack %q is not a stack name", truncate(a.Stack)))
	}
	a.HeadSHA = strings.TrimSpace(read("head-sha"))
	if !commitSHA.MatchString(a.HeadSHA) {
		problems = append(problems, fmt.Sprintf("head-sha %q is not a commit SHA", truncate(a.HeadSHA)))
	}
	a.Diff, a.Estimate = read("diff.txt"), read("estimate.txt")
	if len(problems) > 0 {
		return Artifact{}, fmt.Errorf("pullrequest: artifact %s: %s", filepath.Base(dir), strings.Join(problems, "; "))
	}
	return a, nil
}

// readBounded reads a regular file (never a link, which could point anywhere on the runner)
// of at most maxArtifactFile bytes.
func readBounded(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("%s: missing", filepath.Base(path))
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", filepath.Base(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxArtifactFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxArtifactFile {
		return "", fmt.Errorf("%s: larger than %d bytes", filepath.Base(path), maxArtifactFile)
	}
	return string(b), nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return cut(s, 60) + "..."
	}
	return s
}

// ErrWrongRun: the artifact does not belong to the workflow run that uploaded it.
var ErrWrongRun = errors.New("pullrequest: the artifact was not built from the run's head commit")

// SynthDiffComment is the comment for a synth-diff artifact of the workflow run whose head
// commit is runHeadSHA (the event's word, trusted; the artifact's is checked against it).
func SynthDiffComment(a Artifact, runHeadSHA string) (Comment, error) {
	if a.HeadSHA != runHeadSHA {
		return Comment{}, fmt.Errorf("%w: it says %s, the run built %s", ErrWrongRun, a.HeadSHA, runHeadSHA)
	}
	body, err := Build(KindSynthDiff, a.Stack, fmt.Sprintf("Offline synth diff: `%s` at %s", a.Stack, runHeadSHA[:7]),
		"Untrusted output of the pull request: the pull request's own code made the text below (it may come from a fork). "+
			"It is shown as text; nothing in it was checked by this repository.",
		[]Section{
			{Title: "Structural difference (the merge against its base)", Text: a.Diff},
			{Title: "Time to a working environment", Text: a.Estimate},
		})
	if err != nil {
		return Comment{}, err
	}
	return Comment{PR: a.PR, Stack: a.Stack, Marker: Marker(KindSynthDiff, a.Stack), Body: body}, nil
}
