package components

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ingressRoute is an Ingress with one rule: a host and path prefix to a Service port. Every
// Ingress of this project (the ALB's, Kong Manager's, the Admin API's, the demo's) is one.
type ingressRoute struct {
	Name        pulumi.StringInput
	Namespace   pulumi.StringInput
	Annotations pulumi.StringMap
	Class       string
	Host        string
	Path        string
	Service     pulumi.StringInput
	Port        int
}

func newIngressRoute(ctx *pulumi.Context, name string, r ingressRoute, opts ...pulumi.ResourceOption) (*networkingv1.Ingress, error) {
	return networkingv1.NewIngress(ctx, name, &networkingv1.IngressArgs{
		Metadata: metav1.ObjectMetaArgs{Name: r.Name, Namespace: r.Namespace, Annotations: r.Annotations},
		Spec: networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String(r.Class),
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Host: pulumi.String(r.Host),
				Http: networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{
					networkingv1.HTTPIngressPathArgs{
						Path:     pulumi.String(r.Path),
						PathType: pulumi.String("Prefix"),
						Backend: networkingv1.IngressBackendArgs{Service: networkingv1.IngressServiceBackendArgs{
							Name: r.Service,
							Port: networkingv1.ServiceBackendPortArgs{Number: pulumi.Int(r.Port)},
						}},
					},
				}},
			}},
		},
	}, opts...)
}
