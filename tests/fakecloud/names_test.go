package fakecloud

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// cloud is a provider on a fresh world, configured for us-east-1.
func cloud(t *testing.T) *Provider {
	t.Helper()
	w, err := NewWorld(t.TempDir(), ClusterAt("https://127.0.0.1:6443", "Q0E=", "token"))
	if err != nil {
		t.Fatal(err)
	}
	return awsOn(t, w)
}

// awsOn is the aws provider on world w, configured for us-east-1.
func awsOn(t *testing.T, w *World) *Provider {
	t.Helper()
	p := &Provider{Name: "aws", World: w}
	if _, err := p.Configure(context.Background(), plugin.ConfigureRequest{
		Inputs: resource.NewPropertyMapFromMap(map[string]any{"region": "us-east-1"}),
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func urn(typ, name string) resource.URN {
	return resource.URN("urn:pulumi:dev::kong-alb-eks::" + typ + "::" + name)
}

// create creates as the engine does after Check: with the defaults list in the inputs.
func (p *Provider) create(t *testing.T, typ, name string, in map[string]any) (resource.ID, error) {
	t.Helper()
	res, err := p.Create(context.Background(), plugin.CreateRequest{
		URN: urn(typ, name), Name: name, Type: tokens.Type(typ), Properties: inputs(in),
	})
	return res.ID, err
}

func (p *Provider) delete(t *testing.T, typ, name string, id resource.ID) {
	t.Helper()
	if _, err := p.Delete(context.Background(), plugin.DeleteRequest{URN: urn(typ, name), Name: name, Type: tokens.Type(typ), ID: id}); err != nil {
		t.Fatal(err)
	}
}

func (p *Provider) live(t *testing.T, typ string) []Resource {
	t.Helper()
	all, err := p.World.Resources()
	if err != nil {
		t.Fatal(err)
	}
	var out []Resource
	for _, r := range all {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// A create-before-delete replacement of a resource whose name the program fixed fails as on
// AWS: the new one is created while the old one holds the name.
func TestAFixedNameAWSHoldsRefusesASecondCreate(t *testing.T) {
	for _, c := range []struct {
		typ, code string
		in        map[string]any
	}{
		{clusterType, "ResourceInUseException: Cluster already exists with name: prod",
			map[string]any{"name": "prod", "roleArn": "arn:role", "vpcConfig": map[string]any{"subnetIds": []any{"s1"}}}},
		{"aws:iam/role:Role", "EntityAlreadyExists: Role with name ops already exists.",
			map[string]any{"name": "ops", "assumeRolePolicy": "{}"}},
		{"aws:iam/policy:Policy", "EntityAlreadyExists: A policy called lbc already exists.",
			map[string]any{"name": "lbc", "policy": "{}"}},
		{nodeGroupType, "ResourceInUseException: NodeGroup already exists with name nodes and cluster name prod",
			map[string]any{"clusterName": "prod", "nodeGroupName": "nodes", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}}},
		{"aws:eks/addon:Addon", "ResourceInUseException: Addon already exists.",
			map[string]any{"clusterName": "prod", "addonName": "vpc-cni"}},
		{"aws:eks/accessEntry:AccessEntry", "ResourceInUseException: The specified access entry resource is already in use on this cluster.",
			map[string]any{"clusterName": "prod", "principalArn": "arn:aws:iam::1:role/admin", "type": "STANDARD"}},
		{"aws:iam/openIdConnectProvider:OpenIdConnectProvider", "EntityAlreadyExists: Provider with url https://oidc.eks.us-east-1.amazonaws.com/id/A already exists.",
			map[string]any{"url": "https://oidc.eks.us-east-1.amazonaws.com/id/A", "clientIdLists": []any{"sts.amazonaws.com"}}},
		{"aws:route53/record:Record", "InvalidChangeBatch: [Tried to create resource record set [name='*.example.com.', type='A'] but it already exists]",
			map[string]any{"zoneId": "Z1", "name": "*.example.com", "type": "A", "records": []any{"203.0.113.1"}}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			p := cloud(t)
			p.clusterFor(t, c.typ)
			id, err := p.create(t, c.typ, "a", c.in)
			if err != nil {
				t.Fatal(err)
			}
			// The replacement, created before the old one is deleted.
			if _, err := p.create(t, c.typ, "a", c.in); err == nil || !strings.Contains(err.Error(), c.code) {
				t.Fatalf("second create under the same name: %v, want %q", err, c.code)
			}
			// Another resource of the program taking the name fails the same.
			if _, err := p.create(t, c.typ, "b", c.in); err == nil || !strings.Contains(err.Error(), c.code) {
				t.Fatalf("another resource under the same name: %v, want %q", err, c.code)
			}
			// Delete-before-replace frees the name first.
			p.delete(t, c.typ, "a", id)
			if _, err := p.create(t, c.typ, "a", c.in); err != nil {
				t.Fatalf("create after the delete: %v", err)
			}
			if live := p.live(t, c.typ); len(live) != 1 {
				t.Errorf("live %s: %v, want one", c.typ, live)
			}
		})
	}
}

// Where AWS (or the provider) picks the name, the new half of a replacement is a second AWS
// resource even though the answers give it the old half's ID: deleting the old one leaves it.
func TestAReplacementWithAFreshNameKeepsBothUntilTheOldIsDeleted(t *testing.T) {
	for _, c := range []struct {
		typ string
		in  map[string]any
	}{
		{"aws:iam/role:Role", map[string]any{"assumeRolePolicy": "{}"}},
		{nodeGroupType, map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1"}}},
		{"aws:ec2/vpc:Vpc", map[string]any{"cidrBlock": "10.0.0.0/16"}},
		{"aws:route53/record:Record", map[string]any{"zoneId": "Z1", "name": "_x.example.com.", "type": "CNAME", "allowOverwrite": true}},
	} {
		t.Run(c.typ, func(t *testing.T) {
			p := cloud(t)
			p.clusterFor(t, c.typ)
			old, err := p.create(t, c.typ, "a", c.in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.create(t, c.typ, "a", c.in); err != nil {
				t.Fatalf("the replacement: %v", err)
			}
			p.delete(t, c.typ, "a", old)
			live := p.live(t, c.typ)
			if len(live) != 1 || live[0].ID != string(old) {
				t.Fatalf("after deleting the replaced one: %v, want the replacement live", live)
			}
			p.delete(t, c.typ, "a", old)
			if live := p.live(t, c.typ); len(live) != 0 {
				t.Errorf("after deleting the replacement too: %v, want none", live)
			}
		})
	}
}

// AttachRolePolicy is idempotent: a second attachment of the same policy to the same role is
// accepted, and deleting either detaches the policy, so a replacement that keeps the pair
// ends with the policy detached, as on AWS.
func TestAnUpsertTypeIsOneObjectThatEitherDeleteRemoves(t *testing.T) {
	const typ = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	in := map[string]any{"role": "nodes", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
	p := cloud(t)
	old, err := p.create(t, typ, "a", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.create(t, typ, "a", in); err != nil {
		t.Fatalf("attaching again: %v", err)
	}
	if _, err := p.create(t, typ, "b", in); err != nil {
		t.Fatalf("attaching from another resource: %v", err)
	}
	p.delete(t, typ, "a", old)
	if live := p.live(t, typ); len(live) != 0 {
		t.Errorf("after deleting the replaced attachment: %v, want none (the policy is detached)", live)
	}
}

func TestAnUpdateKeepsTheNameAndInstances(t *testing.T) {
	const typ = "aws:iam/role:Role"
	p := cloud(t)
	in := map[string]any{"name": "ops", "assumeRolePolicy": "{}"}
	id, err := p.create(t, typ, "a", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Update(context.Background(), plugin.UpdateRequest{URN: urn(typ, "a"), Name: "a", Type: typ, ID: id,
		OldInputs: inputs(in), NewInputs: inputs(changed(in, map[string]any{"description": "x"}))}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.create(t, typ, "b", in); err == nil {
		t.Error("the name ops is free after an update of its role")
	}
	live := p.live(t, typ)
	if len(live) != 1 || live[0].Outputs["description"] != "x" {
		t.Errorf("after the update: %v", live)
	}
}

func TestAPreviewUpdateKeepsTheComputedOutputs(t *testing.T) {
	const typ = "aws:iam/role:Role"
	p := cloud(t)
	old := resource.NewPropertyMapFromMap(map[string]any{"assumeRolePolicy": "{}", "arn": "arn:aws:iam::1:role/a"})
	res, err := p.Update(context.Background(), plugin.UpdateRequest{URN: urn(typ, "a"), Name: "a", Type: typ, ID: "a", Preview: true,
		OldOutputs: old, NewInputs: inputs(map[string]any{"assumeRolePolicy": "{\"v\":1}"})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Properties["arn"].StringValue() != "arn:aws:iam::1:role/a" || res.Properties["assumeRolePolicy"].StringValue() != "{\"v\":1}" {
		t.Errorf("preview update answered %v", res.Properties)
	}
	if _, ok := res.Properties[defaultsKey]; ok {
		t.Errorf("preview update answered the bridge's bookkeeping: %v", res.Properties)
	}
}
