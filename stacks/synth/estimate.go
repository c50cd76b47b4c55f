package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// The estimate models the time from `pulumi up` to a working environment as the longest path
// through the dependency graph synth records, each resource weighted by its type's typical
// creation time (the timings table below).
//
// The graph. A resource waits on:
//   - its recorded Dependencies (explicit dependsOn and those through its inputs);
//   - its explicit provider (the engine creates a provider before what it manages).
//
// A component with children in the document ("aggregate") takes no time of its own and is
// done when all its children are: it waits on each child, so a resource waiting on a component
// waits on everything in it, as the engine does. Its children do not wait on it: the engine
// registers a component at once and starts its children without waiting for anything of it. A
// component without children in the document (a multi-language component, whose children
// the engine creates out of sight of the mocks) is a leaf weighted by its own type's time. Dependencies naming a resource not in the document are
// ignored.
//
// The lower bound is the longest path through the same graph keeping only the required edges:
// pairs (waiter, waited) where the program's graph orders waiter after waited, directly or
// through other resources, and one of the rules in requiredEdges says the order is truly needed
// (the cluster before anything in it, the controller before the Ingress, the Ingress before its
// DNS record...). Since every required edge is an order the program already has, the lower
// bound never exceeds the modelled time; when it is lower, the estimate names each edge that
// costs time and how much.

// Timing is how long creating one resource typically takes, with a plausible range.
type Timing struct {
	Typical, Low, High time.Duration
	// Label names the thing timed ("EKS control plane"); Source says where the figure comes
	// from.
	Label, Source string
}

type timingRule struct {
	match func(Resource) bool
	Timing
}

// apiCall is an AWS or Kubernetes API call the provider does not wait on beyond its answer.
var apiCall = Timing{Typical: 10 * time.Second, Low: 2 * time.Second, High: 30 * time.Second,
	Label: "API call", Source: "issue #5: IAM and VPC pieces, and plain Kubernetes objects, take seconds"}

// timings gives each resource type its typical creation time; the first rule that matches wins.
// The figures are the typical times named in issue #5, checked against what the provider waits
// for and what the service documents say.
var timings = []timingRule{
	{isType("aws:eks/cluster:Cluster"), Timing{10 * time.Minute, 8 * time.Minute, 15 * time.Minute, "EKS control plane",
		"issue #5 (~10 min); Amazon EKS User Guide, Create a cluster: provisioning takes several minutes, and the provider waits until the cluster is ACTIVE"}},
	{isType("aws:eks/nodeGroup:NodeGroup"), Timing{4 * time.Minute, 3 * time.Minute, 5 * time.Minute, "managed node group",
		"issue #5 (3-5 min); the provider waits until the node group is ACTIVE, its instances joined"}},
	{isType("aws:ec2/natGateway:NatGateway"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "NAT gateway",
		"issue #5 (~2 min); Amazon VPC User Guide, NAT gateways: pending until available, which the provider waits for"}},
	{isType("aws:acm/certificateValidation:CertificateValidation"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "ACM DNS validation",
		"issue #5 (1-3 min); AWS Certificate Manager User Guide, DNS validation: issued once ACM sees the CNAME record"}},
	{isType("aws:route53/record:Record"), Timing{1 * time.Minute, 30 * time.Second, 90 * time.Second, "Route53 propagation",
		"issue #5 (~1 min); Route 53 API Reference, ChangeResourceRecordSets: changes generally propagate to all name servers within 60 seconds; the provider waits for INSYNC"}},
	{albIngress, Timing{3 * time.Minute, 2 * time.Minute, 4 * time.Minute, "ALB provisioning",
		"issue #5 (~3 min); pulumi-kubernetes waits for the Ingress's load balancer hostname, which the controller sets once the ALB is provisioned"}},
	{awaitedOfType("kubernetes:helm.sh/v3:Release"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "Helm release waiting for its pods",
		"issue #5 (1-3 min); pulumi-kubernetes Release waits for the release's resources to be ready unless skipAwait"}},
	{awaitedOfType("kubernetes:apps/v1:Deployment"), Timing{1 * time.Minute, 30 * time.Second, 2 * time.Minute, "Deployment rollout",
		"pulumi-kubernetes awaits a Deployment's ready replicas; a small image on running nodes"}},
	{isType("aws:eks/addon:Addon"), Timing{2 * time.Minute, 1 * time.Minute, 4 * time.Minute, "EKS add-on",
		"Amazon EKS User Guide, Amazon EKS add-ons: the add-on's pods roll out on the nodes; the provider waits until it is ACTIVE"}},
	{hasTypePrefix("pulumi:providers:"), Timing{0, 0, 0, "provider", "a provider is configured, not created"}},
	{hasTypePrefix("random:"), Timing{0, 0, 0, "random value", "computed locally by the random provider"}},
	{hasTypePrefix("aws:"), apiCall},
	{hasTypePrefix("kubernetes:"), apiCall},
}

// requiredEdge is an order the environment truly needs: waiter after waited.
type requiredEdge struct {
	waiter, waited func(Resource) bool
	why            string
}

// requiredEdges are the orders a working environment truly needs. Beside them, every resource
// waits on its provider (see required).
var requiredEdges = []requiredEdge{
	// Network.
	{anyOf(isType("aws:ec2/subnet:Subnet"), isType("aws:ec2/internetGateway:InternetGateway"), isType("aws:ec2/routeTable:RouteTable")),
		isType("aws:ec2/vpc:Vpc"), "created in the VPC"},
	{isType("aws:ec2/natGateway:NatGateway"), anyOf(isType("aws:ec2/eip:Eip"), isType("aws:ec2/subnet:Subnet")), "the NAT gateway takes its address and public subnet"},
	{isType("aws:ec2/routeTable:RouteTable"), anyOf(isType("aws:ec2/natGateway:NatGateway"), isType("aws:ec2/internetGateway:InternetGateway")), "routes point at the gateway"},
	{isType("aws:ec2/routeTableAssociation:RouteTableAssociation"), anyOf(isType("aws:ec2/routeTable:RouteTable"), isType("aws:ec2/subnet:Subnet")), "associates a table with a subnet"},
	// Cluster.
	{anyOf(isType("aws:eks/cluster:Cluster"), isType("aws:eks/nodeGroup:NodeGroup")), isType("aws:ec2/subnet:Subnet"), "placed in the subnets"},
	{anyOf(isType("aws:eks/nodeGroup:NodeGroup"), isType("aws:iam/openIdConnectProvider:OpenIdConnectProvider"), hasTypePrefix("pulumi:providers:kubernetes")),
		isType("aws:eks/cluster:Cluster"), "the cluster before anything in it"},
	{isType("aws:eks/nodeGroup:NodeGroup"), hasTypePrefix("aws:iam/"), "the node role and its policies are the nodes' identity"},
	{isType("aws:eks/cluster:Cluster"), hasTypePrefix("aws:iam/"), "EKS assumes the cluster role, with its policy, to create the cluster"},
	{anyOf(isType("aws:eks/addon:Addon"), isType("aws:eks/accessEntry:AccessEntry"), isType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")),
		isType("aws:eks/cluster:Cluster"), "the cluster before anything in it"},
	{isType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"), isType("aws:eks/accessEntry:AccessEntry"), "a policy is associated with an existing access entry"},
	{isType("aws:eks/nodeGroup:NodeGroup"), isAddon("vpc-cni"), "a node is Ready only once the VPC CNI runs on it"},
	{hasTypePrefix("pulumi:providers:kubernetes"), anyOf(isType("aws:eks/nodeGroup:NodeGroup"), isAddon("coredns"), isAddon("kube-proxy")),
		"workloads need nodes, kube-proxy to reach Services and CoreDNS to resolve names"},
	{isType("kubernetes:core/v1:Namespace"), isAddon("aws-ebs-csi-driver"), "on destroy the namespace and its volume claims go while the EBS CSI driver still deletes volumes"},
	{isType("aws:iam/role:Role"), isType("aws:iam/openIdConnectProvider:OpenIdConnectProvider"), "an IRSA role trusts the cluster's OIDC provider"},
	{isType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), anyOf(isType("aws:iam/role:Role"), isType("aws:iam/policy:Policy")), "attaches a policy to a role"},
	// Certificate.
	{isRecordType("CNAME"), isType("aws:acm/certificate:Certificate"), "the validation record's name and value come from the certificate request"},
	{isType("aws:acm/certificateValidation:CertificateValidation"), anyOf(isType("aws:acm/certificate:Certificate"), isRecordType("CNAME")), "ACM validates through the CNAME record"},
	// Kubernetes.
	{anyOf(isType("kubernetes:helm.sh/v3:Release"), isType("kubernetes:apps/v1:Deployment")), isType("aws:eks/nodeGroup:NodeGroup"), "pods need nodes, and the release or rollout waits for its pods"},
	{hasTypePrefix("kubernetes:"), isType("kubernetes:core/v1:Namespace"), "a namespaced object needs its namespace"},
	{isChart("aws-load-balancer-controller"), hasTypePrefix("aws:iam/"), "the controller's service account assumes its IRSA role, with the official policy attached"},
	{hasTypePrefix("kubernetes:cert-manager.io/"), isChart("cert-manager"), "cert-manager's CRDs and webhook come with its release"},
	{hasTypePrefix("kubernetes:cert-manager.io/"), hasTypePrefix("kubernetes:cert-manager.io/"), "the CA is signed by the self-signed issuer; the issuer signs with the CA"},
	{isChart("kong"), isType("kubernetes:cert-manager.io/v1:Issuer"), "the issuer before the Kong releases: it issues their cluster mTLS certificates"},
	{isChart("kong"), isChart("aws-load-balancer-controller"), "issue #3 orders the Kong releases after the controller, whose webhook admits every Ingress"},
	{addonOtherThan("vpc-cni"), anyOf(isType("aws:eks/nodeGroup:NodeGroup"), hasTypePrefix("aws:iam/")), "the add-on's pods need nodes, and its IRSA role"},
	{isAddon("vpc-cni"), hasTypePrefix("aws:iam/"), "aws-node assigns pod addresses through its IRSA role"},
	{isChart("kong"), isType("aws:eks/addon:Addon"), "the bundled PostgreSQL's volume needs the EBS CSI driver"},
	{isType("kubernetes:core/v1:Secret"), hasTypePrefix("random:"), "the Secret holds the generated passwords"},
	{isChart("kong"), isType("kubernetes:core/v1:Secret"), "Kong and PostgreSQL read their passwords from the Secret"},
	{hasTypePrefix("kubernetes:configuration.konghq.com/"), isChart("kong"), "Kong's CRDs come with its chart"},
	{isType("kubernetes:networking.k8s.io/v1:Ingress"), hasTypePrefix("kubernetes:configuration.konghq.com/"), "the Ingress names the plugin"},
	{albIngress, isChart("aws-load-balancer-controller"), "the controller before the Ingress: it provisions the ALB"},
	{albIngress, isChart("kong"), "the controller builds the ALB only once the backend Service, from the data plane release, exists"},
	{albIngress, isType("aws:acm/certificateValidation:CertificateValidation"), "the certificate's validation before the Ingress: the HTTPS listener needs an issued certificate"},
	{albIngress, isType("aws:ec2/subnet:Subnet"), "the ALB goes in the public subnets"},
	{isRecordType("A", "AAAA"), albIngress, "the Ingress before the DNS record: its alias target is the ALB's hostname"},
}

// required reports whether waiter truly needs waited first, and why.
func required(waiter, waited Resource) (bool, string) {
	if waiter.Provider != "" && waiter.Provider == waited.URN {
		return true, "created through its provider"
	}
	for _, e := range requiredEdges {
		if e.waiter(waiter) && e.waited(waited) {
			return true, e.why
		}
	}
	return false, ""
}

// Matchers for the tables.

func isType(typ string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == typ }
}

func hasTypePrefix(prefix string) func(Resource) bool {
	return func(r Resource) bool { return strings.HasPrefix(r.Type, prefix) }
}

func anyOf(matchers ...func(Resource) bool) func(Resource) bool {
	return func(r Resource) bool {
		for _, m := range matchers {
			if m(r) {
				return true
			}
		}
		return false
	}
}

// isChart matches a Helm release of a chart.
func isChart(chart string) func(Resource) bool {
	return func(r Resource) bool {
		return r.Type == "kubernetes:helm.sh/v3:Release" && r.Input("chart") == chart
	}
}

// isAddon matches the EKS add-on of that name.
func isAddon(name string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == "aws:eks/addon:Addon" && r.Input("addonName") == name }
}

// addonOtherThan matches every EKS add-on but the one named.
func addonOtherThan(name string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == "aws:eks/addon:Addon" && r.Input("addonName") != name }
}

// isRecordType matches a Route53 record of one of the DNS types.
func isRecordType(types ...string) func(Resource) bool {
	return func(r Resource) bool {
		if r.Type != "aws:route53/record:Record" {
			return false
		}
		for _, t := range types {
			if r.Input("type") == t {
				return true
			}
		}
		return false
	}
}

// albIngress matches an Ingress of the ALB class that Pulumi waits on.
func albIngress(r Resource) bool {
	if r.Type != "kubernetes:networking.k8s.io/v1:Ingress" || skipsAwait(r) {
		return false
	}
	return r.Input("spec.ingressClassName") == "alb" || r.Annotation("kubernetes.io/ingress.class") == "alb"
}

// awaitedOfType matches a resource of a type that Pulumi waits on.
func awaitedOfType(typ string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == typ && !skipsAwait(r) }
}

func skipsAwait(r Resource) bool {
	return r.Input("skipAwait") == true || r.Annotation("pulumi.com/skipAwait") == "true"
}

// Estimate is the modelled time from `pulumi up` to a working environment.
type Estimate struct {
	Project string `json:"project"`
	Stack   string `json:"stack"`
	// Modelled is the longest path through the program's graph.
	Modelled Span `json:"modelled"`
	// LowerBound is the longest path keeping only the required edges.
	LowerBound        Span `json:"lowerBound"`
	ReachesLowerBound bool `json:"reachesLowerBound"`
	// CostlyEdges are the edges, not required, whose removal alone would shorten the modelled
	// time, costliest first.
	CostlyEdges []EdgeCost `json:"costlyEdges"`
	// UnlistedTypes are resource types the timings table has no rule for (taken as an API
	// call).
	UnlistedTypes []string `json:"unlistedTypes"`
}

// Span is the longest path through a graph.
type Span struct {
	Minutes float64 `json:"minutes"`
	// LowMinutes and HighMinutes are the longest paths with every resource at its low, or
	// high, time.
	LowMinutes   float64 `json:"lowMinutes"`
	HighMinutes  float64 `json:"highMinutes"`
	CriticalPath []Step  `json:"criticalPath"`
}

// Step is one resource on a critical path.
type Step struct {
	URN           string  `json:"urn"`
	Type          string  `json:"type"`
	Name          string  `json:"name"`
	What          string  `json:"what"`
	Minutes       float64 `json:"minutes"`
	StartMinutes  float64 `json:"startMinutes"`
	FinishMinutes float64 `json:"finishMinutes"`
}

// EdgeCost is an edge of the program's graph that no rule requires and that costs time.
type EdgeCost struct {
	Waiter      string  `json:"waiter"`
	Waited      string  `json:"waited"`
	CostMinutes float64 `json:"costMinutes"`
	Why         string  `json:"why"`
}

// graph is the dependency graph of a document: deps[u] are the URNs u waits on.
type graph struct {
	project   string
	order     []string // URNs, sorted
	res       map[string]Resource
	aggregate map[string]bool // components with children in the document
	deps      map[string][]string
}

func newGraph(doc *Document) *graph {
	g := &graph{project: doc.Project, res: map[string]Resource{}, aggregate: map[string]bool{}, deps: map[string][]string{}}
	for _, r := range doc.Resources {
		g.res[r.URN] = r
		g.order = append(g.order, r.URN)
	}
	sort.Strings(g.order)
	edges := map[string]map[string]bool{}
	add := func(from, to string) {
		if _, ok := g.res[to]; !ok || from == to {
			return
		}
		if edges[from] == nil {
			edges[from] = map[string]bool{}
		}
		edges[from][to] = true
	}
	for _, r := range doc.Resources {
		for _, d := range r.Dependencies {
			add(r.URN, d)
		}
		add(r.URN, r.Provider)
		if parent, ok := g.res[r.Parent]; ok && !parent.Custom {
			g.aggregate[parent.URN] = true
			add(parent.URN, r.URN)
		}
	}
	for from, set := range edges {
		g.deps[from] = sortedKeys(set)
	}
	return g
}

// timing returns a resource's creation time, and whether the table lists its type. A
// component of the project's own takes no time: with children it is done when they are, and
// without (a certificate imported by ARN, say) it has nothing to create.
func (g *graph) timing(urn string) (Timing, bool) {
	if g.aggregate[urn] {
		return Timing{Label: "component: done when its children are", Source: "the engine"}, true
	}
	r := g.res[urn]
	for _, rule := range timings {
		if rule.match(r) {
			return rule.Timing, true
		}
	}
	if !r.Custom && strings.HasPrefix(r.Type, g.project+":") {
		return Timing{Label: "component with nothing in it", Source: "the engine"}, true
	}
	return apiCall, false
}

// topological returns the URNs with every resource after those it waits on, or an error naming
// a cycle.
func (g *graph) topological(deps map[string][]string) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order, stack []string
	var visit func(u string) error
	visit = func(u string) error {
		switch state[u] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(shortURNs(stack), " -> "), shortURN(u))
		}
		state[u] = visiting
		stack = append(stack, u)
		for _, d := range deps[u] {
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[u] = done
		order = append(order, u)
		return nil
	}
	for _, u := range g.order {
		if err := visit(u); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func shortURNs(urns []string) []string {
	out := make([]string, len(urns))
	for i, u := range urns {
		out[i] = shortURN(u)
	}
	return out
}

// pathResult is the longest path through a graph.
type pathResult struct {
	total  time.Duration
	finish map[string]time.Duration
	path   []string // first to last
}

// longestPath weights each resource by weight and returns the longest path: each resource
// finishes at the latest finish of what it waits on plus its own time. Ties go to the
// smallest URN; the path ends at the resource finishing last, a leaf before a component.
func (g *graph) longestPath(deps map[string][]string, weight func(string) time.Duration) (pathResult, error) {
	order, err := g.topological(deps)
	if err != nil {
		return pathResult{}, err
	}
	finish := map[string]time.Duration{}
	pred := map[string]string{}
	for _, u := range order {
		var start time.Duration
		for _, d := range deps[u] { // sorted: the first of equal finishes wins
			if f := finish[d]; f > start || pred[u] == "" && f == start {
				start, pred[u] = f, d
			}
		}
		finish[u] = start + weight(u)
	}
	end := ""
	for _, u := range g.order {
		if end == "" || finish[u] > finish[end] || finish[u] == finish[end] && g.aggregate[end] && !g.aggregate[u] {
			end = u
		}
	}
	res := pathResult{finish: finish}
	if end == "" {
		return res, nil
	}
	res.total = finish[end]
	for u := end; u != ""; u = pred[u] {
		res.path = append([]string{u}, res.path...)
	}
	return res, nil
}

// requiredDeps keeps the pairs the program's graph orders, directly or not, that a rule
// requires; an aggregate component keeps its own waits (on its children).
func (g *graph) requiredDeps() map[string][]string {
	closure := g.closure()
	out := map[string][]string{}
	for _, u := range g.order {
		if g.aggregate[u] {
			out[u] = g.deps[u]
			continue
		}
		for _, d := range closure[u] {
			if ok, _ := required(g.res[u], g.res[d]); ok {
				out[u] = append(out[u], d)
			}
		}
	}
	return out
}

// closure returns, for each resource, everything it waits on directly or not, sorted. The
// graph must be acyclic.
func (g *graph) closure() map[string][]string {
	memo := map[string]map[string]bool{}
	var reach func(u string) map[string]bool
	reach = func(u string) map[string]bool {
		if m, ok := memo[u]; ok {
			return m
		}
		m := map[string]bool{}
		memo[u] = m
		for _, d := range g.deps[u] {
			m[d] = true
			for x := range reach(d) {
				m[x] = true
			}
		}
		return m
	}
	out := map[string][]string{}
	for _, u := range g.order {
		out[u] = sortedKeys(reach(u))
	}
	return out
}

// EstimateDocument models the time from `pulumi up` to a working environment for a document.
func EstimateDocument(doc *Document) (*Estimate, error) {
	g := newGraph(doc)
	e := &Estimate{Project: doc.Project, Stack: doc.Stack, CostlyEdges: []EdgeCost{}, UnlistedTypes: []string{}}
	var err error
	if e.Modelled, err = g.span(g.deps); err != nil {
		return nil, fmt.Errorf("estimate of %s/%s: %w", doc.Project, doc.Stack, err)
	}
	if e.LowerBound, err = g.span(g.requiredDeps()); err != nil {
		return nil, fmt.Errorf("estimate of %s/%s, lower bound: %w", doc.Project, doc.Stack, err)
	}
	e.ReachesLowerBound = e.Modelled.Minutes <= e.LowerBound.Minutes
	if !e.ReachesLowerBound {
		if e.CostlyEdges, err = g.costlyEdges(); err != nil {
			return nil, fmt.Errorf("estimate of %s/%s: %w", doc.Project, doc.Stack, err)
		}
	}
	e.UnlistedTypes = g.unlistedTypes()
	return e, nil
}

// span is the longest path with typical times, and its totals with low and high times.
func (g *graph) span(deps map[string][]string) (Span, error) {
	weight := func(pick func(Timing) time.Duration) func(string) time.Duration {
		return func(u string) time.Duration { t, _ := g.timing(u); return pick(t) }
	}
	typical, err := g.longestPath(deps, weight(func(t Timing) time.Duration { return t.Typical }))
	if err != nil {
		return Span{}, err
	}
	low, _ := g.longestPath(deps, weight(func(t Timing) time.Duration { return t.Low }))
	high, _ := g.longestPath(deps, weight(func(t Timing) time.Duration { return t.High }))
	s := Span{Minutes: minutes(typical.total), LowMinutes: minutes(low.total), HighMinutes: minutes(high.total), CriticalPath: []Step{}}
	for _, u := range typical.path {
		t, _ := g.timing(u)
		r := g.res[u]
		s.CriticalPath = append(s.CriticalPath, Step{
			URN: u, Type: r.Type, Name: r.Name, What: t.Label, Minutes: minutes(t.Typical),
			StartMinutes: minutes(typical.finish[u] - t.Typical), FinishMinutes: minutes(typical.finish[u]),
		})
	}
	return s, nil
}

// costlyEdges tries the program's graph without each edge that no rule requires, and returns
// those whose removal alone shortens the modelled time. The required edges are added to the
// graph first, so removing an edge never removes a required order that passed through it.
func (g *graph) costlyEdges() ([]EdgeCost, error) {
	typical := func(u string) time.Duration { t, _ := g.timing(u); return t.Typical }
	deps := unionDeps(g.deps, g.requiredDeps())
	base, err := g.longestPath(deps, typical)
	if err != nil {
		return nil, err
	}
	out := []EdgeCost{}
	for _, u := range g.order {
		for _, d := range g.deps[u] {
			if ok, _ := required(g.res[u], g.res[d]); ok || g.aggregate[u] {
				continue
			}
			without, err := g.longestPath(withoutEdge(deps, u, d), typical)
			if err != nil {
				return nil, err
			}
			if cost := base.total - without.total; cost > 0 {
				out = append(out, EdgeCost{Waiter: u, Waited: d, CostMinutes: minutes(cost),
					Why: "no rule in requiredEdges needs it: it comes from the program's dependsOn or inputs"})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CostMinutes > out[j].CostMinutes })
	return out, nil
}

// unionDeps merges two edge sets, each list sorted and without repeats.
func unionDeps(a, b map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range []map[string][]string{a, b} {
		for u, ds := range m {
			out[u] = append(out[u], ds...)
		}
	}
	for u, ds := range out {
		out[u] = sortedKeys(toSet(ds))
	}
	return out
}

func withoutEdge(deps map[string][]string, from, to string) map[string][]string {
	out := make(map[string][]string, len(deps))
	for u, ds := range deps {
		out[u] = ds
	}
	kept := []string{}
	for _, d := range deps[from] {
		if d != to {
			kept = append(kept, d)
		}
	}
	out[from] = kept
	return out
}

func (g *graph) unlistedTypes() []string {
	set := map[string]bool{}
	for _, u := range g.order {
		if _, ok := g.timing(u); !ok {
			set[g.res[u].Type] = true
		}
	}
	return sortedKeys(set)
}

// minutes rounds a duration to hundredths of a minute.
func minutes(d time.Duration) float64 {
	return math.Round(d.Minutes()*100) / 100
}

// WriteEstimateText writes the estimate for people.
func WriteEstimateText(w io.Writer, e *Estimate) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Time from `pulumi up` to a working environment, %s/%s\n", e.Project, e.Stack)
	fmt.Fprintf(b, "(modelled: the longest path through the dependency graph, each resource at its type's typical time)\n\n")
	writeSpan(b, "Modelled", e.Modelled)
	b.WriteString("\n")
	writeSpan(b, "Lower bound, keeping only the required edges", e.LowerBound)
	b.WriteString("\n")
	if e.ReachesLowerBound {
		b.WriteString("The program's graph reaches the lower bound: no edge it adds costs time.\n")
	} else {
		fmt.Fprintf(b, "The program's graph is %.1f min above the lower bound. Edges that cost time:\n",
			e.Modelled.Minutes-e.LowerBound.Minutes)
		for _, c := range e.CostlyEdges {
			fmt.Fprintf(b, "  %s waits on %s: %.1f min (%s)\n", shortURN(c.Waiter), shortURN(c.Waited), c.CostMinutes, c.Why)
		}
		if len(e.CostlyEdges) == 0 {
			b.WriteString("  none alone: several edges that no rule requires lengthen parallel paths together\n")
		}
	}
	if len(e.UnlistedTypes) > 0 {
		fmt.Fprintf(b, "Types with no timing rule (taken as an API call): %s\n", strings.Join(e.UnlistedTypes, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSpan(b *strings.Builder, title string, s Span) {
	fmt.Fprintf(b, "%s: %.1f min (%.1f to %.1f with every resource at its low or high time)\n",
		title, s.Minutes, s.LowMinutes, s.HighMinutes)
	fmt.Fprintf(b, "  %6s %6s  %s\n", "took", "done", "resource")
	for _, st := range s.CriticalPath {
		fmt.Fprintf(b, "  %6.1f %6.1f  %s %q (%s)\n", st.Minutes, st.FinishMinutes, st.Type, st.Name, st.What)
	}
}

// WriteEstimateJSON writes the estimate as indented JSON.
func WriteEstimateJSON(w io.Writer, e *Estimate) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}
