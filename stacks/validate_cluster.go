package stacks

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// The EKS cluster: its name, versions, nodes and API endpoint access.

func (c Config) validateCluster(p *Problems) {
	cl := c.Cluster
	if cl.Name != "" {
		checkClusterName(p, cl.Name, "")
	}
	checkPinned(p, key("kubernetesVersion"), cl.KubernetesVersion, k8sVersion, "an EKS Kubernetes version such as 1.34")
	if !cl.AutoMode() { // Auto Mode's nodes: validateClusterMode, and the managed keys refused
		validateManagedNodes(p, cl)
	}
	for _, a := range []struct{ key, value, example string }{
		{"podIdentityAgentVersion", cl.PodIdentityAgentVersion, "v1.3.8-eksbuild.2"},
		{"ebsCsiDriverVersion", cl.EBSCSIDriverVersion, "v1.48.0-eksbuild.1"},
		{"vpcCniVersion", cl.VPCCNIVersion, "v1.20.4-eksbuild.1"},
		{"corednsVersion", cl.CoreDNSVersion, "v1.12.3-eksbuild.1"},
		{"kubeProxyVersion", cl.KubeProxyVersion, "v1.34.0-eksbuild.2"},
	} {
		if a.value != "" && !addonVersion.MatchString(a.value) {
			p.add(key(a.key), "expected an EKS add-on version such as %s, or empty for EKS's default, got %q", a.example, a.value)
		}
	}
	// The network policy agent, which enforces the Admin API's NetworkPolicy, came with
	// v1.14.0-eksbuild.3 (EKS User Guide, "Restrict pod network traffic with Kubernetes
	// network policies").
	if m := addonVersion.FindStringSubmatch(cl.VPCCNIVersion); m != nil {
		v := versionParts(m[1] + "." + m[2])
		if compareVersions(v, []int{1, 14, 0, 3}) < 0 {
			p.add(key("vpcCniVersion"), "%s cannot enforce network policies: expected v1.14.0-eksbuild.3 or later", cl.VPCCNIVersion)
		}
	}
	c.validateWorkloadIdentity(p)
	c.validateClusterMode(p)
	if _, problems := parseAccessEntries(cl.AccessEntries); len(problems) > 0 {
		*p = append(*p, problems...)
	}
	if !cl.EndpointPublicAccess && !cl.EndpointPrivateAccess {
		p.add(key("endpointPublicAccess"), "the API endpoint needs public or private access (or both)")
	}
	if cl.EndpointPublicAccess && len(cl.PublicAccessCIDRs) == 0 {
		p.add(key("publicAccessCidrs"), "expected at least one CIDR while endpointPublicAccess is true")
	}
	checkCIDRs(p, key("publicAccessCidrs"), cl.PublicAccessCIDRs)
	checkPublicAccessCIDRs(p, cl.PublicAccessCIDRs)
	c.checkKubeProxySkew(p)
}

// maxClusterName is the longest cluster name whose derived names fit: the cluster's IAM roles
// are auto-named NAME-cluster-<7 hex> and NAME-vpc-cni-<7 hex>, and IAM role names have at most
// 64 characters (the AWS provider's auto-naming refuses longer ones); the node group,
// NAME-nodes-<7 hex>, has at most 63 (EKS CreateNodegroup).
const maxClusterName = 64 - len("-vpc-cni-") - 7

// checkClusterName checks the effective cluster name: the configured one (stack empty), or the
// default one made from the stack's name.
func checkClusterName(p *Problems, name, stack string) {
	from := ""
	if stack != "" {
		from = fmt.Sprintf("the default cluster name (from stack %q) ", stack)
	}
	switch {
	case !clusterName.MatchString(name):
		p.add(key("clusterName"), "%sexpected letters, digits, '-' or '_' starting with a letter or digit, got %q", from, name)
	case len(name) > maxClusterName && stack == "":
		p.add(key("clusterName"), "%q is %d characters; at most %d fit the IAM role and node group names made from it", name, len(name), maxClusterName)
	case len(name) > maxClusterName:
		p.add(key("clusterName"), "%s%q is %d characters; at most %d fit the IAM role and node group names made from it: set clusterName, or use a stack name of at most %d characters",
			from, name, len(name), maxClusterName, maxClusterName-len(Project)-1)
	}
}

// withStack adds to err, the outcome of validating cfg, the problems that depend on the stack
// cfg deploys: the cluster name defaults to one made from the stack's name.
func withStack(err error, cfg Config, stack string) error {
	var extra Problems
	if cfg.Cluster.Name == "" {
		checkClusterName(&extra, cfg.ClusterName(stack), stack)
	}
	var ve *ValidationError
	switch {
	case len(extra) == 0:
		return err
	case err == nil:
		return &ValidationError{Problems: extra}
	case errors.As(err, &ve):
		return &ValidationError{Problems: append(append(Problems{}, ve.Problems...), extra...)}
	}
	return err
}

// maxPublicAccessCIDRs is EKS's quota of public endpoint ranges per cluster, which cannot be
// raised (Amazon EKS service quotas, "Public endpoint access CIDR ranges per cluster").
const maxPublicAccessCIDRs = 40

// checkPublicAccessCIDRs applies EKS's rules for the public endpoint's allowlist: IPv4 ranges
// only on an IPv4 cluster ("You can't add IPv6 CIDR blocks to the public endpoint of an IPv4
// cluster"), and no reserved addresses ("The block cannot include reserved addresses", EKS User
// Guide, cluster endpoint access); a private range could match no client anyway, since clients
// reach a public endpoint from public addresses.
func checkPublicAccessCIDRs(p *Problems, cidrs []string) {
	k := key("publicAccessCidrs")
	if len(cidrs) > maxPublicAccessCIDRs {
		p.add(k, "%d ranges: EKS allows at most %d", len(cidrs), maxPublicAccessCIDRs)
	}
	for _, s := range cidrs {
		pr, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			// checkCIDRs reports it.
		case !pr.Addr().Is4():
			p.add(k, "%s is an IPv6 range: the cluster is IPv4, and EKS accepts IPv4 ranges only for its public endpoint", s)
		case pr.Bits() == 0 && len(cidrs) > 1:
			p.add(k, "0.0.0.0/0 admits every address, so the other ranges restrict nothing: list either 0.0.0.0/0 alone or only your ranges")
		case pr.Bits() > 0 && reservedIPv4(pr):
			p.add(k, "%s is a private or reserved range, which EKS refuses for the public endpoint (and which no client on the internet comes from): list the public addresses of your networks and of whatever runs pulumi up, or use endpointPrivateAccess", s)
		}
	}
}

// reservedIPv4 reports whether a range lies inside a private, shared, loopback, link-local,
// multicast or otherwise reserved IPv4 block (RFC 6890's special-purpose registry).
func reservedIPv4(pr netip.Prefix) bool {
	for _, r := range reservedIPv4Blocks {
		if r.Bits() <= pr.Bits() && r.Contains(pr.Addr()) {
			return true
		}
	}
	return false
}

var reservedIPv4Blocks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// checkKubeProxySkew holds kube-proxy to Kubernetes's version skew policy, which EKS applies to
// it ("Kube-proxy on an Amazon EKS cluster has the same compatibility and skew policy as
// Kubernetes"): never newer than the API server, at most three minor versions older. EKS
// offers each Kubernetes version the kube-proxy builds of its own minor version.
func (c Config) checkKubeProxySkew(p *Problems) {
	cl := c.Cluster
	m := addonVersion.FindStringSubmatch(cl.KubeProxyVersion)
	if m == nil || !k8sVersion.MatchString(cl.KubernetesVersion) {
		return
	}
	proxy, cluster := versionParts(m[1]), versionParts(cl.KubernetesVersion)
	if proxy[0] != cluster[0] || proxy[1] > cluster[1] || proxy[1] < cluster[1]-3 {
		p.add(key("kubeProxyVersion"), "%s does not fit Kubernetes %s: kube-proxy is never newer than the cluster nor more than three minor versions older; use a v%s.x-eksbuild.N build",
			cl.KubeProxyVersion, cl.KubernetesVersion, cl.KubernetesVersion)
	}
}

// podIdentityAddons are the add-ons that call AWS, and the first version of each that takes
// its role through EKS Pod Identity (EKS User Guide, "Pod Identity Support Reference").
var podIdentityAddons = []struct {
	key     string
	version func(ClusterConfig) string
	minimum []int
	first   string
}{
	{"vpcCniVersion", func(c ClusterConfig) string { return c.VPCCNIVersion }, []int{1, 15, 5, 1}, "v1.15.5-eksbuild.1"},
	{"ebsCsiDriverVersion", func(c ClusterConfig) string { return c.EBSCSIDriverVersion }, []int{1, 26, 0, 1}, "v1.26.0-eksbuild.1"},
}

func (c Config) validateWorkloadIdentity(p *Problems) {
	cl := c.Cluster
	switch cl.WorkloadIdentity {
	case components.PodIdentity:
	case components.IRSA:
		return
	default:
		p.add(key("workloadIdentity"), "expected %q (EKS Pod Identity) or %q (IAM roles for service accounts, for accounts that cannot use Pod Identity), got %q",
			components.PodIdentity, components.IRSA, cl.WorkloadIdentity)
		return
	}
	for _, a := range podIdentityAddons {
		m := addonVersion.FindStringSubmatch(a.version(cl))
		if m != nil && compareVersions(versionParts(m[1]+"."+m[2]), a.minimum) < 0 {
			p.add(key(a.key), "%s cannot take its role through EKS Pod Identity (workloadIdentity %s): expected %s or later, or workloadIdentity %s",
				a.version(cl), components.PodIdentity, a.first, components.IRSA)
		}
	}
}

func (c Config) validateClusterMode(p *Problems) {
	cl := c.Cluster
	switch cl.Mode {
	case ClusterManaged, ClusterAuto:
	default:
		p.add(key("clusterMode"), "expected %q (a managed node group and the program's add-ons and load balancer controller) or %q (EKS Auto Mode), got %q",
			ClusterManaged, ClusterAuto, cl.Mode)
		return
	}
	if cl.AutoNodeArchitecture != components.AMD64 && cl.AutoNodeArchitecture != components.ARM64 {
		p.add(key("autoNodeArchitecture"), "expected %s or %s, got %q", components.AMD64, components.ARM64, cl.AutoNodeArchitecture)
	}
	if cl.AutoNodeCapacityType != components.OnDemand && cl.AutoNodeCapacityType != components.Spot {
		p.add(key("autoNodeCapacityType"), "expected %s or %s (EKS Auto Mode's capacity types), got %q", components.OnDemand, components.Spot, cl.AutoNodeCapacityType)
	}
}

// validateManagedNodes checks the managed node group's instance type, AMI and sizes.
func validateManagedNodes(p *Problems, cl ClusterConfig) {
	m := instanceType.FindStringSubmatch(cl.NodeInstanceType)
	if m == nil {
		p.add(key("nodeInstanceType"), "expected an EC2 instance type such as m6i.large, got %q", cl.NodeInstanceType)
	}
	if !amiTypes[cl.NodeAMIType] {
		p.add(key("nodeAmiType"), "expected an AL2023 AMI type (AL2023_x86_64_STANDARD, AL2023_ARM_64_STANDARD, AL2023_x86_64_NVIDIA, AL2023_x86_64_NEURON), got %q", cl.NodeAMIType)
	} else if m != nil && gravitonFamily.MatchString(m[1]) != strings.Contains(cl.NodeAMIType, "ARM") {
		p.add(key("nodeAmiType"), "%s does not run on instance type %s (arm64 types need AL2023_ARM_64_STANDARD, x86_64 types an x86_64 AMI)", cl.NodeAMIType, cl.NodeInstanceType)
	}
	if cl.NodeMinSize < 1 {
		p.add(key("nodeMinSize"), "expected at least 1, got %d", cl.NodeMinSize)
	}
	if cl.NodeDesiredSize < cl.NodeMinSize || cl.NodeDesiredSize > cl.NodeMaxSize {
		p.add(key("nodeDesiredSize"), "expected nodeMinSize <= nodeDesiredSize <= nodeMaxSize, got %d <= %d <= %d", cl.NodeMinSize, cl.NodeDesiredSize, cl.NodeMaxSize)
	}
	if cl.NodeMaxSize < cl.NodeMinSize {
		p.add(key("nodeMaxSize"), "expected at least nodeMinSize (%d), got %d", cl.NodeMinSize, cl.NodeMaxSize)
	}
}
