package components

import (
	"encoding/json"
	"fmt"
	"strings"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ClusterArgs describes the EKS cluster, its add-ons and its managed node group.
type ClusterArgs struct {
	// Name is the EKS cluster name, set explicitly so that everything else can use it.
	Name              string
	KubernetesVersion string
	// Region goes into the kubeconfig's `aws eks get-token` call.
	Region string

	// PrivateSubnetIDs hold the nodes and the control plane's network interfaces.
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

	// Addons pins the add-ons every node runs; empty versions mean EKS's defaults.
	Addons AddonVersions
	// WorkloadIdentity is how pods get IAM roles: PodIdentity or IRSA (managed nodes only).
	WorkloadIdentity string
	// AutoMode makes an EKS Auto Mode cluster: EKS runs the nodes, the networking, block
	// storage and load balancing, and the node group, the add-ons and the identity above are
	// not made. AutoNodes shapes its nodes.
	AutoMode  bool
	AutoNodes AutoNodes
	// AccessEntries grant IAM principals access to the cluster, beyond its creator.
	AccessEntries []AccessEntry

	Tags map[string]string
}

// AddonVersions are the versions of the EKS add-ons every node runs; empty means the version
// EKS makes the default for the cluster's Kubernetes version.
type AddonVersions struct {
	VPCCNI    string
	CoreDNS   string
	KubeProxy string
	// PodIdentityAgent is eks-pod-identity-agent's, installed with Pod Identity only.
	PodIdentityAgent string
}

// AccessEntry lets an IAM principal use the cluster with EKS access policies.
type AccessEntry struct {
	// PrincipalARN is an IAM role or user.
	PrincipalARN string
	// Policies are EKS access policy names, such as AmazonEKSClusterAdminPolicy.
	Policies []AccessPolicy
}

// AccessPolicy is one EKS access policy, for the whole cluster (Namespaces empty) or for some
// namespaces.
type AccessPolicy struct {
	Name       string
	Namespaces []string
}

// AccessPolicyARN is the ARN of an EKS access policy, by name.
func AccessPolicyARN(name string) string { return "arn:aws:eks::aws:cluster-access-policy/" + name }

// Cluster is an EKS cluster (access entries only, no aws-auth ConfigMap) with its networking
// add-ons, a managed node group in the private subnets, and what gives pods IAM roles: the EKS
// Pod Identity agent, or an IAM OIDC provider for IAM roles for service accounts; or an EKS
// Auto Mode cluster (cluster_auto.go). Nothing in it runs kubectl or any other local program
// but the AWS CLI, which the kubeconfig uses for tokens.
type Cluster struct {
	pulumi.ResourceState

	// Name resolves once the cluster exists.
	Name pulumi.StringOutput `pulumi:"clusterName"`
	// KubernetesVersion is the control plane's version, once it is at it: what add-ons
	// outside the component follow.
	KubernetesVersion pulumi.StringOutput `pulumi:"kubernetesVersion"`
	// OIDCProviderARN is the IAM OIDC provider's, with IRSA; empty with Pod Identity, which
	// has none. OIDCIssuerURL is the cluster's issuer (https://oidc.eks...).
	OIDCProviderARN pulumi.StringOutput `pulumi:"oidcProviderArn"`
	OIDCIssuerURL   pulumi.StringOutput `pulumi:"oidcIssuerUrl"`
	// Identity is what the components whose pods call AWS take their roles through.
	Identity WorkloadIdentity
	// Kubeconfig is secret: it names the cluster's endpoint and CA.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// SecurityGroupID is the cluster security group EKS made: the managed nodes carry it, and
	// so do the pods on them (the VPC CNI gives pods the node's groups).
	SecurityGroupID pulumi.StringOutput `pulumi:"clusterSecurityGroupId"`

	// Provider is the Kubernetes provider for everything inside the cluster. It is ready
	// only once the nodes and the add-ons every pod needs are, so workloads can run.
	Provider *kubernetes.Provider
	// Nodes is the managed node group.
	Nodes pulumi.Resource
}

// Managed policies of the node role. The VPC CNI's permissions (AmazonEKS_CNI_Policy) are
// not among them: the vpc-cni add-on has a role of its own.
var nodePolicies = []string{
	"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
	"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
}

const (
	clusterPolicyARN = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
	cniPolicyARN     = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
	// VPCCNIServiceAccount is the VPC CNI's service account (the aws-node DaemonSet).
	VPCCNIServiceAccount = "aws-node"
	// VPCCNIConfiguration switches on the VPC CNI's network policy agent, which enforces
	// Kubernetes NetworkPolicies (add-on v1.14.0-eksbuild.3 or later).
	VPCCNIConfiguration = `{"enableNetworkPolicy":"true"}`
)

// NewCluster creates the EKS cluster, its add-ons, its node group, the OIDC provider, the
// access entries and the Kubernetes provider.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil || args.Name == "" || args.Region == "" || args.PrivateSubnetIDs == nil {
		return nil, fmt.Errorf("cluster %s: args with a cluster name, region and private subnets are required", name)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	if err := c.create(ctx, name, args); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, registerOutputs(ctx, c)
}

func (c *Cluster) create(ctx *pulumi.Context, name string, args *ClusterArgs) error {
	parent := pulumi.Parent(c)
	tags := pulumi.ToStringMap(args.Tags)

	clusterRole, clusterPolicy, err := c.clusterRole(ctx, name, args)
	if err != nil {
		return err
	}
	clusterArgs := &awseks.ClusterArgs{
		Name:    pulumi.String(args.Name),
		Version: pulumi.String(args.KubernetesVersion),
		RoleArn: clusterRole.Arn,
		VpcConfig: awseks.ClusterVpcConfigArgs{
			SubnetIds:             args.PrivateSubnetIDs,
			EndpointPublicAccess:  pulumi.Bool(args.EndpointPublicAccess),
			EndpointPrivateAccess: pulumi.Bool(args.EndpointPrivateAccess),
			PublicAccessCidrs:     pulumi.ToStringArray(args.PublicAccessCIDRs),
		},
		// Access entries, not the aws-auth ConfigMap: access is managed through the EKS API,
		// and the creator is an administrator (EKS's default) so the first deployment can
		// install everything.
		AccessConfig: awseks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		// EKS installs no unmanaged copies of the VPC CNI, CoreDNS and kube-proxy: the EKS
		// add-ons below are the only ones, from the first node on.
		BootstrapSelfManagedAddons: pulumi.Bool(false),
		Tags:                       tags,
	}
	var autoNodePolicies []pulumi.Resource
	if args.AutoMode {
		if autoNodePolicies, err = c.autoMode(ctx, name, args, clusterArgs); err != nil {
			return err
		}
	}
	cluster, err := awseks.NewCluster(ctx, name, clusterArgs,
		parent,
		// EKS checks the cluster role's permissions when it creates the cluster; the
		// attachment is not an input.
		pulumi.DependsOn(clusterPolicy),
		// Both settings count at creation only and force a new cluster when they change; EKS
		// has not always read them back as they were set (pulumi-aws #3997, fixed upstream in
		// terraform-provider-aws #38295), and a misread must never replace the cluster.
		pulumi.IgnoreChanges([]string{"accessConfig.bootstrapClusterCreatorAdminPermissions", "bootstrapSelfManagedAddons"}),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "30m", Update: "60m", Delete: "15m"}))
	if err != nil {
		return err
	}
	issuer := cluster.Identities.Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer().Elem()
	c.Name = cluster.Name
	c.KubernetesVersion = cluster.Version
	c.SecurityGroupID = cluster.VpcConfig.ClusterSecurityGroupId().Elem()
	c.OIDCIssuerURL = issuer
	c.OIDCProviderARN = pulumi.String("").ToStringOutput() // IRSA's provider, if any: identity
	if args.AutoMode {
		return c.finishAuto(ctx, name, args, cluster, autoNodePolicies)
	}
	if err := c.identity(ctx, name, args, cluster, issuer); err != nil {
		return err
	}

	nodeRole, nodePolicy, err := newServiceRole(ctx, name+"-node", "ec2.amazonaws.com", nodePolicies, args.Tags, parent)
	if err != nil {
		return err
	}
	cniRole, cniPolicy, err := newWorkloadRole(ctx, name+"-vpc-cni", workloadRole{
		Identity: c.Identity, Namespace: "kube-system", ServiceAccount: VPCCNIServiceAccount,
		PolicyARN: pulumi.String(cniPolicyARN), Tags: args.Tags,
	}, parent)
	if err != nil {
		return err
	}
	// aws-node assigns pod addresses through its role from its first start. With Pod
	// Identity the agent must be there as well when an update of the add-on restarts
	// aws-node on running nodes (on the first deploy, no node exists yet while both are
	// created, and it costs the few seconds EKS takes to create a DaemonSet add-on).
	cniWaitsFor := []pulumi.Resource{cniPolicy}
	if c.Identity.Agent != nil {
		cniWaitsFor = append(cniWaitsFor, c.Identity.Agent)
	}
	vpcCNI, err := newEKSAddon(ctx, name+"-vpc-cni", eksAddon{
		ClusterName: cluster.Name, Name: "vpc-cni", Version: args.Addons.VPCCNI, KubernetesVersion: cluster.Version,
		Role:                &addonRole{Identity: c.Identity, ServiceAccount: VPCCNIServiceAccount, ARN: cniRole.Arn},
		ConfigurationValues: VPCCNIConfiguration, Tags: args.Tags,
	}, parent, pulumi.DependsOn(cniWaitsFor))
	if err != nil {
		return err
	}

	// kube-proxy, a DaemonSet, is ACTIVE with no node yet. The VPC CNI before v1.20 reaches
	// the API server through the kubernetes Service's cluster IP, which kube-proxy routes
	// (amazon-vpc-cni-k8s #2138): without it a new node never turns Ready.
	kubeProxy, err := newEKSAddon(ctx, name+"-kube-proxy", eksAddon{
		ClusterName: cluster.Name, Name: "kube-proxy", Version: args.Addons.KubeProxy, KubernetesVersion: cluster.Version, Tags: args.Tags,
	}, parent)
	if err != nil {
		return err
	}

	// A node is Ready only once the VPC CNI (and kube-proxy, which it may need) runs on it;
	// with Pod Identity, aws-node gets its credentials from the agent on the same node.
	nodeAddons := []pulumi.Resource{vpcCNI, kubeProxy}
	if c.Identity.Agent != nil {
		nodeAddons = append(nodeAddons, c.Identity.Agent)
	}
	nodeGroup, err := awseks.NewNodeGroup(ctx, name+"-nodes", &awseks.NodeGroupArgs{
		ClusterName: cluster.Name,
		// The nodes follow the control plane's version: left unset, EKS picks the cluster's
		// version at creation and never changes it (pulumi-aws: "The provider will only
		// perform drift detection if a configuration value is provided"), and the next
		// cluster upgrade is then refused while a node group is a minor behind. As an
		// output of the cluster, it updates only after the control plane has.
		Version:       cluster.Version,
		NodeRoleArn:   nodeRole.Arn,
		SubnetIds:     args.PrivateSubnetIDs,
		InstanceTypes: pulumi.StringArray{pulumi.String(args.NodeInstanceType)},
		AmiType:       pulumi.String(args.NodeAMIType),
		ScalingConfig: awseks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.NodeMinSize),
			DesiredSize: pulumi.Int(args.NodeDesiredSize),
			MaxSize:     pulumi.Int(args.NodeMaxSize),
		},
		// A rolling update (a new AMI release or Kubernetes version) replaces one node at a
		// time: EKS drains it, respecting PodDisruptionBudgets, and the data plane's PDB and
		// the ALB's readiness gates keep a proxy registered and serving throughout.
		UpdateConfig: awseks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		Tags:         tags,
	},
		parent,
		// A node is Ready only once its add-ons run on it (above), and it joins only with the
		// worker policies on its role (AmazonEKSWorkerNodePolicy also allows the agent's
		// eks-auth:AssumeRoleForPodIdentity) and a route out of its private subnet (the EKS
		// and ECR endpoints). None of these is an input. (EKS itself makes the node role's
		// access entry for a managed node group.)
		pulumi.DependsOn(append(append(nodeAddons, nodePolicy...), args.NodesWaitFor...)),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "30m", Update: "60m", Delete: "30m"}))
	if err != nil {
		return err
	}
	c.Nodes = nodeGroup

	// CoreDNS is a Deployment: EKS reports it ACTIVE only once its pods run on nodes.
	coreDNS, err := newEKSAddon(ctx, name+"-coredns", eksAddon{
		ClusterName: cluster.Name, Name: "coredns", Version: args.Addons.CoreDNS, KubernetesVersion: cluster.Version, Tags: args.Tags,
	}, parent, pulumi.DependsOn([]pulumi.Resource{nodeGroup}))
	if err != nil {
		return err
	}

	access, err := c.grantAccess(ctx, name, cluster, args.AccessEntries)
	if err != nil {
		return err
	}
	// Every workload this provider deploys waits for its pods (Helm releases with wait):
	// they need nodes to run on, kube-proxy to reach Services (the API server's too) and
	// CoreDNS to resolve names.
	return c.kubernetesProvider(ctx, name, args, cluster, append([]pulumi.Resource{nodeGroup, kubeProxy, coreDNS}, access...))
}

// kubernetesProvider makes the kubeconfig and the Kubernetes provider, which waits for
// workloadsNeed and the access entries among them.
func (c *Cluster) kubernetesProvider(ctx *pulumi.Context, name string, args *ClusterArgs, cluster *awseks.Cluster, workloadsNeed []pulumi.Resource) error {
	c.Kubeconfig = pulumi.ToSecret(pulumi.All(cluster.Endpoint, cluster.CertificateAuthority.Data().Elem(), cluster.Name).
		ApplyT(func(v []any) (string, error) {
			return Kubeconfig(v[0].(string), v[1].(string), v[2].(string), args.Region)
		})).(pulumi.StringOutput)
	provider, err := kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: c.Kubeconfig,
	},
		pulumi.Parent(c),
		// A principal that reaches the cluster only through an access entry (a CI role that
		// did not create the cluster) needs the entry and its policies before the first
		// Kubernetes call, and on destroy until the last one: the engine deletes every
		// Kubernetes resource before what this provider depends on.
		pulumi.DependsOn(workloadsNeed))
	if err != nil {
		return err
	}
	c.Provider = provider
	return nil
}

// identity makes what gives pods IAM roles: the Pod Identity agent add-on, or the IAM OIDC
// provider that IRSA roles trust.
func (c *Cluster) identity(ctx *pulumi.Context, name string, args *ClusterArgs, cluster *awseks.Cluster, issuer pulumi.StringOutput) error {
	c.Identity = WorkloadIdentity{Mode: args.WorkloadIdentity, ClusterName: cluster.Name}
	if c.Identity.PodIdentity() {
		// A DaemonSet with no node to run on yet: EKS reports it ACTIVE at once, like
		// kube-proxy.
		agent, err := newEKSAddon(ctx, name+"-pod-identity-agent", eksAddon{
			ClusterName: cluster.Name, Name: "eks-pod-identity-agent", Version: args.Addons.PodIdentityAgent,
			KubernetesVersion: cluster.Version, Tags: args.Tags,
		}, pulumi.Parent(c))
		if err != nil {
			return err
		}
		c.Identity.Agent = agent
		return c.Identity.check()
	}
	oidc, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
		Tags:          pulumi.ToStringMap(args.Tags),
	}, pulumi.Parent(c))
	if err != nil {
		return err
	}
	c.OIDCProviderARN = oidc.Arn
	c.Identity.OIDCProviderARN = oidc.Arn
	c.Identity.OIDCIssuerURL = issuer
	return c.Identity.check()
}

// grantAccess makes an access entry per principal and an association per access policy, and
// returns them all.
func (c *Cluster) grantAccess(ctx *pulumi.Context, name string, cluster *awseks.Cluster, entries []AccessEntry) ([]pulumi.Resource, error) {
	parent := pulumi.Parent(c)
	var made []pulumi.Resource
	for _, e := range entries {
		entryName := name + "-access-" + principalName(e.PrincipalARN)
		entry, err := awseks.NewAccessEntry(ctx, entryName, &awseks.AccessEntryArgs{
			ClusterName:  cluster.Name,
			PrincipalArn: pulumi.String(e.PrincipalARN),
			Type:         pulumi.String("STANDARD"),
		}, parent)
		if err != nil {
			return nil, err
		}
		made = append(made, entry)
		for _, p := range e.Policies {
			scope := awseks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")}
			if len(p.Namespaces) > 0 {
				scope = awseks.AccessPolicyAssociationAccessScopeArgs{
					Type: pulumi.String("namespace"), Namespaces: pulumi.ToStringArray(p.Namespaces),
				}
			}
			association, err := awseks.NewAccessPolicyAssociation(ctx, entryName+"-"+p.Name, &awseks.AccessPolicyAssociationArgs{
				ClusterName:  cluster.Name,
				PrincipalArn: entry.PrincipalArn,
				PolicyArn:    pulumi.String(AccessPolicyARN(p.Name)),
				AccessScope:  scope,
			}, parent)
			if err != nil {
				return nil, err
			}
			made = append(made, association)
		}
	}
	return made, nil
}

// principalName names a principal's resources after its ARN's resource part
// ("role/ops/admins" -> "role-ops-admins"), so that reordering the entries changes nothing.
func principalName(arn string) string {
	_, resource, _ := strings.Cut(arn, ":iam::")
	if _, rest, ok := strings.Cut(resource, ":"); ok {
		resource = rest
	}
	return strings.ReplaceAll(resource, "/", "-")
}

// Kubeconfig is a kubeconfig (JSON) for the cluster that gets its tokens from
// `aws eks get-token`, as the credentials of whoever uses it.
func Kubeconfig(endpoint, caData, cluster, region string) (string, error) {
	b, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": cluster,
		"clusters": []any{map[string]any{"name": cluster, "cluster": map[string]any{
			"server": endpoint, "certificate-authority-data": caData,
		}}},
		"contexts": []any{map[string]any{"name": cluster, "context": map[string]any{"cluster": cluster, "user": cluster}}},
		"users": []any{map[string]any{"name": cluster, "user": map[string]any{"exec": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1beta1",
			"command":    "aws",
			"args":       []any{"eks", "get-token", "--cluster-name", cluster, "--region", region, "--output", "json"},
		}}}},
	})
	return string(b), err
}
