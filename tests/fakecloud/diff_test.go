package fakecloud

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

const (
	clusterType   = "aws:eks/cluster:Cluster"
	nodeGroupType = "aws:eks/nodeGroup:NodeGroup"
)

func cluster(access map[string]any, extra map[string]any) map[string]any {
	return changed(map[string]any{
		"name": "prod", "roleArn": "arn:role", "version": "1.30",
		"vpcConfig":    map[string]any{"subnetIds": []any{"s1", "s2"}},
		"accessConfig": access,
	}, extra)
}

func TestANestedForceNewPathReplacesAndItsSiblingsUpdate(t *testing.T) {
	olds := inputs(cluster(map[string]any{"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": true}, nil))
	// accessConfig.authenticationMode updates in place...
	res := diffOf(t, clusterType, olds, inputs(cluster(map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": true}, nil)))
	if res.Changes != plugin.DiffSome || res.Replace() {
		t.Errorf("authenticationMode: want an update, got %+v", res)
	}
	// ...accessConfig.bootstrapClusterCreatorAdminPermissions, in the same block, replaces.
	res = diffOf(t, clusterType, olds, inputs(cluster(map[string]any{"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": false}, nil)))
	if !res.Replace() {
		t.Fatalf("bootstrapClusterCreatorAdminPermissions: want a replacement, got %+v", res)
	}
	if got := keys(res.ReplaceKeys); len(got) != 1 || got[0] != "accessConfig" {
		t.Errorf("replace keys %v, want [accessConfig]", got)
	}
	d, ok := res.DetailedDiff["accessConfig.bootstrapClusterCreatorAdminPermissions"]
	if !ok || d.Kind != plugin.DiffUpdateReplace {
		t.Errorf("detailed diff %v, want accessConfig.bootstrapClusterCreatorAdminPermissions as update-replace", res.DetailedDiff)
	}
	// vpcConfig.subnetIds updates in place since v5.25.0.
	res = diffOf(t, clusterType, olds, inputs(changed(cluster(map[string]any{"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": true}, nil),
		map[string]any{"vpcConfig": map[string]any{"subnetIds": []any{"s1", "s3"}}})))
	if res.Changes != plugin.DiffSome || res.Replace() {
		t.Errorf("vpcConfig.subnetIds: want an update, got %+v", res)
	}
}

func TestADefaultLeftOutIsTheDefault(t *testing.T) {
	const typ = "aws:eks/accessEntry:AccessEntry"
	base := map[string]any{"clusterName": "prod", "principalArn": "arn:p"}
	standard := changed(base, map[string]any{"type": "STANDARD"})
	if res := diffOf(t, typ, inputs(standard), inputs(base)); res.Replace() {
		t.Errorf("type STANDARD -> left out (the default STANDARD): want no replacement, got %+v", res)
	}
	if res := diffOf(t, typ, inputs(changed(base, map[string]any{"type": "EC2_LINUX"})), inputs(base)); !res.Replace() {
		t.Errorf("type EC2_LINUX -> left out (the default STANDARD): want a replacement, got %+v", res)
	}
	// The cluster's access block left out: bootstrapClusterCreatorAdminPermissions defaults to true.
	olds := inputs(cluster(map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": true}, nil))
	if res := diffOf(t, clusterType, olds, inputs(cluster(map[string]any{"authenticationMode": "API"}, nil))); res.Replace() {
		t.Errorf("bootstrapClusterCreatorAdminPermissions true -> left out: want no replacement, got %+v", res)
	}
}

func TestAnOptionalComputedPropertyLeftOutKeepsItsValue(t *testing.T) {
	const typ = "aws:ec2/vpc:Vpc"
	res := diffOf(t, typ, inputs(map[string]any{"cidrBlock": "10.0.0.0/16", "tags": map[string]any{}}), inputs(map[string]any{"tags": map[string]any{}}))
	if res.Replace() {
		t.Errorf("cidrBlock left out: want no replacement, got %+v", res)
	}
	res = diffOf(t, typ, inputs(map[string]any{"tags": map[string]any{}}), inputs(map[string]any{"cidrBlock": "10.0.0.0/16", "tags": map[string]any{}}))
	if !res.Replace() {
		t.Errorf("cidrBlock set: want a replacement, got %+v", res)
	}
}

func TestASetReorderedIsNoReplacement(t *testing.T) {
	base := map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1", "s2"}}
	if res := diffOf(t, nodeGroupType, inputs(base), inputs(changed(base, map[string]any{"subnetIds": []any{"s2", "s1"}}))); res.Replace() {
		t.Errorf("subnetIds reordered: want no replacement, got %+v", res)
	}
	if res := diffOf(t, nodeGroupType, inputs(base), inputs(changed(base, map[string]any{"subnetIds": []any{"s2", "s3"}}))); !res.Replace() {
		t.Errorf("subnetIds changed: want a replacement, got %+v", res)
	}
}

func TestAnUnknownForceNewValueReplaces(t *testing.T) {
	base := resource.NewPropertyMapFromMap(map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}})
	news := base.Copy()
	news["nodeRoleArn"] = resource.MakeComputed(resource.NewStringProperty(""))
	if res := diffOf(t, nodeGroupType, withDefaultsList(base), withDefaultsList(news)); !res.Replace() {
		t.Errorf("nodeRoleArn unknown: want a replacement (known after apply, forces replacement), got %+v", res)
	}
	news = base.Copy()
	news["tags"] = resource.MakeComputed(resource.NewStringProperty(""))
	if res := diffOf(t, nodeGroupType, withDefaultsList(base), withDefaultsList(news)); res.Changes != plugin.DiffSome || res.Replace() {
		t.Errorf("tags unknown: want an update, got %+v", res)
	}
}

func TestASecretComparesByItsValue(t *testing.T) {
	base := resource.NewPropertyMapFromMap(map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}})
	news := base.Copy()
	news["nodeRoleArn"] = resource.MakeSecret(resource.NewStringProperty("arn:role"))
	if res := diffOf(t, nodeGroupType, withDefaultsList(base), withDefaultsList(news)); res.Replace() {
		t.Errorf("the same nodeRoleArn made secret: want no replacement, got %+v", res)
	}
}

func TestIgnoredChangesNeverReplace(t *testing.T) {
	olds := inputs(cluster(map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": true}, nil))
	news := inputs(cluster(map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": false},
		map[string]any{"bootstrapSelfManagedAddons": false}))
	res := diffOf(t, clusterType, olds, news, "accessConfig.bootstrapClusterCreatorAdminPermissions", "bootstrapSelfManagedAddons")
	if res.Changes != plugin.DiffNone {
		t.Errorf("only ignored paths changed: want no change, got %+v", res)
	}
	if res := diffOf(t, clusterType, olds, news); !res.Replace() {
		t.Errorf("the same change not ignored: want a replacement, got %+v", res)
	}
}

func TestConditionalReplacements(t *testing.T) {
	enc := map[string]any{"encryptionConfig": map[string]any{"resources": []any{"secrets"}, "provider": map[string]any{"keyArn": "arn:key"}}}
	access := map[string]any{"authenticationMode": "API"}
	if res := diffOf(t, clusterType, inputs(cluster(access, nil)), inputs(cluster(access, enc))); res.Changes != plugin.DiffSome || res.Replace() {
		t.Errorf("adding encryptionConfig: want an update (AssociateEncryptionConfig), got %+v", res)
	}
	if res := diffOf(t, clusterType, inputs(cluster(access, enc)), inputs(cluster(access, nil))); !res.Replace() {
		t.Errorf("removing encryptionConfig: want a replacement, got %+v", res)
	}

	const password = "random:index/randomPassword:RandomPassword"
	base := map[string]any{"length": 32}
	withKeepers := func(k map[string]any) map[string]any { return changed(base, map[string]any{"keepers": k}) }
	if res := diffOf(t, password, inputs(withKeepers(map[string]any{"a": "1"})), inputs(withKeepers(map[string]any{"a": "1", "b": nil}))); res.Replace() {
		t.Errorf("keepers: a key with a null value added: want no replacement, got %+v", res)
	}
	if res := diffOf(t, password, inputs(withKeepers(map[string]any{"a": "1"})), inputs(withKeepers(map[string]any{"a": "2"}))); !res.Replace() {
		t.Errorf("keepers: a value changed: want a replacement, got %+v", res)
	}
	if res := diffOf(t, password, inputs(changed(base, map[string]any{"overrideSpecial": "!"})), inputs(base)); !res.Replace() {
		t.Errorf("overrideSpecial ! -> null: want a replacement, got %+v", res)
	}
}

// The order: pulumi-terraform-bridge deletes first when the program set an autonamed name.
func TestDeleteBeforeReplaceWhenTheProgramSetTheName(t *testing.T) {
	ctx := context.Background()
	p := &Provider{Name: "aws"}
	check := func(typ string, m map[string]any) resource.PropertyMap {
		t.Helper()
		res, err := p.Check(ctx, plugin.CheckRequest{Type: tokens.Type(typ), News: resource.NewPropertyMapFromMap(m)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Properties
	}
	// The cluster's name is set by the program: the new cluster cannot be created while the old
	// holds the name, so the bridge deletes first.
	olds := check(clusterType, cluster(map[string]any{"authenticationMode": "API"}, nil))
	news := check(clusterType, cluster(map[string]any{"authenticationMode": "API"}, map[string]any{"roleArn": "arn:other"}))
	if res := diffOf(t, clusterType, olds, news); !res.Replace() || !res.DeleteBeforeReplace {
		t.Errorf("cluster with a set name replaced: want delete-before-replace, got %+v", res)
	}
	// An update is no replacement, in no order.
	news = check(clusterType, cluster(map[string]any{"authenticationMode": "API"}, map[string]any{"version": "1.31"}))
	if res := diffOf(t, clusterType, olds, news); res.Replace() || res.DeleteBeforeReplace {
		t.Errorf("cluster updated: want no delete-before-replace, got %+v", res)
	}

	role := map[string]any{"assumeRolePolicy": "{}"}
	// An autonamed role (no name in the inputs): create-before-delete.
	if res := diffOf(t, "aws:iam/role:Role", check("aws:iam/role:Role", role), check("aws:iam/role:Role", changed(role, map[string]any{"path": "/x/"}))); !res.Replace() || res.DeleteBeforeReplace {
		t.Errorf("autonamed role replaced: want create-before-delete, got %+v", res)
	}
	// A role whose name the autonamer filled in (listed in __defaults): create-before-delete.
	named := resource.NewPropertyMapFromMap(changed(role, map[string]any{"name": "r-1a2b3c4", "__defaults": []any{"name"}}))
	renamed := named.Copy()
	renamed["path"] = resource.NewStringProperty("/x/")
	if res := diffOf(t, "aws:iam/role:Role", named, renamed); !res.Replace() || res.DeleteBeforeReplace {
		t.Errorf("role named by the autonamer replaced: want create-before-delete, got %+v", res)
	}
	// A role named by the program: delete-before-replace.
	explicit := check("aws:iam/role:Role", changed(role, map[string]any{"name": "ops"}))
	if res := diffOf(t, "aws:iam/role:Role", explicit, check("aws:iam/role:Role", changed(role, map[string]any{"name": "ops", "path": "/x/"}))); !res.DeleteBeforeReplace {
		t.Errorf("role with a set name replaced: want delete-before-replace, got %+v", res)
	}
	// Inputs without the defaults list (older state) count as autonamed.
	bare := resource.NewPropertyMapFromMap(changed(role, map[string]any{"name": "ops"}))
	moved := bare.Copy()
	moved["path"] = resource.NewStringProperty("/x/")
	if res := diffOf(t, "aws:iam/role:Role", bare, moved); !res.Replace() || res.DeleteBeforeReplace {
		t.Errorf("role without a defaults list replaced: want create-before-delete, got %+v", res)
	}
	// nodeGroupName is autonamed too (pulumi-aws provider/resources.go: "node_group_name":
	// tfbridge.AutoName("nodeGroupName", 255, "-")): set by the program, delete-before-replace.
	ng := map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}, "nodeGroupName": "nodes"}
	if res := diffOf(t, nodeGroupType, check(nodeGroupType, ng), check(nodeGroupType, changed(ng, map[string]any{"amiType": "BOTTLEROCKET_x86_64"}))); !res.Replace() || !res.DeleteBeforeReplace {
		t.Errorf("node group with a set name replaced: want delete-before-replace, got %+v", res)
	}
}

// The node group's name, left out by the program, is filled in as pulumi-aws's autonamer does:
// kept across updates, new for the new half of a replacement (the engine checks it again
// without its olds), which is then made before the old half is deleted.
func TestNodeGroupNameIsAutonamed(t *testing.T) {
	rules, err := rulesFor(nodeGroupType)
	if err != nil {
		t.Fatal(err)
	}
	program := resource.NewPropertyMapFromMap(map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}, "instanceTypes": []any{"t3.large"}})
	check := func(olds resource.PropertyMap, seed string) resource.PropertyMap {
		news, filled := autonamed(rules, "prod-nodes", olds, program, []byte(seed))
		return withDefaultsList(news, filled)
	}
	first := check(nil, "seed-1")
	name := first["nodeGroupName"]
	if !name.IsString() || !strings.HasPrefix(name.StringValue(), "prod-nodes-") || len(name.StringValue()) != len("prod-nodes-")+7 {
		t.Fatalf("autonamed nodeGroupName %v, want prod-nodes- and seven hex digits", name)
	}
	if !filledIn(first, "nodeGroupName") {
		t.Errorf("the defaults list %v does not name nodeGroupName", first[defaultsKey])
	}
	if again := check(first, "seed-2"); again["nodeGroupName"] != name {
		t.Errorf("an update renamed the node group: %v, want %v", again["nodeGroupName"], name)
	}
	replacement := check(nil, "seed-2")
	if replacement["nodeGroupName"] == name {
		t.Errorf("the replacement kept the old name %v", name)
	}
	if deleteBeforeReplace(rules, replacement) {
		t.Error("an autonamed node group is replaced delete-before-create")
	}
	named := program.Copy()
	named["nodeGroupName"] = resource.NewStringProperty("workers")
	if got, filled := autonamed(rules, "prod-nodes", nil, named, []byte("seed")); filled != "" || got["nodeGroupName"].StringValue() != "workers" {
		t.Errorf("the program's own name was replaced: %v", got["nodeGroupName"])
	}
}
