package components

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DemoWorkloadArgs describes the demo app published through Kong.
type DemoWorkloadArgs struct {
	// Name is the app's name, its namespace and its host label: <Name>.<Domain>.
	Name   string
	Domain string
	Image  string
	// Port the container listens on (kuard: 8080).
	Port int
	// WaitFor: the Kong control plane (its ingress controller picks the Ingress up) and the
	// load balancer controller (its webhook admits every Ingress).
	WaitFor []pulumi.Resource
}

// DemoWorkload is a small web app in its own namespace with an Ingress of class kong.
type DemoWorkload struct {
	pulumi.ResourceState

	URL pulumi.StringOutput `pulumi:"url"`
}

// NewDemoWorkload deploys the app. Pass the Kubernetes provider with pulumi.Providers.
func NewDemoWorkload(ctx *pulumi.Context, name string, args *DemoWorkloadArgs, opts ...pulumi.ResourceOption) (*DemoWorkload, error) {
	if args == nil || args.Name == "" || args.Image == "" || args.Domain == "" {
		return nil, fmt.Errorf("demo workload %s: name, image and domain are required", name)
	}
	if args.Port == 0 {
		args.Port = 8080
	}
	d := &DemoWorkload{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:DemoWorkload", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(args.Name)}

	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(args.Name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("demo workload %s: %w", name, err)
	}
	meta := metav1.ObjectMetaArgs{Name: pulumi.String(args.Name), Namespace: ns.Metadata.Name(), Labels: labels}
	if _, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: meta,
		Spec: appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: labels},
				Spec: corev1.PodSpecArgs{Containers: corev1.ContainerArray{corev1.ContainerArgs{
					Name:  pulumi.String(args.Name),
					Image: pulumi.String(args.Image),
					Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(args.Port)}},
					ReadinessProbe: corev1.ProbeArgs{HttpGet: corev1.HTTPGetActionArgs{
						Path: pulumi.String("/ready"), Port: pulumi.String("http"),
					}},
				}}},
			},
		},
	}, parent); err != nil {
		return nil, fmt.Errorf("demo workload %s: %w", name, err)
	}
	svc, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta,
		Spec: corev1.ServiceSpecArgs{
			Selector: labels,
			Ports:    corev1.ServicePortArray{corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.String("http")}},
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("demo workload %s: %w", name, err)
	}
	host := args.Name + "." + args.Domain
	if _, err := newIngressRoute(ctx, name, ingressRoute{
		Name:      pulumi.String(args.Name),
		Namespace: ns.Metadata.Name().Elem(),
		// Kong's ingress controller does not report a load balancer status Pulumi could await.
		Annotations: pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")},
		Class:       "kong",
		Host:        host,
		Path:        "/",
		Service:     svc.Metadata.Name().Elem(),
		Port:        80,
	},
		parent,
		// The ingress controller (control plane) must run to turn it into a route, and the
		// load balancer controller's webhook must serve to admit it.
		pulumi.DependsOn(args.WaitFor)); err != nil {
		return nil, fmt.Errorf("demo workload %s: %w", name, err)
	}
	d.URL = pulumi.String("https://" + host).ToStringOutput()
	return d, registerOutputs(ctx, d)
}
