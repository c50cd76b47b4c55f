package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// engineProject is the project as `pulumi preview` sees it: the real Pulumi CLI and engine read
// Pulumi.yaml and a stack file and start the real program binary (built from main.go) through
// a stand-in for the Go language host (testkit.GoLanguageHost; the real one is not on the
// module proxy).
type engineProject struct {
	dir, addr string
	env       []string
	host      *testkit.GoLanguageHost
}

func newEngineProject(t *testing.T) *engineProject {
	t.Helper()
	testkit.RequirePulumi(t)
	work := t.TempDir()
	bin := filepath.Join(work, "kong-alb-eks")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = projectDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	host, addr := testkit.StartGoLanguageHost(t, bin)
	p := &engineProject{dir: filepath.Join(work, "project"), addr: addr, host: host, env: append(os.Environ(),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(work, "state"),
		"PULUMI_HOME="+filepath.Join(work, "home"),
		"PULUMI_CONFIG_PASSPHRASE=engine-test",
		"PULUMI_SKIP_UPDATE_CHECK=true",
	)}
	for _, d := range []string{p.dir, filepath.Join(work, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(projectDir, "Pulumi.yaml"), filepath.Join(p.dir, "Pulumi.yaml"))
	return p
}

func (p *engineProject) pulumi(args ...string) (string, error) {
	cmd := exec.Command("pulumi", args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// failedPreview writes stack's file (the dev stack's with set's values) and previews it. The
// preview must fail, registering nothing but the stack; failedPreview returns what it said.
func (p *engineProject) failedPreview(t *testing.T, stack string, set map[string]string, unset []string) string {
	t.Helper()
	writeStackFile(t, filepath.Join(projectDir, "Pulumi.dev.yaml"), filepath.Join(p.dir, "Pulumi."+stack+".yaml"), set, unset...)
	if out, err := p.pulumi("stack", "init", stack, "--non-interactive"); err != nil {
		t.Fatalf("pulumi stack init: %v\n%s", err, out)
	}
	out, err := p.pulumi("preview", "--stack", stack, "--non-interactive", "--client", p.addr, "--json")
	if err == nil {
		t.Fatalf("the preview succeeded:\n%s", out)
	}
	// The CLI checks each value's type against Pulumi.yaml before it starts the program.
	if strings.HasPrefix(out, "error: validating stack config") {
		return out
	}
	var preview struct {
		Steps []struct {
			URN string `json:"urn"`
		} `json:"steps"`
		Diagnostics []struct {
			Message string `json:"message"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &preview); err != nil {
		t.Fatalf("the preview's JSON: %v\n%s", err, out)
	}
	// The SDK registers the stack itself before the program's function runs (pulumi.Run).
	for _, s := range preview.Steps {
		if !strings.Contains(s.URN, "::pulumi:pulumi:Stack::") {
			t.Errorf("a refused configuration registered %s", s.URN)
		}
	}
	var said strings.Builder
	for _, d := range preview.Diagnostics {
		said.WriteString(d.Message)
	}
	return said.String()
}

// TestConfigurationUnderTheEngine: every configuration synth and the portal refuse
// (testkit.BadConfigurations) fails `pulumi preview` too, naming its key, before the program
// registers anything but the stack.
func TestConfigurationUnderTheEngine(t *testing.T) {
	t.Parallel()
	p := newEngineProject(t)

	t.Run("the engine hands the program every key", func(t *testing.T) {
		out := p.failedPreview(t, "typo", map[string]string{"kong-alb-eks:nodeInstanceTyp": "m6i.large", "kong-alb-eks:kongChartVersion": "^3.0"}, nil)
		var handed bool
		for _, run := range p.host.Runs() {
			handed = handed || run.GetStack() == "typo" && run.GetConfig()["kong-alb-eks:nodeInstanceTyp"] == "m6i.large"
		}
		if !handed {
			t.Errorf("the engine did not hand the program the misspelt key: the test would prove nothing")
		}
		for _, want := range []string{
			"kong-alb-eks:nodeInstanceTyp: unknown configuration key: did you mean kong-alb-eks:nodeInstanceType?",
			"kong-alb-eks:kongChartVersion: expected an exact chart version",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the preview does not say %q:\n%s", want, out)
			}
		}
	})
	for i, c := range testkit.BadConfigurations(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			out := p.failedPreview(t, fmt.Sprintf("bad-%d", i), c.Set, c.Unset())
			// A problem is one line of the program's error, by key; or the CLI's refusal of a
			// value of the wrong type, naming the key.
			said := strings.HasPrefix(out, "error: validating stack config") && strings.Contains(out, "'"+c.Key+"'")
			for _, line := range strings.Split(out, "\n") {
				said = said || strings.Contains(line, c.Key+": ") && strings.Contains(line, c.Message)
			}
			if !said {
				t.Errorf("the preview does not say %s: ...%s...:\n%s", c.Key, c.Message, out)
			}
		})
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

// writeStackFile writes the stack file from with the values of set added, as a person would
// write them: arrays as YAML lists (the CLI checks each value's type against Pulumi.yaml's
// declarations before the program runs).
func writeStackFile(t *testing.T, from, to string, set map[string]string, unset ...string) {
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
	for _, k := range unset {
		delete(file.Config, k)
	}
	for k, v := range set {
		var list []any
		if strings.HasPrefix(v, "[") && json.Unmarshal([]byte(v), &list) == nil {
			file.Config[k] = list
			continue
		}
		file.Config[k] = v
	}
	if b, err = yaml.Marshal(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
