package synth

import (
	"sort"
	"time"
)

// Types of the virtual resources.
const (
	dataPlaneReadyType = "estimate:kong:DataPlaneReady"
	targetsHealthyType = "estimate:alb:TargetsHealthy"
	workingType        = "estimate:environment:Working"
	autoNodesType      = "estimate:nodes:AutoModeNodes"
)

var virtualTimings = []timingRule{
	{isType(dataPlaneReadyType), Timing{10 * time.Second, 2 * time.Second, 30 * time.Second, "Kong configuration pushed",
		"Kong hybrid mode: the control plane pushes its configuration to each data plane as it connects and on every change; Helm's wait sees the pods Ready within seconds"}},
	{isType(targetsHealthyType), Timing{30 * time.Second, 10 * time.Second, 90 * time.Second, "ALB targets healthy",
		"AWS Load Balancer Controller annotations: healthcheck-interval-seconds 15 and healthy-threshold-count 2 by default; registration takes seconds"}},
	{isType(workingType), Timing{0, 0, 0, "working environment", "the last of its conditions"}},
	{isType(autoNodesType), Timing{1 * time.Minute, 45 * time.Second, 2 * time.Minute, "EKS Auto Mode nodes",
		"EKS Auto Mode launches an instance once a pod is pending and it joins in about a minute (EC2 launch, boot and kubelet registration; AWS publishes no figure)"}},
}

// Condition is one thing a working environment needs, and when the estimate has it met.
type Condition struct {
	Name    string  `json:"name"`
	Minutes float64 `json:"minutes"`
	// Met is false when the condition is never met (Why says why).
	Met bool   `json:"met"`
	Why string `json:"why,omitempty"`
}

// The conditions of a working environment.
const (
	conditionDataPlane = "a Kong data plane Ready"
	conditionALB       = "the ALB serving"
	conditionDNS       = "*.DOMAIN resolving"
)

// world is what addWorld found and made.
type world struct {
	dataPlanes, records []string // URNs
	entities            []string // the Kong entities the data planes wait on
	// The virtual resources: each data plane's Ready, and (when there is an ALB and a data
	// plane) the ALB serving and the environment working.
	dataPlanesReady         []string
	targetsHealthy, working string
}

// addWorld adds the virtual resources and the world's edges to the program's edges
// (waiter -> set of waited).
//
// What the world adds to the program's graph. The program's edges are the orders Pulumi
// keeps; the services keep others of their own, and a working environment is more than the
// last resource done:
//
//   - A Kong data plane release is done (Helm's wait: its pods Ready) only once its control
//     plane has a non-empty configuration to push: Kong answers /status/ready with 200 only
//     then (kong/status/ready.lua). Its pods start at once; they are Ready when the first
//     configuration arrives after the Kong entities that make it (the control plane's global
//     plugins) exist, whatever the program's edges say. The release's own time is its pods
//     starting; a virtual "Ready" resource after it and the entities is the release done, and
//     what waited on the release waits on that.
//   - The ALB serves once it exists and a data plane is Ready and registered: the load
//     balancer controller registers the pods as targets, and the ALB routes to them once its
//     health checks pass (the controller's defaults: every 15 s, healthy after 2).
//   - In EKS Auto Mode no node exists before pods ask for one: the first workload's pods are
//     pending until EKS's Karpenter launches a node. A virtual "nodes" resource after the
//     Kubernetes provider is that node joining, and every workload waits on it.
//   - The environment works when the ALB serves, the *.DOMAIN records resolve and a data plane
//     is Ready. These three are the conditions the estimate reports. (With the ALB's target
//     group made before the data plane's pods, the controller gives them readiness gates, so
//     Helm's wait on the release may last until the ALB serving; the environment works at the
//     same time either way.)
//
// They are virtual resources of the graph, with edges every estimate keeps (requiredEdges).
func (g *graph) addWorld(edges map[string]map[string]bool) {
	add := func(from, to string) {
		if edges[from] == nil {
			edges[from] = map[string]bool{}
		}
		edges[from][to] = true
	}
	var albs, workloads, providers []string
	autoMode := false
	for _, u := range g.order {
		r := g.res[u]
		switch {
		case isType("aws:eks/cluster:Cluster")(r) && r.Input("computeConfig.enabled") == true:
			autoMode = true
		case hasTypePrefix("pulumi:providers:kubernetes")(r):
			providers = append(providers, u)
		case isType("kubernetes:helm.sh/v3:Release")(r) || isType("kubernetes:apps/v1:Deployment")(r):
			workloads = append(workloads, u)
		}
		switch {
		case kongDataPlane(r):
			g.world.dataPlanes = append(g.world.dataPlanes, u)
		case kongEntity(r):
			g.world.entities = append(g.world.entities, u)
		case albIngress(r):
			albs = append(albs, u)
		case isRecordType("A", "AAAA")(r):
			g.world.records = append(g.world.records, u)
		}
	}
	virtual := func(typ, name string) string {
		urn := "estimate:" + name
		g.res[urn] = Resource{URN: urn, Type: typ, Name: name, Custom: true}
		g.order = append(g.order, urn)
		return urn
	}
	if autoMode {
		nodes := virtual(autoNodesType, "auto-mode-nodes")
		for _, p := range providers {
			add(nodes, p)
		}
		for _, w := range workloads {
			add(w, nodes)
		}
	}
	for _, dp := range g.world.dataPlanes {
		ready := virtual(dataPlaneReadyType, g.res[dp].Name+"-ready")
		for waiter, waited := range edges { // what waited on the release waits on it Ready
			if waited[dp] && waiter != ready {
				delete(waited, dp)
				waited[ready] = true
			}
		}
		add(ready, dp)
		for _, e := range g.world.entities {
			add(ready, e)
		}
		g.world.dataPlanesReady = append(g.world.dataPlanesReady, ready)
	}
	if len(albs) > 0 && len(g.world.dataPlanes) > 0 {
		g.world.targetsHealthy = virtual(targetsHealthyType, "alb-targets-healthy")
		for _, u := range append(append([]string{}, albs...), g.world.dataPlanesReady...) {
			add(g.world.targetsHealthy, u)
		}
	}
	if g.world.targetsHealthy != "" || len(g.world.records) > 0 {
		g.world.working = virtual(workingType, "working-environment")
		for _, u := range append(append([]string{g.world.targetsHealthy}, g.world.records...), g.world.dataPlanesReady...) {
			if u != "" {
				add(g.world.working, u)
			}
		}
	}
	sort.Strings(g.order)
}

// conditions reports when each condition of a working environment is met, from the
// resources' finishing times.
func (g *graph) conditions(finish map[string]time.Duration) []Condition {
	if g.world.working == "" {
		return []Condition{}
	}
	latest := func(urns []string) float64 {
		var f time.Duration
		for _, u := range urns {
			f = max(f, finish[u])
		}
		return minutes(f)
	}
	dp := Condition{Name: conditionDataPlane, Minutes: latest(g.world.dataPlanesReady), Met: len(g.world.dataPlanes) > 0}
	if len(g.world.dataPlanes) == 0 {
		dp.Why = "no Kong data plane release"
	} else if len(g.world.entities) == 0 {
		dp.Met, dp.Why = false, "no Kong entity in any configuration: a data plane with an empty configuration is never Ready"
	}
	alb := Condition{Name: conditionALB, Met: g.world.targetsHealthy != "" && dp.Met}
	if g.world.targetsHealthy != "" {
		alb.Minutes = latest([]string{g.world.targetsHealthy})
	}
	if !alb.Met {
		alb.Why = "no ALB Ingress, or no data plane Ready behind it"
	}
	dns := Condition{Name: conditionDNS, Minutes: latest(g.world.records), Met: len(g.world.records) > 0}
	if !dns.Met {
		dns.Why = "no A or AAAA record"
	}
	return []Condition{dp, alb, dns}
}

// kongDataPlane matches a Kong release in role data_plane that Pulumi waits on.
func kongDataPlane(r Resource) bool {
	return awaitedOfType("kubernetes:helm.sh/v3:Release")(r) && r.Input("values.env.role") == "data_plane"
}

// kongEntity matches what gives Kong's configuration an entity from the control plane's first
// sync: a global KongClusterPlugin (the ingress controller makes a global plugin of it).
func kongEntity(r Resource) bool {
	return r.Type == "kubernetes:configuration.konghq.com/v1:KongClusterPlugin" && r.Input("metadata.labels.global") == "true"
}
