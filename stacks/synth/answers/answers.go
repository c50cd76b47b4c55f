// Package answers is what AWS and the random provider answer for the resource types and
// functions the program uses: IDs, ARNs, zone IDs and hostnames of the real shapes, derived
// deterministically from names so that two runs agree. It is the one source of truth for the
// synth mocks (in-process) and the test plugins that stand in for the aws and random providers
// under the real engine (tests/fakecloud). A type or function it does not know is an error
// naming it: nothing is answered by guess.
package answers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// AccountID is the AWS account the answers pretend to be.
const AccountID = "123456789012"

// albZones are the canonical hosted zone IDs of application load balancers, by region
// (Elastic Load Balancing endpoints and quotas, AWS General Reference).
var albZones = map[string]string{
	"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2",
	"us-west-1": "Z368ELLRRE2KJ0", "us-west-2": "Z1H1FL5HABSF5",
	"eu-west-1": "Z32O12XQLNTSW2", "eu-central-1": "Z215JYRZR1TBD5",
	"ap-southeast-1": "Z1LMS91P8CMLE5", "ap-southeast-2": "Z1GM3OXH4ZPM65",
	"ap-northeast-1": "Z14GRHDCWA56QT",
}

// Endpoint is how an EKS cluster is reached: its API server URL and its CA (base64 PEM, as
// EKS's certificateAuthority.data).
type Endpoint struct {
	URL    string
	CAData string
}

// Cloud answers as one AWS account in one region does.
type Cloud struct {
	Region string
	// ClusterEndpoint, when set, says where an EKS cluster's API server is (the test plugins
	// point it at a local control plane); otherwise an EKS-shaped endpoint is made up.
	ClusterEndpoint func(cluster string) Endpoint
}

// UnknownError is returned for a type or function the answers do not cover.
type UnknownError struct{ Kind, Token string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("no answer for %s %s: add it to stacks/synth/answers", e.Kind, e.Token)
}

// HexOf derives n stable hex digits from the parts.
func HexOf(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])[:n]
}

// UUIDOf derives a stable UUID-shaped string from the parts.
func UUIDOf(parts ...string) string {
	h := HexOf(32, parts...)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ALBHostname is the status hostname the AWS Load Balancer Controller gives an Ingress's ALB
// (k8s-<namespace>-<name>-<hash>-<digits>.<region>.elb.amazonaws.com).
func ALBHostname(region, namespace, name string) string {
	short := func(s string, n int) string {
		s = strings.ReplaceAll(s, "-", "")
		if len(s) > n {
			return s[:n]
		}
		return s
	}
	var digits strings.Builder
	for _, c := range HexOf(10, "id", namespace, name) {
		digits.WriteByte('0' + byte(c)%10)
	}
	return fmt.Sprintf("k8s-%s-%s-%s-%s.%s.elb.amazonaws.com", short(namespace, 8), short(name, 8), HexOf(10, namespace, name),
		"1"+digits.String()[1:], region)
}

// ALBZone is the canonical hosted zone ID of a region's application load balancers.
func ALBZone(region string) string {
	if zone, ok := albZones[region]; ok {
		return zone
	}
	return "Z" + strings.ToUpper(HexOf(13, "alb", region))
}

func (c Cloud) arn(service, resourcePart string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, c.Region, AccountID, resourcePart)
}

// Resource returns the ID and state the provider would for a resource of type typ named name
// with these inputs: the inputs plus what AWS computes.
func (c Cloud) Resource(typ, name string, inputs resource.PropertyMap) (string, resource.PropertyMap, error) {
	state := inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string { return String(inputs, k) }
	h := HexOf(17, typ, name)
	switch typ {
	case "aws:ec2/vpc:Vpc":
		id := "vpc-" + h
		set("arn", c.arn("ec2", "vpc/"+id))
		if v, ok := inputs["assignGeneratedIpv6CidrBlock"]; ok && v.IsBool() && v.BoolValue() {
			set("ipv6CidrBlock", "2600:1f18:"+HexOf(4, name)+":"+HexOf(2, typ, name)+"00::/56")
		}
		return id, state, nil
	case "aws:ec2/subnet:Subnet":
		id := "subnet-" + h
		set("arn", c.arn("ec2", "subnet/"+id))
		return id, state, nil
	case "aws:ec2/internetGateway:InternetGateway":
		return "igw-" + h, state, nil
	case "aws:ec2/routeTable:RouteTable":
		return "rtb-" + h, state, nil
	case "aws:ec2/routeTableAssociation:RouteTableAssociation":
		return "rtbassoc-" + h, state, nil
	case "aws:ec2/eip:Eip":
		set("publicIp", fmt.Sprintf("203.0.113.%d", 1+int(h[0])%250))
		return "eipalloc-" + h, state, nil
	case "aws:ec2/natGateway:NatGateway":
		return "nat-" + h, state, nil
	case "aws:iam/role:Role":
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:role/%s", AccountID, name))
		return name, state, nil
	case "aws:iam/policy:Policy":
		arn := fmt.Sprintf("arn:aws:iam::%s:policy/%s", AccountID, name)
		set("name", name)
		set("arn", arn)
		return arn, state, nil
	case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
		return name + "-" + HexOf(8, name), state, nil
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		arn := fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", AccountID, strings.TrimPrefix(str("url"), "https://"))
		set("arn", arn)
		return arn, state, nil
	case "aws:acm/certificate:Certificate":
		arn := c.arn("acm", "certificate/"+UUIDOf(name))
		set("arn", arn)
		if domain := str("domainName"); domain != "" {
			set("domainValidationOptions", validationOptions(domain, inputs))
		}
		return arn, state, nil
	case "aws:acm/certificateValidation:CertificateValidation":
		return "2026-01-01 00:00:00 +0000 UTC", state, nil
	case "aws:route53/record:Record":
		fqdn := strings.TrimSuffix(str("name"), ".")
		set("fqdn", fqdn)
		return fmt.Sprintf("%s_%s_%s", str("zoneId"), fqdn, str("type")), state, nil
	case "aws:eks/cluster:Cluster":
		cluster := str("name")
		ep := Endpoint{
			URL:    fmt.Sprintf("https://%s.gr7.%s.eks.amazonaws.com", strings.ToUpper(HexOf(32, cluster)), c.Region),
			CAData: "LS0tLS1CRUdJTi...",
		}
		if c.ClusterEndpoint != nil {
			ep = c.ClusterEndpoint(cluster)
		}
		set("arn", c.arn("eks", "cluster/"+cluster))
		// EKS makes the cluster security group, which the managed nodes carry.
		vpcConfig := map[string]any{}
		if v, ok := inputs["vpcConfig"]; ok && v.IsObject() {
			vpcConfig = v.ObjectValue().Mappable()
		}
		vpcConfig["clusterSecurityGroupId"] = "sg-" + HexOf(17, "eks-cluster-sg", cluster)
		set("vpcConfig", vpcConfig)
		set("endpoint", ep.URL)
		set("certificateAuthority", map[string]any{"data": ep.CAData})
		set("identities", []any{map[string]any{"oidcs": []any{map[string]any{
			"issuer": fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/%s", c.Region, strings.ToUpper(HexOf(32, cluster))),
		}}}})
		set("status", "ACTIVE")
		return cluster, state, nil
	case "aws:eks/nodeGroup:NodeGroup":
		// The ID is CLUSTER:NODEGROUP (terraform-provider-aws, internal/service/eks/node_group.go).
		cluster, group := str("clusterName"), str("nodeGroupName")
		set("arn", c.arn("eks", fmt.Sprintf("nodegroup/%s/%s/%s", cluster, group, UUIDOf(cluster, group))))
		set("status", "ACTIVE")
		return cluster + ":" + group, state, nil
	case "aws:eks/addon:Addon":
		// The ID is CLUSTER:ADDON; an unpinned add-on gets EKS's default version.
		cluster, addon := str("clusterName"), str("addonName")
		set("arn", c.arn("eks", fmt.Sprintf("addon/%s/%s/%s", cluster, addon, UUIDOf(cluster, addon))))
		if str("addonVersion") == "" {
			set("addonVersion", "v1.0.0-eksbuild.1")
		}
		return cluster + ":" + addon, state, nil
	case "aws:eks/podIdentityAssociation:PodIdentityAssociation":
		// The ID is the association's (terraform-provider-aws,
		// internal/service/eks/pod_identity_association.go: data.ID = data.AssociationID).
		cluster := str("clusterName")
		id := "a-" + HexOf(17, cluster, str("namespace"), str("serviceAccount"))
		set("associationId", id)
		set("associationArn", c.arn("eks", fmt.Sprintf("podidentityassociation/%s/%s", cluster, id)))
		set("externalId", UUIDOf(cluster, id))
		set("disableSessionTags", false)
		return id, state, nil
	case "aws:eks/accessEntry:AccessEntry":
		cluster, principal := str("clusterName"), str("principalArn")
		set("accessEntryArn", c.arn("eks", fmt.Sprintf("access-entry/%s/%s", cluster, UUIDOf(cluster, principal))))
		return cluster + ":" + principal, state, nil
	case "aws:eks/accessPolicyAssociation:AccessPolicyAssociation":
		return str("clusterName") + "#" + str("principalArn") + "#" + str("policyArn"), state, nil
	case "aws:ec2/securityGroup:SecurityGroup":
		id := "sg-" + h
		set("arn", c.arn("ec2", "security-group/"+id))
		set("ownerId", AccountID)
		return id, state, nil
	case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
		id := "sgr-" + h
		set("arn", c.arn("ec2", "security-group-rule/"+id))
		set("securityGroupRuleId", id)
		return id, state, nil
	case "aws:rds/subnetGroup:SubnetGroup":
		set("arn", c.arn("rds", "subgrp:"+str("name")))
		return str("name"), state, nil
	case "aws:rds/parameterGroup:ParameterGroup":
		set("arn", c.arn("rds", "pg:"+str("name")))
		return str("name"), state, nil
	case "aws:rds/instance:Instance":
		return c.rdsInstance(inputs, state)
	case "random:index/randomId:RandomId":
		n := 8
		if v, ok := inputs["byteLength"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		raw, _ := hex.DecodeString(HexOf(2*n, "id", name)) // HexOf gives hex digits
		set("hex", hex.EncodeToString(raw))
		set("b64Std", base64.StdEncoding.EncodeToString(raw))
		set("b64Url", base64.RawURLEncoding.EncodeToString(raw))
		set("dec", new(big.Int).SetBytes(raw).String())
		return base64.RawURLEncoding.EncodeToString(raw), state, nil
	case "random:index/randomPassword:RandomPassword":
		state["result"] = resource.MakeSecret(resource.NewProperty(HexOf(32, "password", name)))
		return "none", state, nil
	}
	return "", nil, &UnknownError{Kind: "resource type", Token: typ}
}

// rdsInstance is what RDS and the provider answer for a DB instance: its ID is the
// DbiResourceId (terraform-provider-aws v5 internal/service/rds/instance.go, d.SetId), its
// endpoint address:port, its address <identifier>.<account and region hash>.<region>.rds.amazonaws.com.
func (c Cloud) rdsInstance(inputs, state resource.PropertyMap) (string, resource.PropertyMap, error) {
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	id := String(inputs, "identifier")
	port := 5432
	if v, ok := inputs["port"]; ok && v.IsNumber() {
		port = int(v.NumberValue())
	}
	address := fmt.Sprintf("%s.%s.%s.rds.amazonaws.com", id, HexOf(12, "rds", AccountID, c.Region), c.Region)
	resourceID := "db-" + strings.ToUpper(HexOf(26, "rds-resource", id))
	set("address", address)
	set("endpoint", fmt.Sprintf("%s:%d", address, port))
	set("port", port)
	set("arn", c.arn("rds", "db:"+id))
	set("resourceId", resourceID)
	set("engineVersionActual", String(inputs, "engineVersion"))
	set("status", "available")
	return resourceID, state, nil
}

// validationOptions are ACM's DNS validation records: *.D and D share one record.
func validationOptions(domain string, inputs resource.PropertyMap) []any {
	base := strings.TrimPrefix(domain, "*.")
	record := map[string]any{
		"resourceRecordName":  "_" + HexOf(32, base) + "." + base + ".",
		"resourceRecordType":  "CNAME",
		"resourceRecordValue": "_" + HexOf(32, "value", base) + "." + HexOf(10, "acm") + ".acm-validations.aws.",
	}
	names := []string{domain}
	if sans, ok := inputs["subjectAlternativeNames"]; ok && sans.IsArray() {
		for _, s := range sans.ArrayValue() {
			names = append(names, s.StringValue())
		}
	}
	var options []any
	for _, n := range names {
		o := map[string]any{"domainName": n}
		for k, v := range record {
			o[k] = v
		}
		options = append(options, o)
	}
	return options
}

// Invoke answers a provider function.
func (c Cloud) Invoke(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
	str := func(k string) string { return String(args, k) }
	switch token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		excluded := map[string]bool{}
		if v, ok := args["excludeZoneIds"]; ok && v.IsArray() {
			for _, id := range v.ArrayValue() {
				excluded[id.StringValue()] = true
			}
		}
		var names, ids []any
		for _, z := range Zones(c.Region) {
			if !excluded[z.ID] {
				names, ids = append(names, z.Name), append(ids, z.ID)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": c.Region, "names": names, "zoneIds": ids}), nil
	case "aws:eks/getAddonVersion:getAddonVersion":
		mostRecent := false
		if v, ok := args["mostRecent"]; ok && v.IsBool() {
			mostRecent = v.BoolValue()
		}
		version, err := AddonVersion(str("addonName"), str("kubernetesVersion"), mostRecent)
		if err != nil {
			return nil, err
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": str("addonName"), "addonName": str("addonName"), "kubernetesVersion": str("kubernetesVersion"),
			"mostRecent": mostRecent, "version": version,
		}), nil
	case "aws:route53/getZone:getZone":
		zone := ZoneID(str("name"))
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": zone, "zoneId": zone, "name": str("name"), "privateZone": false,
			"arn": "arn:aws:route53:::hostedzone/" + zone,
		}), nil
	case "aws:lb/getHostedZoneId:getHostedZoneId", "aws:elb/getHostedZoneId:getHostedZoneId":
		region := str("region")
		if region == "" {
			region = c.Region
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": ALBZone(region)}), nil
	case "aws:ec2/getVpc:getVpc":
		id := str("id")
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "cidrBlock": "10.100.0.0/16", "arn": c.arn("ec2", "vpc/"+id), "state": "available",
		}), nil
	case "aws:ec2/getSubnet:getSubnet":
		// Existing subnets lie in a secondary CIDR of the VPC getVpc describes, as they may, and
		// in the zone the last character of their ID picks (IDs ending in consecutive digits
		// are in different zones).
		id := str("id")
		zone := c.Region + "a"
		if id != "" {
			zone = c.Region + string(rune('a'+int(id[len(id)-1])%6))
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "vpcId": "vpc-" + HexOf(17, "vpc", id), "arn": c.arn("ec2", "subnet/"+id),
			"availabilityZone": zone,
			"cidrBlock":        fmt.Sprintf("100.64.%d.0/24", int(HexOf(2, "subnet", id)[0])%16*16),
			"ipv6CidrBlock":    "2600:1f18:" + HexOf(4, id) + ":" + HexOf(2, "subnet6", id) + "00::/64",
		}), nil
	}
	return nil, &UnknownError{Kind: "function", Token: token}
}

// AddonVersions are the add-on versions EKS publishes for each Kubernetes version this
// catalogue knows: the default (what EKS installs when none is asked for) and the latest. A
// small catalogue of its own, shaped like DescribeAddonVersions' answer; the versions are
// invented in EKS's form, the rule they encode (each Kubernetes minor has its own) is EKS's.
var AddonVersions = map[string]map[string]struct{ Default, Latest string }{
	"vpc-cni": {
		"1.33": {"v1.19.6-eksbuild.1", "v1.20.1-eksbuild.1"},
		"1.34": {"v1.20.1-eksbuild.1", "v1.20.4-eksbuild.2"},
		"1.35": {"v1.20.4-eksbuild.2", "v1.21.0-eksbuild.1"},
		"1.36": {"v1.21.0-eksbuild.1", "v1.21.0-eksbuild.1"},
	},
	"kube-proxy": {
		"1.33": {"v1.33.3-eksbuild.4", "v1.33.5-eksbuild.2"},
		"1.34": {"v1.34.0-eksbuild.2", "v1.34.1-eksbuild.2"},
		"1.35": {"v1.35.0-eksbuild.1", "v1.35.0-eksbuild.3"},
		"1.36": {"v1.36.0-eksbuild.1", "v1.36.0-eksbuild.1"},
	},
	"coredns": {
		"1.33": {"v1.12.1-eksbuild.2", "v1.12.3-eksbuild.1"},
		"1.34": {"v1.12.3-eksbuild.1", "v1.12.4-eksbuild.1"},
		"1.35": {"v1.13.1-eksbuild.1", "v1.13.1-eksbuild.1"},
		"1.36": {"v1.13.2-eksbuild.1", "v1.13.2-eksbuild.1"},
	},
	"eks-pod-identity-agent": {
		"1.33": {"v1.3.7-eksbuild.2", "v1.3.8-eksbuild.2"},
		"1.34": {"v1.3.8-eksbuild.2", "v1.3.9-eksbuild.3"},
		"1.35": {"v1.3.9-eksbuild.3", "v1.3.10-eksbuild.1"},
		"1.36": {"v1.3.10-eksbuild.1", "v1.3.10-eksbuild.1"},
	},
	"aws-ebs-csi-driver": {
		"1.33": {"v1.46.0-eksbuild.1", "v1.50.1-eksbuild.1"},
		"1.34": {"v1.48.0-eksbuild.2", "v1.50.1-eksbuild.1"},
		"1.35": {"v1.50.1-eksbuild.1", "v1.52.0-eksbuild.1"},
		"1.36": {"v1.52.0-eksbuild.1", "v1.52.0-eksbuild.1"},
	},
}

// AddonVersion is the version EKS publishes of an add-on for a Kubernetes version: its
// default, or its latest when mostRecent. An add-on or a version EKS has none for is an error,
// as GetAddonVersion's lookup finds nothing.
func AddonVersion(addon, kubernetesVersion string, mostRecent bool) (string, error) {
	v, ok := AddonVersions[addon][kubernetesVersion]
	if !ok {
		return "", fmt.Errorf("EKS publishes no version of add-on %q for Kubernetes %q", addon, kubernetesVersion)
	}
	if mostRecent {
		return v.Latest, nil
	}
	return v.Default, nil
}

// Zone is an availability zone: its name, which differs per account, and its ID.
type Zone struct{ Name, ID string }

// Zones are a region's four availability zones as this account sees them. Names map to IDs
// differently in each account; here the second name of us-east-1, us-west-1 and ca-central-1
// is the one zone there that EKS does not support (use1-az3, usw1-az2, cac1-az3), so that a
// program taking the first names would put a cluster subnet where CreateCluster refuses it.
func Zones(region string) []Zone {
	code := regionCode(region)
	order := []int{1, 3, 2, 4}
	if region == "us-west-1" {
		order = []int{1, 2, 3, 4}
	}
	out := make([]Zone, len(order))
	for i, n := range order {
		out[i] = Zone{Name: region + string(rune('a'+i)), ID: fmt.Sprintf("%s-az%d", code, n)}
	}
	return out
}

// regionCode is the prefix of a region's zone IDs: us-east-1 → use1, ap-northeast-1 → apne1.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	direction := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}[parts[1]]
	return parts[0] + direction + parts[2]
}

// ZoneID is the Route53 hosted zone ID of a zone name.
func ZoneID(zoneName string) string { return "Z" + strings.ToUpper(HexOf(20, zoneName)) }

// String is a string-valued property of m, or "".
func String(m resource.PropertyMap, key string) string {
	v, ok := m[resource.PropertyKey(key)]
	if ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	if ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}
