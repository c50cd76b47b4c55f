package components

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// KongPostgres is the control plane's database: the chart's bundled PostgreSQL (Host empty)
// or an external one such as RDS.
type KongPostgres struct {
	// Bundled: the image, which the chart requires (registry/repository and tag).
	ImageRepository string
	ImageTag        string
	// External.
	Host     string
	Port     int
	Database string
	User     string
	Password pulumi.StringInput // secret
	SSL      bool
}

// KongControlPlaneArgs configures the control plane release.
type KongControlPlaneArgs struct {
	// Namespace is the Kong namespace's name as an output of the Namespace resource.
	Namespace        pulumi.StringInput
	ReleaseName      string
	DataPlaneRelease string
	NamespaceName    string
	Version          string
	Chart            ChartSource
	IssuerName       pulumi.StringInput
	Postgres         KongPostgres
	// Domain: Kong Manager is published at https://kong.<Domain>, the Admin API at /api.
	Domain string
	// AdminAllowedCIDRs are the clients allowed to reach Kong Manager and the Admin API; with
	// none, neither is published (reach them with kubectl port-forward).
	AdminAllowedCIDRs []string
	// WaitFor: what must be ready before the release and its Ingresses (the CA issuer, the
	// load balancer controller's webhook).
	WaitFor []pulumi.Resource
}

// KongControlPlane is Kong in role control_plane with Postgres and the Kong Ingress
// Controller, which turns Ingresses of class kong into routes on the data planes.
type KongControlPlane struct {
	pulumi.ResourceState

	ReleaseName pulumi.StringOutput `pulumi:"releaseName"`
	// ManagerURL and AdminAPIURL are empty when they are not published.
	ManagerURL  pulumi.StringOutput `pulumi:"managerUrl"`
	AdminAPIURL pulumi.StringOutput `pulumi:"adminApiUrl"`
	// Release is done when the control plane and its ingress controller are ready: Ingresses
	// of class kong created after it are picked up.
	Release pulumi.Resource
}

// KongManagerHost is where Kong Manager is published.
func KongManagerHost(domain string) string { return "kong." + domain }

// NewKongControlPlane installs the control plane. Pass the Kubernetes provider with
// pulumi.Providers.
func NewKongControlPlane(ctx *pulumi.Context, name string, args *KongControlPlaneArgs, opts ...pulumi.ResourceOption) (*KongControlPlane, error) {
	if args == nil || args.Namespace == nil || args.IssuerName == nil || args.ReleaseName == "" || args.DataPlaneRelease == "" {
		return nil, fmt.Errorf("kong control plane %s: namespace, issuer and release names are required", name)
	}
	k := &KongControlPlane{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kong:KongControlPlane", name, k, opts...); err != nil {
		return nil, err
	}
	if err := k.create(ctx, name, args); err != nil {
		return nil, fmt.Errorf("kong control plane %s: %w", name, err)
	}
	return k, ctx.RegisterResourceOutputs(k, pulumi.Map{
		"releaseName": k.ReleaseName, "managerUrl": k.ManagerURL, "adminApiUrl": k.AdminAPIURL,
	})
}

func (k *KongControlPlane) create(ctx *pulumi.Context, name string, args *KongControlPlaneArgs) error {
	parent := pulumi.Parent(k)
	published := len(args.AdminAllowedCIDRs) > 0
	host := KongManagerHost(args.Domain)
	managerURL, adminURL := "https://"+host, "https://"+host+"/api"
	if !published { // what a browser reaches through kubectl port-forward
		managerURL, adminURL = fmt.Sprintf("http://localhost:%d", KongManagerPort), fmt.Sprintf("http://localhost:%d", KongAdminPort)
	}

	values := kongBaseValues(args.Version, args.IssuerName)
	values.ReplicaCount = 1
	values.Env["role"] = "control_plane"
	// A hybrid control plane needs a database.
	values.Env["database"] = "postgres"
	// TLS ends at the ALB, so the chart would derive http:// URLs; set them.
	values.Env["admin_gui_url"] = managerURL
	values.Env["admin_gui_api_url"] = adminURL
	// Unpublished, the Admin API listens on localhost only (the chart binds it to 127.0.0.1
	// when admin is disabled): the ingress controller beside it and kubectl port-forward reach
	// it, other pods do not. Published, the data planes must reach it to route kong.<domain>/api.
	values.Admin = kongService{Enabled: published, Type: "ClusterIP",
		HTTP: &kongListener{Enabled: true, ServicePort: KongAdminPort, ContainerPort: KongAdminPort}}
	values.Manager = kongService{Enabled: true, Type: "ClusterIP",
		HTTP: &kongListener{Enabled: true, ServicePort: KongManagerPort, ContainerPort: KongManagerPort}}
	values.Cluster = kongService{Enabled: true, Type: "ClusterIP",
		TLS: kongListener{Enabled: true, ServicePort: KongClusterPort, ContainerPort: KongClusterPort}}
	values.ClusterTelemetry = kongService{Enabled: true, Type: "ClusterIP",
		TLS: kongListener{Enabled: true, ServicePort: KongClusterTelemetryPort, ContainerPort: KongClusterTelemetryPort}}
	// The control plane serves no traffic: the data planes do.
	values.Proxy = kongService{Enabled: false}
	values.IngressController = kongIngressController{
		Enabled:      true,
		IngressClass: "kong",
		// Ingress status and routing target the data planes' proxy.
		Env: map[string]any{"publish_service": args.NamespaceName + "/" + KongServiceName(args.DataPlaneRelease, "proxy")},
		// The controller talks to the Admin API next to it in the pod.
		GatewayDiscovery: &enabled{Enabled: false},
	}

	secret, err := k.postgresSecret(ctx, name, args)
	if err != nil {
		return err
	}
	// Kong's password always comes from the Secret above (the chart's own default would point
	// at a Secret of the PostgreSQL subchart).
	values.Env["pg_password"] = map[string]any{"valueFrom": map[string]any{"secretKeyRef": map[string]any{
		"name": secret.Metadata.Name().Elem(), "key": postgresUserPasswordKey,
	}}}
	if pg := args.Postgres; pg.Host != "" {
		values.Env["pg_host"] = pg.Host
		values.Env["pg_port"] = strconv.Itoa(pg.Port)
		values.Env["pg_database"] = pg.Database
		values.Env["pg_user"] = pg.User
		if pg.SSL {
			values.Env["pg_ssl"] = "on"
		}
		values.PostgreSQL = &kongPostgreSQL{Enabled: false}
	} else {
		registry, repository := splitImageRegistry(pg.ImageRepository)
		values.PostgreSQL = &kongPostgreSQL{
			Enabled: true,
			Auth: kongPostgresAuth{Username: "kong", Database: "kong",
				// The subchart would generate new passwords on every upgrade, locking Kong out of
				// the existing volume; it uses these instead.
				ExistingSecret: secret.Metadata.Name().Elem()},
			Image: kongPostgresImage{Registry: registry, Repository: repository, Tag: pg.ImageTag},
		}
	}

	relArgs, err := releaseArgs(args.ReleaseName, args.NamespaceName, args.Chart, values, 900)
	if err != nil {
		return err
	}
	relArgs.Namespace = args.Namespace
	release, err := helmv3.NewRelease(ctx, name, relArgs, parent,
		// The chart renders cluster mTLS only if cert-manager's API is there when it renders,
		// and its certificates need the CA issuer; see WaitFor.
		pulumi.DependsOn(args.WaitFor))
	if err != nil {
		return err
	}
	k.Release = release
	k.ReleaseName = release.Status.Name().Elem()
	k.ManagerURL = pulumi.String("").ToStringOutput()
	k.AdminAPIURL = pulumi.String("").ToStringOutput()
	if !published {
		return nil
	}
	if err := k.publishAdmin(ctx, name, args, host, release); err != nil {
		return err
	}
	k.ManagerURL = pulumi.String(managerURL).ToStringOutput()
	k.AdminAPIURL = pulumi.String(adminURL).ToStringOutput()
	return nil
}

// publishAdmin routes kong.<domain> to Kong Manager and kong.<domain>/api to the Admin API,
// both only for the allowed client CIDRs (Kong's ip-restriction plugin, which sees real
// client addresses because the data plane trusts the ALB's X-Forwarded-For).
func (k *KongControlPlane) publishAdmin(ctx *pulumi.Context, name string, args *KongControlPlaneArgs, host string, release *helmv3.Release) error {
	parent := pulumi.Parent(k)
	// The KongPlugin CRD comes with the release, and the ingress controller must run for the
	// plugin and the Ingresses to take effect; the Ingresses also go through the load
	// balancer controller's webhook, which must serve (WaitFor).
	after := pulumi.DependsOn(append([]pulumi.Resource{release}, args.WaitFor...))
	plugin, err := apiextensions.NewCustomResource(ctx, name+"-admin-allowlist", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("configuration.konghq.com/v1"),
		Kind:       pulumi.String("KongPlugin"),
		Metadata: metav1.ObjectMetaArgs{
			Name:      pulumi.String(args.ReleaseName + "-admin-allowlist"),
			Namespace: args.Namespace,
		},
		OtherFields: map[string]any{
			"plugin": "ip-restriction",
			"config": map[string]any{"allow": args.AdminAllowedCIDRs},
		},
	}, parent, after)
	if err != nil {
		return err
	}
	routes := []struct {
		suffix, path, service string
		port                  int
		annotations           map[string]string
	}{
		{"manager", "/", KongServiceName(args.ReleaseName, "manager"), KongManagerPort, nil},
		{"admin", "/api", KongServiceName(args.ReleaseName, "admin"), KongAdminPort, map[string]string{"konghq.com/strip-path": "true"}},
	}
	for _, r := range routes {
		annotations := pulumi.StringMap{
			// The plugin exists before the Ingress that names it: no window without the allowlist.
			"konghq.com/plugins": plugin.Metadata.Name().Elem(),
			// The ingress controller reports the data plane's ClusterIP Service as status,
			// not a load balancer; there is nothing for Pulumi to wait for.
			"pulumi.com/skipAwait": pulumi.String("true"),
		}
		for a, v := range r.annotations {
			annotations[a] = pulumi.String(v)
		}
		if _, err := newIngressRoute(ctx, name+"-"+r.suffix, ingressRoute{
			Name:        pulumi.String(args.ReleaseName + "-" + r.suffix),
			Namespace:   args.Namespace,
			Annotations: annotations,
			Class:       "kong",
			Host:        host,
			Path:        r.path,
			Service:     pulumi.String(r.service),
			Port:        r.port,
		}, parent, after); err != nil {
			return err
		}
	}
	return nil
}

// Keys of the Postgres Secret, as the PostgreSQL subchart reads them (auth.secretKeys).
const (
	postgresUserPasswordKey  = "password"
	postgresAdminPasswordKey = "postgres-password"
)

// postgresSecret holds the database passwords: generated (and kept in state) for the bundled
// PostgreSQL, the configured one for an external database.
func (k *KongControlPlane) postgresSecret(ctx *pulumi.Context, name string, args *KongControlPlaneArgs) (*corev1.Secret, error) {
	parent := pulumi.Parent(k)
	data := pulumi.StringMap{}
	if args.Postgres.Host != "" {
		data[postgresUserPasswordKey] = pulumi.ToSecret(args.Postgres.Password).(pulumi.StringOutput)
	} else {
		for _, key := range []string{postgresUserPasswordKey, postgresAdminPasswordKey} {
			pw, err := random.NewRandomPassword(ctx, name+"-"+key, &random.RandomPasswordArgs{
				Length:  pulumi.Int(32),
				Special: pulumi.Bool(false), // no quoting surprises in connection strings
			}, parent)
			if err != nil {
				return nil, err
			}
			data[key] = pw.Result
		}
	}
	return corev1.NewSecret(ctx, name+"-postgres", &corev1.SecretArgs{
		Metadata:   metav1.ObjectMetaArgs{Name: pulumi.String(args.ReleaseName + "-postgres"), Namespace: args.Namespace},
		StringData: data,
	}, parent)
}

// splitImageRegistry splits "docker.io/bitnamilegacy/postgresql" into the registry and the
// repository, as the chart wants them; a reference without a registry host is Docker Hub's.
func splitImageRegistry(image string) (string, string) {
	first, rest, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "docker.io", image
}
