package tests

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func TestPulumiYAMLDeclaresEveryKey(t *testing.T) {
	t.Parallel()
	proj, err := workspace.LoadProject(filepath.Join(projectDir, "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("Pulumi.yaml does not load as the CLI loads it: %v", err)
	}
	if proj.Name.String() != stacks.Project || proj.Runtime.Name() != "go" {
		t.Errorf("project %s, runtime %s", proj.Name, proj.Runtime.Name())
	}
	defaults := stacks.DefaultConfig()
	declared := map[string]bool{}
	for _, k := range stacks.Keys() {
		if k.Name == "aws:region" { // the provider's key: set per stack, not declared
			continue
		}
		declared[k.FullKey()] = true
		decl, ok := proj.Config[k.FullKey()]
		if !ok {
			t.Errorf("%s is not declared in Pulumi.yaml", k.FullKey())
			continue
		}
		if decl.TypeName() != string(k.Kind) {
			t.Errorf("%s: Pulumi.yaml says %s, the program reads %s", k.FullKey(), decl.TypeName(), k.Kind)
		}
		if decl.Description == "" {
			t.Errorf("%s has no description", k.FullKey())
		}
		want := defaults.Value(k)
		if k.Secret {
			want = ""
		}
		if k.Name == "domain" || k.Name == "hostedZone" {
			if decl.Default != nil {
				t.Errorf("%s is required, but Pulumi.yaml gives it a default", k.FullKey())
			}
			continue
		}
		if !sameJSON(decl.Default, want) {
			t.Errorf("%s: Pulumi.yaml default %v, the program's %v", k.FullKey(), decl.Default, want)
		}
	}
	for key := range proj.Config {
		if !declared[key] {
			t.Errorf("Pulumi.yaml declares %s, which the program does not read", key)
		}
	}
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

func TestREADMEDocumentsEveryKeyAndOutput(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(projectDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, k := range stacks.Keys() {
		if !strings.Contains(readme, "| `"+k.FullKey()+"` |") {
			t.Errorf("README's configuration reference lacks %s", k.FullKey())
		}
	}
	for _, name := range outputNames(t) {
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README's outputs table lacks %s", name)
		}
	}
	if !strings.Contains(readme, "make test") || !strings.Contains(readme, "make synth") {
		t.Error("README does not give the two commands")
	}
	ci, err := os.ReadFile(filepath.Join(projectDir, ".ci", "run"))
	if err != nil || !strings.Contains(string(ci), "make test") {
		t.Errorf(".ci/run does not run the README's test command (make test): %v", err)
	}
}

// outputNames reads the constants of stacks/outputs.
func outputNames(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(projectDir, "stacks", "outputs", "outputs.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Names[0].IsExported() {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(lit.Value)
				names = append(names, s)
			}
		}
		return true
	})
	if len(names) < 10 {
		t.Fatalf("found only %d outputs", len(names))
	}
	return names
}

// The chart (3.4.1) issues the cluster certificate for certificates.cluster.commonName as
// given (templates/certificate.yaml: commonName: {{ .commonName }}, merged from the value) and
// sets KONG_CLUSTER_SERVER_NAME to the same value (templates/_helpers.tpl): both planes verify
// the name they are issued, whatever it is. Read from the real chart, so that a chart upgrade
// that breaks the rule fails here.
func TestClusterServerNameIsTheCertificatesCommonName(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(testkit.ChartsDir(t, projectDir), "kong-3.4.1", "templates")
	helpers, err := os.ReadFile(filepath.Join(chart, "_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(helpers), `set $autoEnv "KONG_CLUSTER_SERVER_NAME" .Values.certificates.cluster.commonName`) {
		t.Error("the chart no longer takes the server name from certificates.cluster.commonName")
	}
	cert, err := os.ReadFile(filepath.Join(chart, "certificate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{
		`mustMerge (mustDeepCopy $genericCertificateConfig) .Values.certificates.cluster`,
		`commonName: {{ .commonName }}`,
	} {
		if !strings.Contains(string(cert), rule) {
			t.Errorf("the chart's certificate template no longer has %q", rule)
		}
	}
	for stack := range stackFiles(t) {
		doc := testkit.SynthStack(t, projectDir, stack)
		cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		if cn := cp.Input("values.certificates.cluster.commonName"); cn == nil || cn != dp.Input("values.certificates.cluster.commonName") {
			t.Errorf("%s: the planes' cluster common names differ: %v, %v", stack, cn, dp.Input("values.certificates.cluster.commonName"))
		}
	}
}

// `pulumi up` talks to the cluster's API endpoint. A stack file that admits only some
// addresses there must say which runner deploys it, and the deploy workflow must run its job
// on that runner rather than on GitHub's hosted runners, whose addresses are not in the list.
func TestDeployRunnerCanReachEveryStacksEndpoint(t *testing.T) {
	t.Parallel()
	if !strings.Contains(workflow(t, "deploy-stack.yml"), `runs-on: ${{ vars[format('DEPLOY_RUNNER_{0}', inputs.stack)] || 'ubuntu-latest' }}`) {
		t.Error("deploy-stack.yml's up job does not take its runner from DEPLOY_RUNNER_<stack>")
	}
	for stack, path := range stackFiles(t) {
		file, err := synth.ReadStackFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cidrs := file.Config["kong-alb-eks:publicAccessCidrs"]
		raw, _ := os.ReadFile(path)
		if cidrs != "" && !strings.Contains(cidrs, "0.0.0.0/0") && !strings.Contains(string(raw), "DEPLOY_RUNNER_"+stack) {
			t.Errorf("%s limits the API endpoint to %s but does not name the runner (DEPLOY_RUNNER_%s) that can reach it", stack, cidrs, stack)
		}
	}
}
