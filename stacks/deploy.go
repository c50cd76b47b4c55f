package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// Environment is what Deploy registered, and the stack outputs it exported.
type Environment struct {
	Network     *components.Network
	Cluster     *components.Cluster
	Certificate *components.Certificate

	// Outputs are the stack outputs, by the names in outputs.go.
	Outputs pulumi.Map
}

// LoadAndDeploy loads the configuration from the stack's config, validates it (registering
// nothing when it is invalid) and deploys.
func LoadAndDeploy(ctx *pulumi.Context) (*Environment, error) {
	cfg, err := LoadConfig(ctx.GetConfig)
	if err != nil {
		return nil, err
	}
	return Deploy(ctx, cfg)
}

// Deploy registers the whole environment. It validates cfg first, so a configuration built in
// Go gets the same checks as one loaded from a stack.
func Deploy(ctx *pulumi.Context, cfg Config) (*Environment, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env := &Environment{Outputs: pulumi.Map{}}
	clusterName := cfg.ClusterName(ctx.Stack())
	tags := map[string]string{"project": Project, "stack": ctx.Stack(), "managed-by": "pulumi"}

	zone, err := route53.LookupZone(ctx, &route53.LookupZoneArgs{
		Name:        pulumi.StringRef(cfg.HostedZone),
		PrivateZone: pulumi.BoolRef(false),
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the public hosted zone %s: %w", cfg.HostedZone, err)
	}
	zoneID := pulumi.String(zone.ZoneId)

	n := cfg.Network
	env.Network, err = components.NewNetwork(ctx, clusterName, &components.NetworkArgs{
		ClusterName:              clusterName,
		VPCCIDR:                  n.VPCCIDR,
		PublicSubnetCIDRs:        n.PublicSubnetCIDRs,
		PrivateSubnetCIDRs:       n.PrivateSubnetCIDRs,
		AvailabilityZones:        n.AvailabilityZones,
		SingleNATGateway:         n.NATGateways == NATSingle,
		IPv6:                     cfg.ALB.IPAddressType == DualStack,
		ExistingVPCID:            n.ExistingVPCID,
		ExistingPublicSubnetIDs:  n.ExistingPublicSubnetIDs,
		ExistingPrivateSubnetIDs: n.ExistingPrivateSubnetIDs,
		Tags:                     tags,
	})
	if err != nil {
		return nil, err
	}

	cl := cfg.Cluster
	env.Cluster, err = components.NewCluster(ctx, clusterName, &components.ClusterArgs{
		Name:                  clusterName,
		KubernetesVersion:     cl.KubernetesVersion,
		VPCID:                 env.Network.VPCID,
		VPCCIDR:               env.Network.VPCCIDR,
		PublicSubnetIDs:       env.Network.PublicSubnetIDs,
		PrivateSubnetIDs:      env.Network.PrivateSubnetIDs,
		NodeInstanceType:      cl.NodeInstanceType,
		NodeAMIType:           cl.NodeAMIType,
		NodeMinSize:           cl.NodeMinSize,
		NodeDesiredSize:       cl.NodeDesiredSize,
		NodeMaxSize:           cl.NodeMaxSize,
		EndpointPublicAccess:  cl.EndpointPublicAccess,
		EndpointPrivateAccess: cl.EndpointPrivateAccess,
		PublicAccessCIDRs:     cl.PublicAccessCIDRs,
		Tags:                  tags,
	})
	if err != nil {
		return nil, err
	}

	// The certificate depends on nothing in the cluster: ACM validation runs in parallel with
	// the EKS control plane.
	c := cfg.Certificate
	env.Certificate, err = components.NewCertificate(ctx, cfg.Domain, &components.CertificateArgs{
		Domain:     cfg.Domain,
		Mode:       c.Mode,
		ZoneID:     zoneID,
		ARN:        c.ARN,
		Body:       c.Body,
		Chain:      c.Chain,
		PrivateKey: pulumi.ToSecret(pulumi.String(c.PrivateKey.Reveal())).(pulumi.StringOutput),
		Tags:       tags,
	})
	if err != nil {
		return nil, err
	}

	env.Outputs[OutputRegion] = pulumi.String(cfg.Region)
	env.Outputs[OutputDomain] = pulumi.String(cfg.Domain)
	env.Outputs[OutputClusterName] = env.Cluster.Name
	env.Outputs[OutputVPCID] = env.Network.VPCID
	env.Outputs[OutputCertificateARN] = env.Certificate.ARN
	env.Outputs[OutputOIDCProviderARN] = env.Cluster.OIDCProviderARN
	env.Outputs[OutputKubeconfig] = env.Cluster.Kubeconfig

	for name, value := range env.Outputs {
		ctx.Export(name, value)
	}
	return env, nil
}
