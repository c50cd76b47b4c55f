package pullrequest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Pair is the two commits the synth diff compares.
type Pair struct {
	Base, Head string
	// How says how Base was chosen, for the comment.
	How string
}

// DiffBase chooses what the synth diff of a pull request compares, in the repository at dir
// checked out at the pull request's merge commit (GitHub's refs/pull/N/merge, the default
// checkout of a pull_request event). The event's base SHA is the tip of the base branch when
// the event fired, not where the branch left it: diffing the head against it shows every
// newer commit of the base branch reversed, as if the pull request removed it. So:
//
//   - when HEAD is the merge of headSHA into the base branch, the merge commit against its
//     first parent: exactly what merging would change;
//   - otherwise (no merge commit, as when the pull request conflicts), headSHA against its
//     merge base with baseSHA: what the pull request itself changed.
func DiffBase(ctx context.Context, dir, headSHA, baseSHA string) (Pair, error) {
	for name, sha := range map[string]string{"head": headSHA, "base": baseSHA} {
		if !commitSHA.MatchString(sha) {
			return Pair{}, fmt.Errorf("pullrequest: the %s SHA %q is not a commit SHA", name, sha)
		}
	}
	parents, err := git(ctx, dir, "rev-list", "--parents", "-n", "1", "HEAD")
	if err != nil {
		return Pair{}, err
	}
	f := strings.Fields(parents) // HEAD, then its parents
	if len(f) == 3 && f[2] == headSHA {
		return Pair{Base: f[1], Head: f[0], How: "the merge commit against its first parent"}, nil
	}
	mb, err := git(ctx, dir, "merge-base", baseSHA, headSHA)
	if err != nil {
		return Pair{}, fmt.Errorf("%w (the checkout needs the history of both: fetch-depth 0)", err)
	}
	return Pair{Base: strings.TrimSpace(mb), Head: headSHA, How: "the head against its merge base"}, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("pullrequest: git %s: %s", strings.Join(args, " "), msg)
	}
	return string(out), nil
}
