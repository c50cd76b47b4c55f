package stacks

import (
	"net/netip"
	"regexp"
	"strings"
)

// The network: a new VPC's ranges and zones, or an existing VPC's subnets.

func (c Config) validateNetwork(p *Problems) {
	n := c.Network
	if n.UsesExistingVPC() {
		if !vpcIDPattern.MatchString(n.ExistingVPCID) {
			p.add(key("existingVpcId"), "expected a VPC ID such as vpc-0a1b2c3d4e5f67890, got %q", n.ExistingVPCID)
		}
		checkSubnetIDs(p, key("existingPublicSubnetIds"), n.ExistingPublicSubnetIDs)
		checkSubnetIDs(p, key("existingPrivateSubnetIds"), n.ExistingPrivateSubnetIDs)
		return
	}
	if len(n.ExistingPublicSubnetIDs) > 0 || len(n.ExistingPrivateSubnetIDs) > 0 {
		p.add(key("existingVpcId"), "required when existing subnet IDs are given")
	}
	vpc, err := netip.ParsePrefix(n.VPCCIDR)
	switch {
	case err != nil || !vpc.Addr().Is4():
		p.add(key("vpcCidr"), "expected an IPv4 CIDR such as 10.0.0.0/16, got %q", n.VPCCIDR)
	case vpc.Bits() < 16 || vpc.Bits() > 24:
		p.add(key("vpcCidr"), "expected a prefix length from /16 to /24 for a VPC, got /%d", vpc.Bits())
	case vpc.Masked() != vpc:
		p.add(key("vpcCidr"), "%q has host bits set; did you mean %s?", n.VPCCIDR, vpc.Masked())
	}
	public := checkSubnets(p, key("publicSubnetCidrs"), n.PublicSubnetCIDRs, vpc, err == nil)
	private := checkSubnets(p, key("privateSubnetCidrs"), n.PrivateSubnetCIDRs, vpc, err == nil)
	all := append(append([]namedPrefix{}, public...), private...)
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].prefix.Overlaps(all[j].prefix) {
				p.add(all[j].key, "%s overlaps %s", all[j].prefix, all[i].prefix)
			}
		}
	}
	if len(n.PublicSubnetCIDRs) < 2 {
		p.add(key("publicSubnetCidrs"), "expected at least two subnets (one per availability zone), got %d", len(n.PublicSubnetCIDRs))
	}
	if len(n.PublicSubnetCIDRs) != len(n.PrivateSubnetCIDRs) {
		p.add(key("privateSubnetCidrs"), "expected one private subnet per public subnet (%d), got %d", len(n.PublicSubnetCIDRs), len(n.PrivateSubnetCIDRs))
	}
	if len(n.AvailabilityZones) > 0 {
		if len(n.AvailabilityZones) != len(n.PublicSubnetCIDRs) {
			p.add(key("availabilityZones"), "expected one zone per subnet pair (%d), got %d", len(n.PublicSubnetCIDRs), len(n.AvailabilityZones))
		}
		seen := map[string]bool{}
		for _, az := range n.AvailabilityZones {
			if !zoneOf(az, c.Region) {
				p.add(key("availabilityZones"), "%q is not a zone name of region %q (expected such as %sa; zone IDs such as use1-az1 are not names)", az, c.Region, c.Region)
			}
			if seen[az] {
				p.add(key("availabilityZones"), "%q is listed twice", az)
			}
			seen[az] = true
		}
	}
	if n.NATGateways != NATOnePerAZ && n.NATGateways != NATSingle {
		p.add(key("natGateways"), "expected %q or %q, got %q", NATOnePerAZ, NATSingle, n.NATGateways)
	}
}

// zoneOf reports whether az names a zone of region: the region and a letter (us-east-1a), or a
// Local Zone's name (us-west-2-lax-1a).
func zoneOf(az, region string) bool {
	rest, ok := strings.CutPrefix(az, region)
	return ok && zoneSuffix.MatchString(rest)
}

var zoneSuffix = regexp.MustCompile(`^(-[a-z]+-[0-9]+)?[a-z]$`)

type namedPrefix struct {
	key    string
	prefix netip.Prefix
}

func checkSubnets(p *Problems, k string, cidrs []string, vpc netip.Prefix, vpcOK bool) []namedPrefix {
	var out []namedPrefix
	for _, s := range cidrs {
		sub, err := netip.ParsePrefix(s)
		switch {
		case err != nil || !sub.Addr().Is4():
			p.add(k, "expected an IPv4 CIDR, got %q", s)
			continue
		case sub.Masked() != sub:
			p.add(k, "%q has host bits set; did you mean %s?", s, sub.Masked())
		case sub.Bits() > 28:
			p.add(k, "%q is smaller than the /28 AWS allows for a subnet", s)
		case vpcOK && (!vpc.Contains(sub.Addr()) || sub.Bits() < vpc.Bits()):
			p.add(k, "%s is not inside the VPC CIDR %s", s, vpc)
		}
		out = append(out, namedPrefix{k, sub})
	}
	return out
}

func checkSubnetIDs(p *Problems, k string, ids []string) {
	if len(ids) < 2 {
		p.add(k, "expected at least two subnet IDs in different availability zones, got %d", len(ids))
	}
	for _, id := range ids {
		if !subnetIDPattern.MatchString(id) {
			p.add(k, "expected a subnet ID such as subnet-0a1b2c3d4e5f67890, got %q", id)
		}
	}
}

func checkCIDRs(p *Problems, k string, cidrs []string) {
	for _, s := range cidrs {
		if pr, err := netip.ParsePrefix(s); err != nil || pr.Masked() != pr {
			p.add(k, "expected a CIDR such as 203.0.113.0/24, got %q", s)
		}
	}
}
