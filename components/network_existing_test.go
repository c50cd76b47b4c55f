package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// existingSubnets answers the lookups of an existing VPC as EC2 does for subnets that may have
// no IPv6 range (DescribeSubnets leaves it out) and that lie in the zones given.
type existingSubnets struct {
	zones map[string]string
	ipv6  bool
}

func (m existingSubnets) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "-id", args.Inputs, nil
}

func (m existingSubnets) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	id := args.Args["id"].StringValue()
	out := map[string]any{"id": id, "cidrBlock": "10.100.0.0/24"}
	if args.Token == "aws:ec2/getSubnet:getSubnet" {
		out["availabilityZone"] = m.zones[id]
		if m.ipv6 {
			out["ipv6CidrBlock"] = "2600:1f18:1:100::/64"
		}
	}
	return resource.NewPropertyMapFromMap(out), nil
}

func TestExistingPublicSubnetsMustFitTheALB(t *testing.T) {
	t.Parallel()
	const a, b = "subnet-00000000000000001", "subnet-00000000000000002"
	for _, c := range []struct {
		name  string
		mocks existingSubnets
		ipv6  bool
		want  string
	}{
		{"dual-stack ALB, IPv4-only subnets", existingSubnets{zones: map[string]string{a: region + "a", b: region + "b"}}, true,
			"existing public subnets " + a + ", " + b + " have no IPv6 range, which a dual-stack ALB needs"},
		{"one zone", existingSubnets{zones: map[string]string{a: region + "a", b: region + "a"}, ipv6: true}, false,
			"are all in one availability zone; an ALB needs subnets in two zones at least"},
		{"dual-stack ALB, IPv6 subnets in two zones", existingSubnets{zones: map[string]string{a: region + "a", b: region + "b"}, ipv6: true}, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := components.NewNetwork(ctx, "net", &components.NetworkArgs{
					ClusterName:              "demo",
					ExistingVPCID:            "vpc-0a1b2c3d4e5f67890",
					ExistingPublicSubnetIDs:  []string{a, b},
					ExistingPrivateSubnetIDs: []string{"subnet-00000000000000003", "subnet-00000000000000004"},
					IPv6:                     c.ipv6,
				})
				return err
			}, pulumi.WithMocks("kong-alb-eks", "test", c.mocks))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error = %v, want one saying %q", err, c.want)
			}
		})
	}
}
