package wholeprogram

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// A stack's life after its first up, as a platform team lives it: each change is previewed
// (the plan must be exactly the expected steps, nothing replaced or deleted that should not
// be), then applied, then checked. The fake cloud refuses what AWS refuses (tests/fakecloud:
// the replacement table, EKS's version rules), so an order or a step the program gets wrong
// fails the apply as it would on AWS.
func (e *env) live() {
	e.t.Helper()
	e.upgradeKubernetes()
	e.upgradeKubernetes()
	e.changeInstanceType()
	e.upgradeKong()
	e.switchWAF()
	e.grantAndRevokeAccess()
}

// step is one resource's planned change, by "type name" (the resource's name, not its URN).
type step = string

// plan previews spec and returns every resource the preview would change, with its step:
// create, update, delete or replace (a replacement's create-replacement, replace and
// delete-replaced are one replace). Components and the stack are left out.
func (e *env) plan(spec stacks.Spec) map[string]step {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	e.mu.Lock()
	from := len(e.events)
	e.mu.Unlock()
	if _, err := e.manager.Preview(ctx, spec, e.record()); err != nil {
		e.t.Fatalf("preview: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]step{}
	for _, ev := range e.events[from:] {
		if ev.Kind != automation.EventResourceStarted || !ev.Planning || ev.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(ev.Type, stacks.Project+":") {
			continue
		}
		typ, name := typeAndName(ev.URN)
		key := typ + " " + name
		switch ev.Op {
		case "same", "read", "refresh":
		case "replace", "create-replacement", "delete-replaced":
			out[key] = "replace"
		default:
			if out[key] != "replace" {
				out[key] = ev.Op
			}
		}
	}
	return out
}

// apply previews spec, holds the plan to want (exactly those resources with those steps), then
// runs up and makes spec the environment's.
func (e *env) apply(what string, spec stacks.Spec, want map[string]step) {
	e.t.Helper()
	e.upPlanned(what, spec, want)
	if again := e.plan(spec); len(again) > 0 {
		e.t.Errorf("%s: a preview after the up still plans %s", what, describe(again))
	}
}

// upPlanned previews spec, holds the plan to want, then runs up and makes spec the
// environment's.
func (e *env) upPlanned(what string, spec stacks.Spec, want map[string]step) {
	e.t.Helper()
	got := e.plan(spec)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Fatalf("%s: the preview plans\n  %s\nwant exactly\n  %s", what, describe(got), describe(want))
	}
	ctx, cancel := e.ctx()
	defer cancel()
	res, err := e.manager.Up(ctx, spec, e.record())
	if err != nil {
		e.t.Fatalf("%s: up: %v", what, err)
	}
	e.t.Logf("%s: %v", what, nonSame(res.Changes))
	e.spec = spec
}

func describe(plan map[string]step) string {
	lines := make([]string, 0, len(plan))
	for k, v := range plan {
		lines = append(lines, v+" "+k)
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "nothing"
	}
	return strings.Join(lines, "\n  ")
}

// upgradeKubernetes moves the cluster one minor up: the control plane, then (as outputs of
// the cluster) the node group and every add-on at EKS's default for the new version. Nothing
// else changes: the Kubernetes provider, the releases and everything in the cluster stay.
func (e *env) upgradeKubernetes() {
	e.t.Helper()
	spec := e.spec
	from := spec.Config.Cluster.KubernetesVersion
	var major, minor int
	if _, err := fmt.Sscanf(from, "%d.%d", &major, &minor); err != nil {
		e.t.Fatalf("kubernetesVersion %q: %v", from, err)
	}
	to := fmt.Sprintf("%d.%d", major, minor+1)
	spec.Config.Cluster.KubernetesVersion = to
	cluster := spec.Config.ClusterName(e.name)
	want := map[string]step{
		"aws:eks/cluster:Cluster " + cluster:                "update",
		"aws:eks/nodeGroup:NodeGroup " + cluster + "-nodes": "update",
		"aws:eks/addon:Addon ebs-csi-driver":                "update",
	}
	addons := []string{"vpc-cni", "kube-proxy", "coredns"}
	if spec.Config.Cluster.WorkloadIdentity == components.PodIdentity {
		addons = append(addons, "pod-identity-agent")
	}
	for _, addon := range addons {
		want["aws:eks/addon:Addon "+cluster+"-"+addon] = "update"
	}
	e.apply("Kubernetes "+from+" → "+to, spec, want)

	for _, r := range e.resources("aws:eks/nodeGroup:NodeGroup") {
		if r.Outputs["version"] != to {
			e.t.Errorf("after the upgrade to %s the node group is at %v", to, r.Outputs["version"])
		}
	}
	for _, r := range e.resources("aws:eks/addon:Addon") {
		name := fmt.Sprint(r.Outputs["addonName"])
		if want, _ := answers.AddonVersion(name, to, false); r.Outputs["addonVersion"] != want {
			e.t.Errorf("after the upgrade to %s add-on %s is at %v, want EKS's default %s", to, name, r.Outputs["addonVersion"], want)
		}
	}
}

// changeInstanceType moves the nodes to another instance type: EKS replaces a managed node
// group on it (instance_types is ForceNew), and the engine makes the new group before it
// deletes the old one, so the cluster always has nodes. Nothing else changes.
func (e *env) changeInstanceType() {
	e.t.Helper()
	spec := e.spec
	spec.Config.Cluster.NodeInstanceType = map[bool]string{true: "m6i.large", false: "m7i.large"}[spec.Config.Cluster.NodeInstanceType != "m6i.large"]
	nodes := spec.Config.ClusterName(e.name) + "-nodes"
	var old []string
	for _, n := range e.items("/api/v1/nodes") {
		old = append(old, fmt.Sprint(field(n, "metadata", "name")))
	}
	watch := e.watchKong()
	e.apply("instance type "+spec.Config.Cluster.NodeInstanceType, spec, map[string]step{
		"aws:eks/nodeGroup:NodeGroup " + nodes: "replace",
	})
	// The old group's nodes are drained (the node group stand-in, as EKS does on its
	// deletion): the data plane moves to the new nodes, one pod at a time under its PDB.
	e.waitForNodes(old, spec.Config.Cluster.NodeInstanceType, spec.Config.Cluster.NodeDesiredSize)
	watch("while the nodes were replaced")
	if forced := e.hosts.Forced(); len(forced) > 0 {
		e.t.Errorf("the drain had to delete pods their PodDisruptionBudget protected: %v", forced)
	}
	groups := e.resources("aws:eks/nodeGroup:NodeGroup")
	if len(groups) != 1 {
		e.t.Fatalf("after the replacement the cloud holds %d node groups", len(groups))
	}
	if types := fmt.Sprint(groups[0].Outputs["instanceTypes"]); !strings.Contains(types, spec.Config.Cluster.NodeInstanceType) {
		e.t.Errorf("the node group's instance types are %s", types)
	}
	e.checkCreatedBeforeDeleted("aws:eks/nodeGroup:NodeGroup", nodes)
}

// waitForNodes waits until the old nodes are gone, the cluster's nodes are the node group's
// desired count, all of the instance type, and the data plane is fully available again.
func (e *env) waitForNodes(old []string, instanceType string, desired int) {
	e.t.Helper()
	kong := e.spec.Config.Kong
	err := e.cluster.Eventually(3*time.Minute, "the nodes replaced and the data plane back", func() (bool, error) {
		nodes := e.items("/api/v1/nodes")
		for _, n := range nodes {
			if name := fmt.Sprint(field(n, "metadata", "name")); slices.Contains(old, name) {
				return false, fmt.Errorf("node %s of the replaced node group is still there", name)
			}
			if field(n, "metadata", "labels", "node.kubernetes.io/instance-type") != instanceType {
				return false, fmt.Errorf("node %v is still a %v", field(n, "metadata", "name"), field(n, "metadata", "labels", "node.kubernetes.io/instance-type"))
			}
		}
		if len(nodes) != desired {
			return false, fmt.Errorf("%d nodes, want %d", len(nodes), desired)
		}
		for _, d := range e.items(fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments?labelSelector=app.kubernetes.io/instance%%3D%s", kong.Namespace, kong.DataPlaneRelease)) {
			if field(d, "status", "availableReplicas") != field(d, "spec", "replicas") {
				return false, fmt.Errorf("the data plane has %v of %v available", field(d, "status", "availableReplicas"), field(d, "spec", "replicas"))
			}
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// checkCreatedBeforeDeleted: the last up's replacement of typ name made the new resource
// before it deleted the old one.
func (e *env) checkCreatedBeforeDeleted(typ, name string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	created, deleted := -1, -1
	for i, ev := range e.events {
		if ev.Planning || ev.Kind != automation.EventResourceFinished || !(match{typ, name}).matches(ev.URN) {
			continue
		}
		switch ev.Op {
		case "create-replacement":
			created = i
		case "delete-replaced":
			deleted = i
		}
	}
	if created < 0 || deleted < 0 || created > deleted {
		e.t.Errorf("%s %s: the replacement was made at event %d and the old one deleted at %d; want the new one first", typ, name, created, deleted)
	}
}

// switchWAF turns the ALB's web ACL on, then off (or off, then on again, for a stack that has
// one): only the proxy Ingress's annotation changes, and the load balancer controller's
// stand-in, which follows the controller's rule, shows the ALB with and without the ACL.
func (e *env) switchWAF() {
	e.t.Helper()
	const acl = "arn:aws:wafv2:%s:123456789012:regional/webacl/kong-life/7c9d0e1f-2a3b-4c5d-8e6f-708192a3b4c5"
	original := e.spec.Config.ALB.WAFv2ACLARN
	on := original
	if on == "" {
		on = fmt.Sprintf(acl, e.spec.Config.Region)
	}
	ingress := map[string]step{"kubernetes:networking.k8s.io/v1:Ingress kong-proxy": "update"}
	for _, arn := range []string{"", on, original} {
		if arn == e.spec.Config.ALB.WAFv2ACLARN {
			continue
		}
		spec := e.spec
		spec.Config.ALB.WAFv2ACLARN = arn
		e.apply(fmt.Sprintf("web ACL %q", arn), spec, ingress)
		if err := e.cluster.Eventually(time.Minute, "the ALB's web ACL", func() (bool, error) {
			got := e.hosts.WebACL(spec.Config.Kong.Namespace, "kong-proxy")
			return got == arn, fmt.Errorf("the ALB's web ACL is %q, want %q", got, arn)
		}); err != nil {
			e.t.Error(err)
		}
	}
}

// lifeAuditor is the principal the life test grants read access and takes it back from.
const lifeAuditor = "arn:aws:iam::123456789012:role/life-auditor"

// grantAndRevokeAccess gives a principal an access entry with the View policy, then takes it
// away: each is one entry and one association, created or deleted, nothing else. With the
// entry, a kubectl-level call as the principal (its own `aws eks get-token` token) lists the
// Kong pods; without it, the same token is refused.
func (e *env) grantAndRevokeAccess() {
	e.t.Helper()
	cluster := e.spec.Config.ClusterName(e.name)
	entry := cluster + "-access-role-life-auditor"
	resources := func(op step) map[string]step {
		return map[string]step{
			"aws:eks/accessEntry:AccessEntry " + entry:                                                  op,
			"aws:eks/accessPolicyAssociation:AccessPolicyAssociation " + entry + "-AmazonEKSViewPolicy": op,
		}
	}
	token, err := e.world.Token(cluster, lifeAuditor)
	if err != nil {
		e.t.Fatal(err)
	}
	pods := "/api/v1/namespaces/" + e.spec.Config.Kong.Namespace + "/pods"
	if _, err := e.cluster.DoAs(token, http.MethodGet, pods, nil); localcluster.StatusCode(err) != http.StatusForbidden {
		e.t.Errorf("before its access entry, %s listing pods: %v, want 403", lifeAuditor, err)
	}

	granted := e.spec
	granted.Config.Cluster.AccessEntries = append(slices.Clone(granted.Config.Cluster.AccessEntries), lifeAuditor+" AmazonEKSViewPolicy")
	e.apply("access entry for "+lifeAuditor, granted, resources("create"))
	if _, err := e.cluster.DoAs(token, http.MethodGet, pods, nil); err != nil {
		e.t.Errorf("with its access entry, %s cannot list pods: %v", lifeAuditor, err)
	}

	revoked := e.spec
	revoked.Config.Cluster.AccessEntries = slices.DeleteFunc(slices.Clone(revoked.Config.Cluster.AccessEntries), func(item string) bool {
		return strings.HasPrefix(item, lifeAuditor+" ")
	})
	e.apply("no access entry for "+lifeAuditor, revoked, resources("delete"))
	if _, err := e.cluster.DoAs(token, http.MethodGet, pods, nil); localcluster.StatusCode(err) != http.StatusForbidden {
		e.t.Errorf("after its access entry went, %s listing pods: %v, want 403", lifeAuditor, err)
	}
}

// destroyAs is destroy (everything goes, nothing is left) run by principal, who is not the
// cluster's creator and reaches the cluster only through its access entry: the Kubernetes
// provider waits on the entries and their associations, so they go only after the last
// Kubernetes resource, and the principal's access holds to the end.
func (e *env) destroyAs(principal string, before map[string]object) {
	e.t.Helper()
	if !slices.ContainsFunc(e.spec.Config.Cluster.AccessEntries, func(item string) bool {
		return strings.HasPrefix(item, principal+" AmazonEKSClusterAdminPolicy")
	}) {
		e.t.Fatalf("%s has no cluster-admin access entry in the %s stack to destroy it with", principal, e.name)
	}
	e.manager = e.managerAs(principal)
	e.destroy(before)
	calls, err := e.world.Calls()
	if err != nil {
		e.t.Fatal(err)
	}
	tokens := 0
	for _, c := range calls {
		if c.Method == "get-token" && c.Inputs["principal"] == principal {
			tokens++
		}
	}
	if tokens == 0 {
		e.t.Errorf("the destroy never asked for a token as %s: it did not run as that principal", principal)
	}
}
