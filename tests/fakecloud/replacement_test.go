package fakecloud

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// absent, as a change, takes the property out of the inputs.
const absent = "<absent>"

// inputs builds checked inputs: the program's values plus the bridge's (empty) defaults list.
func inputs(m map[string]any) resource.PropertyMap {
	return withDefaultsList(resource.NewPropertyMapFromMap(m))
}

// changed is base with the changes over it (whole top-level values; absent deletes).
func changed(base, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == absent {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func diffOf(t *testing.T, typ string, olds, news resource.PropertyMap, ignore ...string) plugin.DiffResult {
	t.Helper()
	p := &Provider{Name: strings.SplitN(typ, ":", 2)[0]}
	res, err := p.Diff(context.Background(), plugin.DiffRequest{
		Type: tokens.Type(typ), OldInputs: olds, NewInputs: news, IgnoreChanges: ignore,
	})
	if err != nil {
		t.Fatalf("diff of %s: %v", typ, err)
	}
	return res
}

func keys(ks []resource.PropertyKey) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// typeCase: per type, a change the real provider replaces on and, where the type has one, a
// change it updates in place.
type typeCase struct {
	typ     string
	base    map[string]any
	replace map[string]any
	key     string         // the top-level keys the replacement names, sorted, comma-separated
	update  map[string]any // nil: every input of the type forces new (there is no Update)
}

var typeCases = []typeCase{
	{typ: "aws:ec2/vpc:Vpc",
		base:    map[string]any{"cidrBlock": "10.0.0.0/16", "enableDnsHostnames": true},
		replace: map[string]any{"cidrBlock": "10.1.0.0/16"}, key: "cidrBlock",
		update: map[string]any{"enableDnsHostnames": false}},
	{typ: "aws:ec2/subnet:Subnet",
		base:    map[string]any{"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/24", "availabilityZone": "us-east-1a", "mapPublicIpOnLaunch": false},
		replace: map[string]any{"availabilityZone": "us-east-1b"}, key: "availabilityZone",
		update: map[string]any{"ipv6CidrBlock": "2600:1f18::/64", "mapPublicIpOnLaunch": true}},
	{typ: "aws:ec2/internetGateway:InternetGateway", // nothing forces new
		base:   map[string]any{"vpcId": "vpc-1"},
		update: map[string]any{"vpcId": "vpc-2"}},
	{typ: "aws:ec2/routeTable:RouteTable",
		base:    map[string]any{"vpcId": "vpc-1", "routes": []any{map[string]any{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}}},
		replace: map[string]any{"vpcId": "vpc-2"}, key: "vpcId",
		update: map[string]any{"routes": []any{map[string]any{"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}}}},
	{typ: "aws:ec2/routeTableAssociation:RouteTableAssociation",
		base:    map[string]any{"subnetId": "subnet-1", "routeTableId": "rtb-1"},
		replace: map[string]any{"subnetId": "subnet-2"}, key: "subnetId",
		update: map[string]any{"routeTableId": "rtb-2"}},
	{typ: "aws:ec2/eip:Eip",
		base:    map[string]any{"domain": "vpc", "tags": map[string]any{"Name": "a"}},
		replace: map[string]any{"domain": "standard"}, key: "domain",
		update: map[string]any{"tags": map[string]any{"Name": "b"}}},
	{typ: "aws:ec2/natGateway:NatGateway",
		base:    map[string]any{"allocationId": "eipalloc-1", "subnetId": "subnet-1"},
		replace: map[string]any{"subnetId": "subnet-2"}, key: "subnetId",
		update: map[string]any{"secondaryAllocationIds": []any{"eipalloc-2"}}},
	{typ: "aws:iam/role:Role",
		base:    map[string]any{"assumeRolePolicy": `{"Version":"2012-10-17"}`},
		replace: map[string]any{"path": "/eks/"}, key: "path",
		update: map[string]any{"assumeRolePolicy": `{"Version":"2012-10-17","Statement":[]}`}},
	{typ: "aws:iam/policy:Policy",
		base:    map[string]any{"policy": `{"Version":"2012-10-17"}`, "description": "LB controller"},
		replace: map[string]any{"description": "LB controller (official)"}, key: "description",
		update: map[string]any{"policy": `{"Version":"2012-10-17","Statement":[]}`}},
	{typ: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", // no Update
		base:    map[string]any{"role": "nodes", "policyArn": "arn:aws:iam::aws:policy/A"},
		replace: map[string]any{"policyArn": "arn:aws:iam::aws:policy/B"}, key: "policyArn"},
	{typ: "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
		base:    map[string]any{"url": "https://oidc.eks.us-east-1.amazonaws.com/id/A", "clientIdLists": []any{"sts.amazonaws.com"}},
		replace: map[string]any{"url": "https://oidc.eks.us-east-1.amazonaws.com/id/B"}, key: "url",
		update: map[string]any{"clientIdLists": []any{"sts.amazonaws.com", "other"}}},
	{typ: "aws:acm/certificate:Certificate",
		base:    map[string]any{"domainName": "*.example.com", "subjectAlternativeNames": []any{"example.com"}, "validationMethod": "DNS"},
		replace: map[string]any{"subjectAlternativeNames": []any{"example.com", "example.org"}}, key: "subjectAlternativeNames",
		update: map[string]any{"options": map[string]any{"certificateTransparencyLoggingPreference": "DISABLED"}}},
	{typ: "aws:acm/certificateValidation:CertificateValidation", // no Update
		base:    map[string]any{"certificateArn": "arn:cert", "validationRecordFqdns": []any{"_a.example.com"}},
		replace: map[string]any{"validationRecordFqdns": []any{"_b.example.com"}}, key: "validationRecordFqdns"},
	{typ: "aws:route53/record:Record",
		base:    map[string]any{"zoneId": "Z1", "name": "*.example.com", "type": "A", "aliases": []any{map[string]any{"name": "alb-1", "zoneId": "Z2", "evaluateTargetHealth": true}}},
		replace: map[string]any{"name": "*.example.org"}, key: "name",
		update: map[string]any{"type": "AAAA", "aliases": []any{map[string]any{"name": "alb-2", "zoneId": "Z2", "evaluateTargetHealth": true}}}},
	{typ: "aws:eks/cluster:Cluster",
		base: map[string]any{"name": "prod", "roleArn": "arn:role", "version": "1.30",
			"vpcConfig":                  map[string]any{"subnetIds": []any{"s1", "s2"}, "endpointPublicAccess": true},
			"accessConfig":               map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": true},
			"bootstrapSelfManagedAddons": false},
		replace: map[string]any{"accessConfig": map[string]any{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": false}}, key: "accessConfig",
		update: map[string]any{"version": "1.31", "vpcConfig": map[string]any{"subnetIds": []any{"s1", "s3"}, "endpointPublicAccess": false}}},
	{typ: "aws:eks/nodeGroup:NodeGroup",
		base: map[string]any{"clusterName": "prod", "nodeRoleArn": "arn:role", "subnetIds": []any{"s1", "s2"},
			"instanceTypes": []any{"t3.large"}, "scalingConfig": map[string]any{"minSize": 1, "desiredSize": 2, "maxSize": 3}},
		replace: map[string]any{"instanceTypes": []any{"m5.large"}}, key: "instanceTypes",
		update: map[string]any{"version": "1.31", "scalingConfig": map[string]any{"minSize": 1, "desiredSize": 3, "maxSize": 4}}},
	{typ: "aws:eks/addon:Addon",
		base:    map[string]any{"clusterName": "prod", "addonName": "vpc-cni", "addonVersion": "v1.18.0-eksbuild.1"},
		replace: map[string]any{"addonName": "coredns"}, key: "addonName",
		update: map[string]any{"addonVersion": "v1.19.0-eksbuild.1", "configurationValues": `{"enableNetworkPolicy":"true"}`}},
	{typ: "aws:eks/podIdentityAssociation:PodIdentityAssociation",
		base:    map[string]any{"clusterName": "prod", "namespace": "kube-system", "serviceAccount": "aws-load-balancer-controller", "roleArn": "arn:aws:iam::1:role/lbc"},
		replace: map[string]any{"serviceAccount": "other"}, key: "serviceAccount",
		update: map[string]any{"roleArn": "arn:aws:iam::1:role/lbc-2"}},
	{typ: "aws:eks/accessEntry:AccessEntry",
		base:    map[string]any{"clusterName": "prod", "principalArn": "arn:aws:iam::1:role/admin", "type": "STANDARD"},
		replace: map[string]any{"type": "EC2_LINUX"}, key: "type",
		update: map[string]any{"kubernetesGroups": []any{"ops"}}},
	{typ: "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", // no Update
		base:    map[string]any{"clusterName": "prod", "principalArn": "arn:p", "policyArn": "arn:pol", "accessScope": map[string]any{"type": "cluster"}},
		replace: map[string]any{"accessScope": map[string]any{"type": "namespace", "namespaces": []any{"kong"}}}, key: "accessScope"},
	{typ: "aws:ec2/securityGroup:SecurityGroup",
		base:    map[string]any{"name": "kong-prod-kong-postgres", "description": "db", "vpcId": "vpc-1", "tags": map[string]any{"a": "1"}},
		replace: map[string]any{"description": "the database"}, key: "description",
		update: map[string]any{"tags": map[string]any{"a": "2"}}},
	{typ: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
		base: map[string]any{"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "referencedSecurityGroupId": "sg-2"},
		// The provider names both sources (ModifyPlan's RequiresReplace of old and new paths).
		replace: map[string]any{"referencedSecurityGroupId": absent, "cidrIpv4": "10.0.0.0/16"}, key: "cidrIpv4,referencedSecurityGroupId",
		update: map[string]any{"referencedSecurityGroupId": "sg-3", "fromPort": 5433, "toPort": 5433}},
	{typ: "aws:rds/subnetGroup:SubnetGroup",
		base:    map[string]any{"name": "kong-prod-kong", "subnetIds": []any{"s1", "s2"}},
		replace: map[string]any{"name": "kong-prod-db"}, key: "name",
		update: map[string]any{"subnetIds": []any{"s1", "s3"}, "description": "other"}},
	{typ: "aws:rds/parameterGroup:ParameterGroup",
		base:    map[string]any{"name": "kong-prod-kong-postgres17", "family": "postgres17", "parameters": []any{map[string]any{"name": "rds.force_ssl", "value": "1"}}},
		replace: map[string]any{"family": "postgres18"}, key: "family",
		update: map[string]any{"parameters": []any{map[string]any{"name": "rds.force_ssl", "value": "0"}}}},
	{typ: "aws:rds/instance:Instance",
		base: map[string]any{"identifier": "kong-prod-kong", "engine": "postgres", "engineVersion": "17.6", "instanceClass": "db.m7g.large",
			"dbName": "kong", "username": "kong", "storageEncrypted": true, "multiAz": true, "allocatedStorage": 50},
		replace: map[string]any{"storageEncrypted": false}, key: "storageEncrypted",
		update: map[string]any{"identifier": "kong-prod-db", "engineVersion": "17.7", "instanceClass": "db.m7g.xlarge",
			"multiAz": false, "allocatedStorage": 60, "deletionProtection": false, "password": "other"}},
	{typ: "random:index/randomId:RandomId", // no Update
		base:    map[string]any{"byteLength": 4},
		replace: map[string]any{"byteLength": 8}, key: "byteLength"},
	{typ: "random:index/randomPassword:RandomPassword",
		base:    map[string]any{"length": 32, "special": false, "overrideSpecial": ""},
		replace: map[string]any{"length": 40}, key: "length",
		// The one update random_password plans: override_special from "" to null.
		update: map[string]any{"overrideSpecial": absent}},
}

func TestEveryTypeReplacesOnAForceNewPropertyAndUpdatesOtherwise(t *testing.T) {
	for _, c := range typeCases {
		t.Run(c.typ, func(t *testing.T) {
			olds := inputs(c.base)
			if c.replace != nil {
				res := diffOf(t, c.typ, olds, inputs(changed(c.base, c.replace)))
				if res.Changes != plugin.DiffSome || !res.Replace() {
					t.Fatalf("%v: want a replacement, got %+v", c.replace, res)
				}
				if got := keys(res.ReplaceKeys); strings.Join(got, ",") != c.key {
					t.Errorf("%v: replace keys %v, want [%s]", c.replace, got, c.key)
				}
			}
			if c.update != nil {
				res := diffOf(t, c.typ, olds, inputs(changed(c.base, c.update)))
				if res.Changes != plugin.DiffSome {
					t.Fatalf("%v: want an update, got no change", c.update)
				}
				if res.Replace() || res.DeleteBeforeReplace {
					t.Errorf("%v: want an update in place, got a replacement %+v", c.update, res)
				}
			}
			if res := diffOf(t, c.typ, olds, inputs(c.base)); res.Changes != plugin.DiffNone {
				t.Errorf("the same inputs diff as %+v", res)
			}
		})
	}
}

// The program's types (stacks, components), as the brief and a grep of the program list them.
var programTypes = []string{
	"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
	"aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation",
	"aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:iam/role:Role", "aws:iam/policy:Policy",
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
	"aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation",
	"aws:route53/record:Record", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon",
	"aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
	"aws:eks/podIdentityAssociation:PodIdentityAssociation",
	"aws:ec2/securityGroup:SecurityGroup", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
	"aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup", "aws:rds/instance:Instance",
	"random:index/randomPassword:RandomPassword", "random:index/randomId:RandomId",
}

func TestTheTableAndTheCasesCoverEveryProgramType(t *testing.T) {
	cased := map[string]bool{}
	for _, c := range typeCases {
		cased[c.typ] = true
	}
	for _, typ := range programTypes {
		if _, err := rulesFor(typ); err != nil {
			t.Error(err)
		}
		if !cased[typ] {
			t.Errorf("%s has no case in typeCases", typ)
		}
	}
	if len(replacements) != len(programTypes) {
		t.Errorf("the table has %d types, the program uses %d", len(replacements), len(programTypes))
	}
}

func TestATypeMissingFromTheTableFailsDiffAndCheckNamingIt(t *testing.T) {
	const typ = "aws:rds/cluster:Cluster"
	p := &Provider{Name: "aws"}
	_, err := p.Diff(context.Background(), plugin.DiffRequest{Type: typ,
		OldInputs: inputs(map[string]any{"name": "a"}), NewInputs: inputs(map[string]any{"name": "b"})})
	if err == nil || !strings.Contains(err.Error(), typ) {
		t.Errorf("diff of an unknown type: %v, want an error naming %s", err, typ)
	}
	_, err = p.Check(context.Background(), plugin.CheckRequest{Type: typ, News: inputs(map[string]any{"name": "a"})})
	if err == nil || !strings.Contains(err.Error(), typ) {
		t.Errorf("check of an unknown type: %v, want an error naming %s", err, typ)
	}
}
