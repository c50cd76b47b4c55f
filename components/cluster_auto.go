package components

import (
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EKS Auto Mode: the cluster's compute, block storage and load balancing are EKS's.

// Node architectures and capacity types of Auto Mode's nodes (the kubernetes.io/arch and
// karpenter.sh/capacity-type values).
const (
	AMD64    = "amd64"
	ARM64    = "arm64"
	OnDemand = "on-demand"
	Spot     = "spot"
)

// Auto Mode's built-in node pools (EKS User Guide, "Enable or disable built-in NodePools"):
// system, tainted CriticalAddonsOnly, for EKS's own add-ons; general-purpose, amd64 on-demand
// C, M and R instances of generation 5 or newer, for everything else.
const (
	SystemNodePool         = "system"
	GeneralPurposeNodePool = "general-purpose"
)

// AutoNodes shapes an Auto Mode cluster's nodes for the workloads.
type AutoNodes struct {
	Architecture string // AMD64 or ARM64
	CapacityType string // OnDemand or Spot
}

// BuiltIn reports whether the built-in general-purpose pool gives these nodes.
func (n AutoNodes) BuiltIn() bool {
	return (n.Architecture == "" || n.Architecture == AMD64) && (n.CapacityType == "" || n.CapacityType == OnDemand)
}

// The cluster role's managed policies in Auto Mode, and the node role's (EKS User Guide, "Learn
// about identity and access in EKS Auto Mode"; the example of pulumi-aws's eks.Cluster).
var (
	autoModeClusterPolicies = []string{
		clusterPolicyARN,
		"arn:aws:iam::aws:policy/AmazonEKSComputePolicy",
		"arn:aws:iam::aws:policy/AmazonEKSBlockStoragePolicy",
		"arn:aws:iam::aws:policy/AmazonEKSLoadBalancingPolicy",
		"arn:aws:iam::aws:policy/AmazonEKSNetworkingPolicy",
	}
	autoModeNodePolicies = []string{
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodeMinimalPolicy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
	}
)

// clusterRole is the role EKS assumes for the cluster. In Auto Mode EKS tags its sessions
// (sts:TagSession, which the Auto Mode policies' conditions read) and acts for the nodes,
// volumes and load balancers with the Auto Mode policies.
func (c *Cluster) clusterRole(ctx *pulumi.Context, name string, args *ClusterArgs) (*iam.Role, []pulumi.Resource, error) {
	if !args.AutoMode {
		return newServiceRole(ctx, name+"-cluster", "eks.amazonaws.com", []string{clusterPolicyARN}, args.Tags, pulumi.Parent(c))
	}
	return newServiceRoleActing(ctx, name+"-cluster", "eks.amazonaws.com", []string{"sts:AssumeRole", "sts:TagSession"},
		autoModeClusterPolicies, args.Tags, pulumi.Parent(c))
}

// autoMode makes the node role and sets the cluster's Auto Mode capabilities. The three are
// switched on together (CreateCluster refuses them apart: terraform-provider-aws's
// validation "compute_config.enabled, kubernetes_network_config.elastic_load_balancing.enabled,
// and storage_config.block_storage.enabled must all be set to either true or false").
// bootstrapSelfManagedAddons is false already, as Auto Mode requires.
func (c *Cluster) autoMode(ctx *pulumi.Context, name string, args *ClusterArgs, cluster *awseks.ClusterArgs) ([]pulumi.Resource, error) {
	nodeRole, nodePolicies, err := newServiceRole(ctx, name+"-node", "ec2.amazonaws.com", autoModeNodePolicies, args.Tags, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	// With a node pool of the program's, the built-in general-purpose pool is left out, so
	// that the workloads land on the program's nodes; system stays for EKS's own add-ons, and
	// a built-in pool must be on for EKS to make the default NodeClass the program's pool uses
	// (EKS User Guide, "Enable or disable built-in NodePools").
	pools := pulumi.StringArray{pulumi.String(SystemNodePool), pulumi.String(GeneralPurposeNodePool)}
	if !args.AutoNodes.BuiltIn() {
		pools = pulumi.StringArray{pulumi.String(SystemNodePool)}
	}
	cluster.ComputeConfig = awseks.ClusterComputeConfigArgs{
		Enabled: pulumi.Bool(true), NodePools: pools, NodeRoleArn: nodeRole.Arn,
	}
	cluster.KubernetesNetworkConfig = awseks.ClusterKubernetesNetworkConfigArgs{
		ElasticLoadBalancing: awseks.ClusterKubernetesNetworkConfigElasticLoadBalancingArgs{Enabled: pulumi.Bool(true)},
	}
	cluster.StorageConfig = awseks.ClusterStorageConfigArgs{
		BlockStorage: awseks.ClusterStorageConfigBlockStorageArgs{Enabled: pulumi.Bool(true)},
	}
	return nodePolicies, nil
}

// finishAuto makes what an Auto Mode cluster needs beyond EKS's: the access entries, the
// Kubernetes provider and, where the built-in pools do not give the nodes asked for, a node
// pool. EKS makes the node role's access entry itself (type EC2, AmazonEKSAutoNodePolicy:
// "EKS automatically creates an Access Entry for the Node IAM Role during cluster creation",
// EKS User Guide, "Create a Node Class"), so the program makes none.
func (c *Cluster) finishAuto(ctx *pulumi.Context, name string, args *ClusterArgs, cluster *awseks.Cluster, nodePolicies []pulumi.Resource) error {
	access, err := c.grantAccess(ctx, name, cluster, args.AccessEntries)
	if err != nil {
		return err
	}
	// EKS runs the networking, DNS and the nodes. A node joins only with the policies on its
	// role and a route out of its private subnet, as the managed nodes do; none of these is
	// an input.
	workloadsNeed := append(append(append([]pulumi.Resource{}, nodePolicies...), args.NodesWaitFor...), access...)
	if err := c.kubernetesProvider(ctx, name, args, cluster, workloadsNeed); err != nil {
		return err
	}
	c.Nodes = cluster
	if args.AutoNodes.BuiltIn() {
		return nil
	}
	pool, err := NewNodePool(ctx, name, &NodePoolArgs{Nodes: args.AutoNodes}, pulumi.Parent(c), pulumi.Provider(c.Provider))
	if err != nil {
		return err
	}
	c.Nodes = pool
	return nil
}
