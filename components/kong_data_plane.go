package components

import (
	"fmt"
	"strings"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// KongDataPlaneArgs configures the data plane release.
type KongDataPlaneArgs struct {
	Namespace     pulumi.StringInput
	NamespaceName string
	ReleaseName   string
	// ControlPlaneRelease names the control plane release, whose cluster Services the data
	// planes connect to. A name, not an output: the two releases install in parallel (data
	// planes keep retrying until the control plane answers).
	ControlPlaneRelease string
	Version             string
	Chart               ChartSource
	IssuerName          pulumi.StringInput
	Replicas            int
	// TrustedCIDRs are every range the ALB can take addresses from (its subnets', IPv6 too):
	// Kong believes the X-Forwarded-For of connections from these only.
	TrustedCIDRs pulumi.StringArrayInput
	// DeregistrationDelay is the ALB target group's, in seconds: a stopping data plane keeps
	// serving at least this long after the controller deregisters it.
	DeregistrationDelay int
	WaitFor             []pulumi.Resource
}

// KongDataPlane is Kong in role data_plane, database off, serving traffic on a ClusterIP
// proxy Service that the ALB targets.
type KongDataPlane struct {
	pulumi.ResourceState

	// ProxyService is the proxy Service's name, known before the release installs: the chart
	// names it <release>-kong-proxy.
	ProxyService string `pulumi:"proxyService"`
	// ProxyPort is the Service port for TLS traffic.
	ProxyPort int
	Release   pulumi.Resource
}

// ClusterEndpoints are the control plane's cluster (8005) and telemetry (8006) addresses.
func ClusterEndpoints(controlPlaneRelease, namespace string) (cluster, telemetry string) {
	return fmt.Sprintf("%s.%s.svc:%d", KongServiceName(controlPlaneRelease, "cluster"), namespace, KongClusterPort),
		fmt.Sprintf("%s.%s.svc.cluster.local:%d", KongServiceName(controlPlaneRelease, "clustertelemetry"), namespace, KongClusterTelemetryPort)
}

// NewKongDataPlane installs the data plane. Pass the Kubernetes provider with
// pulumi.Providers.
func NewKongDataPlane(ctx *pulumi.Context, name string, args *KongDataPlaneArgs, opts ...pulumi.ResourceOption) (*KongDataPlane, error) {
	if args == nil || args.Namespace == nil || args.IssuerName == nil || args.TrustedCIDRs == nil || args.ControlPlaneRelease == "" {
		return nil, fmt.Errorf("kong data plane %s: namespace, issuer, trusted CIDRs and control plane release are required", name)
	}
	d := &KongDataPlane{ProxyPort: KongProxyHTTPSPort, ProxyService: KongServiceName(args.ReleaseName, "proxy")}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kong:KongDataPlane", name, d, opts...); err != nil {
		return nil, err
	}
	cluster, telemetry := ClusterEndpoints(args.ControlPlaneRelease, args.NamespaceName)

	values := kongBaseValues(args.ReleaseName, args.Version, args.IssuerName)
	values.ReplicaCount = args.Replicas
	// Drains keep all but one data plane serving; a single replica has nothing to keep.
	values.PodDisruptionBudget = &kongPDB{Enabled: args.Replicas > 1, MaxUnavailable: 1}
	values.drainFor(args.DeregistrationDelay)
	values.Env["role"] = "data_plane"
	values.Env["database"] = "off"
	values.Env["cluster_control_plane"] = cluster
	values.Env["cluster_telemetry_endpoint"] = telemetry
	// Behind the ALB: trust its X-Forwarded-For, so plugins (ip-restriction) and logs see the
	// client's address.
	values.Env["trusted_ips"] = args.TrustedCIDRs.ToStringArrayOutput().ApplyT(func(cidrs []string) string {
		return strings.Join(cidrs, ",")
	}).(pulumi.StringOutput)
	values.Env["real_ip_header"] = "X-Forwarded-For"
	values.Env["real_ip_recursive"] = "on"
	values.Proxy = kongService{Enabled: true, Type: "ClusterIP",
		HTTP: &kongListener{Enabled: true, ServicePort: 80, ContainerPort: 8000},
		TLS:  kongListener{Enabled: true, ServicePort: KongProxyHTTPSPort, ContainerPort: 8443}}
	// The chart's pki mode needs cluster.enabled on both planes.
	values.Cluster = kongService{Enabled: true, Type: "ClusterIP",
		TLS: kongListener{Enabled: true, ServicePort: KongClusterPort, ContainerPort: KongClusterPort}}
	values.ClusterTelemetry = kongService{Enabled: false}
	values.Admin = kongService{Enabled: false}
	values.Manager = kongService{Enabled: false}
	values.IngressController = kongIngressController{Enabled: false}

	relArgs, err := releaseArgs(args.ReleaseName, args.NamespaceName, args.Chart, values, 900)
	if err != nil {
		return nil, fmt.Errorf("kong data plane %s: %w", name, err)
	}
	relArgs.Namespace = args.Namespace
	release, err := helmv3.NewRelease(ctx, name, relArgs, pulumi.Parent(d),
		// Cluster mTLS needs cert-manager's API and the CA issuer at render time; see WaitFor.
		pulumi.DependsOn(args.WaitFor))
	if err != nil {
		return nil, fmt.Errorf("kong data plane %s: %w", name, err)
	}
	d.Release = release
	return d, registerOutputs(ctx, d)
}
