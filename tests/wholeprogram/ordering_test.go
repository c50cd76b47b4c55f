package wholeprogram

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// match selects resources by URN: typ is a type, or a prefix when it ends in "/" or ":"; name
// "" is any name.
type match struct{ typ, name string }

func (m match) matches(urn string) bool {
	typ, name := typeAndName(urn)
	if m.name != "" && name != m.name {
		return false
	}
	if strings.HasSuffix(m.typ, "/") || strings.HasSuffix(m.typ, ":") {
		return strings.HasPrefix(typ, m.typ)
	}
	return typ == m.typ
}

func (m match) String() string {
	if m.name == "" {
		return "every " + strings.TrimRight(m.typ, "/:")
	}
	return m.typ + " " + m.name
}

// typeAndName splits urn:pulumi:STACK::PROJECT::PARENT$...$TYPE::NAME.
func typeAndName(urn string) (typ, name string) {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return "", ""
	}
	types := strings.Split(parts[2], "$")
	return types[len(types)-1], parts[len(parts)-1]
}

// orderingRule is an edge the program must declare, because on EKS the wrong order is not an
// error the engine sees but a refusal, a hang or a leak.
type orderingRule struct {
	dependent, dependency match
	// why is what goes wrong on EKS without the edge.
	why string
}

func orderingRules(cfg stacks.Config) []orderingRule {
	release := "kubernetes:helm.sh/v3:Release"
	var access []orderingRule
	if len(cfg.Cluster.AccessEntries) > 0 {
		access = append(access, orderingRule{
			dependent:  match{"kubernetes:", ""},
			dependency: match{"aws:eks/accessPolicyAssociation:AccessPolicyAssociation", ""},
			why: "a principal that reaches the cluster only through its access entry (a CI role that did not create it) " +
				"needs its policy for every Kubernetes call: before the first on up, until the last on destroy",
		})
	}
	alb := orderingRule{
		dependent:  match{"kubernetes:networking.k8s.io/v1:Ingress", ""},
		dependency: match{release, "aws-load-balancer-controller"},
		// The chart's templates/webhook.yaml; the finalizer: pkg/ingress/finalizer.go.
		why: "the controller's webhook vingress.elbv2.k8s.aws (failurePolicy Fail) refuses every Ingress until its pods are " +
			"Ready, and on destroy only the controller deletes an ALB and removes its Ingress's finalizer",
	}
	if cfg.Cluster.AutoMode() {
		alb = orderingRule{
			dependent:  match{"kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy"},
			dependency: match{"kubernetes:eks.amazonaws.com/v1:IngressClassParams", ""},
			why: "EKS Auto Mode's controller takes the ALB's scheme, subnets and certificate from the class's parameters: " +
				"an Ingress reconciled before them gets an internal ALB without the certificate",
		}
	}
	return append(access, []orderingRule{alb, {
		dependent:  match{"kubernetes:cert-manager.io/", ""},
		dependency: match{release, "cert-manager"},
		// The chart's templates/webhook-validating-webhook.yaml and webhook-mutating-webhook.yaml.
		why: "cert-manager's webhooks (failurePolicy Fail) refuse its resources until they serve",
	}}...)
}

// checkOrder holds the recorded steps of op ("create" on the first up, "delete" on destroy)
// to every rule: on create a dependent starts only once its dependency is done, on delete the
// dependency goes only once its dependents are gone. The load balancer controller's stand-in is
// Ready only when the engine waits on nothing else, so a missing edge shows here every time
// (and, when the controller's webhook configuration already exists, as the API server's
// refusal).
func (e *env) checkOrder(op string) {
	e.t.Helper()
	for _, rule := range orderingRules(e.spec.Config) {
		first, then := rule.dependency, rule.dependent
		if op == "delete" {
			first, then = rule.dependent, rule.dependency
		}
		done, started := e.steps(automation.EventResourceFinished, op, first), e.steps(automation.EventResourceStarted, op, then)
		if len(done) == 0 || len(started) == 0 {
			e.t.Errorf("no %s of both %s (%d) and %s (%d) was recorded", op, first, len(done), then, len(started))
		}
		for _, d := range done {
			for _, s := range started {
				if s.Time.Before(d.Time) {
					e.t.Errorf("the %s of %s began at %s, before the %s of %s was done at %s: %s", op, s.URN, s.Time.Format(time.StampMilli),
						op, d.URN, d.Time.Format(time.StampMilli), rule.why)
				}
			}
		}
	}
}

// checkStateOrdering: in the state, each rule's dependents depend on its dependency, directly or
// through other resources. The engine orders a destroy by these dependencies alone: an order
// the destroy happens to keep without one holds only by the shape of today's graph.
func (e *env) checkStateOrdering() {
	e.t.Helper()
	deps := e.stateDependencies()
	for _, rule := range orderingRules(e.spec.Config) {
		var dependencies []string
		for urn := range deps {
			if rule.dependency.matches(urn) {
				dependencies = append(dependencies, urn)
			}
		}
		if len(dependencies) == 0 {
			e.t.Errorf("the state holds no %s", rule.dependency)
			continue
		}
		for urn := range deps {
			if !rule.dependent.matches(urn) {
				continue
			}
			for _, d := range dependencies {
				if !reaches(deps, urn, d) {
					e.t.Errorf("in the state %s does not depend on %s: nothing orders them (%s)", urn, d, rule.why)
				}
			}
		}
	}
}

// stateDependencies are the dependencies of every resource in the stack's state.
func (e *env) stateDependencies() map[string][]string {
	e.t.Helper()
	path := filepath.Join(e.stateDir(), ".pulumi", "stacks", stacks.Project, e.spec.Name+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatalf("the stack's state: %v", err)
	}
	var file apitype.VersionedCheckpoint
	var checkpoint apitype.CheckpointV3
	if err := json.Unmarshal(raw, &file); err != nil {
		e.t.Fatalf("the stack's state %s: %v", path, err)
	}
	if err := json.Unmarshal(file.Checkpoint, &checkpoint); err != nil || checkpoint.Latest == nil {
		e.t.Fatalf("the stack's state %s has no deployment (version %d): %v", path, file.Version, err)
	}
	out := map[string][]string{}
	for _, r := range checkpoint.Latest.Resources {
		for _, d := range r.Dependencies {
			out[string(r.URN)] = append(out[string(r.URN)], string(d))
		}
		// A resource depends on its provider too ("URN::ID"): the engine deletes it first.
		if i := strings.LastIndex(r.Provider, "::"); i > 0 {
			out[string(r.URN)] = append(out[string(r.URN)], r.Provider[:i])
		}
		if _, ok := out[string(r.URN)]; !ok {
			out[string(r.URN)] = nil
		}
	}
	return out
}

// reaches reports whether from depends on to, directly or through other resources.
func reaches(deps map[string][]string, from, to string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		urn := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if urn == to {
			return true
		}
		if !seen[urn] {
			seen[urn] = true
			stack = append(stack, deps[urn]...)
		}
	}
	return false
}

// steps are the recorded events of kind for step op on resources m selects.
func (e *env) steps(kind automation.EventKind, op string, m match) []automation.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []automation.Event
	for _, ev := range e.events {
		if ev.Kind == kind && ev.Op == op && !ev.Planning && m.matches(ev.URN) {
			out = append(out, ev)
		}
	}
	return out
}
