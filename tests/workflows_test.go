package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func workflow(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(projectDir, ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The rules that keep deploy credentials from pull requests, and prod behind dev. actionlint
// checks the workflows' syntax; these check what they grant.
func TestWorkflowsKeepDeployCredentialsFromPullRequests(t *testing.T) {
	t.Parallel()
	pr := workflow(t, "pull-request.yml")
	if strings.Contains(pr, "secrets.AWS_ROLE_ARN") || !strings.Contains(pr, "role-to-assume: ${{ secrets.AWS_PREVIEW_ROLE_ARN }}") {
		t.Error("pull-request.yml must assume the preview role, never a deploy role")
	}
	if strings.Contains(pr, "\n  pull_request_target:") {
		t.Error("pull-request.yml runs the pull request's code: it must not run on pull_request_target")
	}
	deployStack := workflow(t, "deploy-stack.yml")
	for _, want := range []string{"environment: ${{ inputs.stack }}", "role-to-assume: ${{ secrets.AWS_ROLE_ARN }}"} {
		if !strings.Contains(deployStack, want) {
			t.Errorf("deploy-stack.yml lacks %q: each stack deploys with its environment's own role", want)
		}
	}
	deploy := workflow(t, "deploy.yml")
	for _, want := range []string{"needs: prod-gate", "needs: [stacks, first]", "required_reviewers", "stack: prod"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deploy.yml lacks %q: prod deploys after the other stacks and only with required reviewers", want)
		}
	}
	comment := workflow(t, "synth-diff-comment.yml")
	if !strings.Contains(comment, "ref: ${{ github.event.repository.default_branch }}") || strings.Contains(comment, "workflow_run.head_sha }}\n          path") ||
		!strings.Contains(comment, "go run ./stacks/pullrequest/cmd/pull-request synth-diff-comment") || !strings.Contains(comment, "concurrency:") {
		t.Error("synth-diff-comment.yml must run the default branch's comment tool, one run at a time per branch")
	}
}

// One Pulumi CLI version (.pulumi-version) for the workflows and the tests, and the actions on
// the majors the README names.
func TestWorkflowsPinTheirTools(t *testing.T) {
	t.Parallel()
	majors := map[string]string{"actions/checkout": "v6", "actions/setup-go": "v6", "actions/cache": "v5", "actions/cache/restore": "v5",
		"actions/upload-artifact": "v7", "actions/download-artifact": "v8", "actions/github-script": "v8",
		"aws-actions/configure-aws-credentials": "v6", "pulumi/actions": "v7"}
	uses := regexp.MustCompile(`uses: ([^@\s]+)@(\S+)`)
	files, _ := filepath.Glob(filepath.Join(projectDir, ".github", "*", "*.yml"))
	more, _ := filepath.Glob(filepath.Join(projectDir, ".github", "actions", "*", "action.yml"))
	for _, f := range append(files, more...) {
		b, _ := os.ReadFile(f)
		for _, m := range uses.FindAllStringSubmatch(string(b), -1) {
			if want, ok := majors[m[1]]; !ok || m[2] != want {
				t.Errorf("%s uses %s@%s, want a listed action at its current major (%s)", filepath.Base(f), m[1], m[2], want)
			}
		}
		if strings.Contains(string(b), "pulumi-version:") {
			t.Errorf("%s pins the Pulumi CLI itself: use pulumi-version-file: .pulumi-version", filepath.Base(f))
		}
	}
	action, err := os.ReadFile(filepath.Join(projectDir, ".github", "actions", "pulumi-stack", "action.yml"))
	if err != nil || !strings.Contains(string(action), "pulumi-version-file: .pulumi-version") {
		t.Errorf("the pulumi-stack action does not install the CLI from .pulumi-version (%v)", err)
	}
	script, err := os.ReadFile(filepath.Join(projectDir, ".ci", "install-pulumi.sh"))
	if err != nil || !strings.Contains(string(script), ".pulumi-version") {
		t.Errorf(".ci/install-pulumi.sh does not read .pulumi-version (%v)", err)
	}
}
