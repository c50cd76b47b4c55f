package components_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func newNetwork(args components.NetworkArgs) func(ctx *pulumi.Context) (pulumi.Map, error) {
	return func(ctx *pulumi.Context) (pulumi.Map, error) {
		n, err := components.NewNetwork(ctx, "net", &args)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"vpcId": n.VPCID, "vpcCidr": n.VPCCIDR, "public": n.PublicSubnetIDs, "private": n.PrivateSubnetIDs,
			"publicCidrs": n.PublicSubnetCIDRs}, nil
	}
}

var twoZones = components.NetworkArgs{
	ClusterName:        "demo",
	VPCCIDR:            "10.0.0.0/16",
	PublicSubnetCIDRs:  []string{"10.0.0.0/22", "10.0.4.0/22"},
	PrivateSubnetCIDRs: []string{"10.0.64.0/19", "10.0.96.0/19"},
}

func TestNetworkTagsSubnetsForTheLoadBalancerController(t *testing.T) {
	t.Parallel()
	doc := render(t, newNetwork(twoZones))
	subnets := doc.Find("aws:ec2/subnet:Subnet")
	assertEqual(t, "subnets", len(subnets), 4)
	for _, s := range subnets {
		tags, _ := s.Inputs["tags"].(map[string]any)
		assertEqual(t, s.Name+" cluster tag", tags["kubernetes.io/cluster/demo"], "shared")
		public := strings.Contains(s.Name, "public")
		if public {
			assertEqual(t, s.Name+" elb tag", tags["kubernetes.io/role/elb"], "1")
			assertEqual(t, s.Name+" internal-elb tag", tags["kubernetes.io/role/internal-elb"], nil)
		} else {
			assertEqual(t, s.Name+" internal-elb tag", tags["kubernetes.io/role/internal-elb"], "1")
			assertEqual(t, s.Name+" elb tag", tags["kubernetes.io/role/elb"], nil)
		}
	}
	// The zones come from the region's lookup, one per subnet pair, leaving out the zones EKS
	// refuses: in this account us-east-1b is use1-az3 (answers.Zones).
	assertEqual(t, "zone of public-0", testkit.Named(t, doc, "aws:ec2/subnet:Subnet", "net-public-0").Input("availabilityZone"), "us-east-1a")
	assertEqual(t, "zone of public-1", testkit.Named(t, doc, "aws:ec2/subnet:Subnet", "net-public-1").Input("availabilityZone"), "us-east-1c")
	assertEqual(t, "zone of private-1", testkit.Named(t, doc, "aws:ec2/subnet:Subnet", "net-private-1").Input("availabilityZone"), "us-east-1c")
	assertEqual(t, "NAT gateways (one per zone)", len(doc.Find("aws:ec2/natGateway:NatGateway")), 2)
	// A public NAT gateway needs the VPC's internet gateway attached first.
	for _, nat := range doc.Find("aws:ec2/natGateway:NatGateway") {
		assertWaitsOn(t, nat, testkit.Named(t, doc, "aws:ec2/internetGateway:InternetGateway", "net"))
	}
	// Private subnets route through the NAT gateway of their zone.
	rt := testkit.Named(t, doc, "aws:ec2/routeTable:RouteTable", "net-private-1")
	assertWaitsOn(t, rt, testkit.Named(t, doc, "aws:ec2/natGateway:NatGateway", "net-1"))
	assertEqual(t, "output vpcCidr", doc.Outputs["vpcCidr"], "10.0.0.0/16")
	assertEqual(t, "the ALB's address ranges: the public subnets'", strings.Join(stringsOf(doc.Outputs["publicCidrs"]), ","), "10.0.0.0/22,10.0.4.0/22")
}

// A pinned zone name that is, in this account, a zone EKS refuses fails before anything is
// created, naming the zone and its ID.
func TestNetworkRefusesAPinnedZoneEKSDoesNotSupport(t *testing.T) {
	t.Parallel()
	args := twoZones
	args.AvailabilityZones = []string{"us-east-1a", "us-east-1b"}
	_, err := synth.Run(synth.Options{Stack: "test", Config: map[string]string{"aws:region": region}, Program: newNetwork(args)})
	if err == nil || !strings.Contains(err.Error(), "us-east-1b is zone use1-az3") {
		t.Fatalf("pinning us-east-1b (use1-az3 here): %v", err)
	}
	args.AvailabilityZones = []string{"us-east-1a", "us-east-1d"}
	doc := render(t, newNetwork(args))
	assertEqual(t, "pinned zone of public-1", testkit.Named(t, doc, "aws:ec2/subnet:Subnet", "net-public-1").Input("availabilityZone"), "us-east-1d")
}

func TestNetworkSharesOneNATGateway(t *testing.T) {
	t.Parallel()
	args := twoZones
	args.SingleNATGateway = true
	doc := render(t, newNetwork(args))
	assertEqual(t, "NAT gateways", len(doc.Find("aws:ec2/natGateway:NatGateway")), 1)
	assertWaitsOn(t, testkit.Named(t, doc, "aws:ec2/routeTable:RouteTable", "net-private-1"), testkit.Named(t, doc, "aws:ec2/natGateway:NatGateway", "net-0"))
}

func TestNetworkDualStackGivesPublicSubnetsIPv6(t *testing.T) {
	t.Parallel()
	args := twoZones
	args.IPv6 = true
	doc := render(t, newNetwork(args))
	assertEqual(t, "vpc ipv6", testkit.Named(t, doc, "aws:ec2/vpc:Vpc", "net").Input("assignGeneratedIpv6CidrBlock"), true)
	block, _ := testkit.Named(t, doc, "aws:ec2/subnet:Subnet", "net-public-1").Input("ipv6CidrBlock").(string)
	if !strings.HasSuffix(block, "01::/64") {
		t.Errorf("public-1 IPv6 block = %q, want the VPC's second /64", block)
	}
	cidrs := stringsOf(doc.Outputs["publicCidrs"])
	if len(cidrs) != 4 || cidrs[0] != "10.0.0.0/22" || cidrs[3] != block {
		t.Errorf("a dual-stack ALB takes IPv4 and IPv6 addresses of its subnets; the ranges are %v", cidrs)
	}
}

func TestNetworkExistingVPCCreatesNothing(t *testing.T) {
	t.Parallel()
	doc := render(t, newNetwork(components.NetworkArgs{
		ExistingVPCID:            "vpc-0a1b2c3d4e5f67890",
		ExistingPublicSubnetIDs:  []string{"subnet-00000000000000001", "subnet-00000000000000002"},
		ExistingPrivateSubnetIDs: []string{"subnet-00000000000000003", "subnet-00000000000000004"},
	}))
	for _, r := range doc.Resources {
		if r.Custom {
			t.Errorf("existing-VPC mode registered %s %q", r.Type, r.Name)
		}
	}
	var tokens []string
	for _, inv := range doc.Invokes {
		tokens = append(tokens, inv.Token)
	}
	// The VPC, and each public subnet: its CIDR may be a secondary one of the VPC.
	assertEqual(t, "lookups", strings.Join(tokens, ","), "aws:ec2/getSubnet:getSubnet,aws:ec2/getSubnet:getSubnet,aws:ec2/getVpc:getVpc")
	for _, c := range stringsOf(doc.Outputs["publicCidrs"]) {
		if !strings.HasPrefix(c, "100.64.") {
			t.Errorf("public subnet range %s is not the looked-up subnet's (a secondary CIDR, outside the VPC's primary 10.100.0.0/16)", c)
		}
	}
	assertEqual(t, "public subnet ranges", len(stringsOf(doc.Outputs["publicCidrs"])), 2)
	assertEqual(t, "vpcId", doc.Outputs["vpcId"], "vpc-0a1b2c3d4e5f67890")
	assertEqual(t, "vpcCidr from the lookup", doc.Outputs["vpcCidr"], "10.100.0.0/16")
	assertEqual(t, "private subnets", strings.Join(stringsOf(doc.Outputs["private"]), ","), "subnet-00000000000000003,subnet-00000000000000004")
}

func TestIPv6Subnet(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		block string
		index int
		want  string
	}{
		{"2600:1f18:abcd:ef00::/56", 0, "2600:1f18:abcd:ef00::/64"},
		{"2600:1f18:abcd:ef00::/56", 2, "2600:1f18:abcd:ef02::/64"},
		{"2600:1f18:abcd:ef00::/56", 255, "2600:1f18:abcd:efff::/64"},
	} {
		got, err := components.IPv6Subnet(c.block, c.index)
		if err != nil || got != c.want {
			t.Errorf("IPv6Subnet(%s, %d) = %q, %v; want %q", c.block, c.index, got, err, c.want)
		}
	}
	if _, err := components.IPv6Subnet("2600:1f18:abcd:ef00::/56", 256); err == nil {
		t.Error("a /56 has only 256 /64s")
	}
	if _, err := components.IPv6Subnet("10.0.0.0/16", 0); err == nil {
		t.Error("an IPv4 block has no IPv6 subnets")
	}
}

// newCluster is a cluster whose pods get their roles through EKS Pod Identity.
func newCluster(ctx *pulumi.Context) (*components.Cluster, error) {
	return newClusterIn(ctx, components.PodIdentity)
}

func newClusterIn(ctx *pulumi.Context, identity string) (*components.Cluster, error) {
	return components.NewCluster(ctx, "eks", &components.ClusterArgs{
		WorkloadIdentity:  identity,
		Name:              "demo",
		KubernetesVersion: "1.34",
		Region:            region,
		PrivateSubnetIDs:  pulumi.ToStringArray([]string{"subnet-private000000001", "subnet-private000000002"}),
		NodeInstanceType:  "m6i.large", NodeAMIType: "AL2023_x86_64_STANDARD",
		NodeMinSize: 2, NodeDesiredSize: 3, NodeMaxSize: 4,
		EndpointPublicAccess: true, EndpointPrivateAccess: true, PublicAccessCIDRs: []string{"198.51.100.0/24"},
		Addons: components.AddonVersions{VPCCNI: "v1.20.4-eksbuild.1"},
		AccessEntries: []components.AccessEntry{
			{PrincipalARN: "arn:aws:iam::123456789012:role/platform-admins", Policies: []components.AccessPolicy{{Name: "AmazonEKSClusterAdminPolicy"}}},
			{PrincipalARN: "arn:aws:iam::123456789012:role/team/kong-operators", Policies: []components.AccessPolicy{
				{Name: "AmazonEKSViewPolicy"}, {Name: "AmazonEKSEditPolicy", Namespaces: []string{"kong"}},
			}},
		},
	})
}

func TestClusterNodeGroupOIDCAndKubeconfig(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newClusterIn(ctx, components.IRSA)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"name": c.Name, "oidcArn": c.OIDCProviderARN, "issuer": c.OIDCIssuerURL, "kubeconfig": c.Kubeconfig}, nil
	})
	cluster := testkit.Named(t, doc, "aws:eks/cluster:Cluster", "eks")
	assertEqual(t, "explicit cluster name", cluster.Input("name"), "demo")
	assertEqual(t, "version", cluster.Input("version"), "1.34")
	assertEqual(t, "authentication mode", cluster.Input("accessConfig.authenticationMode"), "API")
	assertEqual(t, "creator is admin", cluster.Input("accessConfig.bootstrapClusterCreatorAdminPermissions"), true)
	assertEqual(t, "no self-managed add-ons", cluster.Input("bootstrapSelfManagedAddons"), false)
	assertEqual(t, "public access CIDRs", strings.Join(stringsOf(cluster.Input("vpcConfig.publicAccessCidrs")), ","), "198.51.100.0/24")
	assertEqual(t, "control plane interfaces in the private subnets", strings.Join(stringsOf(cluster.Input("vpcConfig.subnetIds")), ","), "subnet-private000000001,subnet-private000000002")
	clusterRole := testkit.Named(t, doc, "aws:iam/role:Role", "eks-cluster")
	assertWaitsOn(t, cluster, clusterRole)
	assertWaitsOn(t, cluster, testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-cluster"))
	if trust, _ := clusterRole.Input("assumeRolePolicy").(string); !strings.Contains(trust, `"eks.amazonaws.com"`) {
		t.Errorf("the cluster role trusts %s", trust)
	}

	ng := testkit.Named(t, doc, "aws:eks/nodeGroup:NodeGroup", "eks-nodes")
	assertEqual(t, "node group subnets (private only)", strings.Join(stringsOf(ng.Input("subnetIds")), ","), "subnet-private000000001,subnet-private000000002")
	assertEqual(t, "AMI type", ng.Input("amiType"), "AL2023_x86_64_STANDARD")
	assertEqual(t, "desired size", ng.Input("scalingConfig.desiredSize"), 3.0)
	assertEqual(t, "node role", ng.Input("nodeRoleArn"), "arn:aws:iam::123456789012:role/eks-node")
	// The nodes follow the control plane's version (the cluster's output), or a cluster
	// upgrade leaves them behind and the next one is refused.
	assertEqual(t, "node group version: the cluster's", ng.Input("version"), "1.34")
	assertEqual(t, "rolling update one node at a time", ng.Input("updateConfig.maxUnavailable"), 1.0)
	assertWaitsOn(t, ng, cluster)
	var nodePolicies []string
	for _, name := range []string{"eks-node", "eks-node-1"} {
		a := testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name)
		assertWaitsOn(t, ng, a)
		nodePolicies = append(nodePolicies, a.Input("policyArn").(string))
	}
	assertEqual(t, "node role policies (the CNI's are on its own role)", strings.Join(nodePolicies, ","),
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy,arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")

	oidc := testkit.Named(t, doc, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eks")
	issuer, _ := doc.Outputs["issuer"].(string)
	if !strings.HasPrefix(issuer, "https://oidc.eks.us-east-1.amazonaws.com/id/") {
		t.Errorf("issuer = %q", issuer)
	}
	assertEqual(t, "OIDC provider URL is the cluster's issuer", oidc.Input("url"), issuer)
	assertEqual(t, "OIDC audience", strings.Join(stringsOf(oidc.Input("clientIdLists")), ","), "sts.amazonaws.com")
	assertWaitsOn(t, oidc, cluster)
	assertEqual(t, "OIDC ARN output", doc.Outputs["oidcArn"], "arn:aws:iam::123456789012:oidc-provider/"+strings.TrimPrefix(issuer, "https://"))
	assertEqual(t, "cluster name output", doc.Outputs["name"], "demo")
	assertEqual(t, "kubeconfig output", doc.Outputs["kubeconfig"], synth.Secret)

	provider := testkit.Named(t, doc, "pulumi:providers:kubernetes", "eks")
	assertEqual(t, "provider kubeconfig", provider.Input("kubeconfig"), synth.Secret)
	assertWaitsOn(t, provider, ng)

	// Nothing unused: the cluster's role, the node role and the VPC CNI's, no other.
	var roles []string
	for _, r := range doc.Find("aws:iam/role:Role") {
		roles = append(roles, r.Name)
	}
	sort.Strings(roles)
	assertEqual(t, "IAM roles", strings.Join(roles, ","), "eks-cluster,eks-node,eks-vpc-cni")
	for _, r := range doc.Resources {
		if strings.HasPrefix(r.Type, "eks:") || strings.HasPrefix(r.Type, "command:") {
			t.Errorf("%s %q: the cluster needs no pulumi-eks component and no local command (kubectl)", r.Type, r.Name)
		}
	}
}

// The networking add-ons are EKS add-ons (EKS installs no self-managed copies with
// bootstrapSelfManagedAddons false): the VPC CNI before the nodes (a node is Ready only once
// its CNI runs; terraform-aws-modules/eks's before_compute does the same), with an IRSA role
// for kube-system/aws-node holding AmazonEKS_CNI_Policy (EKS User Guide, "Configure Amazon
// VPC CNI plugin to use IRSA") and network policy enforcement on ({"enableNetworkPolicy":
// "true"}, EKS User Guide, "Restrict pod network traffic"), and kube-proxy; CoreDNS, whose
// pods need nodes, after them; all before anything is deployed into the cluster.
func TestClusterNetworkingAddons(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := newClusterIn(ctx, components.IRSA)
		return nil, err
	})
	const addon = "aws:eks/addon:Addon"
	ng := testkit.Named(t, doc, "aws:eks/nodeGroup:NodeGroup", "eks-nodes")
	provider := testkit.Named(t, doc, "pulumi:providers:kubernetes", "eks")

	cni := testkit.Named(t, doc, addon, "eks-vpc-cni")
	assertEqual(t, "vpc-cni add-on", cni.Input("addonName"), "vpc-cni")
	assertEqual(t, "vpc-cni pinned", cni.Input("addonVersion"), "v1.20.4-eksbuild.1")
	assertEqual(t, "network policy enforcement", cni.Input("configurationValues"), `{"enableNetworkPolicy":"true"}`)
	assertEqual(t, "vpc-cni role", cni.Input("serviceAccountRoleArn"), "arn:aws:iam::123456789012:role/eks-vpc-cni")
	cniRole := testkit.Named(t, doc, "aws:iam/role:Role", "eks-vpc-cni")
	trust, _ := cniRole.Input("assumeRolePolicy").(string)
	if !strings.Contains(trust, `"system:serviceaccount:kube-system:aws-node"`) {
		t.Errorf("the VPC CNI role trusts %s", trust)
	}
	cniPolicy := testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-vpc-cni")
	assertEqual(t, "CNI policy", cniPolicy.Input("policyArn"), "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy")
	assertWaitsOn(t, cni, cniPolicy)
	assertWaitsOn(t, ng, cni)

	for _, name := range []string{"kube-proxy", "coredns"} {
		a := testkit.Named(t, doc, addon, "eks-"+name)
		assertEqual(t, name+" add-on", a.Input("addonName"), name)
		// Unpinned: EKS's default for the cluster's version, asked on every run.
		assertEqual(t, name+" version (EKS's default for 1.34)", a.Input("addonVersion"), answers.AddonVersions[name]["1.34"].Default)
		assertWaitsOn(t, a, testkit.Named(t, doc, "aws:eks/cluster:Cluster", "eks"))
		assertEqual(t, name+" adopts an existing copy", a.Input("resolveConflictsOnCreate"), "OVERWRITE")
		assertWaitsOn(t, provider, a)
	}
	// kube-proxy (a DaemonSet) before the nodes: the VPC CNI before v1.20 reaches the API
	// server through the kubernetes Service's cluster IP (amazon-vpc-cni-k8s #2138). CoreDNS (a
	// Deployment) after them: EKS reports it ACTIVE only once its pods run.
	assertWaitsOn(t, ng, testkit.Named(t, doc, addon, "eks-kube-proxy"))
	assertWaitsOn(t, testkit.Named(t, doc, addon, "eks-coredns"), ng)
}

// EKS access entries: one per principal, an association per policy with its scope.
func TestClusterAccessEntries(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := newCluster(ctx)
		return nil, err
	})
	entries := doc.Find("aws:eks/accessEntry:AccessEntry")
	assertEqual(t, "access entries", len(entries), 2)
	admins := testkit.Named(t, doc, "aws:eks/accessEntry:AccessEntry", "eks-access-role-platform-admins")
	assertEqual(t, "principal", admins.Input("principalArn"), "arn:aws:iam::123456789012:role/platform-admins")
	assertEqual(t, "type", admins.Input("type"), "STANDARD")
	assertEqual(t, "cluster", admins.Input("clusterName"), "demo")

	const assoc = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
	admin := testkit.Named(t, doc, assoc, "eks-access-role-platform-admins-AmazonEKSClusterAdminPolicy")
	assertEqual(t, "admin policy", admin.Input("policyArn"), "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
	assertEqual(t, "admin scope", admin.Input("accessScope.type"), "cluster")
	assertWaitsOn(t, admin, admins)
	edit := testkit.Named(t, doc, assoc, "eks-access-role-team-kong-operators-AmazonEKSEditPolicy")
	assertEqual(t, "edit scope", edit.Input("accessScope.type"), "namespace")
	assertEqual(t, "edit namespaces", strings.Join(stringsOf(edit.Input("accessScope.namespaces")), ","), "kong")
	view := testkit.Named(t, doc, assoc, "eks-access-role-team-kong-operators-AmazonEKSViewPolicy")
	assertEqual(t, "view scope", view.Input("accessScope.type"), "cluster")
	assertEqual(t, "associations", len(doc.Find(assoc)), 3)

	// A principal with access only through an entry needs it before the first Kubernetes
	// call and until the last one on destroy: the provider waits on every entry and
	// association.
	provider := testkit.Named(t, doc, "pulumi:providers:kubernetes", "eks")
	for _, r := range append(entries, doc.Find(assoc)...) {
		assertWaitsOn(t, provider, r)
	}
}

// An unpinned add-on's version is looked up for the cluster's version on every run.
func TestUnpinnedAddonsAskEKSForTheClustersVersion(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := newCluster(ctx)
		return nil, err
	})
	asked := map[string]bool{}
	for _, inv := range doc.Invokes {
		if inv.Token == "aws:eks/getAddonVersion:getAddonVersion" {
			assertEqual(t, "the cluster's version", inv.Args["kubernetesVersion"], "1.34")
			assertEqual(t, "EKS's default, not the latest", inv.Args["mostRecent"], false)
			asked[inv.Args["addonName"].(string)] = true
		}
	}
	assertEqual(t, "add-ons looked up (vpc-cni is pinned)", fmt.Sprint(asked), "map[coredns:true eks-pod-identity-agent:true kube-proxy:true]")
}

func TestKubeconfigUsesTheAWSCLIForTokens(t *testing.T) {
	t.Parallel()
	raw, err := components.Kubeconfig("https://ABC.gr7.us-east-1.eks.amazonaws.com", "Q0E=", "demo", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster map[string]string `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Exec struct {
					Command string   `json:"command"`
					Args    []string `json:"args"`
				} `json:"exec"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(raw), &kc); err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "server", kc.Clusters[0].Cluster["server"], "https://ABC.gr7.us-east-1.eks.amazonaws.com")
	assertEqual(t, "CA", kc.Clusters[0].Cluster["certificate-authority-data"], "Q0E=")
	exec := kc.Users[0].User.Exec
	assertEqual(t, "token command", exec.Command+" "+strings.Join(exec.Args, " "), "aws eks get-token --cluster-name demo --region us-east-1 --output json")
}

func newCertificate(args components.CertificateArgs) func(ctx *pulumi.Context) (pulumi.Map, error) {
	return func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := components.NewCertificate(ctx, "cert", &args)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"arn": c.ARN}, nil
	}
}

func TestCertificateACMHasOneValidationRecordForWildcardAndApex(t *testing.T) {
	t.Parallel()
	doc := render(t, newCertificate(components.CertificateArgs{
		Domain: "eks.example.com", Mode: components.CertificateModeACM, ZoneID: pulumi.String("Z0123456789ABCDEFGHIJ"),
	}))
	cert := testkit.Named(t, doc, "aws:acm/certificate:Certificate", "cert")
	assertEqual(t, "domain", cert.Input("domainName"), "*.eks.example.com")
	assertEqual(t, "SANs", strings.Join(stringsOf(cert.Input("subjectAlternativeNames")), ","), "eks.example.com")
	assertEqual(t, "validation method", cert.Input("validationMethod"), "DNS")

	records := doc.Find("aws:route53/record:Record")
	assertEqual(t, "validation records", len(records), 1)
	record := records[0]
	assertEqual(t, "record zone", record.Input("zoneId"), "Z0123456789ABCDEFGHIJ")
	assertEqual(t, "record type", record.Input("type"), "CNAME")
	if name, _ := record.Input("name").(string); !strings.HasSuffix(name, ".eks.example.com.") || !strings.HasPrefix(name, "_") {
		t.Errorf("validation record name = %q", name)
	}
	assertWaitsOn(t, record, cert)

	validation := testkit.Named(t, doc, "aws:acm/certificateValidation:CertificateValidation", "cert")
	assertWaitsOn(t, validation, record)
	assertEqual(t, "validation FQDNs", len(stringsOf(validation.Input("validationRecordFqdns"))), 1)
	arn, _ := doc.Outputs["arn"].(string)
	if !strings.HasPrefix(arn, "arn:aws:acm:us-east-1:123456789012:certificate/") {
		t.Errorf("certificate ARN output = %q", arn)
	}
}

func TestCertificateImportKeepsTheKeySecret(t *testing.T) {
	t.Parallel()
	doc := render(t, newCertificate(components.CertificateArgs{
		Domain: "eks.example.com", Mode: components.CertificateModeImport,
		Body: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", PrivateKey: pulumi.String("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"),
	}))
	cert := testkit.Named(t, doc, "aws:acm/certificate:Certificate", "cert")
	assertEqual(t, "private key", cert.Input("privateKey"), synth.Secret)
	assertEqual(t, "no validation records", len(doc.Find("aws:route53/record:Record")), 0)
	b, _ := json.Marshal(doc)
	if strings.Contains(string(b), "secret\\n") {
		t.Error("the private key's plaintext appears in the synth document")
	}
}

func TestCertificateARNModeCreatesNothing(t *testing.T) {
	t.Parallel()
	arn := "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	doc := render(t, newCertificate(components.CertificateArgs{Domain: "eks.example.com", Mode: components.CertificateModeARN, ARN: arn}))
	for _, r := range doc.Resources {
		if r.Custom {
			t.Errorf("arn mode registered %s", r.Type)
		}
	}
	assertEqual(t, "arn", doc.Outputs["arn"], arn)
}

func TestWildcardRecordsAliasTheGivenHostname(t *testing.T) {
	t.Parallel()
	const alb = "k8s-kong-kongprox-0123456789-1234567890.eu-west-1.elb.amazonaws.com"
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		w, err := components.NewWildcardRecords(ctx, "dns", &components.WildcardRecordsArgs{
			Domain: "eks.example.com", ZoneID: pulumi.String("Z0123456789ABCDEFGHIJ"), Region: "eu-west-1",
			ALBHostname: pulumi.String(alb).ToStringOutput(), IPv6: true,
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"fqdn": w.FQDN}, nil
	})
	lookup := doc.Invokes[0]
	assertEqual(t, "canonical zone lookup", lookup.Token, "aws:lb/getHostedZoneId:getHostedZoneId")
	assertEqual(t, "lookup region", lookup.Args["region"], "eu-west-1")
	assertEqual(t, "lookup type", lookup.Args["loadBalancerType"], "application")
	var types []string
	for _, r := range doc.Find("aws:route53/record:Record") {
		types = append(types, r.Input("type").(string))
		assertEqual(t, "record name", r.Input("name"), "*.eks.example.com")
		assertEqual(t, "record zone", r.Input("zoneId"), "Z0123456789ABCDEFGHIJ")
		assertEqual(t, "alias name", r.Input("aliases.0.name"), alb)
		// eu-west-1's canonical zone for application load balancers, not the record's zone.
		assertEqual(t, "alias zone", r.Input("aliases.0.zoneId"), "Z32O12XQLNTSW2")
		assertEqual(t, "evaluate target health", r.Input("aliases.0.evaluateTargetHealth"), true)
	}
	slices.Sort(types)
	assertEqual(t, "record types", strings.Join(types, ","), "A,AAAA")
	assertEqual(t, "fqdn", doc.Outputs["fqdn"], "*.eks.example.com")
}
