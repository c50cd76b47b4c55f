package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
	"gopkg.in/yaml.v3"
)

// TestConfigurationUnderTheEngine runs the program the way `pulumi preview` does: the real
// Pulumi CLI and engine read Pulumi.yaml and the stack file, and start the real program binary
// (built from main.go) through a stand-in for the Go language host (testkit.GoLanguageHost; the
// real one is not on the module proxy). A misspelt key and a version range in the stack file
// must fail the preview, naming each key, before the program registers anything but the stack.
func TestConfigurationUnderTheEngine(t *testing.T) {
	testkit.RequirePulumi(t)
	t.Parallel()
	work := t.TempDir()
	bin := filepath.Join(work, "kong-alb-eks")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = projectDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	host, addr := testkit.StartGoLanguageHost(t, bin)

	project := filepath.Join(work, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(projectDir, "Pulumi.yaml"), filepath.Join(project, "Pulumi.yaml"))
	writeStackFile(t, filepath.Join(projectDir, "Pulumi.dev.yaml"), filepath.Join(project, "Pulumi.engine.yaml"), map[string]any{
		"kong-alb-eks:nodeInstanceTyp":  "m6i.large",
		"kong-alb-eks:kongChartVersion": "^3.0",
	})

	env := append(os.Environ(),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(work, "state"),
		"PULUMI_HOME="+filepath.Join(work, "home"),
		"PULUMI_CONFIG_PASSPHRASE=engine-test",
		"PULUMI_SKIP_UPDATE_CHECK=true",
	)
	pulumiCLI := func(args ...string) (string, error) {
		cmd := exec.Command("pulumi", args...)
		cmd.Dir, cmd.Env = project, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if err := os.MkdirAll(filepath.Join(work, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := pulumiCLI("stack", "init", "engine", "--non-interactive"); err != nil {
		t.Fatalf("pulumi stack init: %v\n%s", err, out)
	}
	out, err := pulumiCLI("preview", "--stack", "engine", "--non-interactive", "--client", addr, "--json")
	if err == nil {
		t.Fatalf("the preview of a stack file with a misspelt key and a version range succeeded:\n%s", out)
	}

	runs := host.Runs()
	if len(runs) != 1 {
		t.Fatalf("the engine ran the program %d times, want 1:\n%s", len(runs), out)
	}
	if got := runs[0].GetConfig()["kong-alb-eks:nodeInstanceTyp"]; got != "m6i.large" {
		t.Errorf("the engine did not hand the program the misspelt key (got %q): the test would prove nothing", got)
	}
	for _, want := range []string{
		"kong-alb-eks:nodeInstanceTyp: unknown configuration key: did you mean kong-alb-eks:nodeInstanceType?",
		"kong-alb-eks:kongChartVersion: expected an exact chart version",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the preview does not say %q:\n%s", want, out)
		}
	}
	var preview struct {
		Steps []struct {
			URN string `json:"urn"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &preview); err != nil {
		t.Fatalf("the preview's JSON: %v\n%s", err, out)
	}
	// The SDK registers the stack itself before the program's function runs (pulumi.Run).
	if len(preview.Steps) != 1 || !strings.Contains(preview.Steps[0].URN, "::pulumi:pulumi:Stack::") {
		t.Errorf("a refused configuration registered more than the stack: %+v", preview.Steps)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeStackFile writes the stack file from with the values of set added (the values keep their
// YAML types: the CLI checks them against Pulumi.yaml's declarations before the program runs).
func writeStackFile(t *testing.T, from, to string, set map[string]any) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		file.Config[k] = v
	}
	if b, err = yaml.Marshal(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
