package components

import (
	_ "embed"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LoadBalancerControllerPolicy is the controller's official IAM policy
// (docs/install/iam_policy.json of kubernetes-sigs/aws-load-balancer-controller).
//
//go:embed policies/aws-load-balancer-controller-iam-policy.json
var LoadBalancerControllerPolicy string

// The controller's service account, which its IAM role trusts.
const (
	LoadBalancerControllerNamespace      = "kube-system"
	LoadBalancerControllerServiceAccount = "aws-load-balancer-controller"
)

// PodReadinessGateLabel, set to "enabled" on a namespace, makes the controller's pod webhook
// add target health readiness gates to the pods there that an ALB target group selects.
const PodReadinessGateLabel = "elbv2.k8s.aws/pod-readiness-gate-inject"

// LoadBalancerControllerArgs configures the AWS Load Balancer Controller.
type LoadBalancerControllerArgs struct {
	ClusterName pulumi.StringInput
	Region      string
	VPCID       pulumi.StringInput
	// Identity gives the controller its role (Cluster.Identity).
	Identity WorkloadIdentity
	Chart    ChartSource
	// CRDs are the chart's crds/ (stacks/charts reads them from Chart).
	CRDs []CRD
	Tags map[string]string
}

// LoadBalancerController is the AWS Load Balancer Controller with its IAM role (through EKS
// Pod Identity or IRSA). It turns Ingresses of class alb into ALBs.
type LoadBalancerController struct {
	pulumi.ResourceState

	RoleARN pulumi.StringOutput `pulumi:"roleArn"`
	// Ready is done only when the controller's pods are ready, and its readiness includes the
	// webhook server: Ingresses and Services created after it do not race the webhook.
	Ready pulumi.Resource
}

// NewLoadBalancerController creates the IAM role and policy and installs the chart. Pass the
// cluster's Kubernetes provider with pulumi.Providers.
func NewLoadBalancerController(ctx *pulumi.Context, name string, args *LoadBalancerControllerArgs, opts ...pulumi.ResourceOption) (*LoadBalancerController, error) {
	if args == nil || args.ClusterName == nil {
		return nil, fmt.Errorf("load balancer controller %s: the cluster name is required", name)
	}
	if err := args.Identity.check(); err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}
	c := &LoadBalancerController{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:aws:LoadBalancerController", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	policy, err := iam.NewPolicy(ctx, name, &iam.PolicyArgs{
		Description: pulumi.String("AWS Load Balancer Controller (official policy)"),
		Policy:      pulumi.String(LoadBalancerControllerPolicy),
		Tags:        pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}
	role, attachment, err := newWorkloadRole(ctx, name, workloadRole{
		Identity: args.Identity, Namespace: LoadBalancerControllerNamespace, ServiceAccount: LoadBalancerControllerServiceAccount,
		PolicyARN: policy.Arn, Tags: args.Tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}
	saAnnotations, credentials, err := serviceAccountRole(ctx, name, args.Identity,
		LoadBalancerControllerNamespace, LoadBalancerControllerServiceAccount, role.Arn, parent)
	if err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}

	values := lbcValues{
		ClusterName:  args.ClusterName,
		Region:       args.Region,
		VPCID:        args.VPCID,
		ReplicaCount: 2,
		ServiceAccount: lbcServiceAccount{
			Create:      true,
			Name:        LoadBalancerControllerServiceAccount,
			Annotations: saAnnotations,
		},
		PodAnnotations: map[string]string{CredentialsAnnotation: args.Identity.Mode},
		// Services are left alone (Kong's proxy Service is ClusterIP, behind an Ingress), which
		// also removes the Service-creation webhook race.
		EnableServiceMutatorWebhook: false,
		// Keep the webhook certificate across upgrades instead of regenerating it each render.
		KeepTLSSecret: true,
	}
	relArgs, err := releaseArgs("aws-load-balancer-controller", LoadBalancerControllerNamespace, args.Chart, values, 600)
	if err != nil {
		return nil, err
	}
	crds, err := NewChartCRDs(ctx, name+"-crds", &ChartCRDsArgs{Chart: args.Chart, CRDs: args.CRDs}, parent)
	if err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}
	release, err := helmv3.NewRelease(ctx, name, relArgs,
		parent,
		// The controller calls AWS as soon as it reconciles an Ingress: its role must have
		// the policy by then, and its pods are given the role only if the Pod Identity
		// association (and the agent) exist as they are created. None of these is an input
		// of the release. The chart's
		// templates create an IngressClassParams, and the controller watches its CRDs from
		// the start: they must be established first.
		pulumi.DependsOn(append(append([]pulumi.Resource{attachment}, credentials...), crds.Ready...)))
	if err != nil {
		return nil, fmt.Errorf("load balancer controller %s: %w", name, err)
	}
	c.RoleARN = role.Arn
	c.Ready = release
	return c, registerOutputs(ctx, c)
}

type lbcValues struct {
	ClusterName                 pulumi.StringInput `json:"clusterName"`
	Region                      string             `json:"region"`
	VPCID                       pulumi.StringInput `json:"vpcId"`
	ReplicaCount                int                `json:"replicaCount"`
	ServiceAccount              lbcServiceAccount  `json:"serviceAccount"`
	PodAnnotations              map[string]string  `json:"podAnnotations"`
	EnableServiceMutatorWebhook bool               `json:"enableServiceMutatorWebhook"`
	KeepTLSSecret               bool               `json:"keepTLSSecret"`
}

type lbcServiceAccount struct {
	Create      bool                          `json:"create"`
	Name        string                        `json:"name"`
	Annotations map[string]pulumi.StringInput `json:"annotations"`
}
