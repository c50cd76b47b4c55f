package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// WildcardRecordsArgs points *.Domain at an application load balancer.
type WildcardRecordsArgs struct {
	Domain string
	ZoneID pulumi.StringInput
	// Region of the load balancer: its canonical hosted zone depends on it.
	Region string
	// ALBHostname is the load balancer's DNS name, e.g. the Ingress's status hostname.
	ALBHostname pulumi.StringInput
	// IPv6 adds an AAAA alias, for a dual-stack load balancer.
	IPv6 bool
}

// WildcardRecords are the Route53 alias records for *.Domain.
type WildcardRecords struct {
	pulumi.ResourceState

	// FQDN is the record name, *.Domain.
	FQDN pulumi.StringOutput `pulumi:"fqdn"`
}

// NewWildcardRecords creates the alias A (and AAAA) records.
func NewWildcardRecords(ctx *pulumi.Context, name string, args *WildcardRecordsArgs, opts ...pulumi.ResourceOption) (*WildcardRecords, error) {
	if args == nil || args.ALBHostname == nil || args.ZoneID == nil {
		return nil, fmt.Errorf("wildcard records %s: args with a zone ID and an ALB hostname are required", name)
	}
	w := &WildcardRecords{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:dns:WildcardRecords", name, w, opts...); err != nil {
		return nil, err
	}
	// Aliases to an ALB name the region's canonical hosted zone for application load
	// balancers, not the zone the record lives in.
	canonical, err := lb.GetHostedZoneId(ctx, &lb.GetHostedZoneIdArgs{
		Region:           pulumi.StringRef(args.Region),
		LoadBalancerType: pulumi.StringRef("application"),
	}, pulumi.Parent(w))
	if err != nil {
		return nil, fmt.Errorf("wildcard records %s: looking up the ALB hosted zone of %s: %w", name, args.Region, err)
	}
	types := []string{"A"}
	if args.IPv6 {
		types = append(types, "AAAA")
	}
	for _, t := range types {
		r, err := route53.NewRecord(ctx, name+"-"+t, &route53.RecordArgs{
			ZoneId: args.ZoneID,
			Name:   pulumi.String("*." + args.Domain),
			Type:   pulumi.String(t),
			Aliases: route53.RecordAliasArray{route53.RecordAliasArgs{
				Name:                 args.ALBHostname,
				ZoneId:               pulumi.String(canonical.Id),
				EvaluateTargetHealth: pulumi.Bool(true),
			}},
		}, pulumi.Parent(w))
		if err != nil {
			return nil, fmt.Errorf("wildcard records %s: %w", name, err)
		}
		if t == "A" {
			w.FQDN = r.Fqdn
		}
	}
	return w, registerOutputs(ctx, w)
}
