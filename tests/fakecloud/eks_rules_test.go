package fakecloud

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

const addonType = "aws:eks/addon:Addon"

func clusterAt(version string) map[string]any {
	in := map[string]any{"name": "prod", "roleArn": "arn:role", "vpcConfig": map[string]any{"subnetIds": []any{"s1"}}}
	if version != "" {
		in["version"] = version
	}
	return in
}

func nodesAt(version string) map[string]any {
	in := map[string]any{"clusterName": "prod", "nodeGroupName": "nodes", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}}
	if version != "" {
		in["version"] = version
	}
	return in
}

func addonAt(name, version string) map[string]any {
	in := map[string]any{"clusterName": "prod", "addonName": name}
	if version != "" {
		in["addonVersion"] = version
	}
	return in
}

// live is a live resource the test made, and the inputs it has now.
type live struct {
	typ, name string
	id        resource.ID
	in        map[string]any
}

// mustCreate creates, failing the test on an error.
func (p *Provider) mustCreate(t *testing.T, typ, name string, in map[string]any) *live {
	t.Helper()
	id, err := p.create(t, typ, name, in)
	if err != nil {
		t.Fatalf("creating %s %s: %v", typ, name, err)
	}
	return &live{typ: typ, name: name, id: id, in: in}
}

// clusterFor makes the cluster prod at 1.34 for a type that needs one (a node group, an add-on).
func (p *Provider) clusterFor(t *testing.T, typ string) {
	t.Helper()
	if typ == nodeGroupType || typ == addonType {
		p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	}
}

// update changes the resource's inputs as the engine does after a diff; the new inputs stay
// only when the update succeeds.
func (p *Provider) update(t *testing.T, l *live, changes map[string]any) (resource.PropertyMap, error) {
	t.Helper()
	news := changed(l.in, changes)
	res, err := p.Update(context.Background(), plugin.UpdateRequest{
		URN: urn(l.typ, l.name), Name: l.name, Type: tokens.Type(l.typ), ID: l.id,
		OldInputs: inputs(l.in), OldOutputs: inputs(l.in), NewInputs: inputs(news),
	})
	if err == nil {
		l.in = news
	}
	return res.Properties, err
}

func (p *Provider) mustUpdate(t *testing.T, l *live, changes map[string]any) resource.PropertyMap {
	t.Helper()
	out, err := p.update(t, l, changes)
	if err != nil {
		t.Fatalf("updating %s %s with %v: %v", l.typ, l.name, changes, err)
	}
	return out
}

// refused asserts that err is EKS's refusal, with its message.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %q", what, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want %q", what, err, want)
	}
}

// recorded is an output of the live resource as the world has it.
func (p *Provider) recorded(t *testing.T, l *live, k string) string {
	t.Helper()
	r, ok, err := p.World.Get(l.typ, string(l.id))
	if err != nil || !ok {
		t.Fatalf("%s %s is not live: %v", l.typ, l.id, err)
	}
	return outString(r.Outputs, k)
}

func TestAClusterUpdatesOneMinorAtATime(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	_, err := p.update(t, c, map[string]any{"version": "1.36"})
	refused(t, "1.34 to 1.36", err, "updating EKS Cluster (prod) version: operation error: api error InvalidParameterException: Unsupported Kubernetes minor version update from 1.34 to 1.36")
	if v := p.recorded(t, c, "version"); v != "1.34" {
		t.Fatalf("after the refused update the cluster is at %s, want 1.34", v)
	}
	if out := p.mustUpdate(t, c, map[string]any{"version": "1.35"}); out["version"].StringValue() != "1.35" {
		t.Errorf("1.34 to 1.35 answered version %v", out["version"])
	}
	if v := p.recorded(t, c, "version"); v != "1.35" {
		t.Errorf("after 1.34 to 1.35 the world has %s", v)
	}
}

func TestAClusterCreatedAtAVersionNeverGoesBack(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.35"))
	_, err := p.update(t, c, map[string]any{"version": "1.34"})
	refused(t, "1.35 to 1.34", err, "InvalidParameterException: Unsupported Kubernetes minor version update from 1.35 to 1.34")
	p.mustUpdate(t, c, map[string]any{"version": "1.36"})
	_, err = p.update(t, c, map[string]any{"version": "1.34"})
	refused(t, "1.36 to 1.34 (two back)", err, "Unsupported Kubernetes minor version update from 1.36 to 1.34")
}

// EKS's rollback: one minor back from an in-place upgrade, within seven days, node groups first.
func TestARollbackGoesBackOnceToTheVersionUpgradedFrom(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	nodes := p.mustCreate(t, nodeGroupType, "nodes", nodesAt("1.34"))
	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	p.mustUpdate(t, nodes, map[string]any{"version": "1.35"})

	_, err := p.update(t, c, map[string]any{"version": "1.34"})
	refused(t, "rollback with the nodes still at 1.35", err, "Nodegroups nodes must be rolled back to match cluster version 1.34 before rolling back cluster version")
	p.mustUpdate(t, nodes, map[string]any{"version": "1.34"})
	p.mustUpdate(t, c, map[string]any{"version": "1.34"})

	_, err = p.update(t, c, map[string]any{"version": "1.33"})
	refused(t, "a second rollback", err, "Unsupported Kubernetes minor version update from 1.34 to 1.33")

	// An upgrade whose seven days have passed is there to stay.
	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	r, _, err := p.World.Get(clusterType, "prod")
	if err != nil || r.Upgrade == nil {
		t.Fatalf("the upgrade is not recorded: %+v, %v", r, err)
	}
	r.Upgrade.At = time.Now().Add(-rollbackWindow - time.Minute)
	if err := p.World.Put(r); err != nil {
		t.Fatal(err)
	}
	_, err = p.update(t, c, map[string]any{"version": "1.34"})
	refused(t, "a rollback after seven days", err, "Unsupported Kubernetes minor version update from 1.35 to 1.34")
}

func TestAClusterCreateTakesAVersionEKSOffers(t *testing.T) {
	for _, v := range []string{"1.33", "1.34", "1.35", "1.36"} {
		if _, err := cloud(t).create(t, clusterType, "prod", clusterAt(v)); err != nil {
			t.Errorf("creating at %s: %v", v, err)
		}
	}
	for _, v := range []string{"1.32", "1.37", "1.34.1", "v1.34", "latest"} {
		_, err := cloud(t).create(t, clusterType, "prod", clusterAt(v))
		refused(t, "creating at "+v, err, "creating EKS Cluster (prod): operation error: api error InvalidParameterException: unsupported Kubernetes version")
	}
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt(""))
	if v := p.recorded(t, c, "version"); v != "1.36" {
		t.Errorf("a cluster created without a version is at %q, want EKS's default (the fake's newest, 1.36)", v)
	}
}

func TestAClusterUpdateWaitsForItsNodeGroups(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	nodes := p.mustCreate(t, nodeGroupType, "nodes", nodesAt("1.34"))
	// Another cluster's node group, a minor behind its own, is not this cluster's business.
	p.mustCreate(t, clusterType, "other", changed(clusterAt("1.33"), map[string]any{"name": "other"}))
	p.mustCreate(t, nodeGroupType, "other-nodes", changed(nodesAt("1.33"), map[string]any{"clusterName": "other"}))

	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	_, err := p.update(t, c, map[string]any{"version": "1.36"})
	refused(t, "1.35 to 1.36 with the nodes at 1.34", err,
		"updating EKS Cluster (prod) version: operation error: api error InvalidParameterException: Nodegroups nodes must be updated to match cluster version 1.35 before updating cluster version")
	p.mustUpdate(t, nodes, map[string]any{"version": "1.35"})
	p.mustUpdate(t, c, map[string]any{"version": "1.36"})
}

func TestANodeGroupIsNeverNewerThanItsCluster(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	_, err := p.create(t, nodeGroupType, "nodes", nodesAt("1.35"))
	refused(t, "creating at 1.35 on a 1.34 cluster", err,
		"creating EKS Node Group (prod:nodes): operation error: api error InvalidParameterException: Requested Nodegroup version 1.35 is invalid. Allowed version is 1.34")
	_, err = p.create(t, nodeGroupType, "nodes", nodesAt("1.33"))
	refused(t, "creating at 1.33 on a 1.34 cluster", err, "Requested Nodegroup version 1.33 is invalid. Allowed version is 1.34")

	nodes := p.mustCreate(t, nodeGroupType, "nodes", nodesAt("1.34"))
	_, err = p.update(t, nodes, map[string]any{"version": "1.35"})
	refused(t, "updating to 1.35 before the cluster", err,
		"updating EKS Node Group (prod:nodes) version: operation error: api error InvalidParameterException: Requested Nodegroup version 1.35 is invalid. Allowed version is 1.34")
	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	p.mustUpdate(t, nodes, map[string]any{"version": "1.35"})
	// What is not a version change goes through, whatever the version.
	p.mustUpdate(t, nodes, map[string]any{"scalingConfig": map[string]any{"desiredSize": 3}})
}

// Left out, the version is the cluster's at creation, and stays when the cluster moves on:
// the next cluster upgrade is then refused.
func TestANodeGroupWithoutAVersionTakesTheClusters(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	res, err := p.Create(context.Background(), plugin.CreateRequest{
		URN: urn(nodeGroupType, "nodes"), Name: "nodes", Type: nodeGroupType, Properties: inputs(nodesAt("")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Properties["version"]; !v.IsString() || v.StringValue() != "1.34" {
		t.Errorf("the node group's output version is %v, want the cluster's 1.34", v)
	}
	nodes := &live{typ: nodeGroupType, name: "nodes", id: res.ID, in: nodesAt("")}
	if v := p.recorded(t, nodes, "version"); v != "1.34" {
		t.Errorf("the world records version %q, want 1.34", v)
	}
	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	if out := p.mustUpdate(t, nodes, map[string]any{"labels": map[string]any{"a": "b"}}); out["version"].StringValue() != "1.34" {
		t.Errorf("an update leaving the version out answered %v, want the 1.34 it has", out["version"])
	}
	_, err = p.update(t, c, map[string]any{"version": "1.36"})
	refused(t, "1.35 to 1.36 with an unversioned node group left at 1.34", err, "Nodegroups nodes must be updated to match cluster version 1.35")
}

func TestAnAddonVersionIsOnePublishedForTheClustersVersion(t *testing.T) {
	cni := answers.AddonVersions["vpc-cni"]
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	_, err := p.create(t, addonType, "cni", addonAt("vpc-cni", cni["1.36"].Default))
	refused(t, "creating with 1.36's version on a 1.34 cluster", err,
		"creating EKS Add-On (prod:vpc-cni): operation error: api error InvalidParameterException: Addon version specified is not supported")
	a := p.mustCreate(t, addonType, "cni", addonAt("vpc-cni", cni["1.34"].Default))
	p.mustUpdate(t, a, map[string]any{"addonVersion": cni["1.34"].Latest})

	_, err = p.update(t, a, map[string]any{"addonVersion": cni["1.35"].Latest})
	refused(t, "updating to 1.35's latest before the cluster", err,
		"updating EKS Add-On (prod:vpc-cni): operation error: api error InvalidParameterException: Addon version specified is not supported")
	p.mustUpdate(t, c, map[string]any{"version": "1.35"})
	p.mustUpdate(t, a, map[string]any{"addonVersion": cni["1.35"].Latest})
	if v := p.recorded(t, a, "addonVersion"); v != cni["1.35"].Latest {
		t.Errorf("the world records %s", v)
	}
}

func TestAnAddonWithoutAVersionTakesTheDefault(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.35"))
	// kube-proxy: its default for 1.35 is not its latest.
	res, err := p.Create(context.Background(), plugin.CreateRequest{
		URN: urn(addonType, "kube-proxy"), Name: "kube-proxy", Type: addonType, Properties: inputs(addonAt("kube-proxy", "")),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := answers.AddonVersions["kube-proxy"]["1.35"].Default
	if v := res.Properties["addonVersion"]; !v.IsString() || v.StringValue() != want {
		t.Errorf("the add-on's output addonVersion is %v, want 1.35's default %s", v, want)
	}
	a := &live{typ: addonType, name: "kube-proxy", id: res.ID, in: addonAt("kube-proxy", "")}
	if v := p.recorded(t, a, "addonVersion"); v != want {
		t.Errorf("the world records %q, want %s", v, want)
	}
	// Left out of an update, it keeps the version it has.
	p.mustUpdate(t, c, map[string]any{"version": "1.36"})
	if out := p.mustUpdate(t, a, map[string]any{"configurationValues": "{}"}); out["addonVersion"].StringValue() != want {
		t.Errorf("an update leaving the version out answered %v, want %s", out["addonVersion"], want)
	}
}

func TestNodeGroupsAndAddonsNeedTheirCluster(t *testing.T) {
	p := cloud(t)
	_, err := p.create(t, nodeGroupType, "nodes", nodesAt("1.34"))
	refused(t, "a node group without its cluster", err, "creating EKS Node Group (prod:nodes): operation error: api error ResourceNotFoundException: No cluster found for name: prod.")
	_, err = p.create(t, addonType, "cni", addonAt("vpc-cni", ""))
	refused(t, "an add-on without its cluster", err, "ResourceNotFoundException: No cluster found for name: prod.")
}

// A preview calls no EKS API, so it refuses nothing: the refusal comes with the update.
func TestAPreviewChecksNoVersion(t *testing.T) {
	p := cloud(t)
	c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	if _, err := p.Update(context.Background(), plugin.UpdateRequest{URN: urn(clusterType, "prod"), Name: "prod", Type: clusterType, ID: c.id,
		OldInputs: inputs(c.in), OldOutputs: inputs(c.in), NewInputs: inputs(changed(c.in, map[string]any{"version": "1.36"})), Preview: true}); err != nil {
		t.Errorf("preview of 1.34 to 1.36: %v", err)
	}
}

// The program's upgrade, in the engine's order: the cluster, then what takes its version
// output (the node group's version, the add-ons' default for it). One minor passes; two at
// once are refused at the cluster, before anything else moves.
func TestTheProgramsUpgradeOrder(t *testing.T) {
	defaultFor := func(t *testing.T, p *Provider, addon, kubernetes string) string {
		t.Helper()
		out, err := p.Invoke(context.Background(), plugin.InvokeRequest{Tok: "aws:eks/getAddonVersion:getAddonVersion",
			Args: resource.NewPropertyMapFromMap(map[string]any{"addonName": addon, "kubernetesVersion": kubernetes, "mostRecent": false})})
		if err != nil {
			t.Fatal(err)
		}
		return out.Properties["version"].StringValue()
	}
	setUp := func(t *testing.T) (*Provider, *live, *live, []*live) {
		p := cloud(t)
		c := p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
		var addons []*live
		for _, name := range []string{"vpc-cni", "kube-proxy"} {
			addons = append(addons, p.mustCreate(t, addonType, name, addonAt(name, defaultFor(t, p, name, "1.34"))))
		}
		nodes := p.mustCreate(t, nodeGroupType, "nodes", nodesAt("1.34"))
		addons = append(addons, p.mustCreate(t, addonType, "coredns", addonAt("coredns", defaultFor(t, p, "coredns", "1.34"))))
		return p, c, nodes, addons
	}
	t.Run("1.34 to 1.35", func(t *testing.T) {
		p, c, nodes, addons := setUp(t)
		p.mustUpdate(t, c, map[string]any{"version": "1.35"})
		p.mustUpdate(t, nodes, map[string]any{"version": "1.35"})
		for _, a := range addons {
			p.mustUpdate(t, a, map[string]any{"addonVersion": defaultFor(t, p, a.in["addonName"].(string), "1.35")})
		}
	})
	t.Run("1.34 to 1.36", func(t *testing.T) {
		p, c, _, _ := setUp(t)
		_, err := p.update(t, c, map[string]any{"version": "1.36"})
		refused(t, "the cluster from 1.34 to 1.36", err, "Unsupported Kubernetes minor version update from 1.34 to 1.36")
	})
}

func TestAutoModeClusterRule(t *testing.T) {
	auto := func(compute, storage, lb bool, extra map[string]any) map[string]any {
		in := clusterAt("1.34")
		in["computeConfig"] = map[string]any{"enabled": compute, "nodePools": []any{"system"}, "nodeRoleArn": "arn:aws:iam::1:role/node"}
		in["storageConfig"] = map[string]any{"blockStorage": map[string]any{"enabled": storage}}
		in["kubernetesNetworkConfig"] = map[string]any{"elasticLoadBalancing": map[string]any{"enabled": lb}}
		in["bootstrapSelfManagedAddons"] = false
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	for name, c := range map[string]struct {
		in   map[string]any
		want string
	}{
		"compute alone":        {auto(true, false, true, nil), "must all be set to either true or false"},
		"self-managed add-ons": {auto(true, true, true, map[string]any{"bootstrapSelfManagedAddons": true}), "bootstrapSelfManagedAddons must be set to false"},
		"pools without a role": {auto(true, true, true, map[string]any{"computeConfig": map[string]any{"enabled": true, "nodePools": []any{"system"}}}), "nodeRoleArn is required"},
		"Auto Mode":            {auto(true, true, true, nil), ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cloud(t).create(t, clusterType, "prod", c.in)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}
