package synth_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// synthesize runs the real program on a configuration.
func synthesize(t testing.TB, config map[string]string) *synth.Document {
	t.Helper()
	doc, err := synth.Run(synth.Options{Stack: "dev", Config: config})
	if err != nil {
		t.Fatalf("synth: %v", err)
	}
	return doc
}

// TestDiffOfTwoConfigurations compares the real program's desired state for the dev
// configuration with the same configuration, a larger node group and no demo.
func TestDiffOfTwoConfigurations(t *testing.T) {
	t.Parallel()
	headConfig := testkit.StackConfig(t, "../..", "dev")
	headConfig["kong-alb-eks:nodeMaxSize"] = "5"
	headConfig["kong-alb-eks:demoEnabled"] = "false"
	d := synth.Compare(synthesize(t, testkit.StackConfig(t, "../..", "dev")), synthesize(t, headConfig))

	const prefix = "urn:pulumi:dev::kong-alb-eks::"
	demo := prefix + "kong-alb-eks:kubernetes:DemoWorkload"
	wantRemoved := []synth.ResourceRef{
		{URN: demo + "$kubernetes:apps/v1:Deployment::kuard", Type: "kubernetes:apps/v1:Deployment", Name: "kuard"},
		{URN: demo + "$kubernetes:core/v1:Namespace::kuard", Type: "kubernetes:core/v1:Namespace", Name: "kuard"},
		{URN: demo + "$kubernetes:core/v1:Service::kuard", Type: "kubernetes:core/v1:Service", Name: "kuard"},
		{URN: demo + "$kubernetes:networking.k8s.io/v1:Ingress::kuard", Type: "kubernetes:networking.k8s.io/v1:Ingress", Name: "kuard"},
		{URN: demo + "::kuard", Type: "kong-alb-eks:kubernetes:DemoWorkload", Name: "kuard"},
	}
	wantChanged := []synth.ResourceChange{{
		ResourceRef: synth.ResourceRef{
			URN:  prefix + "kong-alb-eks:cluster:Cluster$aws:eks/nodeGroup:NodeGroup::kong-alb-eks-dev-nodes",
			Type: "aws:eks/nodeGroup:NodeGroup", Name: "kong-alb-eks-dev-nodes",
		},
		Inputs: []synth.ValueChange{{
			Path: "scalingConfig.maxSize", Parts: []string{"scalingConfig", "maxSize"},
			Op: synth.OpChange, Before: 3.0, After: 5.0,
		}},
		DependenciesAdded: []string{}, DependenciesRemoved: []string{}, Attributes: []synth.ValueChange{},
	}}
	wantOutputs := []synth.ValueChange{{
		Path: "demoUrl", Parts: []string{"demoUrl"}, Op: synth.OpRemove, Before: "https://kuard.eks.example.com",
	}}
	assertDeepEqual(t, "added", d.Added, []synth.ResourceRef{})
	assertDeepEqual(t, "removed", d.Removed, wantRemoved)
	assertDeepEqual(t, "changed", d.Changed, wantChanged)
	assertDeepEqual(t, "outputs", d.Outputs, wantOutputs)
	assertDeepEqual(t, "summary", d.Summary.String(), "0 to add, 1 to change, 5 to delete, 1 output changed")
}

// TestDiffCommandReadsSynthJSON runs the command on files written as `synth --format json`
// writes them, in both formats, with the flags after the files.
func TestDiffCommandReadsSynthJSON(t *testing.T) {
	t.Parallel()
	headConfig := testkit.StackConfig(t, "../..", "dev")
	headConfig["kong-alb-eks:demoEnabled"] = "false"
	dir := t.TempDir()
	base := writeDoc(t, dir, "base.json", synthesize(t, testkit.StackConfig(t, "../..", "dev")))
	head := writeDoc(t, dir, "head.json", synthesize(t, headConfig))

	out, code := runDiff(t, base, head)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{
		"Resources to delete:\n  - kubernetes:apps/v1:Deployment \"kuard\"",
		"Outputs:\n  - demoUrl: https://kuard.eks.example.com\n",
		"\n0 to add, 0 to change, 5 to delete, 1 output changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	out, code = runDiff(t, base, head, "--format", "json", "--exit-code")
	if code != 1 {
		t.Errorf("--exit-code with differences: exit %d, want 1", code)
	}
	var d synth.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, out)
	}
	assertDeepEqual(t, "JSON summary", d.Summary, synth.Summary{Delete: 5, OutputsChanged: 1})

	out, code = runDiff(t, "--exit-code", base, base)
	if code != 0 || !strings.HasSuffix(out, "No differences.\n\n0 to add, 0 to change, 0 to delete\n") {
		t.Errorf("same documents: exit %d, output:\n%s", code, out)
	}
}

func TestDiffCommandUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := writeDoc(t, dir, "doc.json", &synth.Document{Project: "p", Stack: "s"})
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"one file":     {doc},
		"three files":  {doc, doc, doc},
		"bad format":   {"--format", "yaml", doc, doc},
		"missing file": {doc, filepath.Join(dir, "absent.json")},
		"broken JSON":  {broken, doc},
		"unknown flag": {"--nope", doc, doc},
	} {
		var out, errOut bytes.Buffer
		if code := synth.DiffCommand(args, &out, &errOut); code != 2 {
			t.Errorf("%s: exit %d, want 2 (stderr %q)", name, code, errOut.String())
		}
		if errOut.Len() == 0 {
			t.Errorf("%s: nothing on stderr", name)
		}
	}
}

// TestDiffKeepsSecrets: a secret is never printed, whichever side holds it.
func TestDiffKeepsSecrets(t *testing.T) {
	t.Parallel()
	const plaintext = "hunter2"
	res := func(inputs map[string]any, deps ...string) synth.Resource {
		return synth.Resource{URN: "urn:x", Type: "t:m:R", Name: "r", Custom: true, Dependencies: deps, Inputs: inputs}
	}
	base := &synth.Document{Resources: []synth.Resource{res(map[string]any{
		"password": plaintext, "token": synth.Secret, "both": synth.Secret, "same": "x",
		"metadata": map[string]any{"annotations": map[string]any{"a.b/c": "1"}},
	}, "urn:a", "urn:b")}, Outputs: map[string]any{"kubeconfig": synth.Secret}}
	head := &synth.Document{Resources: []synth.Resource{res(map[string]any{
		"password": synth.Secret, "token": plaintext, "both": synth.Secret, "same": "x",
		"metadata": map[string]any{"annotations": map[string]any{"a.b/c": "2"}},
	}, "urn:b", "urn:c")}, Outputs: map[string]any{"kubeconfig": synth.Secret}}

	d := synth.Compare(base, head)
	if len(d.Changed) != 1 {
		t.Fatalf("changed: %+v", d.Changed)
	}
	c := d.Changed[0]
	assertDeepEqual(t, "inputs", c.Inputs, []synth.ValueChange{
		{Path: `metadata.annotations["a.b/c"]`, Parts: []string{"metadata", "annotations", "a.b/c"}, Op: synth.OpChange, Before: "1", After: "2"},
		{Path: "password", Parts: []string{"password"}, Op: synth.OpChange, Before: synth.Secret, After: synth.Secret, Note: "became secret"},
		{Path: "token", Parts: []string{"token"}, Op: synth.OpChange, Before: synth.Secret, After: synth.Secret, Note: "no longer secret"},
	})
	assertDeepEqual(t, "dependencies added", c.DependenciesAdded, []string{"urn:c"})
	assertDeepEqual(t, "dependencies removed", c.DependenciesRemoved, []string{"urn:a"})
	assertDeepEqual(t, "outputs", d.Outputs, []synth.ValueChange{})

	var text, js bytes.Buffer
	if err := synth.WriteDiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteDiffJSON(&js, d); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if strings.Contains(out, plaintext) {
			t.Errorf("%s output reveals a secret:\n%s", name, out)
		}
	}
	for _, want := range []string{"~ password: [secret] -> [secret] (became secret)", "+ waits on: urn:c", "- waits on: urn:a"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func runDiff(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := synth.DiffCommand(args, &out, &errOut)
	if errOut.Len() > 0 {
		t.Errorf("stderr: %s", errOut.String())
	}
	return out.String(), code
}

func writeDoc(t *testing.T, dir, name string, doc *synth.Document) string {
	t.Helper()
	var b bytes.Buffer
	if err := synth.WriteJSON(&b, doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func assertDeepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}
