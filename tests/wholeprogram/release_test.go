package wholeprogram

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
)

// The state of a stack deployed by a release of this program, recorded from the harness (the
// dev stack after its first up), is kept in releaseDir. A newer program must take it over with
// an ordinary `pulumi up`: its preview may update things, but it never replaces or deletes
// anything stateful. When code moves or renames a resource, an alias keeps this test green.
//
// To record the current release's state (after a release, and whenever the fixture must
// change on purpose): make release-state.
var record = flag.Bool("record-release", false, "record the dev stack's state as the release fixture instead of checking it")

const (
	releaseDir = "testdata/release"
	// chartsMark stands for the machine's charts directory in the recorded state and config.
	chartsMark = "@CHARTS@"
)

// stateful are the types whose replacement or deletion loses data or the environment itself:
// the network and the cluster, the nodes, the driver of the database's volume, the generated
// passwords and the Secrets holding them, the database's claim, the releases (a replaced
// release is an uninstall: an outage, and the control plane's database pod goes), and the
// roles the add-ons and the controller run as (a replaced role is a new ARN under running
// pods). The IAM OIDC provider is not among them: the recorded release used IRSA, and the
// move to EKS Pod Identity deletes it once nothing trusts it.
var stateful = map[string]bool{
	"aws:ec2/vpc:Vpc": true, "aws:ec2/subnet:Subnet": true, "aws:ec2/natGateway:NatGateway": true, "aws:ec2/eip:Eip": true,
	"aws:eks/cluster:Cluster": true, "aws:eks/nodeGroup:NodeGroup": true, "aws:eks/addon:Addon": true,
	"aws:iam/role:Role": true, "aws:acm/certificate:Certificate": true,
	"random:index/randomPassword:RandomPassword": true,
	"kubernetes:core/v1:Secret":                  true, "kubernetes:core/v1:PersistentVolumeClaim": true, "kubernetes:core/v1:Namespace": true,
	"kubernetes:helm.sh/v3:Release": true,
}

func TestUpgradeFromTheRecordedRelease(t *testing.T) {
	t.Parallel()
	if *record {
		recordRelease(t)
	}
	e := releaseEnv(t)
	plan := e.plan(e.spec)
	var lost []string
	for key, op := range plan {
		typ, _, _ := strings.Cut(key, " ")
		if (op == "replace" || op == "delete") && stateful[typ] {
			lost = append(lost, op+" "+key)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("the preview of the recorded release's state would lose stateful resources (add aliases, or keep the inputs):\n  %s",
			strings.Join(lost, "\n  "))
	}
	t.Logf("the recorded release's state previews as:\n  %s", describe(plan))
}

// releaseEnv is an environment whose stack holds the recorded release's state, in a fake
// cloud with no cluster: the preview compares the program with the state, as `pulumi preview`
// does on a machine whose cluster is not reachable (the Kubernetes provider then diffs inputs).
func releaseEnv(t *testing.T) *env {
	t.Helper()
	charts := chartsDir(t)
	var values map[string]string
	if err := json.Unmarshal(readRelease(t, "config.json", charts), &values); err != nil {
		t.Fatalf("the recorded config: %v", err)
	}
	maps.Copy(values, standInCharts())
	cfg, err := stacks.LoadConfig(func(k string) (string, bool) { v, ok := values[k]; return v, ok })
	if err != nil {
		t.Fatalf("the recorded config no longer loads: %v", err)
	}
	dir := t.TempDir()
	world, err := fakecloud.NewWorld(filepath.Join(dir, "cloud"), fakecloud.ClusterAt("https://127.0.0.1:9", "", "unreachable"))
	if err != nil {
		t.Fatal(err)
	}
	home, bin := installPlugins(t, dir)
	opts := managerOptions(dir, home, bin, world)
	importState(t, opts.StateDir, home, readRelease(t, "dev.json", charts))
	e := &env{t: t, name: "dev", spec: stacks.Spec{Name: "dev", Config: cfg}, world: world, engine: newEngine(), managerOptions: opts}
	e.manager = e.managerAs("")
	return e
}

// readRelease reads a file of the fixture with the charts directory put back.
func readRelease(t *testing.T, name, charts string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(releaseDir, name))
	if err != nil {
		t.Fatalf("the recorded release (make release-state records it): %v", err)
	}
	return bytes.ReplaceAll(b, []byte(chartsMark), []byte(charts))
}

// importState makes the dev stack in the manager's backend (stateDir/backend) from a
// checkpoint, with the CLI: `pulumi stack init` and `pulumi stack import`.
func importState(t *testing.T, stateDir, home string, checkpoint []byte) {
	t.Helper()
	project := t.TempDir()
	file := filepath.Join(project, "dev.json")
	backend := filepath.Join(stateDir, "backend")
	for _, err := range []error{
		os.MkdirAll(backend, 0o700),
		os.WriteFile(filepath.Join(project, "Pulumi.yaml"), []byte("name: "+stacks.Project+"\nruntime: go\n"), 0o600),
		os.WriteFile(file, checkpoint, 0o600),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"},
		{"stack", "import", "--stack", "dev", "--file", file, "--non-interactive"},
	} {
		cmd := exec.Command("pulumi", args...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_BACKEND_URL=file://"+backend,
			"PULUMI_CONFIG_PASSPHRASE="+passphrase, "PULUMI_SKIP_UPDATE_CHECK=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// recordRelease brings the dev stack up in the harness and writes its state and config as the
// fixture, with the charts directory replaced by chartsMark.
func recordRelease(t *testing.T) {
	t.Helper()
	e := newEnv(t, "dev", nil)
	e.up()
	matches, err := filepath.Glob(filepath.Join(e.stateDir(), ".pulumi", "stacks", stacks.Project, "dev.json"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("the dev stack's checkpoint in %s: %v %v", e.stateDir(), matches, err)
	}
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	// The backend keeps a checkpoint; `pulumi stack import` takes a deployment (what `pulumi
	// stack export` writes).
	var file struct {
		Version    int             `json:"version"`
		Features   json.RawMessage `json:"features,omitempty"`
		Checkpoint struct {
			Latest json.RawMessage `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || file.Checkpoint.Latest == nil {
		t.Fatalf("the dev stack's checkpoint %s: %v", matches[0], err)
	}
	checkpoint, err := json.MarshalIndent(map[string]any{"version": file.Version, "features": file.Features, "deployment": file.Checkpoint.Latest}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	charts := chartsDir(t)
	values := stackConfig(t, "dev")
	for k := range standInCharts() { // inside the checkout: releaseEnv adds them
		delete(values, k)
	}
	config, err := json.MarshalIndent(values, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	commit, _ := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output()
	commit = bytes.TrimSpace(commit)
	about := fmt.Sprintf("The dev stack's state after its first up in tests/wholeprogram, recorded %s at commit %s "+
		"by `make release-state`. %s stands for the charts directory.\n", time.Now().UTC().Format(time.DateOnly), commit, chartsMark)
	for name, b := range map[string][]byte{"dev.json": checkpoint, "config.json": config, "ABOUT": []byte(about)} {
		b = bytes.ReplaceAll(b, []byte(charts), []byte(chartsMark))
		if err := os.MkdirAll(releaseDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(releaseDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded the release's state in %s", releaseDir)
}
