package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// fakePulumi puts a `pulumi` on PATH (alone) that records its arguments and directory in
// dir and then behaves as FAKE_PULUMI says: print outputs, fail, or print something else.
func fakePulumi(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
printf '%s\n' "$@" > "` + dir + `/args"
pwd > "` + dir + `/cwd"
case "$FAKE_PULUMI" in
fail) echo "error: no stack named 'nope' found" >&2; exit 255 ;;
garbage) echo "Welcome to Pulumi" ;;
*) echo '{"domain":"example.test","kubeconfig":"[secret]","albInboundCidrs":["192.0.2.0/24"]}' ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return dir
}

func TestStackOutputsDoesNotAskForSecrets(t *testing.T) {
	cli := fakePulumi(t)
	project := t.TempDir()
	m, err := StackOutputs(context.Background(), project, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if m["domain"] != "example.test" || m["kubeconfig"] != secretPlaceholder {
		t.Errorf("outputs %v", m)
	}
	args, err := os.ReadFile(filepath.Join(cli, "args"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(args))
	for _, a := range []string{"stack", "output", "--json", "--stack=dev"} {
		if !slices.Contains(got, a) {
			t.Errorf("arguments %v lack %s", got, a)
		}
	}
	if slices.ContainsFunc(got, func(a string) bool { return strings.Contains(a, "secret") }) {
		t.Errorf("arguments %v ask for secrets", got)
	}
	cwd, err := os.ReadFile(filepath.Join(cli, "cwd"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(project); strings.TrimSpace(string(cwd)) != want && strings.TrimSpace(string(cwd)) != project {
		t.Errorf("ran in %s, want the project directory %s", cwd, project)
	}

	// Through the command: the outputs parse, the secret is absent.
	t.Chdir(project)
	e := start(t, deployment{})
	var stdout, stderr bytes.Buffer
	code := command([]string{"--stack", "dev", "--format", "json"}, &stdout, &stderr, nil, e.checker)
	if code != ExitOK && code != ExitFail {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if m := jsonReport(t, stdout.Bytes()); m["stack"] != "dev" || m["domain"] != "example.test" {
		t.Errorf("report %v", m)
	}
}

func TestStackOutputsErrors(t *testing.T) {
	fakePulumi(t)
	t.Setenv("FAKE_PULUMI", "fail")
	_, err := StackOutputs(context.Background(), t.TempDir(), "nope")
	if err == nil || !strings.Contains(err.Error(), "pulumi stack output --json --non-interactive --stack=nope: exit status 255: error: no stack named 'nope' found") {
		t.Errorf("error %v", err)
	}
	t.Setenv("FAKE_PULUMI", "garbage")
	if _, err := StackOutputs(context.Background(), t.TempDir(), "dev"); err == nil || !strings.Contains(err.Error(), "expected a JSON object") {
		t.Errorf("error %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := StackOutputs(context.Background(), t.TempDir(), "dev"); err == nil || !strings.Contains(err.Error(), "--stack needs the Pulumi CLI (or use --outputs FILE)") {
		t.Errorf("error %v", err)
	}
}

// TestStackOutputsWithoutPassphrase reads a real stack with the real CLI (`make test` puts it on PATH):
// a local backend, the passphrase secrets provider, a secret output, and no passphrase.
func TestStackOutputsWithoutPassphrase(t *testing.T) {
	testkit.RequirePulumi(t)
	tmp := t.TempDir()
	project := filepath.Join(tmp, "project")
	if err := os.MkdirAll(filepath.Join(tmp, "backend"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(project, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "Pulumi.yaml"), []byte("name: kong-alb-eks\nruntime: go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_HOME", filepath.Join(tmp, "home"))
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.ToSlash(filepath.Join(tmp, "backend")))
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	t.Setenv("PULUMI_DIY_BACKEND_NO_LEGACY_WARNING", "true")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "")
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
	pulumi := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("pulumi", append(args, "--non-interactive")...)
		cmd.Dir = project
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pulumi %v: %v: %s", args, err, stderr.String())
		}
		return out
	}
	pulumi(nil, "stack", "init", "dev", "--secrets-provider", "passphrase")
	// The empty deployment carries the passphrase provider's salt; add the stack resource
	// with its outputs, the kubeconfig as a secret (plaintext on import, encrypted on save).
	var state map[string]any
	if err := json.Unmarshal(pulumi(nil, "stack", "export"), &state); err != nil {
		t.Fatal(err)
	}
	state["deployment"].(map[string]any)["resources"] = []any{map[string]any{
		"urn":  "urn:pulumi:dev::kong-alb-eks::pulumi:pulumi:Stack::kong-alb-eks-dev",
		"type": "pulumi:pulumi:Stack", "custom": false,
		"outputs": map[string]any{
			"domain":          testDomain,
			"albInboundCidrs": []any{"192.0.2.0/24"},
			"kubeconfig": map[string]any{
				"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
				"plaintext":                        `"apiVersion: v1"`,
			},
		},
	}}
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "state.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pulumi(nil, "stack", "import", "--file", file)

	// No passphrase from here on.
	for _, v := range []string{"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} {
		if err := os.Unsetenv(v); err != nil {
			t.Fatal(err)
		}
	}
	// What the Automation API's Stack.Outputs also runs fails so.
	cmd := exec.Command("pulumi", "stack", "output", "--json", "--show-secrets", "--stack=dev", "--non-interactive")
	cmd.Dir = project
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "PULUMI_CONFIG_PASSPHRASE") {
		t.Fatalf("--show-secrets without a passphrase: %v, %s; the test does not prove anything", err, out)
	}

	m, err := StackOutputs(context.Background(), project, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if m["kubeconfig"] != secretPlaceholder {
		t.Errorf("kubeconfig %v, want %q", m["kubeconfig"], secretPlaceholder)
	}
	o, err := ParseOutputs(m)
	if err != nil {
		t.Fatal(err)
	}
	if o.Domain != testDomain || prefixes(o.ALBInboundCIDRs) != "192.0.2.0/24" {
		t.Errorf("parsed %+v", o)
	}
}
