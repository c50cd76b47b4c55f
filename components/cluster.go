package components

import (
	"fmt"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ClusterArgs describes the EKS cluster and its managed node group.
type ClusterArgs struct {
	// Name is the EKS cluster name, set explicitly so that everything else can use it.
	Name              string
	KubernetesVersion string

	VPCID            pulumi.StringInput
	VPCCIDR          pulumi.StringInput
	PublicSubnetIDs  pulumi.StringArrayInput
	PrivateSubnetIDs pulumi.StringArrayInput
	// NodesWaitFor: what the nodes need before they can join, beyond the subnets themselves
	// (the private subnets' routes to their NAT gateways).
	NodesWaitFor []pulumi.Resource

	NodeInstanceType string
	NodeAMIType      string
	NodeMinSize      int
	NodeDesiredSize  int
	NodeMaxSize      int

	EndpointPublicAccess  bool
	EndpointPrivateAccess bool
	PublicAccessCIDRs     []string

	Tags map[string]string
}

// Cluster is an EKS cluster with a managed AL2023 node group in the private subnets and an
// IAM OIDC provider for IAM roles for service accounts.
type Cluster struct {
	pulumi.ResourceState

	// Name resolves once the cluster exists.
	Name pulumi.StringOutput `pulumi:"clusterName"`
	// OIDCProviderARN and OIDCIssuerURL (https://oidc.eks...) are what IRSA trust policies use.
	OIDCProviderARN pulumi.StringOutput `pulumi:"oidcProviderArn"`
	OIDCIssuerURL   pulumi.StringOutput `pulumi:"oidcIssuerUrl"`
	// Kubeconfig is secret: it names the cluster's endpoint and CA.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	VPCID      pulumi.StringOutput `pulumi:"vpcId"`
	VPCCIDR    pulumi.StringOutput `pulumi:"vpcCidr"`

	// Provider is the Kubernetes provider for everything inside the cluster. It is ready
	// only once the node group is, so workloads have somewhere to run.
	Provider *kubernetes.Provider
	// Nodes is the managed node group.
	Nodes pulumi.Resource
}

// Managed policies every EKS worker node role needs.
var nodePolicies = []string{
	"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
	"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
	"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
}

// NewCluster creates the EKS cluster, its node group, the OIDC provider and the Kubernetes
// provider.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil || args.Name == "" {
		return nil, fmt.Errorf("cluster %s: args with a cluster name are required", name)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	if err := c.create(ctx, name, args); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"clusterName": c.Name, "oidcProviderArn": c.OIDCProviderARN, "oidcIssuerUrl": c.OIDCIssuerURL,
		"kubeconfig": c.Kubeconfig, "vpcId": c.VPCID, "vpcCidr": c.VPCCIDR,
	})
}

func (c *Cluster) create(ctx *pulumi.Context, name string, args *ClusterArgs) error {
	parent := pulumi.Parent(c)
	tags := pulumi.ToStringMap(args.Tags)
	authMode := eks.AuthenticationModeApi
	cluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:                  pulumi.String(args.Name),
		Version:               pulumi.String(args.KubernetesVersion),
		VpcId:                 args.VPCID,
		PublicSubnetIds:       args.PublicSubnetIDs,
		PrivateSubnetIds:      args.PrivateSubnetIDs,
		EndpointPublicAccess:  pulumi.Bool(args.EndpointPublicAccess),
		EndpointPrivateAccess: pulumi.Bool(args.EndpointPrivateAccess),
		PublicAccessCidrs:     pulumi.ToStringArray(args.PublicAccessCIDRs),
		AuthenticationMode:    &authMode,
		// The node group below replaces the default one; the OIDC provider is ours (see below).
		SkipDefaultNodeGroup:         pulumi.BoolRef(true),
		CreateOidcProvider:           pulumi.Bool(false),
		NodeAssociatePublicIpAddress: pulumi.BoolRef(false),
		Tags:                         tags,
	}, parent)
	if err != nil {
		return err
	}

	nodeRole, err := iam.NewRole(ctx, name+"-node", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		Tags:             tags,
	}, parent)
	if err != nil {
		return err
	}
	attachments := make([]pulumi.Resource, 0, len(nodePolicies))
	for i, arn := range nodePolicies {
		a, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-node-%d", name, i), &iam.RolePolicyAttachmentArgs{
			Role: nodeRole.Name, PolicyArn: pulumi.String(arn),
		}, parent)
		if err != nil {
			return err
		}
		attachments = append(attachments, a)
	}
	nodeGroup, err := eks.NewManagedNodeGroup(ctx, name+"-nodes", &eks.ManagedNodeGroupArgs{
		Cluster:       cluster,
		NodeRole:      nodeRole,
		SubnetIds:     args.PrivateSubnetIDs,
		InstanceTypes: pulumi.StringArray{pulumi.String(args.NodeInstanceType)},
		AmiType:       pulumi.String(args.NodeAMIType),
		ScalingConfig: awseks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.NodeMinSize),
			DesiredSize: pulumi.Int(args.NodeDesiredSize),
			MaxSize:     pulumi.Int(args.NodeMaxSize),
		},
		Tags: tags,
	},
		parent,
		// Nodes cannot join before their role has the worker policies, nor without a route
		// out of their private subnets (the EKS and ECR endpoints); neither is an input of
		// the node group. The control plane does not wait for the NAT gateways.
		pulumi.DependsOn(append(attachments, args.NodesWaitFor...)))
	if err != nil {
		return err
	}

	// pulumi-eks v2 exposes its OIDC provider only as a resource reference; reading the issuer
	// from the EKS API and owning the provider keeps the ARN a plain output. The lookup's name
	// is derived from the kubeconfig so that it is unknown, and the lookup skipped, until the
	// cluster exists (a preview of a new stack must not look up a cluster that isn't there).
	existingName := pulumi.Unsecret(cluster.KubeconfigJson.ApplyT(func(string) string { return args.Name })).(pulumi.StringOutput)
	described := awseks.LookupClusterOutput(ctx, awseks.LookupClusterOutputArgs{Name: existingName}, parent)
	issuer := described.Identities().Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer()
	oidc, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
		Tags:          tags,
	}, parent)
	if err != nil {
		return err
	}

	kubeconfig := pulumi.ToSecret(cluster.KubeconfigJson).(pulumi.StringOutput)
	provider, err := kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
	},
		parent,
		// Every workload this provider deploys waits for its pods (Helm releases with wait):
		// without nodes none would ever be ready.
		pulumi.DependsOn([]pulumi.Resource{nodeGroup}))
	if err != nil {
		return err
	}

	c.Name = described.Name()
	c.OIDCProviderARN = oidc.Arn
	c.OIDCIssuerURL = issuer
	c.Kubeconfig = kubeconfig
	c.VPCID = args.VPCID.ToStringOutput()
	c.VPCCIDR = args.VPCCIDR.ToStringOutput()
	c.Provider = provider
	c.Nodes = nodeGroup
	return nil
}
