// Package wholeprogram runs the whole program, through the automation.Manager the portal uses,
// under the real Pulumi engine against a real Kubernetes control plane (tests/localcluster)
// with the real Kubernetes provider and the real charts, AWS standing in as the fake cloud's
// plugins (tests/fakecloud) and the controllers whose pods cannot run as stand-ins
// (tests/standins).
package wholeprogram

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
	"github.com/kong-alb-eks/kong-alb-eks/tests/standins"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// The plugin versions the program's SDKs ask the engine for (go.mod); the Kubernetes
// provider's is localcluster.KubernetesPluginVersion.
const (
	awsPluginVersion    = "v6.83.4"
	randomPluginVersion = "v4.18.4"
)

const repoRoot = "../.."

// env is one environment under test: its cluster, fake cloud, stand-ins and manager.
type env struct {
	t       *testing.T
	name    string
	spec    stacks.Spec
	cluster *localcluster.Cluster
	world   *fakecloud.World
	hosts   *standins.Standins
	manager *automation.Manager
	engine  *engine
	// managerOptions make the environment's managers (managerAs).
	managerOptions automation.ManagerOptions

	mu     sync.Mutex
	events []automation.Event
}

// engine is what the stand-ins see of the operation under way, from its events: the steps in
// flight and when the last one started or finished. Components and the stack are left out:
// the engine counts them as in flight until their children are done.
type engine struct {
	mu       sync.Mutex
	inFlight map[string]bool
	last     time.Time
}

func newEngine() *engine { return &engine{inFlight: map[string]bool{}, last: time.Now()} }

func (g *engine) observe(ev automation.Event) {
	if ev.Planning || strings.HasPrefix(ev.Type, stacks.Project+":") || ev.Type == "pulumi:pulumi:Stack" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch ev.Kind {
	case automation.EventResourceStarted:
		g.inFlight[ev.URN] = true
	case automation.EventResourceFinished, automation.EventResourceFailed:
		delete(g.inFlight, ev.URN)
	case automation.EventSummary:
		g.inFlight = map[string]bool{}
	default:
		return
	}
	g.last = time.Now()
}

// Stalled implements standins.Engine.
func (g *engine) Stalled(d time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Since(g.last) >= d
}

// InFlight implements standins.Engine.
func (g *engine) InFlight() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.inFlight))
	for urn := range g.inFlight {
		out = append(out, urn)
	}
	return out
}

// record is the operations' event handler: it keeps every event, and logs the engine's errors
// and warnings and every failed step as they come.
func (e *env) record() automation.OpOption {
	return automation.WithEvents(func(ev automation.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
		e.engine.observe(ev)
		switch {
		case ev.Kind == automation.EventDiagnostic && (ev.Severity == "error" || ev.Severity == "warning"):
			e.t.Logf("engine %s: %s %s", ev.Severity, ev.URN, strings.TrimSpace(ev.Message))
		case ev.Kind == automation.EventResourceFailed:
			e.t.Logf("engine: %s of %s failed after %s", ev.Op, ev.URN, ev.Duration)
		}
	})
}

var (
	buildOnce  sync.Once
	fakeBinary string
	buildErr   error
)

// fakeCloudBinary builds cmd/fakecloud once per test binary.
func fakeCloudBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakecloud-")
		if err != nil {
			buildErr = err
			return
		}
		fakeBinary = filepath.Join(dir, "fakecloud")
		cmd := exec.Command("go", "build", "-o", fakeBinary, "./tests/fakecloud/cmd/fakecloud")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			fakeBinary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the fake cloud's plugins: %v: %s", buildErr, fakeBinary)
	}
	return fakeBinary
}

// chartsDir is where the real charts are.
func chartsDir(t *testing.T) string { return testkit.ChartsDir(t, repoRoot) }

// currentCharts and previousCharts are the charts' directories in chartsDir, by configuration
// key: the releases the program pins, and the ones before them (the charts' README, "Upgrade
// pairs"), which a stack starts on to live a chart upgrade.
var (
	currentCharts = map[string]string{
		"kongChart": "kong-3.4.1", "loadBalancerControllerChart": "aws-load-balancer-controller-3.5.0", "certManagerChart": "cert-manager-v1.21.1",
	}
	previousCharts = map[string]string{
		"kongChart": "kong-3.3.0", "loadBalancerControllerChart": "aws-load-balancer-controller-3.4.3", "certManagerChart": "cert-manager-v1.20.3",
	}
)

// chartConfig is the configuration of the charts in dirs, taken from their local directories.
func chartConfig(t *testing.T, dirs map[string]string) map[string]string {
	out := map[string]string{}
	for key, dir := range dirs {
		out["kong-alb-eks:"+key] = filepath.Join(chartsDir(t), dir)
		out["kong-alb-eks:"+key+"Repository"] = ""
	}
	return out
}

// standInCharts points the charts this machine has no copy of at their stand-ins: Stakater
// Reloader's (tests/standins/charts/reloader).
func standInCharts() map[string]string {
	reloader, _ := filepath.Abs(filepath.Join(repoRoot, "tests", "standins", "charts", "reloader"))
	return map[string]string{
		"kong-alb-eks:reloaderChart":           reloader,
		"kong-alb-eks:reloaderChartRepository": "",
	}
}

// stackConfig is a shipped stack's configuration ("defaults": only the required keys), with
// the current charts taken from their local directories.
func stackConfig(t *testing.T, stack string) map[string]string {
	t.Helper()
	values := map[string]string{
		"aws:region": "eu-west-1", "kong-alb-eks:domain": "kong.example.org", "kong-alb-eks:hostedZone": "example.org",
	}
	if stack != "defaults" {
		f, err := synth.ReadStackFile(synth.StackFilePath(repoRoot, stack))
		if err != nil {
			t.Fatal(err)
		}
		values = f.Config
	}
	maps.Copy(values, chartConfig(t, currentCharts))
	maps.Copy(values, standInCharts())
	if values["kong-alb-eks:clusterMode"] == "auto" { // no controller chart in EKS Auto Mode
		for _, k := range []string{"loadBalancerControllerChart", "loadBalancerControllerChartRepository", "loadBalancerControllerChartVersion"} {
			delete(values, "kong-alb-eks:"+k)
		}
	}
	return values
}

// newEnv brings up a cluster shaped like the stack's node group, the fake cloud pointing at it,
// the stand-ins, and a manager whose engine finds only the plugins installed here.
func newEnv(t *testing.T, stack string, override map[string]string) *env {
	t.Helper()
	values := stackConfig(t, stack)
	for k, v := range override {
		values[k] = v
	}
	cfg, err := stacks.LoadConfig(func(k string) (string, bool) { v, ok := values[k]; return v, ok })
	if err != nil {
		t.Fatalf("the %s stack's configuration: %v", stack, err)
	}
	name := stack
	if name == "defaults" {
		name = "default"
	}
	arch := cfg.Cluster.NodeArchitecture()
	// The API server authenticates and authorizes as EKS does: `aws eks get-token` names the
	// caller, who may do what the cluster's creator or its access entries grant (fakecloud.Access).
	access := &fakecloud.Access{}
	// An EKS Auto Mode cluster has no node until pods ask for one (the stand-in of its compute
	// launches them), and has EKS's CRDs from the start.
	auto := cfg.Cluster.AutoMode()
	c := localcluster.Start(t, localcluster.Options{Nodes: 2, NoNodes: auto, Arch: arch, Region: cfg.Region, Holds: standins.Holds, Access: access})
	if auto {
		if err := standins.InstallAutoModeCRDs(c); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	world, err := fakecloud.NewWorld(filepath.Join(dir, "cloud"), fakecloud.ClusterAt(c.Server, c.CAData, c.Token), fakecloud.EnforceAccess())
	if err != nil {
		t.Fatal(err)
	}
	if err := access.Bind(world); err != nil {
		t.Fatal(err)
	}
	home, bin := installPlugins(t, dir)
	eng := newEngine()
	hosts := standins.Start(c, world, cfg.Region, eng)
	e := &env{t: t, name: name, spec: stacks.Spec{Name: name, Config: cfg}, cluster: c, world: world, hosts: hosts, engine: eng}
	t.Cleanup(func() {
		for _, msg := range hosts.Stop() {
			t.Logf("stand-in: %s", msg)
		}
		if t.Failed() {
			for _, ev := range hosts.Events() {
				t.Logf("stand-in event: %s", ev)
			}
		}
	})
	e.managerOptions = managerOptions(dir, home, bin, world)
	e.manager = e.managerAs("")
	return e
}

// passphrase is every test stack's secrets passphrase.
const passphrase = "whole-program-test"

// installPlugins puts the fake cloud's aws and random plugins and the Kubernetes provider into
// a Pulumi home under dir, and the fake `aws` CLI into a bin directory, and returns both.
func installPlugins(t *testing.T, dir string) (home, bin string) {
	t.Helper()
	home, bin = filepath.Join(dir, "home"), filepath.Join(dir, "bin")
	fake := fakeCloudBinary(t)
	provider := os.Getenv(localcluster.ProviderEnv)
	if provider == "" {
		t.Fatalf("%s is not set: run the tests through `make test`, which builds the provider", localcluster.ProviderEnv)
	}
	for _, err := range []error{
		localcluster.InstallPlugin(home, "aws", awsPluginVersion, fake),
		localcluster.InstallPlugin(home, "random", randomPluginVersion, fake),
		localcluster.InstallPlugin(home, "kubernetes", localcluster.KubernetesPluginVersion, provider),
		localcluster.Install(fake, filepath.Join(bin, "aws")),
	} {
		if err != nil {
			t.Fatalf("installing the plugins: %v", err)
		}
	}
	return home, bin
}

// managerOptions are a manager's whose engine finds only the plugins in home and bin, and the
// fake cloud's world, keeping its state under dir.
func managerOptions(dir, home, bin string, world *fakecloud.World) automation.ManagerOptions {
	return automation.ManagerOptions{
		StateDir:   filepath.Join(dir, "state"),
		PulumiHome: home,
		Passphrase: passphrase,
		EnvVars: map[string]string{
			fakecloud.WorldEnv: world.Dir,
			"PATH":             bin + string(os.PathListSeparator) + os.Getenv("PATH"),
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
			"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// managerAs is a manager of the environment's stack whose operations run as the IAM principal
// (the engine, its plugins and `aws eks get-token` alike); "" is the deployer, who creates the
// cluster.
func (e *env) managerAs(principal string) *automation.Manager {
	e.t.Helper()
	opts := e.managerOptions
	opts.EnvVars = maps.Clone(opts.EnvVars)
	if principal != "" {
		opts.EnvVars[fakecloud.PrincipalEnv] = principal
	}
	m, err := automation.NewManager(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(m.Close)
	return m
}

// ctx bounds an operation, and ends it at once when a stand-in reports a state that can never
// resolve (the test then fails with the stand-in's message).
func (e *env) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	var fatal <-chan string // nil without stand-ins: never
	if e.hosts != nil {
		fatal = e.hosts.Fatal()
	}
	go func() {
		select {
		case msg := <-fatal:
			e.t.Errorf("stand-in: %s", msg)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
