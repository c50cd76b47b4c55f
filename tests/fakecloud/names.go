package fakecloud

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// What AWS holds unique, per type: the name under which a second resource is refused while
// the first lives. It matters when a replacement runs create-before-delete: the new resource
// is created while the old one still holds the name, so a name the program fixed makes AWS
// refuse the create (the bridge orders delete-before-create only for autonamed properties
// the program set, see deleteBeforeReplace). Types not listed here get a fresh identity from
// AWS for every create (VPCs, subnets, EIPs, certificates, ...).
//
// An upsert type is the other way round: AWS takes a second create of the same key as the
// same object (AttachRolePolicy is idempotent), and deleting either resource deletes that
// one object, so a create-before-delete replacement that keeps the key ends with nothing
// (the failure terraform-aws-modules/terraform-aws-eks #3392 and #3403 describe for role
// policy attachments under terraform-provider-aws v5.100.0).
type uniqueName struct {
	// key is the unique name of a resource with these inputs, "" when AWS (or the provider,
	// generating one) picks a fresh name.
	key func(in resource.PropertyMap) string
	// taken is AWS's refusal of a second resource under the key.
	taken func(in resource.PropertyMap) error
	// upsert: a second create is accepted as the same object, and a delete removes it.
	upsert bool
}

func str(in resource.PropertyMap, k string) string { return answers.String(in, k) }

// awsError is an AWS API error as terraform-provider-aws reports a failed create.
func awsError(op, code, msg string) error {
	return fmt.Errorf("fakecloud aws: %s: operation error: api error %s: %s", op, code, msg)
}

// iamKey: IAM names are unique in the account whatever their case.
func iamKey(kind, name string) string {
	if name == "" {
		return ""
	}
	return kind + "/" + strings.ToLower(name)
}

var uniqueNames = map[string]uniqueName{
	"aws:iam/role:Role": {
		key: func(in resource.PropertyMap) string { return iamKey("role", str(in, "name")) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating IAM Role ("+str(in, "name")+")", "EntityAlreadyExists",
				"Role with name "+str(in, "name")+" already exists.")
		},
	},
	"aws:iam/policy:Policy": {
		key: func(in resource.PropertyMap) string { return iamKey("policy", str(in, "name")) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating IAM Policy ("+str(in, "name")+")", "EntityAlreadyExists",
				"A policy called "+str(in, "name")+" already exists. Duplicate names are not allowed.")
		},
	},
	"aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
		key: func(in resource.PropertyMap) string {
			return "oidc/" + strings.ToLower(strings.TrimPrefix(str(in, "url"), "https://"))
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating IAM OIDC Provider", "EntityAlreadyExists",
				"Provider with url "+str(in, "url")+" already exists.")
		},
	},
	"aws:eks/cluster:Cluster": {
		key: func(in resource.PropertyMap) string { return keyOf("cluster", str(in, "name")) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating EKS Cluster ("+str(in, "name")+")", "ResourceInUseException",
				"Cluster already exists with name: "+str(in, "name"))
		},
	},
	// node_group_name left out: the provider generates a unique one (create.Name).
	"aws:eks/nodeGroup:NodeGroup": {
		key: func(in resource.PropertyMap) string {
			return keyOf("nodegroup", str(in, "nodeGroupName"), str(in, "clusterName"))
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating EKS Node Group", "ResourceInUseException",
				"NodeGroup already exists with name "+str(in, "nodeGroupName")+" and cluster name "+str(in, "clusterName"))
		},
	},
	"aws:eks/addon:Addon": {
		key: func(in resource.PropertyMap) string {
			return keyOf("addon", str(in, "addonName"), str(in, "clusterName"))
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating EKS Add-On ("+str(in, "clusterName")+":"+str(in, "addonName")+")",
				"ResourceInUseException", "Addon already exists.")
		},
	},
	"aws:eks/accessEntry:AccessEntry": {
		key: func(in resource.PropertyMap) string {
			return keyOf("accessentry", str(in, "principalArn"), str(in, "clusterName"))
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating EKS Access Entry ("+str(in, "clusterName")+":"+str(in, "principalArn")+")",
				"ResourceInUseException", "The specified access entry resource is already in use on this cluster.")
		},
	},
	// A record is its zone, name, type and set identifier; with allow_overwrite the provider
	// UPSERTs instead of CREATEs, and AWS takes it.
	"aws:route53/record:Record": {
		key: func(in resource.PropertyMap) string {
			if v, ok := in["allowOverwrite"]; ok && v.IsBool() && v.BoolValue() {
				return ""
			}
			name := strings.ToLower(strings.TrimSuffix(str(in, "name"), "."))
			if name == "" {
				return ""
			}
			return keyOf("record", name, str(in, "zoneId"), str(in, "type")) + "/" + str(in, "setIdentifier")
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating Route53 Record", "InvalidChangeBatch", fmt.Sprintf(
				"[Tried to create resource record set [name='%s.', type='%s'] but it already exists]",
				strings.TrimSuffix(str(in, "name"), "."), str(in, "type")))
		},
	},
	// RDS identifiers and group names are unique in the account and region, whatever their
	// case (RDS stores them in lower case); a security group's name in its VPC.
	"aws:rds/instance:Instance": {
		key: func(in resource.PropertyMap) string { return keyOf("db", strings.ToLower(str(in, "identifier"))) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating RDS DB Instance ("+str(in, "identifier")+")", "DBInstanceAlreadyExists", "DB instance already exists")
		},
	},
	"aws:rds/subnetGroup:SubnetGroup": {
		key: func(in resource.PropertyMap) string { return keyOf("dbsubnetgroup", strings.ToLower(str(in, "name"))) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating RDS DB Subnet Group ("+str(in, "name")+")", "DBSubnetGroupAlreadyExists", "The DB subnet group '"+str(in, "name")+"' already exists.")
		},
	},
	"aws:rds/parameterGroup:ParameterGroup": {
		key: func(in resource.PropertyMap) string {
			return keyOf("dbparametergroup", strings.ToLower(str(in, "name")))
		},
		taken: func(in resource.PropertyMap) error {
			return awsError("creating DB Parameter Group ("+str(in, "name")+")", "DBParameterGroupAlreadyExists", "Parameter group "+str(in, "name")+" already exists")
		},
	},
	"aws:ec2/securityGroup:SecurityGroup": {
		key: func(in resource.PropertyMap) string { return keyOf("securitygroup", str(in, "name"), str(in, "vpcId")) },
		taken: func(in resource.PropertyMap) error {
			return awsError("creating Security Group ("+str(in, "name")+")", "InvalidGroup.Duplicate",
				"The security group '"+str(in, "name")+"' already exists for VPC '"+str(in, "vpcId")+"'")
		},
	},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
		key: func(in resource.PropertyMap) string {
			return keyOf("attachment", str(in, "policyArn"), str(in, "role"))
		},
		upsert: true,
	},
	// AssociateAccessPolicy sets the scope of the principal's association with the policy;
	// DisassociateAccessPolicy removes it.
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation": {
		key: func(in resource.PropertyMap) string {
			return keyOf("association", str(in, "policyArn"), str(in, "clusterName"), str(in, "principalArn"))
		},
		upsert: true,
	},
}

// keyOf joins a name and its scope into a key, or is "" when the name is not set.
func keyOf(kind, name string, scope ...string) string {
	if name == "" {
		return ""
	}
	return kind + "/" + strings.Join(append(scope, name), "/")
}
