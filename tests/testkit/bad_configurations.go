package testkit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// BadConfiguration is a change to the dev stack's configuration that validation must refuse
// with exactly one problem: Key's, saying Message.
type BadConfiguration struct {
	Name string
	// Set holds the values changed, as a stack file holds them (arrays as JSON).
	Set     map[string]string
	Key     string
	Message string
}

// Unset are the keys of the dev stack the case removes: the managed node group's, for the
// EKS Auto Mode cases.
func (c BadConfiguration) Unset() []string {
	if c.Set["kong-alb-eks:clusterMode"] == "auto" {
		return managedNodeKeys
	}
	return nil
}

// ApplyTo changes a stack's configuration as the case says.
func (c BadConfiguration) ApplyTo(cfg map[string]string) {
	for _, k := range c.Unset() {
		delete(cfg, k)
	}
	for k, v := range c.Set {
		cfg[k] = v
	}
}

// managedNodeKeys are the dev stack's node group keys, which EKS Auto Mode refuses.
var managedNodeKeys = []string{"kong-alb-eks:nodeInstanceType", "kong-alb-eks:nodeMinSize", "kong-alb-eks:nodeDesiredSize", "kong-alb-eks:nodeMaxSize"}

// BadConfigurations are the mistakes, careless or hostile, that synth, the program under the
// engine and the portal all refuse, each with a message naming the key.
func BadConfigurations(t testing.TB) []BadConfiguration {
	t.Helper()
	const p = "kong-alb-eks:"
	_, key := SelfSigned(t, "*.eks.example.com", "eks.example.com")
	return []BadConfiguration{
		{"one-label domain", map[string]string{p + "domain": "localhost"}, p + "domain", "at least two labels"},
		{"domain outside the zone", map[string]string{p + "domain": "eks.example.org"}, p + "domain", "not inside the hosted zone"},
		{"no region", map[string]string{"aws:region": "us-east"}, "aws:region", "expected an AWS region"},
		{"VPC CIDR does not parse", map[string]string{p + "vpcCidr": "10.0.0.0/33"}, p + "vpcCidr", "expected an IPv4 CIDR"},
		{"subnet outside the VPC", map[string]string{p + "publicSubnetCidrs": `["10.1.0.0/22","10.0.4.0/22"]`}, p + "publicSubnetCidrs", "not inside the VPC CIDR"},
		{"overlapping subnets", map[string]string{p + "privateSubnetCidrs": `["10.0.4.0/24","10.0.96.0/19"]`}, p + "privateSubnetCidrs", "overlaps"},
		{"min above desired", map[string]string{p + "nodeMinSize": "3"}, p + "nodeDesiredSize", "nodeMinSize <= nodeDesiredSize <= nodeMaxSize"},
		{"node size not a number", map[string]string{p + "nodeMaxSize": "three"}, p + "nodeMaxSize", "expected an integer"},
		{"unpinned Kubernetes", map[string]string{p + "kubernetesVersion": "latest"}, p + "kubernetesVersion", "versions are pinned"},
		{"unpinned chart", map[string]string{p + "kongChartVersion": ""}, p + "kongChartVersion", "versions are pinned"},
		{"chart version range", map[string]string{p + "kongChartVersion": "^3.0"}, p + "kongChartVersion", "an exact chart version"},
		{"chart version wildcard", map[string]string{p + "certManagerChartVersion": "1.x"}, p + "certManagerChartVersion", "an exact chart version"},
		{"moving Kong tag", map[string]string{p + "kongVersion": "3.10"}, p + "kongVersion", "not a moving tag"},
		{"moving PostgreSQL tag", map[string]string{p + "postgresImageTag": "13"}, p + "postgresImageTag", "not a moving tag"},
		{"spaces around a value", map[string]string{p + "nodeInstanceType": " m6i.large"}, p + "nodeInstanceType", "no spaces around the value"},
		{"a CIDR listed twice", map[string]string{p + "adminAllowedCidrs": `["203.0.113.0/24","203.0.113.0/24"]`}, p + "adminAllowedCidrs", "is listed twice"},
		{"an empty list item", map[string]string{p + "publicSubnetCidrs": `["10.0.0.0/22",""]`}, p + "publicSubnetCidrs", "item 1 is empty"},
		{"a list item with spaces", map[string]string{p + "privateSubnetCidrs": `["10.0.64.0/19"," 10.0.96.0/19"]`}, p + "privateSubnetCidrs", "item 1 has spaces around it"},
		{"IPv6 inbound range on an IPv4 ALB", map[string]string{p + "albInboundCidrs": `["2001:db8::/32"]`}, p + "albInboundCidrs", "the ALB is IPv4-only"},
		{"misspelt key", map[string]string{p + "nodeInstanceTyp": "m6i.large"}, p + "nodeInstanceTyp", "did you mean kong-alb-eks:nodeInstanceType?"},
		{"key in the wrong case", map[string]string{p + "NodeInstanceType": "m6i.large"}, p + "NodeInstanceType", "(keys are case-sensitive): did you mean kong-alb-eks:nodeInstanceType?"},
		{"key that is nothing like one", map[string]string{p + "flux": "on"}, p + "flux", "unknown configuration key (Pulumi.yaml lists the keys)"},
		{"import without a body", map[string]string{p + "certificateMode": "import", p + "certificatePrivateKey": key}, p + "certificateBody", `required when certificateMode is "import"`},
		{"two certificate modes", map[string]string{p + "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}, p + "certificateArn", "exactly one certificate mode"},
		{"certificate in another region", map[string]string{p + "certificateMode": "arn", p + "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}, p + "certificateArn", "its own region"},
		{"data plane newer than control plane", map[string]string{p + "kongDataPlaneVersion": "3.11.0.0"}, p + "kongDataPlaneVersion", "upgrade the control plane first"},
		{"admin open to the world", map[string]string{p + "adminAllowedCidrs": `["0.0.0.0/0"]`}, p + "adminAllowedCidrs", "whole internet"},
		{"unknown NAT layout", map[string]string{p + "natGateways": "two"}, p + "natGateways", `expected "one-per-az" or "single"`},
		{"unknown IP address type", map[string]string{p + "ipAddressType": "ipv6"}, p + "ipAddressType", `expected "ipv4" or "dualstack"`},
		{"external Postgres without password", map[string]string{p + "postgresHost": "kong.abc123.us-east-1.rds.amazonaws.com"}, p + "postgresPassword", "required with database external (postgresHost)"},
		{"arm instance, x86 AMI", map[string]string{p + "nodeInstanceType": "m7g.large"}, p + "nodeAmiType", "does not run on instance type m7g.large"},
		{"amd64 demo on Graviton nodes", map[string]string{p + "nodeInstanceType": "m7g.large", p + "nodeAmiType": "AL2023_ARM_64_STANDARD"}, p + "demoImage", "built for amd64 but the nodes are arm64"},
		{"arm64 demo on x86 nodes", map[string]string{p + "demoImage": "gcr.io/kuar-demo/kuard-arm64:1"}, p + "demoImage", "built for ARM but the nodes are x86_64"},
		{"VPC CNI without network policies", map[string]string{p + "vpcCniVersion": "v1.14.0-eksbuild.2", p + "workloadIdentity": "irsa"}, p + "vpcCniVersion", "cannot enforce network policies"},
		{"VPC CNI without Pod Identity", map[string]string{p + "vpcCniVersion": "v1.15.4-eksbuild.1"}, p + "vpcCniVersion", "cannot take its role through EKS Pod Identity"},
		{"EBS CSI driver without Pod Identity", map[string]string{p + "ebsCsiDriverVersion": "v1.25.0-eksbuild.1"}, p + "ebsCsiDriverVersion", "expected v1.26.0-eksbuild.1 or later"},
		{"Auto Mode with a pinned VPC CNI", map[string]string{p + "clusterMode": "auto", p + "vpcCniVersion": "v1.20.4-eksbuild.1"}, p + "vpcCniVersion", "EKS Auto Mode runs the networking"},
		{"Auto Mode with a node instance type", map[string]string{p + "clusterMode": "auto", p + "nodeInstanceType": "m7g.large"}, p + "nodeInstanceType", "EKS Auto Mode picks instances itself"},
		{"Auto Mode with IRSA", map[string]string{p + "clusterMode": "auto", p + "workloadIdentity": "irsa"}, p + "workloadIdentity", "nothing the program runs needs an IAM role"},
		{"Auto Mode with the controller's chart", map[string]string{p + "clusterMode": "auto", p + "loadBalancerControllerChartVersion": "3.4.3"}, p + "loadBalancerControllerChartVersion", "built-in load balancing"},
		{"Auto Mode nodes on a managed cluster", map[string]string{p + "autoNodeArchitecture": "arm64"}, p + "autoNodeArchitecture", "with clusterMode auto"},
		{"unknown cluster mode", map[string]string{p + "clusterMode": "fargate"}, p + "clusterMode", "expected \"managed\""},
		{"Auto Mode capacity type", map[string]string{p + "clusterMode": "auto", p + "autoNodeCapacityType": "reserved"}, p + "autoNodeCapacityType", "expected on-demand or spot"},
		{"amd64 demo on Auto Mode's Graviton nodes", map[string]string{p + "clusterMode": "auto", p + "autoNodeArchitecture": "arm64"}, p + "demoImage", "built for amd64 but the nodes are arm64 (autoNodeArchitecture arm64)"},
		{"unknown workload identity", map[string]string{p + "workloadIdentity": "kiam"}, p + "workloadIdentity", "expected \"pod-identity\""},
		{"agent pinned with IRSA", map[string]string{p + "workloadIdentity": "irsa", p + "podIdentityAgentVersion": "v1.3.8-eksbuild.2"}, p + "podIdentityAgentVersion", "IRSA needs no agent"},
		{"agent version range", map[string]string{p + "podIdentityAgentVersion": "1.3"}, p + "podIdentityAgentVersion", "expected an EKS add-on version"},
		{"add-on version range", map[string]string{p + "corednsVersion": "1.12"}, p + "corednsVersion", "expected an EKS add-on version"},
		{"access entry for a role session", map[string]string{p + "accessEntries": `["arn:aws:sts::123456789012:assumed-role/admins/alice AmazonEKSViewPolicy"]`}, p + "accessEntries", "is a role session"},
		{"access entry with an unknown policy", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AdministratorAccess"]`}, p + "accessEntries", "expected an EKS access policy"},
		{"access entry granted twice", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AmazonEKSViewPolicy","arn:aws:iam::123456789012:role/ops AmazonEKSViewPolicy kong"]`}, p + "accessEntries", "twice"},
		{"access entry with a bad namespace", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AmazonEKSEditPolicy Kong"]`}, p + "accessEntries", "expected namespace names"},
		{"existing VPC with ranges for a new one", map[string]string{p + "existingVpcId": "vpc-0a1b2c3d4e5f67890",
			p + "existingPublicSubnetIds": `["subnet-00000000000000001","subnet-00000000000000002"]`, p + "existingPrivateSubnetIds": `["subnet-00000000000000003","subnet-00000000000000004"]`,
			p + "publicSubnetCidrs": `["10.0.0.0/22","10.0.4.0/22","10.0.8.0/22"]`, p + "privateSubnetCidrs": `["10.0.64.0/19","10.0.96.0/19","10.0.128.0/19"]`, p + "natGateways": "one-per-az",
			p + "vpcCidr": "10.1.0.0/16"}, p + "vpcCidr", "only used for a new VPC"},
		{"external-only Postgres setting", map[string]string{p + "postgresUser": "admin"}, p + "postgresUser", "only used with postgresHost"},
		{"bundled-only Postgres setting", map[string]string{p + "postgresHost": "kong.abc123.us-east-1.rds.amazonaws.com", p + "postgresPassword": "x", p + "postgresImageTag": "16.4.0"}, p + "postgresImageTag", "only used for the bundled PostgreSQL"},
		{"endpoint ranges without a public endpoint", map[string]string{p + "endpointPublicAccess": "false", p + "publicAccessCidrs": `["198.51.100.0/24"]`}, p + "publicAccessCidrs", "only used while endpointPublicAccess is true"},
		{"private endpoint range", map[string]string{p + "publicAccessCidrs": `["10.0.0.0/8"]`}, p + "publicAccessCidrs", "private or reserved range"},
		{"IPv6 endpoint range", map[string]string{p + "publicAccessCidrs": `["2001:db8::/32"]`}, p + "publicAccessCidrs", "EKS accepts IPv4 ranges only"},
		{"the world and more", map[string]string{p + "publicAccessCidrs": `["0.0.0.0/0","198.51.100.0/24"]`}, p + "publicAccessCidrs", "the other ranges restrict nothing"},
		{"kube-proxy newer than the cluster", map[string]string{p + "kubeProxyVersion": "v1.35.0-eksbuild.1"}, p + "kubeProxyVersion", "kube-proxy is never newer than the cluster"},
		{"SSL policy in the wrong case", map[string]string{p + "sslPolicy": "ELBSecurityPolicy-tls13-1-2-2021-06"}, p + "sslPolicy", "policy names are case-sensitive"},
		{"unknown SSL policy", map[string]string{p + "sslPolicy": "ELBSecurityPolicy-Strongest"}, p + "sslPolicy", "expected a predefined ALB security policy"},
		{"cluster name too long", map[string]string{p + "clusterName": strings.Repeat("k", 49)}, p + "clusterName", "at most 48 fit"},
		{"control plane release too long", map[string]string{p + "controlPlaneRelease": strings.Repeat("c", 35)}, p + "controlPlaneRelease", "at most 34 characters"},
		{"zone in the wrong case", map[string]string{p + "availabilityZones": `["us-east-1A","us-east-1b"]`}, p + "availabilityZones", "is not a zone name of region"},
		{"Kong in kube-system", map[string]string{p + "kongNamespace": "kube-system"}, p + "kongNamespace", "a namespace Kubernetes creates and owns"},
		{"Kong in cert-manager's namespace", map[string]string{p + "kongNamespace": "cert-manager"}, p + "kongNamespace", "cert-manager's namespace"},
		{"demo in Kong's namespace", map[string]string{p + "kongNamespace": "gateway", p + "demoName": "gateway"}, p + "demoName", "Kong's namespace"},
		{"a kube- namespace", map[string]string{p + "kongNamespace": "kube-kong"}, p + "kongNamespace", "reserved for Kubernetes"},
		{"access entry without a policy", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops"]`}, p + "accessEntries", "expected \"PRINCIPAL_ARN POLICY\""},
		{"Multi-AZ on the bundled database", map[string]string{p + "databaseMultiAz": "true"}, p + "databaseMultiAz", "only used for the RDS instance (database rds)"},
		{"RDS without backups but with deletion protection", map[string]string{p + "database": "rds", p + "databaseBackupRetentionDays": "0"}, p + "databaseBackupRetentionDays", "0 turns automated backups"},
		{"RDS engine Kong does not support", map[string]string{p + "database": "rds", p + "databaseEngineVersion": "13.20"}, p + "databaseEngineVersion", "PostgreSQL 13 is not one the control plane runs on"},
		{"RDS instance class without db.", map[string]string{p + "database": "rds", p + "databaseInstanceClass": "m7g.large"}, p + "databaseInstanceClass", "did you mean db.m7g.large?"},
	}
}

// SpecJSON is a portal's spec body for a stack configuration held as a stack file holds it:
// each value in its JSON type (numbers, booleans, arrays), keys as given.
func SpecJSON(t testing.TB, cfg map[string]string) string {
	t.Helper()
	values := map[string]json.RawMessage{}
	for k, v := range cfg {
		info, known := stacks.LookupKey(k)
		switch {
		case known && info.Kind != stacks.KindString && json.Valid([]byte(v)) && !strings.HasPrefix(v, "\""):
			values[k] = json.RawMessage(v)
		default:
			b, _ := json.Marshal(v)
			values[k] = b
		}
	}
	b, err := json.Marshal(map[string]any{"config": values})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
