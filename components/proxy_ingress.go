package components

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ProxyIngressArgs describes the internet-facing ALB in front of the data plane.
type ProxyIngressArgs struct {
	Namespace pulumi.StringInput
	Domain    string
	// The data plane's proxy Service and its TLS port.
	ServiceName pulumi.StringInput
	ServicePort int
	// CertificateARN is the issued certificate for *.Domain.
	CertificateARN pulumi.StringInput
	// PublicSubnetIDs are where the ALB goes (named explicitly, so existing VPCs need no
	// discovery tags).
	PublicSubnetIDs pulumi.StringArrayInput
	AllowPlainHTTP  bool
	SSLPolicy       string
	InboundCIDRs    []string
	WAFv2ACLARN     string
	// IPAddressType is ipv4 or dualstack.
	IPAddressType string
	Tags          map[string]string
	// Class is the IngressClass (default alb). AutoMode: the class is an ALBIngressClass,
	// which holds the scheme, address type, subnets and certificate; the Ingress does not
	// repeat them.
	Class    string
	AutoMode bool
	// WaitFor: the load balancer controller, which must serve its webhook before the Ingress
	// is created and must still run when the Ingress is deleted (in Auto Mode, the class).
	WaitFor []pulumi.Resource
}

// ALBDeregistrationDelay is the target group's deregistration delay, in seconds: how long the
// ALB lets open requests to a deregistered data plane finish. The ALB's default is 300 s, which
// would hold every rollout and node drain for five minutes per pod; Kong's requests are short.
const ALBDeregistrationDelay = 30

// ProxyIngress is the Ingress of class alb from which the AWS Load Balancer Controller makes
// the ALB.
type ProxyIngress struct {
	pulumi.ResourceState

	// Hostname is the ALB's DNS name, from the Ingress's status.
	Hostname pulumi.StringOutput `pulumi:"hostname"`
}

// ProxyIngressAnnotations are the controller's annotations for the ALB, without the values
// that are outputs (certificate, subnets).
func ProxyIngressAnnotations(args *ProxyIngressArgs) map[string]string {
	const p = "alb.ingress.kubernetes.io/"
	a := map[string]string{
		p + "scheme":           "internet-facing",
		p + "target-type":      "ip",
		p + "backend-protocol": "HTTPS",
		p + "listen-ports":     `[{"HTTP": 80}, {"HTTPS": 443}]`,
		p + "ssl-policy":       args.SSLPolicy,
		p + "ip-address-type":  args.IPAddressType,
		// Kong answers 404 on / when no route matches: check its readiness endpoint instead,
		// on the status listener (a container port: target-type ip reaches it directly).
		p + "healthcheck-port":        fmt.Sprint(KongStatusPort),
		p + "healthcheck-protocol":    "HTTP",
		p + "healthcheck-path":        "/status/ready",
		p + "success-codes":           "200",
		p + "target-group-attributes": fmt.Sprintf("deregistration_delay.timeout_seconds=%d", ALBDeregistrationDelay),
	}
	if !args.AllowPlainHTTP {
		a[p+"ssl-redirect"] = "443"
	}
	if len(args.InboundCIDRs) > 0 {
		a[p+"inbound-cidrs"] = strings.Join(args.InboundCIDRs, ",")
	}
	// Without the annotation (or with it empty) the controller leaves the ALB's web ACL as it
	// is, so removing the ARN would leave the WAF attached; "none" detaches it (the
	// controller's docs/guide/ingress/annotations.md, wafv2-acl-arn). The program owns the
	// association either way.
	a[p+"wafv2-acl-arn"] = "none"
	if args.WAFv2ACLARN != "" {
		a[p+"wafv2-acl-arn"] = args.WAFv2ACLARN
	}
	if len(args.Tags) > 0 {
		keys := make([]string, 0, len(args.Tags))
		for k := range args.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tags := make([]string, len(keys))
		for i, k := range keys {
			tags[i] = k + "=" + args.Tags[k]
		}
		a[p+"tags"] = strings.Join(tags, ",")
	}
	return a
}

// NewProxyIngress creates the Ingress and waits until the controller has provisioned the ALB.
// Pass the Kubernetes provider with pulumi.Providers.
func NewProxyIngress(ctx *pulumi.Context, name string, args *ProxyIngressArgs, opts ...pulumi.ResourceOption) (*ProxyIngress, error) {
	if args == nil || args.Namespace == nil || args.ServiceName == nil || args.CertificateARN == nil || args.PublicSubnetIDs == nil {
		return nil, fmt.Errorf("proxy ingress %s: namespace, service, certificate and subnets are required", name)
	}
	pi := &ProxyIngress{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:ProxyIngress", name, pi, opts...); err != nil {
		return nil, err
	}
	annotations := pulumi.StringMap{}
	for k, v := range ProxyIngressAnnotations(args) {
		annotations[k] = pulumi.String(v)
	}
	annotations["alb.ingress.kubernetes.io/certificate-arn"] = args.CertificateARN
	annotations["alb.ingress.kubernetes.io/subnets"] = args.PublicSubnetIDs.ToStringArrayOutput().ApplyT(func(ids []string) string {
		return strings.Join(ids, ",")
	}).(pulumi.StringOutput)
	class := args.Class
	if class == "" {
		class = "alb"
	}
	if args.AutoMode {
		for _, k := range AutoModeClassAnnotations {
			delete(annotations, k)
		}
	}

	ing, err := newIngressRoute(ctx, name, ingressRoute{
		Name:        pulumi.String(name),
		Namespace:   args.Namespace,
		Annotations: annotations,
		Class:       class,
		Host:        "*." + args.Domain,
		Path:        "/",
		Service:     args.ServiceName,
		Port:        args.ServicePort,
	},
		pulumi.Parent(pi),
		// Created only once the controller's webhook serves (it admits every Ingress), and
		// deleted while the controller still runs, so that it removes the ALB, its security
		// groups and the Ingress's finalizer.
		pulumi.DependsOn(args.WaitFor),
		// Pulumi waits for status.loadBalancer: provisioning an ALB takes minutes.
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "20m", Update: "20m", Delete: "15m"}))
	if err != nil {
		return nil, fmt.Errorf("proxy ingress %s: %w", name, err)
	}
	pi.Hostname = ing.Status.LoadBalancer().Ingress().Index(pulumi.Int(0)).Hostname().Elem()
	return pi, registerOutputs(ctx, pi)
}
