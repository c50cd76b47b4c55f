package components

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NetworkArgs describes a new VPC, or (ExistingVPCID set) names an existing one.
type NetworkArgs struct {
	// ClusterName goes into the kubernetes.io/cluster/<name> subnet tag.
	ClusterName string

	VPCCIDR            string
	PublicSubnetCIDRs  []string
	PrivateSubnetCIDRs []string
	// AvailabilityZones, one per subnet pair; empty means the region's first available zones
	// that EKS supports.
	AvailabilityZones []string
	// SingleNATGateway shares one NAT gateway between all private subnets (cheaper, one AZ's
	// failure cuts egress); otherwise each zone has its own.
	SingleNATGateway bool
	// IPv6 gives a new VPC an Amazon-provided /56 and each public subnet a /64, for a
	// dual-stack ALB; in an existing VPC, the public subnets' IPv6 ranges are reported too.
	IPv6 bool

	ExistingVPCID            string
	ExistingPublicSubnetIDs  []string
	ExistingPrivateSubnetIDs []string

	Tags map[string]string
}

// Network is the VPC the cluster and the ALB run in.
type Network struct {
	pulumi.ResourceState

	VPCID            pulumi.StringOutput      `pulumi:"vpcId"`
	VPCCIDR          pulumi.StringOutput      `pulumi:"vpcCidr"`
	PublicSubnetIDs  pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	PrivateSubnetIDs pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
	// PublicSubnetCIDRs are the address ranges of the public subnets, where the ALB's nodes
	// take their addresses: IPv4, and IPv6 too when the subnets have it. Whoever must tell the
	// ALB from a client (Kong's trusted_ips) trusts exactly these.
	PublicSubnetCIDRs pulumi.StringArrayOutput `pulumi:"publicSubnetCidrs"`

	// PrivateEgress is done when every private subnet routes to its NAT gateway: nodes in
	// those subnets need it to join the cluster. Empty for an existing VPC.
	PrivateEgress []pulumi.Resource
}

// Subnet tags the AWS Load Balancer Controller discovers subnets by.
const (
	TagPublicELB   = "kubernetes.io/role/elb"
	TagInternalELB = "kubernetes.io/role/internal-elb"
)

// ClusterTag is the tag that marks a resource as used by an EKS cluster.
func ClusterTag(cluster string) string { return "kubernetes.io/cluster/" + cluster }

// NewNetwork creates the VPC, or looks up an existing one and creates nothing.
func NewNetwork(ctx *pulumi.Context, name string, args *NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil {
		return nil, fmt.Errorf("network %s: args are required", name)
	}
	n := &Network{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:network:Network", name, n, opts...); err != nil {
		return nil, err
	}
	var err error
	if args.ExistingVPCID != "" {
		err = n.useExisting(ctx, args)
	} else {
		err = n.create(ctx, name, args)
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	return n, registerOutputs(ctx, n)
}

func (n *Network) useExisting(ctx *pulumi.Context, args *NetworkArgs) error {
	vpc, err := ec2.LookupVpc(ctx, &ec2.LookupVpcArgs{Id: pulumi.StringRef(args.ExistingVPCID)}, pulumi.Parent(n))
	if err != nil {
		return fmt.Errorf("looking up VPC %s: %w", args.ExistingVPCID, err)
	}
	n.VPCID = pulumi.String(vpc.Id).ToStringOutput()
	n.VPCCIDR = pulumi.String(vpc.CidrBlock).ToStringOutput()
	n.PublicSubnetIDs = pulumi.ToStringArray(args.ExistingPublicSubnetIDs).ToStringArrayOutput()
	n.PrivateSubnetIDs = pulumi.ToStringArray(args.ExistingPrivateSubnetIDs).ToStringArrayOutput()
	// The ALB's subnets may lie in any of the VPC's CIDRs (a secondary one too): read each.
	var cidrs, noIPv6 []string
	zones := map[string]bool{}
	for _, id := range args.ExistingPublicSubnetIDs {
		sub, err := ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(id)}, pulumi.Parent(n))
		if err != nil {
			return fmt.Errorf("looking up subnet %s: %w", id, err)
		}
		cidrs = append(cidrs, sub.CidrBlock)
		zones[sub.AvailabilityZone] = true
		switch {
		case args.IPv6 && sub.Ipv6CidrBlock != "":
			cidrs = append(cidrs, sub.Ipv6CidrBlock)
		case args.IPv6:
			noIPv6 = append(noIPv6, id)
		}
	}
	// The load balancer controller builds a dual-stack ALB only in subnets with an IPv6 range
	// (pkg/networking/subnet_resolver.go, validateSubnetsIPv6CIDR), and an ALB needs subnets in
	// two zones at least: found now, rather than as an Ingress that never gets its ALB.
	if len(noIPv6) > 0 {
		return fmt.Errorf("existing public subnets %s have no IPv6 range, which a dual-stack ALB needs: give them IPv6 ranges, or set ipAddressType to ipv4", strings.Join(noIPv6, ", "))
	}
	if len(zones) < 2 {
		return fmt.Errorf("existing public subnets %s are all in one availability zone; an ALB needs subnets in two zones at least", strings.Join(args.ExistingPublicSubnetIDs, ", "))
	}
	n.PublicSubnetCIDRs = pulumi.ToStringArray(cidrs).ToStringArrayOutput()
	return nil
}

func (n *Network) create(ctx *pulumi.Context, name string, args *NetworkArgs) error {
	zones, err := n.zones(ctx, args)
	if err != nil {
		return err
	}
	parent := pulumi.Parent(n)
	tags := func(extra map[string]string) pulumi.StringMap { return pulumi.ToStringMap(merge(args.Tags, extra)) }
	clusterTag := map[string]string{ClusterTag(args.ClusterName): "shared"}

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String(args.VPCCIDR),
		// EKS requires both for nodes to register and for private endpoint access.
		EnableDnsSupport:             pulumi.Bool(true),
		EnableDnsHostnames:           pulumi.Bool(true),
		AssignGeneratedIpv6CidrBlock: pulumi.Bool(args.IPv6),
		Tags:                         tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return err
	}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return err
	}
	publicRoutes := ec2.RouteTableRouteArray{
		ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()},
	}
	if args.IPv6 {
		publicRoutes = append(publicRoutes, ec2.RouteTableRouteArgs{Ipv6CidrBlock: pulumi.String("::/0"), GatewayId: igw.ID()})
	}
	publicTable, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: publicRoutes,
		Tags:   tags(map[string]string{"Name": name + "-public"}),
	}, parent)
	if err != nil {
		return err
	}

	var publicIDs, privateIDs pulumi.StringArray
	var publicCIDRs pulumi.StringArray
	var nat *ec2.NatGateway
	for i, zone := range zones {
		suffix := fmt.Sprintf("%d", i)
		publicArgs := &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			CidrBlock:           pulumi.String(args.PublicSubnetCIDRs[i]),
			AvailabilityZone:    pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(false), // only the ALB and NAT gateways live here
			Tags: tags(merge(clusterTag, map[string]string{
				"Name": name + "-public-" + zone, TagPublicELB: "1",
			})),
		}
		if args.IPv6 {
			publicArgs.Ipv6CidrBlock = vpc.Ipv6CidrBlock.ApplyT(func(block string) (string, error) {
				return IPv6Subnet(block, i)
			}).(pulumi.StringOutput)
		}
		public, err := ec2.NewSubnet(ctx, name+"-public-"+suffix, publicArgs, parent)
		if err != nil {
			return err
		}
		publicCIDRs = append(publicCIDRs, public.CidrBlock.Elem())
		if args.IPv6 {
			publicCIDRs = append(publicCIDRs, public.Ipv6CidrBlock.Elem())
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, name+"-public-"+suffix, &ec2.RouteTableAssociationArgs{
			SubnetId: public.ID(), RouteTableId: publicTable.ID(),
		}, parent); err != nil {
			return err
		}
		if i == 0 || !args.SingleNATGateway {
			eip, err := ec2.NewEip(ctx, name+"-nat-"+suffix, &ec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   tags(map[string]string{"Name": name + "-nat-" + zone}),
			}, parent)
			if err != nil {
				return err
			}
			nat, err = ec2.NewNatGateway(ctx, name+"-"+suffix, &ec2.NatGatewayArgs{
				AllocationId: eip.ID(),
				SubnetId:     public.ID(),
				Tags:         tags(map[string]string{"Name": name + "-" + zone}),
			},
				parent,
				// A public NAT gateway in a VPC without an attached internet gateway fails
				// (the aws_nat_gateway docs ask for this dependency); nothing in its inputs
				// names the gateway.
				pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return err
			}
		}
		private, err := ec2.NewSubnet(ctx, name+"-private-"+suffix, &ec2.SubnetArgs{
			VpcId:            vpc.ID(),
			CidrBlock:        pulumi.String(args.PrivateSubnetCIDRs[i]),
			AvailabilityZone: pulumi.String(zone),
			Tags: tags(merge(clusterTag, map[string]string{
				"Name": name + "-private-" + zone, TagInternalELB: "1",
			})),
		}, parent)
		if err != nil {
			return err
		}
		privateTable, err := ec2.NewRouteTable(ctx, name+"-private-"+suffix, &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Routes: ec2.RouteTableRouteArray{
				ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()},
			},
			Tags: tags(map[string]string{"Name": name + "-private-" + zone}),
		}, parent)
		if err != nil {
			return err
		}
		egress, err := ec2.NewRouteTableAssociation(ctx, name+"-private-"+suffix, &ec2.RouteTableAssociationArgs{
			SubnetId: private.ID(), RouteTableId: privateTable.ID(),
		}, parent)
		if err != nil {
			return err
		}
		n.PrivateEgress = append(n.PrivateEgress, egress)
		publicIDs = append(publicIDs, public.ID().ToStringOutput())
		privateIDs = append(privateIDs, private.ID().ToStringOutput())
	}
	n.VPCID = vpc.ID().ToStringOutput()
	n.VPCCIDR = vpc.CidrBlock
	n.PublicSubnetIDs = publicIDs.ToStringArrayOutput()
	n.PrivateSubnetIDs = privateIDs.ToStringArrayOutput()
	n.PublicSubnetCIDRs = publicCIDRs.ToStringArrayOutput()
	return nil
}

// EKSUnsupportedZoneIDs are the zones, by zone ID, that an EKS cluster's subnets cannot be in:
// CreateCluster fails with UnsupportedAvailabilityZoneException (Amazon EKS User Guide, "View
// Amazon EKS networking requirements for VPC and subnets", subnet requirements for clusters:
// us-east-1 use1-az3, us-west-1 usw1-az2, ca-central-1 cac1-az3). A zone ID names the same
// zone in every account; a zone name (us-east-1b) maps to a different one per account, so the
// exclusion is by ID. Each ID names its region, so one list serves every region.
var EKSUnsupportedZoneIDs = []string{"use1-az3", "usw1-az2", "cac1-az3"}

// zones returns one availability zone per subnet pair: the pinned ones, once each is known to
// be one EKS accepts, or else the region's first zones that are available without opting in
// and not among EKSUnsupportedZoneIDs.
func (n *Network) zones(ctx *pulumi.Context, args *NetworkArgs) ([]string, error) {
	if len(args.PublicSubnetCIDRs) != len(args.PrivateSubnetCIDRs) || len(args.PublicSubnetCIDRs) < 2 {
		return nil, fmt.Errorf("expected matching public and private subnet lists of at least two, got %d and %d",
			len(args.PublicSubnetCIDRs), len(args.PrivateSubnetCIDRs))
	}
	want := len(args.PublicSubnetCIDRs)
	if len(args.AvailabilityZones) > 0 && len(args.AvailabilityZones) != want {
		return nil, fmt.Errorf("expected %d availability zones, got %d", want, len(args.AvailabilityZones))
	}
	lookup := &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		// Local Zones and Wavelength Zones are opt-in; EKS control planes cannot use them.
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	}
	if len(args.AvailabilityZones) == 0 {
		lookup.ExcludeZoneIds = EKSUnsupportedZoneIDs
	}
	res, err := aws.GetAvailabilityZones(ctx, lookup, pulumi.Parent(n))
	if err != nil {
		return nil, fmt.Errorf("listing availability zones: %w", err)
	}
	if len(args.AvailabilityZones) > 0 {
		return pinnedZones(args.AvailabilityZones, res.Names, res.ZoneIds)
	}
	if len(res.Names) < want {
		return nil, fmt.Errorf("the region has %d available zones that EKS supports, %d subnet pairs need as many", len(res.Names), want)
	}
	return res.Names[:want], nil
}

// pinnedZones checks each pinned zone name against the region's zones (names and their IDs, in
// the same order) and refuses any EKS cannot use.
func pinnedZones(pinned, names, ids []string) ([]string, error) {
	idOf := map[string]string{}
	for i, name := range names {
		if i < len(ids) {
			idOf[name] = ids[i]
		}
	}
	var problems []string
	for _, zone := range pinned {
		id, ok := idOf[zone]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is not an available zone of the region that needs no opt-in", zone))
		case slices.Contains(EKSUnsupportedZoneIDs, id):
			problems = append(problems, fmt.Sprintf("%s is zone %s in this account, where EKS places no cluster (UnsupportedAvailabilityZoneException)", zone, id))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("availabilityZones: %s", strings.Join(problems, "; "))
	}
	return pinned, nil
}

// IPv6Subnet returns the index-th /64 of an IPv6 /56 (what AWS assigns a VPC).
func IPv6Subnet(block string, index int) (string, error) {
	p, err := netip.ParsePrefix(block)
	if err != nil || !p.Addr().Is6() || p.Bits() > 64 {
		return "", fmt.Errorf("expected an IPv6 prefix of /64 or shorter, got %q", block)
	}
	if index < 0 || index >= 1<<(64-p.Bits()) {
		return "", fmt.Errorf("%s has no /64 number %d", block, index)
	}
	a := p.Masked().Addr().As16()
	// The subnet number sits in bits p.Bits()..63, i.e. in bytes 0..7 of the address.
	hi := uint64(0)
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(a[i])
	}
	hi |= uint64(index)
	for i := 7; i >= 0; i-- {
		a[i] = byte(hi)
		hi >>= 8
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64).String(), nil
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
