package fakecloud

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// EKS's version rules, as the fake enforces them on the creates and updates of clusters,
// managed node groups and add-ons (never in a preview: the real provider calls no API
// then). Each rule reads the live cluster from the world: the aws:eks/cluster:Cluster whose
// ID (its name, as the answers give it) is the node group's or add-on's clusterName. The
// provider runs them holding the world's lock, so a rule's look at the cluster and its node
// groups and the write that follows do not interleave with another plugin's.
//
// Errors read as terraform-provider-aws reports EKS's: the operation (cluster.go "updating
// EKS Cluster (%s) version", node_group.go "updating EKS Node Group (%s) version", addon.go
// "creating EKS Add-On (%s)" and "updating EKS Add-On (%s)"), then EKS's code and message.
//
// The Kubernetes versions the fake's EKS offers are the minors its add-on catalogue
// (answers.AddonVersions) publishes versions for, 1.33 to 1.36 today.

const (
	eksCluster   = "aws:eks/cluster:Cluster"
	eksNodeGroup = "aws:eks/nodeGroup:NodeGroup"
	eksAddon     = "aws:eks/addon:Addon"

	// rollbackWindow is how long after an in-place upgrade EKS lets the cluster go back.
	rollbackWindow = 7 * 24 * time.Hour
)

// VersionUpgrade is a cluster's last in-place upgrade: the version it left, and when.
type VersionUpgrade struct {
	From string    `json:"from"`
	At   time.Time `json:"at"`
}

// eksRules applies EKS's version rules to a create (old nil) or an update (old: the resource
// as the world has it) of r, with the inputs in and the answered state: it refuses what EKS
// refuses, with EKS's error, and writes into state the versions EKS picks. For a cluster it
// also sets r.Upgrade. Other types pass.
func (w *World) eksRules(r *Resource, old *Resource, in, state resource.PropertyMap) error {
	switch r.Type {
	case eksCluster:
		if err := autoModeRule(r, old, in); err != nil {
			return err
		}
		return w.clusterVersion(r, old, in, state)
	case eksNodeGroup:
		return w.nodeGroupVersion(r, old, in, state)
	case eksAddon:
		return w.addonVersion(r, old, in, state)
	}
	return nil
}

// clusterVersion is the rule of a cluster's version.
//
// Create: any version EKS offers; left out, EKS's default. CreateCluster's version "If you
// don't specify a value here, the default version available in Amazon EKS is used. The
// default version might not be the latest version available." (EKS API reference); the fake
// takes the newest it offers. A version EKS does not offer is refused with
// "InvalidParameterException: unsupported Kubernetes version" (CreateCluster's answer quoted
// in rancher/rancher#27777 and Cloud-CV/EvalAI#3488).
//
// Update, one minor at a time and only forward: "Because Amazon EKS runs a highly available
// control plane, you can update only one minor version at a time." and "Once you upgrade a
// cluster, you can't downgrade to a previous version." (amazon-eks-user-guide,
// latest/ug/clusters/update-cluster.adoc, "Update existing cluster to new Kubernetes
// version"). Anything else is refused with "InvalidParameterException: Unsupported Kubernetes
// minor version update from 1.22 to 1.25" (a skip: terraform-aws-modules/terraform-aws-eks#2607;
// a downgrade: "from 1.23 to 1.22", rancher/rancher#41643 and #43316).
//
// The one way back is a rollback (amazon-eks-user-guide, latest/ug/clusters/rollback-cluster.adoc,
// 2026): UpdateClusterVersion to N-1 for a cluster upgraded in place from N-1 ("Clusters
// created at their current version cannot be rolled back"; "You can only rollback by one minor
// version"), within 7 days of the upgrade, and with the managed node groups rolled back first
// ("You must rollback your managed node groups to the previous version before rolling back the
// control plane"). EKS publishes no wording for that last refusal; the fake words it after the
// upgrade's.
//
// Node groups first: "Before updating your control plane to a new Kubernetes version, make
// sure that the Kubernetes minor version of both the managed nodes and Fargate nodes in your
// cluster are the same as your control plane's version." (update-cluster.adoc, Step 1). EKS
// refuses otherwise with "InvalidParameterException: Nodegroups eks-stg-gp must be updated to
// match cluster version 1.18 before updating cluster version"
// (hashicorp/terraform-provider-aws#19478; the same message in awsdocs/amazon-eks-user-guide#475).
//
// Left out of an update, the version is what the cluster has (Optional+Computed).
func (w *World) clusterVersion(r *Resource, old *Resource, in, state resource.PropertyMap) error {
	want := str(in, "version")
	if old == nil {
		if want == "" {
			offers := kubernetesVersions()
			want = offers[len(offers)-1]
			state["version"] = resource.NewStringProperty(want)
		}
		if !offered(want) {
			return awsError("creating EKS Cluster ("+str(in, "name")+")", "InvalidParameterException", "unsupported Kubernetes version")
		}
		return nil
	}
	r.Upgrade = old.Upgrade
	current := outString(old.Outputs, "version")
	if want == "" {
		state["version"] = resource.NewStringProperty(current)
		return nil
	}
	if want == current || current == "" {
		return nil
	}
	name := outString(old.Outputs, "name")
	if name == "" {
		name = r.ID
	}
	op := "updating EKS Cluster (" + r.ID + ") version"
	from, _ := minorOf(current)
	to, ok := minorOf(want)
	switch {
	case ok && to == from+1 && offered(want):
		lagging, err := w.nodeGroupsOf(name, func(v int) bool { return v < from })
		if err != nil {
			return err
		}
		if len(lagging) > 0 {
			return awsError(op, "InvalidParameterException", fmt.Sprintf(
				"Nodegroups %s must be updated to match cluster version %s before updating cluster version", strings.Join(lagging, ", "), current))
		}
		r.Upgrade = &VersionUpgrade{From: current, At: time.Now().UTC()}
		return nil
	case ok && to == from-1 && old.Upgrade != nil && old.Upgrade.From == want && time.Since(old.Upgrade.At) < rollbackWindow:
		newer, err := w.nodeGroupsOf(name, func(v int) bool { return v > to })
		if err != nil {
			return err
		}
		if len(newer) > 0 {
			return awsError(op, "InvalidParameterException", fmt.Sprintf(
				"Nodegroups %s must be rolled back to match cluster version %s before rolling back cluster version", strings.Join(newer, ", "), want))
		}
		r.Upgrade = nil // rolled back: nothing more to go back to
		return nil
	}
	return awsError(op, "InvalidParameterException", fmt.Sprintf("Unsupported Kubernetes minor version update from %s to %s", current, want))
}

// nodeGroupVersion is the rule of a managed node group's version: never newer than its
// cluster's, and at creation the cluster's.
//
// Create: "You can only create a node group for your cluster that is equal to the current
// Kubernetes version for the cluster." and, of version, "By default, the Kubernetes version of
// the cluster is used, and this is the only accepted specified value." (EKS API reference,
// CreateNodegroup): left out, the node group gets the cluster's version as its output.
//
// Update (UpdateNodegroupVersion, sent only when the version changes): "You can update to the
// latest AMI version of your cluster's current Kubernetes version by specifying your cluster's
// Kubernetes version in the request." (EKS API reference); the Kubernetes skew policy "requires
// that worker nodes cannot run a version newer than the control plane" (rollback-cluster.adoc).
// A version newer than the cluster's is refused; an older one passes (a rollback's first step).
// Left out of an update, the version is what the node group has (Optional+Computed: EKS picked
// it at creation and never moves it).
//
// Both refusals are worded after the one EKS gives for a release version newer than the
// cluster's: "InvalidParameterException: Requested Nodegroup release version 1.17.9-20200723
// is invalid. Allowed release version is 1.16.13-20200723" (hashicorp/terraform-provider-aws#14492).
func (w *World) nodeGroupVersion(r *Resource, old *Resource, in, state resource.PropertyMap) error {
	want, unchanged := computedVersion(old, in, state, "version")
	if unchanged {
		return nil
	}
	op := "creating EKS Node Group (" + r.ID + ")"
	if old != nil {
		op = "updating EKS Node Group (" + r.ID + ") version"
	}
	cluster, err := w.liveCluster(op, str(in, "clusterName"))
	if err != nil {
		return err
	}
	clusterVersion := outString(cluster.Outputs, "version")
	if want == "" {
		state["version"] = resource.NewStringProperty(clusterVersion)
		return nil
	}
	v, ok := minorOf(want)
	c, _ := minorOf(clusterVersion)
	if !ok || v > c || (old == nil && want != clusterVersion) {
		return awsError(op, "InvalidParameterException", fmt.Sprintf(
			"Requested Nodegroup version %s is invalid. Allowed version is %s", want, clusterVersion))
	}
	return nil
}

// addonVersion is the rule of an add-on's version: one EKS publishes for the cluster's
// Kubernetes version.
//
// EKS offers each Kubernetes version its own add-on versions (DescribeAddonVersions,
// kubernetesVersion), and refuses any other in CreateAddon and UpdateAddon with
// "InvalidParameterException: Addon version specified is not supported"
// (hashicorp/terraform-provider-aws#20559, #32238 and #33385; aws/aws-sdk-go-v2#2554, from
// UpdateAddon). The fake's catalogue is answers.AddonVersions: a version is published for a
// Kubernetes minor when it is that minor's Default or Latest there.
//
// Left out of a create, the add-on gets EKS's default for the cluster's version
// (CreateAddon's addonVersion is optional; the default is what DescribeAddonVersions marks
// defaultVersion), reported as the output addonVersion. Left out of an update, it keeps the
// version it has (Optional+Computed); terraform-provider-aws sends addonVersion to UpdateAddon
// only when it changes (addon.go), so only a change is checked.
func (w *World) addonVersion(r *Resource, old *Resource, in, state resource.PropertyMap) error {
	want, unchanged := computedVersion(old, in, state, "addonVersion")
	if unchanged {
		return nil
	}
	op := "creating EKS Add-On (" + r.ID + ")"
	if old != nil {
		op = "updating EKS Add-On (" + r.ID + ")"
	}
	cluster, err := w.liveCluster(op, str(in, "clusterName"))
	if err != nil {
		return err
	}
	name, kubernetes := str(in, "addonName"), outString(cluster.Outputs, "version")
	published, ok := answers.AddonVersions[name][kubernetes]
	if !ok {
		return fmt.Errorf("fakecloud aws: %s: the add-on catalogue has no %s for Kubernetes %q: add it to AddonVersions in stacks/synth/answers", op, name, kubernetes)
	}
	if want == "" {
		state["addonVersion"] = resource.NewStringProperty(published.Default)
		return nil
	}
	if want != published.Default && want != published.Latest {
		return awsError(op, "InvalidParameterException", "Addon version specified is not supported")
	}
	return nil
}

// computedVersion reads an Optional+Computed version input key of an update or create: want
// is the version asked for. On an update (old set) that leaves the key out, the resource keeps
// the version it has (written into state), and an update that asks for the version it has
// changes nothing; both are unchanged, with no rule to check.
func computedVersion(old *Resource, in, state resource.PropertyMap, key string) (want string, unchanged bool) {
	want = str(in, key)
	if old == nil {
		return want, false
	}
	current := outString(old.Outputs, key)
	if want == "" && current != "" {
		state[resource.PropertyKey(key)] = resource.NewStringProperty(current)
		return want, true
	}
	return want, want == current
}

// liveCluster is the live cluster named name, or EKS's answer when there is none:
// "ResourceNotFoundException: No cluster found for name: NAME." (the error DescribeCluster and
// every call on a cluster give for an unknown name).
func (w *World) liveCluster(op, name string) (Resource, error) {
	c, ok, err := w.Get(eksCluster, name)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, awsError(op, "ResourceNotFoundException", "No cluster found for name: "+name+".")
	}
	return c, nil
}

// nodeGroupsOf names the live managed node groups of the cluster whose Kubernetes minor
// version pick picks, sorted.
func (w *World) nodeGroupsOf(cluster string, pick func(minor int) bool) ([]string, error) {
	live, err := w.Resources()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range live {
		if g.Type != eksNodeGroup || outString(g.Outputs, "clusterName") != cluster {
			continue
		}
		if v, ok := minorOf(outString(g.Outputs, "version")); ok && pick(v) {
			name := outString(g.Outputs, "nodeGroupName")
			if name == "" {
				name = g.ID
			}
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// kubernetesVersions are the versions the fake's EKS offers, oldest first: the Kubernetes
// minors its add-on catalogue publishes versions for.
func kubernetesVersions() []string {
	seen := map[string]bool{}
	for _, byVersion := range answers.AddonVersions {
		for v := range byVersion {
			if _, ok := minorOf(v); ok {
				seen[v] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := minorOf(out[i])
		b, _ := minorOf(out[j])
		return a < b
	})
	return out
}

// offered: EKS offers this Kubernetes version (written as EKS takes it, major.minor).
func offered(v string) bool {
	for _, o := range kubernetesVersions() {
		if o == v {
			return true
		}
	}
	return false
}

// minorOf is the minor of a Kubernetes version 1.N, or false for anything else.
func minorOf(v string) (int, bool) {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "1" {
		return 0, false
	}
	n, err := strconv.Atoi(minor)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == minor
}

// outString is a string output of a recorded resource, or "".
func outString(outputs map[string]any, k string) string {
	s, _ := outputs[k].(string)
	return s
}

// autoModeRule is EKS Auto Mode's rule for a cluster's create or update: compute, block
// storage and load balancing are on or off together (terraform-provider-aws
// internal/service/eks/cluster.go validates "compute_config.enabled,
// kubernetes_network_config.elastic_load_balancing.enabled, and
// storage_config.block_storage.enabled must all be set to either true or false"; EKS's
// UpdateClusterConfig "must all be enabled or disabled in the same request", EKS User Guide,
// "Enable EKS Auto Mode on an existing cluster"), a new Auto Mode cluster installs no
// self-managed add-ons (CreateCluster: "When EKS Auto Mode is enabled,
// bootstrapSelfManagedAddons must be set to false.", terraform-provider-aws #40483), and
// built-in node pools need a node role.
func autoModeRule(r *Resource, old *Resource, in resource.PropertyMap) error {
	enabled := func(path ...string) bool {
		v := resource.NewObjectProperty(in)
		for _, p := range path {
			if !v.IsObject() {
				return false
			}
			v = v.ObjectValue()[resource.PropertyKey(p)]
		}
		return v.IsBool() && v.BoolValue()
	}
	compute := enabled("computeConfig", "enabled")
	storage := enabled("storageConfig", "blockStorage", "enabled")
	lb := enabled("kubernetesNetworkConfig", "elasticLoadBalancing", "enabled")
	op := "creating EKS Cluster (" + str(in, "name") + ")"
	if old != nil {
		op = "updating EKS Cluster (" + r.ID + ") compute config"
	}
	if compute != storage || compute != lb {
		return awsError(op, "InvalidParameterException",
			"computeConfig.enabled, kubernetesNetworkConfig.elasticLoadBalancing.enabled, and storageConfig.blockStorage.enabled must all be set to either true or false")
	}
	if !compute {
		return nil
	}
	if old == nil {
		if v, ok := in["bootstrapSelfManagedAddons"]; !ok || !v.IsBool() || v.BoolValue() {
			return awsError(op, "InvalidParameterException", "When EKS Auto Mode is enabled, bootstrapSelfManagedAddons must be set to false.")
		}
	}
	cc := in["computeConfig"].ObjectValue()
	if pools, ok := cc["nodePools"]; ok && pools.IsArray() && len(pools.ArrayValue()) > 0 {
		if role, ok := cc["nodeRoleArn"]; !ok || !role.IsString() || role.StringValue() == "" {
			return awsError(op, "InvalidParameterException", "nodeRoleArn is required when nodePools are specified")
		}
	}
	return nil
}
