package pullrequest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Command runs the workflows' pull-request tool (args after the program name):
//
//	diff-base --dir D --head-sha S --base-sha S     print base=, head=, how= for GITHUB_OUTPUT
//	synth-diff-comment --artifacts DIR --run-head-sha S --run-head-repo OWNER/NAME
//	                                                post each synth-diff artifact's comment
//	preview-comment --stack S --pr N --status ok|failed|missing [--output-file F] [--head-sha S]
//	                                                post a stack's preview comment
//
// The comment commands talk to GITHUB_API_URL as GITHUB_REPOSITORY with GITHUB_TOKEN. It
// returns the exit code: 0, 1 when anything failed, 2 for bad usage.
func Command(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pull-request diff-base|synth-diff-comment|preview-comment [flags]")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gh := &GitHub{API: getenv("GITHUB_API_URL"), Token: getenv("GITHUB_TOKEN"), Repo: getenv("GITHUB_REPOSITORY")}
	if gh.API == "" {
		gh.API = "https://api.github.com"
	}
	var run func() error
	switch args[0] {
	case "diff-base":
		dir := fs.String("dir", ".", "the repository, checked out at the pull request's merge commit")
		head := fs.String("head-sha", "", "the pull request's head commit")
		base := fs.String("base-sha", "", "the base branch's commit of the event")
		run = func() error {
			p, err := DiffBase(ctx, *dir, *head, *base)
			if err == nil {
				fmt.Fprintf(stdout, "base=%s\nhead=%s\nhow=%s\n", p.Base, p.Head, p.How)
			}
			return err
		}
	case "synth-diff-comment":
		dir := fs.String("artifacts", "artifacts", "the downloaded artifacts, one directory per stack")
		sha := fs.String("run-head-sha", "", "the workflow run's head_sha")
		repo := fs.String("run-head-repo", "", "the workflow run's head_repository.full_name")
		run = func() error { return postSynthDiffs(ctx, gh, *dir, *sha, *repo, stdout, stderr) }
	case "preview-comment":
		stack := fs.String("stack", "", "the stack")
		pr := fs.Int("pr", 0, "the pull request number")
		status := fs.String("status", "", "ok, failed, or missing (the backend has no such stack yet)")
		output := fs.String("output-file", "", "the preview's output")
		sha := fs.String("head-sha", "", "the commit previewed")
		run = func() error {
			text := ""
			if *output != "" {
				b, err := readBounded(*output)
				if err != nil {
					return fmt.Errorf("pullrequest: --output-file: %w", err)
				}
				text = b
			}
			c, err := PreviewComment(*stack, *pr, *status, *sha, text)
			if err != nil {
				return err
			}
			return post(ctx, gh, c, KindPreview, stdout)
		}
	default:
		fmt.Fprintf(stderr, "pull-request: unknown command %q\n", args[0])
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if err := run(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// postSynthDiffs posts the comment of every artifact directory under dir, each only when the
// pull request it names is at the run's head commit, from the run's head repository. It goes
// on past a bad artifact and reports every failure.
func postSynthDiffs(ctx context.Context, gh *GitHub, dir, runSHA, runRepo string, stdout, stderr io.Writer) error {
	if !commitSHA.MatchString(runSHA) || runRepo == "" {
		return errors.New("pullrequest: --run-head-sha (a commit SHA) and --run-head-repo are required")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(stdout, "no synth-diff artifacts: the synth-diff job failed or was skipped")
		return nil
	}
	if err != nil {
		return err
	}
	// download-artifact unpacks a single matching artifact into dir itself, and only two or
	// more into a directory each.
	dirs := []string{}
	if _, err := os.Lstat(filepath.Join(dir, "pr-number")); err == nil {
		dirs = append(dirs, dir)
	} else {
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(dirs)
	failed := 0
	for _, d := range dirs {
		err := func() error {
			a, err := ReadArtifact(d)
			if err != nil {
				return err
			}
			c, err := SynthDiffComment(a, runSHA)
			if err != nil {
				return err
			}
			if err := gh.CheckHead(ctx, c.PR, runSHA, runRepo); err != nil {
				return err
			}
			return post(ctx, gh, c, KindSynthDiff, stdout)
		}()
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", filepath.Base(d), err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("pullrequest: %d of the artifacts were not posted", failed)
	}
	return nil
}

// post creates or updates a comment and says which.
func post(ctx context.Context, gh *GitHub, c Comment, kind string, stdout io.Writer) error {
	created, err := gh.Upsert(ctx, c)
	if err != nil {
		return err
	}
	did := "updated"
	if created {
		did = "created"
	}
	fmt.Fprintf(stdout, "#%d: %s comment for %s %s\n", c.PR, kind, c.Stack, did)
	return nil
}

// PreviewComment is the comment of a stack's `pulumi preview` on a pull request of this
// repository's own branches. The preview ran the branch's program, so its output is shown as
// untrusted text too.
func PreviewComment(stack string, pr int, status, headSHA, output string) (Comment, error) {
	if pr <= 0 {
		return Comment{}, fmt.Errorf("pullrequest: invalid pull request number %d", pr)
	}
	at := ""
	if commitSHA.MatchString(headSHA) {
		at = " at " + headSHA[:7]
	}
	var heading string
	var sections []Section
	switch status {
	case "ok":
		heading = fmt.Sprintf("Preview: `%s`%s", stack, at)
		sections = []Section{{Title: "`pulumi preview --diff`", Text: output}}
	case "failed":
		heading = fmt.Sprintf("Preview failed: `%s`%s", stack, at)
		sections = []Section{{Title: "`pulumi preview --diff`", Text: output, Open: true}}
	case "missing":
		heading = fmt.Sprintf("No preview: `%s` is not in the backend yet", stack)
		sections = []Section{{Title: "What this means", Open: true, Text: "The stack " + stack + " has no state in the backend, so there is " +
			"nothing to preview against, and a pull request may not create it. Its first deploy creates it (deploy.yml, after the merge). " +
			"The offline synth diff shows what it would contain."}}
	default:
		return Comment{}, fmt.Errorf("pullrequest: --status %q: expected ok, failed or missing", status)
	}
	body, err := Build(KindPreview, stack, heading, "Output of the pull request's program, run with the read-only preview role.", sections)
	if err != nil {
		return Comment{}, err
	}
	return Comment{PR: pr, Stack: stack, Marker: Marker(KindPreview, stack), Body: body}, nil
}
