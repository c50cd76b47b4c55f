package synth

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

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
	// ManagedNodes, for an EKS Auto Mode stack, is the modelled time of the same stack with a
	// managed node group (ManagedCounterpart), in minutes.
	ManagedNodes *float64 `json:"managedNodesMinutes,omitempty"`
}

// Span is the longest path through a graph.
type Span struct {
	Minutes float64 `json:"minutes"`
	// LowMinutes and HighMinutes are the longest paths with every resource at its low, or
	// high, time.
	LowMinutes   float64 `json:"lowMinutes"`
	HighMinutes  float64 `json:"highMinutes"`
	CriticalPath []Step  `json:"criticalPath"`
	// Conditions are the conditions of a working environment, each with when it is met
	// (estimate_world.go); the total is the last of them.
	Conditions []Condition `json:"conditions"`
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
	world     world // estimate_world.go
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
	g.addWorld(edges)
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
	for _, rule := range append(virtualTimings, timings...) {
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
	// The path ends when the environment works (later resources, a demo say, do not count),
	// or without one at the resource finishing last.
	end := g.world.working
	for _, u := range g.order {
		if g.world.working != "" {
			break
		}
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
//
// It is the longest path
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
	s := Span{Minutes: minutes(typical.total), LowMinutes: minutes(low.total), HighMinutes: minutes(high.total), CriticalPath: []Step{},
		Conditions: g.conditions(typical.finish)}
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
			if ok, _ := required(g.res[u], g.res[d]); ok || g.aggregate[u] || isVirtual(g.res[u]) {
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
