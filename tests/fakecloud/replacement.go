package fakecloud

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The replacement rule of the real providers, as data: for every resource type the program
// uses, the input properties whose change the provider answers with a replacement instead of
// an update. For terraform-provider-aws these are the ForceNew attributes (and the few
// CustomizeDiff rules that force new under a condition); for terraform-provider-random the
// attributes with a RequiresReplace plan modifier.
//
// Versions. pulumi-aws v6.83.x is built from terraform-provider-aws v5.x, whose last release
// is v5.100.0 (pulumi-aws v7 moved to v6.x); the table is that of v5.100.0. The upstream
// files were read from stored copies of hashicorp/terraform-provider-aws (no checkout of the
// tag could be had), each checked against the v6.83.4 Go SDK's argument types (which name
// exactly the v5.100.0 inputs) and, where the stored copy is older or newer, against the
// upstream changes in between (named per type). pulumi-random v4.18.4 is built from
// terraform-provider-random commit bc2ddb552b46 (tag v3.7.2), read from a checkout.
//
// Property paths are Pulumi names: camelCase of the Terraform names, with the renames
// pulumi-aws makes (a list block gets a plural name: route -> routes, taint -> taints,
// validation_option -> validationOptions). A block of at most one item (MaxItems: 1) is an
// object in Pulumi, so a ForceNew attribute inside it is a dotted path: the Terraform
// attribute vpc_config.0.subnet_ids is the Pulumi path vpcConfig.subnetIds.

// replaceRule is one property path whose change replaces the resource.
type replaceRule struct {
	Path string
	// Computed: the attribute is Optional+Computed, so leaving it out keeps what the resource
	// has (Terraform plans no change for it): only a new value replaces.
	Computed bool
	// Default is the schema default: a value left out counts as the default.
	Default *resource.PropertyValue
	// Set: the attribute is a Terraform set, so the order of its elements is no change.
	Set bool
	// If, when set, is the condition under which a change (old != new) replaces: for
	// CustomizeDiff rules and conditional plan modifiers.
	If func(old, new resource.PropertyValue) bool
}

// resourceRules are a type's replacement rules and what the bridge needs for the order.
type resourceRules struct {
	Replace []replaceRule
	// AutoNamed are the properties pulumi-aws autonames (tfbridge.AutoName: every input named
	// `name`, provider/autonaming.go): set by the program, they make a replacement
	// delete-before-replace (see deleteBeforeReplace).
	AutoNamed []string
	// Autoname: the fake's Check fills in the first AutoNamed property when the program
	// leaves it (and its Prefix) out, as the bridge does (autonamed below). Only where a test
	// observes the name: elsewhere the fake leaves it out.
	Autoname bool
}

func forceNew(path string) replaceRule         { return replaceRule{Path: path} }
func forceNewComputed(path string) replaceRule { return replaceRule{Path: path, Computed: true} }
func forceNewSet(path string) replaceRule      { return replaceRule{Path: path, Set: true} }
func forceNewDefault(path string, v any) replaceRule {
	d := resource.NewPropertyValue(v)
	return replaceRule{Path: path, Default: &d}
}

// replacements is the table. A type missing from it fails the fake in Check and Diff.
var replacements = map[string]resourceRules{
	// internal/service/ec2/vpc_.go (v5.x copy, 2024): cidr_block (Optional+Computed),
	// ipv4_ipam_pool_id, ipv4_netmask_length. Everything else updates in place.
	"aws:ec2/vpc:Vpc": {Replace: []replaceRule{
		forceNewComputed("cidrBlock"), forceNew("ipv4IpamPoolId"), forceNew("ipv4NetmaskLength"),
	}},
	// internal/service/ec2/vpc_subnet.go (copies of v4.x, 2022, and v6.3x, 2026): vpc_id,
	// availability_zone(_id) and cidr_block (Optional+Computed), ipv6_native (default false),
	// outpost_arn. Not in v5.100.0: the IPAM attributes (#44705, v6) and the conditional
	// ForceNew of ipv6_cidr_block (#46043, v6); ipv6_cidr_block updates in place in v5.
	"aws:ec2/subnet:Subnet": {Replace: []replaceRule{
		forceNew("vpcId"), forceNewComputed("availabilityZone"), forceNewComputed("availabilityZoneId"),
		forceNewComputed("cidrBlock"), forceNewDefault("ipv6Native", false), forceNew("outpostArn"),
	}},
	// internal/service/ec2/vpc_internet_gateway.go: nothing forces new (vpc_id attaches and
	// detaches in place).
	"aws:ec2/internetGateway:InternetGateway": {},
	// internal/service/ec2/vpc_route_table.go (v5.x copy): vpc_id. Routes update in place.
	"aws:ec2/routeTable:RouteTable": {Replace: []replaceRule{forceNew("vpcId")}},
	// internal/service/ec2/vpc_route_table_association.go: subnet_id, gateway_id;
	// route_table_id updates in place (ReplaceRouteTableAssociation).
	"aws:ec2/routeTableAssociation:RouteTableAssociation": {Replace: []replaceRule{
		forceNew("subnetId"), forceNew("gatewayId"),
	}},
	// internal/service/ec2/ec2_eip.go (copies of v5.x, 2024, and v6.x): address, domain,
	// network_border_group, public_ipv4_pool, ipam_pool_id (in the v6.83.4 SDK, so in
	// v5.100.0) and the deprecated vpc (ForceNew in v5, removed in v6.0).
	"aws:ec2/eip:Eip": {Replace: []replaceRule{
		forceNew("address"), forceNewComputed("domain"), forceNewComputed("networkBorderGroup"),
		forceNewComputed("publicIpv4Pool"), forceNewComputed("ipamPoolId"), forceNewComputed("vpc"),
	}},
	// internal/service/ec2/vpc_nat_gateway.go (v5.x copy): allocation_id, subnet_id,
	// connectivity_type (default "public"), private_ip and secondary_private_ip_address_count
	// (Optional+Computed). The secondary allocations and addresses update in place.
	"aws:ec2/natGateway:NatGateway": {Replace: []replaceRule{
		forceNew("allocationId"), forceNew("subnetId"), forceNewDefault("connectivityType", "public"),
		forceNewComputed("privateIp"), forceNewComputed("secondaryPrivateIpAddressCount"),
	}},
	// internal/service/iam/role.go: name, name_prefix, path (default "/"). The trust policy,
	// description, session duration, boundary and policies update in place.
	"aws:iam/role:Role": {Replace: []replaceRule{
		forceNewComputed("name"), forceNewComputed("namePrefix"), forceNewDefault("path", "/"),
	}, AutoNamed: []string{"name"}},
	// internal/service/iam/policy.go (v5.x copy): name, name_prefix, path (default "/") and
	// description. The policy document updates in place (a new default version).
	"aws:iam/policy:Policy": {Replace: []replaceRule{
		forceNewComputed("name"), forceNewComputed("namePrefix"), forceNewDefault("path", "/"),
		forceNew("description"),
	}, AutoNamed: []string{"name"}},
	// internal/service/iam/role_policy_attachment.go: role and policy_arn (no Update at all).
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": {Replace: []replaceRule{
		forceNew("role"), forceNew("policyArn"),
	}},
	// internal/service/iam/openid_connect_provider.go: url. client_id_list updates in place
	// since #37612 (2024, v5.x); thumbprint_list always did.
	"aws:iam/openIdConnectProvider:OpenIdConnectProvider": {Replace: []replaceRule{forceNew("url")}},
	// internal/service/acm/certificate.go: domain_name, subject_alternative_names (a set),
	// validation_method, key_algorithm (Optional+Computed), certificate_authority_arn,
	// validation_option (a set, its fields ForceNew too). options update in place since
	// #29763 (v4.x); an imported certificate's body, chain and key re-import in place.
	"aws:acm/certificate:Certificate": {Replace: []replaceRule{
		forceNewComputed("domainName"), {Path: "subjectAlternativeNames", Computed: true, Set: true},
		forceNewComputed("validationMethod"), forceNewComputed("keyAlgorithm"),
		forceNew("certificateAuthorityArn"), forceNewSet("validationOptions"),
	}},
	// internal/service/acm/certificate_validation.go: certificate_arn and
	// validation_record_fqdns (a set); there is no Update.
	"aws:acm/certificateValidation:CertificateValidation": {Replace: []replaceRule{
		forceNew("certificateArn"), forceNewSet("validationRecordFqdns"),
	}},
	// internal/service/route53/record.go: name and zone_id. type and set_identifier update
	// in place in v5 (type became ForceNew in v6.0 only, #43500; #47105 undid it).
	"aws:route53/record:Record": {Replace: []replaceRule{forceNew("name"), forceNew("zoneId")}},
	// internal/service/eks/cluster.go (late-v5 copy with compute/storage/remote network
	// config; the v6.83.4 SDK's arguments add only force_update_version, a flag): name, role_arn,
	// bootstrap_self_managed_addons (default true),
	// access_config.0.bootstrap_cluster_creator_admin_permissions (default true),
	// kubernetes_network_config.0.ip_family and .service_ipv4_cidr (Optional+Computed),
	// outpost_config.0.control_plane_instance_type and .control_plane_placement.0.group_name,
	// remote_network_config (the whole block, its cidrs sets too); CustomizeDiff: removing
	// encryption_config, and changing a set compute_config.0.node_role_arn. vpc_config updates
	// in place since #34209 (v5.25.0), version in place (UpdateClusterVersion).
	// default_addons_to_remove is pulumi-aws's own (patch 0008), not ForceNew.
	"aws:eks/cluster:Cluster": {Replace: []replaceRule{
		forceNewComputed("name"), forceNew("roleArn"), forceNewDefault("bootstrapSelfManagedAddons", true),
		forceNewDefault("accessConfig.bootstrapClusterCreatorAdminPermissions", true),
		forceNewComputed("kubernetesNetworkConfig.ipFamily"), forceNewComputed("kubernetesNetworkConfig.serviceIpv4Cidr"),
		forceNew("outpostConfig.controlPlaneInstanceType"), forceNew("outpostConfig.controlPlanePlacement.groupName"),
		forceNewSet("remoteNetworkConfig.remoteNodeNetworks.cidrs"), forceNewSet("remoteNetworkConfig.remotePodNetworks.cidrs"),
		{Path: "encryptionConfig", If: func(old, new resource.PropertyValue) bool { return !isAbsent(old) && isAbsent(new) }},
		{Path: "computeConfig.nodeRoleArn", If: func(old, new resource.PropertyValue) bool {
			return old.IsString() && old.StringValue() != "" && !isAbsent(new)
		}},
	}, AutoNamed: []string{"name"}},
	// internal/service/eks/node_group.go (v5.8x copy, node_repair_config as in the v6.83.4
	// SDK): cluster_name, node_role_arn, subnet_ids (a set), remote_access (the block and its
	// fields); Optional+Computed: ami_type, capacity_type, disk_size, instance_types,
	// node_group_name(_prefix), launch_template.0.id and .name. version, release_version,
	// launch_template.0.version (UpdateNodegroupVersion), scaling, update config, labels and
	// taints update in place.
	"aws:eks/nodeGroup:NodeGroup": {Replace: []replaceRule{
		forceNew("clusterName"), forceNew("nodeRoleArn"), forceNewSet("subnetIds"),
		forceNew("remoteAccess.ec2SshKey"), forceNewSet("remoteAccess.sourceSecurityGroupIds"),
		forceNewComputed("amiType"), forceNewComputed("capacityType"), forceNewComputed("diskSize"),
		forceNewComputed("instanceTypes"), forceNewComputed("nodeGroupName"), forceNewComputed("nodeGroupNamePrefix"),
		forceNewComputed("launchTemplate.id"), forceNewComputed("launchTemplate.name"),
		// pulumi-aws provider/resources.go: "node_group_name": tfbridge.AutoName("nodeGroupName", 255, "-").
	}, AutoNamed: []string{"nodeGroupName"}, Autoname: true},
	// internal/service/eks/addon.go: addon_name and cluster_name. addon_version,
	// configuration_values, service_account_role_arn and pod identities update in place.
	"aws:eks/addon:Addon": {Replace: []replaceRule{forceNew("addonName"), forceNew("clusterName")}},
	// internal/service/eks/pod_identity_association.go (a framework resource): cluster_name,
	// namespace and service_account RequiresReplace; role_arn, target_role_arn and
	// disable_session_tags update in place (UpdatePodIdentityAssociation).
	"aws:eks/podIdentityAssociation:PodIdentityAssociation": {Replace: []replaceRule{
		forceNew("clusterName"), forceNew("namespace"), forceNew("serviceAccount"),
	}},
	// internal/service/eks/access_entry.go: cluster_name, principal_arn, type (default
	// "STANDARD"). kubernetes_groups and user_name update in place.
	"aws:eks/accessEntry:AccessEntry": {Replace: []replaceRule{
		forceNew("clusterName"), forceNew("principalArn"), forceNewDefault("type", "STANDARD"),
	}},
	// internal/service/eks/access_policy_association.go: everything (there is no Update):
	// cluster_name, principal_arn, policy_arn, access_scope.0.type and .namespaces (a set).
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation": {Replace: []replaceRule{
		forceNew("clusterName"), forceNew("principalArn"), forceNew("policyArn"),
		forceNew("accessScope.type"), forceNewSet("accessScope.namespaces"),
	}},
	// internal/service/ec2/vpc_security_group.go (pulumi's patched-v5.14.0): name, name_prefix,
	// description (default "Managed by Pulumi", pulumi-aws's patch) and vpc_id. Inline rules,
	// tags and revoke_rules_on_delete update in place.
	"aws:ec2/securityGroup:SecurityGroup": {Replace: []replaceRule{
		forceNewComputed("name"), forceNewComputed("namePrefix"), forceNewDefault("description", "Managed by Pulumi"),
		forceNewComputed("vpcId"),
	}, AutoNamed: []string{"name"}},
	// internal/service/ec2/vpc_security_group_ingress_rule.go (patched-v5.14.0):
	// security_group_id RequiresReplace; ModifyPlan replaces when the source changes kind
	// (cidr_ipv4, cidr_ipv6, prefix_list_id, referenced_security_group_id: "you cannot change
	// the rule's source type"). Ports, protocol, the source itself and the description update
	// in place (ModifySecurityGroupRules).
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {Replace: []replaceRule{
		forceNew("securityGroupId"),
		// Exactly one source is set (ConfigValidators ExactlyOneOf), so the kind changes
		// exactly when one of them comes or goes.
		sourceKind("cidrIpv4"), sourceKind("cidrIpv6"), sourceKind("prefixListId"), sourceKind("referencedSecurityGroupId"),
	}},
	// internal/service/rds/subnet_group.go (patched-v5.14.0): name and name_prefix; the
	// description and subnet_ids update in place.
	"aws:rds/subnetGroup:SubnetGroup": {Replace: []replaceRule{
		forceNewComputed("name"), forceNewComputed("namePrefix"),
	}, AutoNamed: []string{"name"}},
	// internal/service/rds/parameter_group.go (patched-v5.14.0, lines 46-75): name,
	// name_prefix, family and description (default "Managed by Pulumi"). Parameters update in
	// place (ModifyDBParameterGroup).
	"aws:rds/parameterGroup:ParameterGroup": {Replace: []replaceRule{
		forceNewComputed("name"), forceNewComputed("namePrefix"), forceNew("family"),
		forceNewDefault("description", "Managed by Pulumi"),
	}, AutoNamed: []string{"name"}},
	// internal/service/rds/instance.go (patched-v5.14.0, the schema): ForceNew are
	// availability_zone, backup_target, character_set_name, db_name, engine, kms_key_id,
	// nchar_character_set_name, snapshot_identifier, timezone and username (all
	// Optional+Computed), custom_iam_instance_profile, restore_to_point_in_time,
	// storage_encrypted and s3_import. identifier renames in place (NewDBInstanceIdentifier);
	// the class, version, storage, Multi-AZ, groups, windows, retention, protection and
	// password update in place (ModifyDBInstance, see rds_rules.go for when they take effect).
	"aws:rds/instance:Instance": {Replace: []replaceRule{
		forceNewComputed("availabilityZone"), forceNewComputed("backupTarget"), forceNewComputed("characterSetName"),
		forceNewComputed("dbName"), forceNewComputed("engine"), forceNewComputed("kmsKeyId"),
		forceNewComputed("ncharCharacterSetName"), forceNewComputed("snapshotIdentifier"), forceNewComputed("timezone"),
		forceNewComputed("username"), forceNew("customIamInstanceProfile"), forceNew("restoreToPointInTime"),
		forceNew("storageEncrypted"), forceNew("s3Import"),
	}},
	// terraform-provider-random internal/provider/resource_id.go@bc2ddb552b46: byte_length,
	// prefix and keepers RequiresReplace (keepers as for passwords).
	"random:index/randomId:RandomId": {Replace: []replaceRule{
		forceNew("byteLength"), forceNew("prefix"), {Path: "keepers", If: keepersReplace},
	}},
	// terraform-provider-random internal/provider/resource_password.go@bc2ddb552b46
	// (passwordSchemaV3, lines 570-720): every argument RequiresReplace: length; special,
	// upper, lower, numeric, number (default true); min_* (default 0); keepers unless only
	// null values change (RequiresReplaceIfValuesNotNull); override_special unless it goes
	// from "" to null (RequiresReplaceUnlessEmptyStringToNull).
	"random:index/randomPassword:RandomPassword": {Replace: []replaceRule{
		forceNew("length"),
		forceNewDefault("special", true), forceNewDefault("upper", true), forceNewDefault("lower", true),
		forceNewDefault("numeric", true), forceNewDefault("number", true),
		forceNewDefault("minNumeric", 0), forceNewDefault("minUpper", 0),
		forceNewDefault("minLower", 0), forceNewDefault("minSpecial", 0),
		{Path: "keepers", If: keepersReplace},
		{Path: "overrideSpecial", If: func(old, new resource.PropertyValue) bool {
			return !isAbsent(new) || !old.IsString() || old.StringValue() != ""
		}},
	}},
}

// rulesFor is a type's rules, or an error naming a type the table lacks.
func rulesFor(typ string) (resourceRules, error) {
	r, ok := replacements[typ]
	if !ok {
		return resourceRules{}, fmt.Errorf("no replacement rules for resource type %s: add them to tests/fakecloud/replacement.go from the upstream provider's schema", typ)
	}
	return r, nil
}

// keepersReplace is RequiresReplaceIfValuesNotNull: a keepers change replaces unless every
// difference is a key added with a null value (what the SDKv2 provider never stored).
func keepersReplace(old, new resource.PropertyValue) bool {
	var olds, news resource.PropertyMap
	if old.IsObject() {
		olds = old.ObjectValue()
	}
	if new.IsObject() {
		news = new.ObjectValue()
	}
	for k, v := range news {
		o, had := olds[k]
		if !had && isAbsent(v) {
			continue
		}
		if !had || !o.DeepEquals(v) {
			return true
		}
	}
	for k := range olds {
		if _, ok := news[k]; !ok {
			return true
		}
	}
	return false
}

// sourceKind replaces a security group rule whose source attribute path comes or goes.
func sourceKind(path string) replaceRule {
	return replaceRule{Path: path, If: func(old, new resource.PropertyValue) bool { return isAbsent(old) != isAbsent(new) }}
}
