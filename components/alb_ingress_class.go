package components

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AutoModeALBController is the IngressClass controller of EKS Auto Mode's built-in load
// balancing, and its IngressClassParams' API (EKS User Guide, "Create an IngressClass to
// configure an Application Load Balancer").
const (
	AutoModeALBController = "eks.amazonaws.com/alb"
	autoModeParamsGroup   = "eks.amazonaws.com"
)

// AutoModePodReadinessGateLabel, set to "enabled" on a namespace, makes Auto Mode's load
// balancing give the pods there that an ALB target group selects target-health readiness gates
// (its webhook's namespace selector, as AWS's blog on highly available applications in EKS
// Auto Mode uses it; the user guide does not document it).
const AutoModePodReadinessGateLabel = "eks.amazonaws.com/pod-readiness-gate-inject"

// ALBIngressClassArgs configures the class.
type ALBIngressClassArgs struct {
	// Name is the IngressClass's (and its parameters') name: what Ingresses name in
	// ingressClassName.
	Name string
	// The load balancer's settings that the class holds in Auto Mode (its controller takes
	// them from IngressClassParams: scheme, ipAddressType, subnets.ids, certificateARNs).
	IPAddressType   string
	SubnetIDs       pulumi.StringArrayInput
	CertificateARNs pulumi.StringArrayInput
}

// ALBIngressClass is an IngressClass for EKS Auto Mode's built-in ALB controller with its
// IngressClassParams. Auto Mode creates no IngressClass; an Ingress of a class with no
// controller is left alone.
type ALBIngressClass struct {
	pulumi.ResourceState

	ClassName pulumi.StringOutput `pulumi:"className"`
	// Ready is done when Ingresses of the class can be created.
	Ready []pulumi.Resource
}

// NewALBIngressClass creates the class and its parameters. Pass the cluster's Kubernetes
// provider.
func NewALBIngressClass(ctx *pulumi.Context, name string, args *ALBIngressClassArgs, opts ...pulumi.ResourceOption) (*ALBIngressClass, error) {
	if args == nil || args.Name == "" || args.SubnetIDs == nil || args.CertificateARNs == nil {
		return nil, fmt.Errorf("ALB IngressClass %s: a name, subnets and certificates are required", name)
	}
	c := &ALBIngressClass{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:ALBIngressClass", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	params, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(autoModeParamsGroup + "/v1"),
		Kind:       pulumi.String("IngressClassParams"),
		Metadata:   metav1.ObjectMetaArgs{Name: pulumi.String(args.Name)},
		OtherFields: map[string]any{"spec": pulumi.Map{
			"scheme":          pulumi.String("internet-facing"),
			"ipAddressType":   pulumi.String(args.IPAddressType),
			"subnets":         pulumi.Map{"ids": args.SubnetIDs},
			"certificateARNs": args.CertificateARNs,
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ALB IngressClass %s: %w", name, err)
	}
	class, err := networkingv1.NewIngressClass(ctx, name, &networkingv1.IngressClassArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(args.Name)},
		Spec: networkingv1.IngressClassSpecArgs{
			Controller: pulumi.String(AutoModeALBController),
			Parameters: networkingv1.IngressClassParametersReferenceArgs{
				ApiGroup: pulumi.String(autoModeParamsGroup),
				Kind:     pulumi.String("IngressClassParams"),
				Name:     params.Metadata.Name().Elem(),
			},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("ALB IngressClass %s: %w", name, err)
	}
	c.ClassName = class.Metadata.Name().Elem()
	c.Ready = []pulumi.Resource{params, class}
	return c, registerOutputs(ctx, c)
}

// AutoModeClassAnnotations are the proxy Ingress annotations that the class holds in Auto
// Mode (ALBIngressClassArgs), and the tags: custom tags on Auto Mode's load balancers need a
// policy beyond the Auto Mode ones on the cluster role (EKS User Guide, "Custom AWS tags for
// EKS Auto resources"); EKS tags them with the cluster's name itself.
var AutoModeClassAnnotations = []string{
	"alb.ingress.kubernetes.io/certificate-arn", "alb.ingress.kubernetes.io/ip-address-type",
	"alb.ingress.kubernetes.io/scheme", "alb.ingress.kubernetes.io/subnets", "alb.ingress.kubernetes.io/tags",
}
