package components_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
)

func newNetwork(args components.NetworkArgs) func(ctx *pulumi.Context) (pulumi.Map, error) {
	return func(ctx *pulumi.Context) (pulumi.Map, error) {
		n, err := components.NewNetwork(ctx, "net", &args)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"vpcId": n.VPCID, "vpcCidr": n.VPCCIDR, "public": n.PublicSubnetIDs, "private": n.PrivateSubnetIDs}, nil
	}
}

var twoZones = components.NetworkArgs{
	ClusterName:        "demo",
	VPCCIDR:            "10.0.0.0/16",
	PublicSubnetCIDRs:  []string{"10.0.0.0/22", "10.0.4.0/22"},
	PrivateSubnetCIDRs: []string{"10.0.64.0/19", "10.0.96.0/19"},
}

func TestNetworkTagsSubnetsForTheLoadBalancerController(t *testing.T) {
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
	// The zones come from the region's lookup, one per subnet pair.
	assertEqual(t, "zone of public-1", named(t, doc, "aws:ec2/subnet:Subnet", "net-public-1").Input("availabilityZone"), "us-east-1b")
	assertEqual(t, "NAT gateways (one per zone)", len(doc.Find("aws:ec2/natGateway:NatGateway")), 2)
	// Private subnets route through the NAT gateway of their zone.
	rt := named(t, doc, "aws:ec2/routeTable:RouteTable", "net-private-1")
	assertWaitsOn(t, rt, named(t, doc, "aws:ec2/natGateway:NatGateway", "net-1"))
	assertEqual(t, "output vpcCidr", doc.Outputs["vpcCidr"], "10.0.0.0/16")
}

func TestNetworkSharesOneNATGateway(t *testing.T) {
	args := twoZones
	args.SingleNATGateway = true
	doc := render(t, newNetwork(args))
	assertEqual(t, "NAT gateways", len(doc.Find("aws:ec2/natGateway:NatGateway")), 1)
	assertWaitsOn(t, named(t, doc, "aws:ec2/routeTable:RouteTable", "net-private-1"), named(t, doc, "aws:ec2/natGateway:NatGateway", "net-0"))
}

func TestNetworkDualStackGivesPublicSubnetsIPv6(t *testing.T) {
	args := twoZones
	args.IPv6 = true
	doc := render(t, newNetwork(args))
	assertEqual(t, "vpc ipv6", named(t, doc, "aws:ec2/vpc:Vpc", "net").Input("assignGeneratedIpv6CidrBlock"), true)
	block, _ := named(t, doc, "aws:ec2/subnet:Subnet", "net-public-1").Input("ipv6CidrBlock").(string)
	if !strings.HasSuffix(block, "01::/64") {
		t.Errorf("public-1 IPv6 block = %q, want the VPC's second /64", block)
	}
}

func TestNetworkExistingVPCCreatesNothing(t *testing.T) {
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
	assertEqual(t, "vpc lookups", len(doc.Invokes), 1)
	assertEqual(t, "lookup", doc.Invokes[0].Token, "aws:ec2/getVpc:getVpc")
	assertEqual(t, "vpcId", doc.Outputs["vpcId"], "vpc-0a1b2c3d4e5f67890")
	assertEqual(t, "vpcCidr from the lookup", doc.Outputs["vpcCidr"], "10.100.0.0/16")
	assertEqual(t, "private subnets", strings.Join(stringsOf(doc.Outputs["private"]), ","), "subnet-00000000000000003,subnet-00000000000000004")
}

func TestIPv6Subnet(t *testing.T) {
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

func newCluster(ctx *pulumi.Context) (*components.Cluster, error) {
	return components.NewCluster(ctx, "eks", &components.ClusterArgs{
		Name:              "demo",
		KubernetesVersion: "1.34",
		VPCID:             pulumi.String("vpc-0123456789abcdef0"),
		VPCCIDR:           pulumi.String("10.0.0.0/16"),
		PublicSubnetIDs:   pulumi.ToStringArray([]string{"subnet-public0000000001", "subnet-public0000000002"}),
		PrivateSubnetIDs:  pulumi.ToStringArray([]string{"subnet-private000000001", "subnet-private000000002"}),
		NodeInstanceType:  "m6i.large", NodeAMIType: "AL2023_x86_64_STANDARD",
		NodeMinSize: 2, NodeDesiredSize: 3, NodeMaxSize: 4,
		EndpointPublicAccess: true, EndpointPrivateAccess: true, PublicAccessCIDRs: []string{"198.51.100.0/24"},
	})
}

func TestClusterNodeGroupOIDCAndKubeconfig(t *testing.T) {
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newCluster(ctx)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"name": c.Name, "oidcArn": c.OIDCProviderARN, "issuer": c.OIDCIssuerURL, "kubeconfig": c.Kubeconfig, "vpcCidr": c.VPCCIDR}, nil
	})
	cluster := named(t, doc, "eks:index:Cluster", "eks")
	assertEqual(t, "explicit cluster name", cluster.Input("name"), "demo")
	assertEqual(t, "version", cluster.Input("version"), "1.34")
	assertEqual(t, "authentication mode", cluster.Input("authenticationMode"), "API")
	assertEqual(t, "skip default node group", cluster.Input("skipDefaultNodeGroup"), true)
	assertEqual(t, "public access CIDRs", strings.Join(stringsOf(cluster.Input("publicAccessCidrs")), ","), "198.51.100.0/24")

	ng := named(t, doc, "eks:index:ManagedNodeGroup", "eks-nodes")
	assertEqual(t, "node group subnets (private only)", strings.Join(stringsOf(ng.Input("subnetIds")), ","), "subnet-private000000001,subnet-private000000002")
	assertEqual(t, "AMI type", ng.Input("amiType"), "AL2023_x86_64_STANDARD")
	assertEqual(t, "desired size", ng.Input("scalingConfig.desiredSize"), 3.0)
	assertWaitsOn(t, ng, cluster)
	for i := 0; i < 3; i++ {
		assertWaitsOn(t, ng, named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-node-"+string(rune('0'+i))))
	}

	oidc := named(t, doc, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eks")
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

	provider := named(t, doc, "pulumi:providers:kubernetes", "eks")
	assertEqual(t, "provider kubeconfig", provider.Input("kubeconfig"), synth.Secret)
	assertWaitsOn(t, provider, ng)
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
	doc := render(t, newCertificate(components.CertificateArgs{
		Domain: "eks.example.com", Mode: components.CertificateModeACM, ZoneID: pulumi.String("Z0123456789ABCDEFGHIJ"),
	}))
	cert := named(t, doc, "aws:acm/certificate:Certificate", "cert")
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

	validation := named(t, doc, "aws:acm/certificateValidation:CertificateValidation", "cert")
	assertWaitsOn(t, validation, record)
	assertEqual(t, "validation FQDNs", len(stringsOf(validation.Input("validationRecordFqdns"))), 1)
	arn, _ := doc.Outputs["arn"].(string)
	if !strings.HasPrefix(arn, "arn:aws:acm:us-east-1:123456789012:certificate/") {
		t.Errorf("certificate ARN output = %q", arn)
	}
}

func TestCertificateImportKeepsTheKeySecret(t *testing.T) {
	doc := render(t, newCertificate(components.CertificateArgs{
		Domain: "eks.example.com", Mode: components.CertificateModeImport,
		Body: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", PrivateKey: pulumi.String("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"),
	}))
	cert := named(t, doc, "aws:acm/certificate:Certificate", "cert")
	assertEqual(t, "private key", cert.Input("privateKey"), synth.Secret)
	assertEqual(t, "no validation records", len(doc.Find("aws:route53/record:Record")), 0)
	b, _ := json.Marshal(doc)
	if strings.Contains(string(b), "secret\\n") {
		t.Error("the private key's plaintext appears in the synth document")
	}
}

func TestCertificateARNModeCreatesNothing(t *testing.T) {
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
