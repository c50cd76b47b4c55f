package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// synthStack runs the real program on a stack file of the project. (testkit.SynthStack does
// the same for the other packages; this internal test cannot import testkit, which imports
// this package.)
func synthStack(t testing.TB, stack string) *Document {
	t.Helper()
	file, err := ReadStackFile(StackFilePath("../..", stack))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Run(Options{Stack: stack, Config: file.Config, SecretKeys: file.SecretKeys})
	if err != nil {
		t.Fatalf("synth %s: %v", stack, err)
	}
	return doc
}

// TestEstimateDev: on the real dev stack, the critical path runs from the network (or the
// cluster's IAM role, as quick) to the DNS
// record, through the cluster, its nodes and the ALB, and the graph reaches the lower bound.
func TestEstimateDev(t *testing.T) {
	t.Parallel()
	e, err := EstimateDocument(synthStack(t, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	path := e.Modelled.CriticalPath
	if len(path) == 0 {
		t.Fatal("no critical path")
	}
	if first := path[0]; !strings.HasPrefix(first.Type, "aws:ec2/") && !strings.HasPrefix(first.Type, "aws:iam/") {
		t.Errorf("critical path starts at %s %q, want the network or the cluster's role", first.Type, first.Name)
	}
	if last := path[len(path)-1]; last.Type != workingType {
		t.Errorf("critical path ends at %s %q, want the working environment", last.Type, last.Name)
	}
	if last := path[len(path)-2]; last.Type != "aws:route53/record:Record" || last.Name != "eks.example.com-A" {
		t.Errorf("the working environment waits last for %s %q, want the DNS record", last.Type, last.Name)
	}
	assertInOrder(t, path, "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
		"kubernetes:helm.sh/v3:Release", "kubernetes:networking.k8s.io/v1:Ingress", "aws:route53/record:Record")
	if got := path[len(path)-1].FinishMinutes; got != e.Modelled.Minutes {
		t.Errorf("path ends at %.2f min, total %.2f", got, e.Modelled.Minutes)
	}
	if e.Modelled.Minutes < 15 || e.Modelled.Minutes > 30 {
		t.Errorf("modelled %.2f min, want between 15 and 30 (cluster 10 + nodes 4 + releases + ALB + DNS)", e.Modelled.Minutes)
	}
	if !(e.Modelled.LowMinutes < e.Modelled.Minutes && e.Modelled.Minutes < e.Modelled.HighMinutes) {
		t.Errorf("range %.2f..%.2f does not hold %.2f", e.Modelled.LowMinutes, e.Modelled.HighMinutes, e.Modelled.Minutes)
	}
	if e.LowerBound.Minutes != e.Modelled.Minutes || !e.ReachesLowerBound || len(e.CostlyEdges) != 0 {
		t.Errorf("lower bound %.2f, modelled %.2f, costly edges %+v: the program should reach the bound",
			e.LowerBound.Minutes, e.Modelled.Minutes, e.CostlyEdges)
	}
	if len(e.UnlistedTypes) != 0 {
		t.Errorf("types without a timing: %v", e.UnlistedTypes)
	}
}

// TestEstimateEveryStackTimed: every resource type of every stack file (Pulumi.<stack>.yaml)
// has a timing.
func TestEstimateEveryStackTimed(t *testing.T) {
	t.Parallel()
	for _, stack := range stackNames(t) {
		e, err := EstimateDocument(synthStack(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		if len(e.UnlistedTypes) != 0 {
			t.Errorf("%s: types without a timing: %v", stack, e.UnlistedTypes)
		}
	}
}

// stackNames are the project's stacks, from its Pulumi.<stack>.yaml files.
func stackNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../Pulumi.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	return out
}

func assertInOrder(t *testing.T, path []Step, types ...string) {
	t.Helper()
	i := 0
	for _, st := range path {
		if i < len(types) && st.Type == types[i] {
			i++
		}
	}
	if i < len(types) {
		t.Errorf("critical path lacks %s in order; path: %v", types[i], stepNames(path))
	}
}

func stepNames(path []Step) []string {
	var out []string
	for _, st := range path {
		out = append(out, st.Type+" "+st.Name)
	}
	return out
}

// res is a synthetic resource of a real type, so the timings table applies.
func res(name, typ string, deps ...string) Resource {
	return Resource{URN: "urn:" + name, Type: typ, Name: name, Custom: true, Dependencies: deps}
}

const (
	vpc       = "aws:ec2/vpc:Vpc"               // 10 s
	subnet    = "aws:ec2/subnet:Subnet"         // 10 s
	nat       = "aws:ec2/natGateway:NatGateway" // 2 min
	cluster   = "aws:eks/cluster:Cluster"       // 10 min
	nodeGroup = "aws:eks/nodeGroup:NodeGroup"   // 4 min
	record    = "aws:route53/record:Record"     // 1 min
	release   = "kubernetes:helm.sh/v3:Release" // 2 min
	provider  = "pulumi:providers:kubernetes"   // 0
	component = "kong-alb-eks:test:Component"   // 0
	namespace = "kubernetes:core/v1:Namespace"  // 10 s
	issuer    = "kubernetes:cert-manager.io/v1:Issuer"
)

// TestLongestPath: a diamond takes its longer branch, and a resource waiting on a component
// waits on everything in it.
func TestLongestPath(t *testing.T) {
	t.Parallel()
	comp := Resource{URN: "urn:comp", Type: component, Name: "comp"}
	inComp := res("nodes", nodeGroup, "urn:cluster")
	inComp.Parent = comp.URN
	doc := &Document{Project: "kong-alb-eks", Resources: []Resource{
		res("vpc", vpc),
		res("nat", nat, "urn:vpc"),
		res("cluster", cluster, "urn:vpc"),
		res("short", record, "urn:nat"),
		comp, inComp,
		res("after-comp", record, "urn:comp"),
	}}
	g := newGraph(doc)
	p, err := g.longestPath(g.deps, func(u string) time.Duration { t, _ := g.timing(u); return t.Typical })
	if err != nil {
		t.Fatal(err)
	}
	wantPath := []string{"urn:vpc", "urn:cluster", "urn:nodes", "urn:comp", "urn:after-comp"}
	if strings.Join(p.path, " ") != strings.Join(wantPath, " ") {
		t.Errorf("path %v, want %v", p.path, wantPath)
	}
	if want := 10*time.Second + 10*time.Minute + 4*time.Minute + time.Minute; p.total != want {
		t.Errorf("total %v, want %v", p.total, want)
	}
	if want := 10*time.Second + 2*time.Minute + time.Minute; p.finish["urn:short"] != want {
		t.Errorf("short branch finishes at %v, want %v", p.finish["urn:short"], want)
	}
}

// TestLongestPathTies: of two equal branches the path takes the smaller URN, every run.
func TestLongestPathTies(t *testing.T) {
	t.Parallel()
	doc := &Document{Resources: []Resource{
		res("b", nat), res("a", nat), res("end", record, "urn:b", "urn:a"),
	}}
	g := newGraph(doc)
	for range 5 {
		p, err := g.longestPath(g.deps, func(u string) time.Duration { t, _ := g.timing(u); return t.Typical })
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(p.path, " "); got != "urn:a urn:end" {
			t.Fatalf("path %s, want urn:a urn:end", got)
		}
	}
}

func TestEstimateCycle(t *testing.T) {
	t.Parallel()
	doc := &Document{Project: "p", Stack: "s", Resources: []Resource{
		res("a", vpc, "urn:b"), res("b", subnet, "urn:a"),
	}}
	_, err := EstimateDocument(doc)
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: urn:a -> urn:b -> urn:a") {
		t.Errorf("error %v, want the cycle named", err)
	}
}

// TestEstimateNamesCostlyEdge: a cluster made to wait on the NAT gateway, which no rule
// requires, is 2 minutes above the lower bound, and the estimate names that edge.
func TestEstimateNamesCostlyEdge(t *testing.T) {
	t.Parallel()
	doc := &Document{Project: "p", Stack: "s", Resources: []Resource{
		res("vpc", vpc),
		res("subnet", subnet, "urn:vpc"),
		res("nat", nat, "urn:subnet"),
		res("cluster", cluster, "urn:subnet", "urn:nat"),
	}}
	e, err := EstimateDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if e.Modelled.Minutes != 12.33 || e.LowerBound.Minutes != 10.33 || e.ReachesLowerBound {
		t.Errorf("modelled %.2f, lower bound %.2f, reaches %v; want 12.33, 10.33, false",
			e.Modelled.Minutes, e.LowerBound.Minutes, e.ReachesLowerBound)
	}
	if len(e.CostlyEdges) != 1 || e.CostlyEdges[0].Waiter != "urn:cluster" || e.CostlyEdges[0].Waited != "urn:nat" || e.CostlyEdges[0].CostMinutes != 2 {
		t.Fatalf("costly edges %+v, want the cluster's wait on the NAT gateway, 2 min", e.CostlyEdges)
	}
	var b bytes.Buffer
	if err := WriteEstimateText(&b, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Modelled: 12.3 min",
		"Lower bound, keeping only the required edges: 10.3 min",
		"2.0 min above the lower bound",
		"urn:cluster waits on urn:nat: 2.0 min",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRequiredEdges: the rules keep what the environment needs and drop the rest.
func TestRequiredEdges(t *testing.T) {
	t.Parallel()
	prov := res("k8s", provider)
	inCluster := func(r Resource) Resource { r.Provider = prov.URN; return r }
	kong := inCluster(res("kong", release))
	kong.Inputs = map[string]any{"chart": "kong"}
	lbc := inCluster(res("lbc", release))
	lbc.Inputs = map[string]any{"chart": "aws-load-balancer-controller"}
	ingress := inCluster(res("proxy", "kubernetes:networking.k8s.io/v1:Ingress"))
	ingress.Inputs = map[string]any{"spec": map[string]any{"ingressClassName": "alb"}}
	alias := res("alias", record)
	alias.Inputs = map[string]any{"type": "A"}
	for _, c := range []struct {
		waiter, waited Resource
		want           bool
	}{
		{prov, res("c", cluster), true},
		{kong, prov, true},
		{kong, inCluster(res("issuer", issuer)), true},
		{kong, res("nodes", nodeGroup), true},
		{ingress, lbc, true},
		{ingress, kong, false}, // the controller builds the ALB before the Service exists
		{ingress, res("v", "aws:acm/certificateValidation:CertificateValidation"), true},
		{alias, ingress, true},
		{prov, res("nodes", nodeGroup), true}, // workloads need nodes to run on
		{res("c", cluster), res("n", nat), false},
		{inCluster(res("ns", namespace)), res("nodes", nodeGroup), false},
		{alias, kong, false},
	} {
		if got, _ := required(c.waiter, c.waited); got != c.want {
			t.Errorf("%s waits on %s: required %v, want %v", c.waiter.Name, c.waited.Name, got, c.want)
		}
	}
}

// TestTimingsCiteSources: every timing rule says where its figure comes from, and the range
// holds the typical time.
func TestTimingsCiteSources(t *testing.T) {
	t.Parallel()
	for i, rule := range timings {
		if rule.Source == "" || rule.Label == "" {
			t.Errorf("rule %d (%s) has no label or source", i, rule.Label)
		}
		if rule.Low > rule.Typical || rule.Typical > rule.High {
			t.Errorf("rule %d (%s): %v not within %v..%v", i, rule.Label, rule.Typical, rule.Low, rule.High)
		}
	}
	for i, e := range requiredEdges {
		if e.why == "" {
			t.Errorf("required edge %d says not why", i)
		}
	}
}

// TestSynthCommandEstimate: `synth --estimate --format json` prints the estimate.
func TestSynthCommandEstimate(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := Command([]string{"--dir", "../..", "--stack", "dev", "--estimate", "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var e Estimate
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if e.Stack != "dev" || e.Modelled.Minutes == 0 || len(e.LowerBound.CriticalPath) == 0 {
		t.Errorf("estimate %+v", e)
	}
	out.Reset()
	if code := Command([]string{"--dir", "../..", "--estimate"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Modelled: ") {
		t.Errorf("text estimate: exit %d\n%s", code, out.String())
	}
}

// kongWorld is a small graph of the Kong releases, the baseline plugin, the ALB Ingress and
// its record: the control plane and the data plane start together at 0; the controller (2 min)
// makes the Ingress start at 2.
func kongWorld(mutate func(map[string]*Resource)) *Document {
	prov := res("k8s", provider)
	cp, dp := res("cp", release), res("dp", release)
	cp.Inputs = map[string]any{"chart": "kong", "values": map[string]any{"env": map[string]any{"role": "control_plane"}}}
	dp.Inputs = map[string]any{"chart": "kong", "values": map[string]any{"env": map[string]any{"role": "data_plane"}}}
	lbc := res("lbc", release)
	lbc.Inputs = map[string]any{"chart": "aws-load-balancer-controller"}
	plugin := res("plugin", "kubernetes:configuration.konghq.com/v1:KongClusterPlugin", "urn:cp")
	plugin.Inputs = map[string]any{"metadata": map[string]any{"labels": map[string]any{"global": "true"}}}
	ingress := res("proxy", "kubernetes:networking.k8s.io/v1:Ingress", "urn:lbc")
	ingress.Inputs = map[string]any{"spec": map[string]any{"ingressClassName": "alb"}}
	alias := res("alias", record, "urn:proxy")
	alias.Inputs = map[string]any{"type": "A"}
	all := map[string]*Resource{"cp": &cp, "dp": &dp, "lbc": &lbc, "plugin": &plugin, "proxy": &ingress, "alias": &alias}
	if mutate != nil {
		mutate(all)
	}
	doc := &Document{Project: "p", Stack: "s", Resources: []Resource{prov}}
	for _, name := range []string{"alias", "cp", "dp", "lbc", "plugin", "proxy"} {
		r := *all[name]
		r.Provider = prov.URN
		doc.Resources = append(doc.Resources, r)
	}
	return doc
}

func conditionsOf(t *testing.T, s Span) map[string]Condition {
	t.Helper()
	out := map[string]Condition{}
	for _, c := range s.Conditions {
		out[c.Name] = c
	}
	if len(out) != 3 {
		t.Fatalf("conditions %+v, want the data plane, the ALB and the records", s.Conditions)
	}
	return out
}

// TestDataPlaneReadyNeedsTheControlPlanesConfiguration: the data plane's pods start with the
// control plane's, but are Ready only once the control plane (2 min) and the global plugin
// (10 s) exist and the configuration is pushed (10 s): Kong's /status/ready is 503 on an empty
// configuration. The ALB serves once it exists (2 + 3 min) and a data plane is Ready, plus the
// health checks (30 s); the records resolve a minute after the ALB's hostname.
func TestDataPlaneReadyNeedsTheControlPlanesConfiguration(t *testing.T) {
	t.Parallel()
	e, err := EstimateDocument(kongWorld(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := conditionsOf(t, e.Modelled)
	if dp := c[conditionDataPlane]; !dp.Met || dp.Minutes != 2.33 {
		t.Errorf("data plane Ready at %+v, want 2.33 min (control plane 2 + plugin 1/6 + push 1/6), not its own 2", dp)
	}
	if alb := c[conditionALB]; !alb.Met || alb.Minutes != 5.5 {
		t.Errorf("ALB serving %+v, want 5.5 min (controller 2 + ALB 3 + health checks 0.5)", alb)
	}
	if dns := c[conditionDNS]; !dns.Met || dns.Minutes != 6 {
		t.Errorf("records resolving %+v, want 6 min", dns)
	}
	if e.Modelled.Minutes != 6 || !e.ReachesLowerBound {
		t.Errorf("modelled %.2f (lower bound %.2f), want 6 = the last condition, at the bound", e.Modelled.Minutes, e.LowerBound.Minutes)
	}
	var b bytes.Buffer
	if err := WriteEstimateText(&b, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a Kong data plane Ready  at   2.3 min", "the ALB serving          at   5.5 min", "*.DOMAIN resolving       at   6.0 min"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestALBIngressWaitingOnTheDataPlaneIsCostly: an Ingress that waits for the data plane
// release (as one taking the Service name from the release's output does) provisions the ALB
// after Kong instead of beside it; no rule requires it, and the estimate says what it costs.
func TestALBIngressWaitingOnTheDataPlaneIsCostly(t *testing.T) {
	t.Parallel()
	e, err := EstimateDocument(kongWorld(func(all map[string]*Resource) {
		all["proxy"].Dependencies = append(all["proxy"].Dependencies, "urn:dp")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if e.ReachesLowerBound || len(e.CostlyEdges) == 0 || e.CostlyEdges[0].Waiter != "urn:proxy" {
		t.Fatalf("modelled %.2f, lower bound %.2f, costly edges %+v: want the Ingress's wait on the data plane named",
			e.Modelled.Minutes, e.LowerBound.Minutes, e.CostlyEdges)
	}
	if w := e.CostlyEdges[0].Waited; w != "estimate:dp-ready" && w != "urn:dp" {
		t.Errorf("costly edge waits on %s, want the data plane", w)
	}
}

// TestDataPlaneWithoutAKongEntityIsNeverReady: with no global plugin the configuration stays
// empty, and the data plane, hence the ALB, never serves.
func TestDataPlaneWithoutAKongEntityIsNeverReady(t *testing.T) {
	t.Parallel()
	e, err := EstimateDocument(kongWorld(func(all map[string]*Resource) { all["plugin"].Inputs = nil }))
	if err != nil {
		t.Fatal(err)
	}
	c := conditionsOf(t, e.Modelled)
	if c[conditionDataPlane].Met || c[conditionALB].Met || !strings.Contains(c[conditionDataPlane].Why, "never Ready") {
		t.Errorf("conditions %+v: the data plane must never be Ready", c)
	}
	var b bytes.Buffer
	_ = WriteEstimateText(&b, e)
	if !strings.Contains(b.String(), "NEVER") {
		t.Errorf("text does not say the data plane is never Ready:\n%s", b.String())
	}
}

// TestConfigurationWaitingOnTheDataPlaneDeadlocks: a Kong entity created only after the data
// plane release would wait for a release that waits for it.
func TestConfigurationWaitingOnTheDataPlaneDeadlocks(t *testing.T) {
	t.Parallel()
	_, err := EstimateDocument(kongWorld(func(all map[string]*Resource) {
		all["plugin"].Dependencies = append(all["plugin"].Dependencies, "urn:dp")
	}))
	if err == nil || !strings.Contains(err.Error(), "dependency cycle") {
		t.Errorf("error %v, want the deadlock named as a cycle", err)
	}
}

// TestEstimateOfEveryStackIsAtItsBound: on every stack file the total is within 3 % of the
// lower bound, every condition is met, and the ALB provisions beside Kong's install: the
// Ingress does not start after the data plane.
func TestEstimateOfEveryStackIsAtItsBound(t *testing.T) {
	t.Parallel()
	for _, stack := range stackNames(t) {
		e, err := EstimateDocument(synthStack(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		if e.Modelled.Minutes > 1.03*e.LowerBound.Minutes {
			t.Errorf("%s: modelled %.2f min, more than 3 %% above the lower bound %.2f; costly edges %+v", stack, e.Modelled.Minutes, e.LowerBound.Minutes, e.CostlyEdges)
		}
		c := conditionsOf(t, e.Modelled)
		for _, cond := range c {
			if !cond.Met {
				t.Errorf("%s: %s never: %s", stack, cond.Name, cond.Why)
			}
		}
		// Off the critical path (EKS Auto Mode's shorter first deploy), the ALB is ready before
		// it is needed.
		ingressStart, onPath := 0.0, false
		for _, st := range e.Modelled.CriticalPath {
			if st.Type == "kubernetes:networking.k8s.io/v1:Ingress" {
				ingressStart, onPath = st.StartMinutes, true
			}
		}
		dpReady := c[conditionDataPlane].Minutes
		if onPath && (ingressStart == 0 || ingressStart >= dpReady) {
			t.Errorf("%s: the ALB Ingress starts at %.2f, the data plane is Ready at %.2f: the ALB should provision beside Kong", stack, ingressStart, dpReady)
		}
	}
}

// TestEstimateProdDatabase: prod's RDS instance (Multi-AZ, 15 minutes) is created while EKS is
// and adds nothing to the time to a working environment; made to wait for the cluster, as a
// careless dependency would, it lands on the critical path and the estimate names that edge.
// An Auto Mode stack's estimate waits for no node group: its workloads wait for the nodes EKS
// launches once pods are pending, about a minute after the Kubernetes provider; and the text
// names the same stack's time with a managed node group, which is longer.
func TestEstimateAutoMode(t *testing.T) {
	t.Parallel()
	doc := synthStack(t, "auto")
	e, err := EstimateDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	var sawNodes bool
	for _, st := range e.Modelled.CriticalPath {
		if st.Type == "aws:eks/nodeGroup:NodeGroup" {
			t.Errorf("a node group on the Auto Mode stack's critical path")
		}
		if st.Type == autoNodesType {
			sawNodes = true
			if st.Minutes != 1 {
				t.Errorf("Auto Mode's nodes take %.2f min, want 1", st.Minutes)
			}
		}
	}
	if !sawNodes {
		t.Errorf("the first workload does not wait for Auto Mode's nodes: %+v", e.Modelled.CriticalPath)
	}
	file, err := ReadStackFile(StackFilePath("../..", "auto"))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writeEstimate(&out, doc, "text", Options{Stack: "auto", Config: file.Config, SecretKeys: file.SecretKeys}); err != nil {
		t.Fatal(err)
	}
	var auto, managed float64
	if _, err := fmt.Sscanf(out.String()[strings.Index(out.String(), "EKS Auto Mode:"):],
		"EKS Auto Mode: %f min to a working environment; the same stack with a managed node group (clusterMode managed): %f min", &auto, &managed); err != nil {
		t.Fatalf("no comparison in the estimate: %v\n%s", err, out.String())
	}
	if auto != e.Modelled.Minutes || managed <= auto {
		t.Errorf("Auto Mode %.1f min (modelled %.2f), managed nodes %.1f min", auto, e.Modelled.Minutes, managed)
	}
}

func TestEstimateProdDatabase(t *testing.T) {
	t.Parallel()
	doc := synthStack(t, "prod")
	e, err := EstimateDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !e.ReachesLowerBound {
		t.Fatalf("prod is %.2f min, lower bound %.2f, costly edges %+v", e.Modelled.Minutes, e.LowerBound.Minutes, e.CostlyEdges)
	}
	var db, cluster string
	for _, r := range doc.Resources {
		switch r.Type {
		case "aws:rds/instance:Instance":
			db = r.URN
		case "aws:eks/cluster:Cluster":
			cluster = r.URN
		}
	}
	if db == "" || cluster == "" {
		t.Fatal("prod has no RDS instance or no cluster")
	}
	for _, rule := range timings {
		if rule.match(Resource{Type: "aws:rds/instance:Instance", Inputs: map[string]any{"multiAz": true}}) {
			if rule.Typical != 15*time.Minute {
				t.Errorf("a Multi-AZ instance is timed %v", rule.Typical)
			}
			break
		}
	}
	for i, r := range doc.Resources {
		if r.URN == db {
			doc.Resources[i].Dependencies = append(doc.Resources[i].Dependencies, cluster)
		}
	}
	waiting, err := EstimateDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if waiting.Modelled.Minutes <= e.Modelled.Minutes || waiting.ReachesLowerBound ||
		len(waiting.CostlyEdges) == 0 || waiting.CostlyEdges[0].Waiter != db || waiting.CostlyEdges[0].Waited != cluster {
		t.Errorf("an instance waiting for the cluster: %.2f min (was %.2f), costly edges %+v; want it later and the edge named",
			waiting.Modelled.Minutes, e.Modelled.Minutes, waiting.CostlyEdges)
	}
}
