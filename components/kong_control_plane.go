package components

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// KongPostgres is the control plane's database: the chart's bundled PostgreSQL (Host nil)
// or an external one, such as the RDSDatabase.
type KongPostgres struct {
	// Bundled: the image, which the chart requires (registry/repository and tag).
	ImageRepository string
	ImageTag        string
	// External.
	Host     pulumi.StringInput
	Port     int
	Database string
	User     string
	Password pulumi.StringInput // secret
	SSL      bool
	// CABundle, when set, is the PEM of the certificate authorities the server's certificate
	// must chain to: Kong then requires TLS and verifies the server (pg_ssl_verify).
	CABundle pulumi.StringInput
	// Reachable is what must exist before Kong connects (the database's security group rule).
	Reachable []pulumi.Resource
}

// The external database's CA bundle, as mounted into every Kong container (the chart mounts
// extraConfigMaps into the Deployment's and the migration Jobs' containers alike).
const (
	postgresCAKey       = "ca-bundle.pem"
	postgresCAMountPath = "/etc/kong/postgres-ca"
	// PostgresCAFile is the bundle's path in the containers.
	PostgresCAFile = postgresCAMountPath + "/" + postgresCAKey
	// PostgresCAChecksumAnnotation, on the control plane's pods, is the bundle's SHA-256.
	PostgresCAChecksumAnnotation = "kong-alb-eks.io/postgres-ca-sha256"
)

// KongControlPlaneArgs configures the control plane release.
type KongControlPlaneArgs struct {
	// Namespace is the Kong namespace's name as an output of the Namespace resource.
	Namespace        pulumi.StringInput
	ReleaseName      string
	DataPlaneRelease string
	NamespaceName    string
	Version          string
	Chart            ChartSource
	// CRDs are the chart's crds/ (stacks/charts reads them from Chart). The control plane's
	// ingress controller is what uses them, so they are its; the data plane's release of the
	// same chart skips them too.
	CRDs       []CRD
	IssuerName pulumi.StringInput
	Postgres   KongPostgres
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

// KongIngressClass is the ingress class the control plane's ingress controller serves.
const KongIngressClass = "kong"

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
	return k, registerOutputs(ctx, k)
}

func (k *KongControlPlane) create(ctx *pulumi.Context, name string, args *KongControlPlaneArgs) error {
	parent := pulumi.Parent(k)
	published := len(args.AdminAllowedCIDRs) > 0
	host := KongManagerHost(args.Domain)
	managerURL, adminURL := "https://"+host, "https://"+host+"/api"
	if !published { // what a browser reaches through kubectl port-forward
		managerURL, adminURL = fmt.Sprintf("http://localhost:%d", KongManagerPort), fmt.Sprintf("http://localhost:%d", KongAdminPort)
	}

	values := kongBaseValues(args.ReleaseName, args.Version, args.IssuerName)
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
		IngressClass: KongIngressClass,
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
	if pg := args.Postgres; pg.Host != nil {
		values.Env["pg_host"] = pg.Host
		values.Env["pg_port"] = strconv.Itoa(pg.Port)
		values.Env["pg_database"] = pg.Database
		values.Env["pg_user"] = pg.User
		if pg.SSL || pg.CABundle != nil {
			values.Env["pg_ssl"] = "on"
		}
		if pg.CABundle != nil {
			if err := k.verifyPostgres(ctx, name, args, &values); err != nil {
				return err
			}
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
	crds, err := NewChartCRDs(ctx, name+"-crds", &ChartCRDsArgs{Chart: args.Chart, CRDs: args.CRDs}, parent)
	if err != nil {
		return err
	}
	release, err := helmv3.NewRelease(ctx, name, relArgs, parent,
		// The chart renders cluster mTLS only if cert-manager's API is there when it renders,
		// and its certificates need the CA issuer; see WaitFor. The ingress controller
		// watches Kong's CRDs from its start: they must be established first. Its migration
		// Job connects to the database at once: the database must admit the cluster's pods.
		pulumi.DependsOn(append(append(append([]pulumi.Resource{}, args.WaitFor...), crds.Ready...), args.Postgres.Reachable...)))
	if err != nil {
		return err
	}
	k.Release = release
	k.ReleaseName = release.Status.Name().Elem()
	if err := k.baselineConfiguration(ctx, name, args, release); err != nil {
		return err
	}
	if err := k.restrictAdminPorts(ctx, name, args); err != nil {
		return err
	}
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

// RequestIDPlugin is the global plugin every configuration holds: each request gets a
// Kong-Request-ID header, upstream and back to the client, to find it in the logs.
const RequestIDPlugin = "correlation-id"

// baselineConfiguration gives Kong a configuration that is never empty: a global
// correlation-id plugin, which the ingress controller writes to the control plane's database
// and the control plane pushes to every data plane.
//
// A data plane answers /status/ready with 200 only once it has loaded a non-empty
// configuration (Kong 3.9 kong/status/ready.lua: "no configuration available (empty
// configuration present)" while its hash is DECLARATIVE_EMPTY_CONFIG_HASH; a configuration
// with nothing but workspaces is empty, kong/db/declarative/import.lua config_is_empty). The
// ingress controller adds no entity of its own with a database (it stubs one only in DB-less
// mode, KIC 3.5 deckgen/generate.go), so a stack with no Kong-class Ingress would keep every
// data plane unready: its Helm wait would run out and every ALB target would fail its health
// check. KIC makes a global plugin of a KongClusterPlugin labelled global: "true" that carries
// its ingress class (internal/store/store.go ListGlobalKongClusterPlugins).
//
// It waits for the control plane release only (the CRD and the ingress controller come with
// it), never for the data plane, whose readiness it is for.
func (k *KongControlPlane) baselineConfiguration(ctx *pulumi.Context, name string, args *KongControlPlaneArgs, release *helmv3.Release) error {
	_, err := apiextensions.NewCustomResource(ctx, name+"-request-id", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("configuration.konghq.com/v1"),
		Kind:       pulumi.String("KongClusterPlugin"),
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(args.ReleaseName + "-request-id"),
			Labels:      pulumi.StringMap{"global": pulumi.String("true")},
			Annotations: pulumi.StringMap{"kubernetes.io/ingress.class": pulumi.String(KongIngressClass)},
		},
		OtherFields: map[string]any{
			"plugin": RequestIDPlugin,
			"config": map[string]any{"header_name": "Kong-Request-ID", "generator": "uuid#counter", "echo_downstream": true},
		},
	}, pulumi.Parent(k), pulumi.DependsOn([]pulumi.Resource{release}))
	return err
}

// restrictAdminPorts lets only Kong's own pods (the data planes, and the control plane
// itself) reach the Admin API and Kong Manager, which have no authentication in free mode.
// The VPC CNI's network policy agent enforces it. Selecting the control plane's pods denies
// them every other inbound connection too, so the policy opens what the deployment needs:
// the cluster listeners to the data planes; and to any source the ingress controller's
// admission webhook (the API server calls it from outside the pod network), the status
// listener and the controller's health and metrics ports (kubelet probes: the agent admits
// the node's own address anyway, aws-network-policy-agent fw_rule_processor.go). The ALB's
// health checks and cert-manager never connect to the control plane.
func (k *KongControlPlane) restrictAdminPorts(ctx *pulumi.Context, name string, args *KongControlPlaneArgs) error {
	tcp := func(ports ...int) networkingv1.NetworkPolicyPortArray {
		out := networkingv1.NetworkPolicyPortArray{}
		for _, p := range ports {
			out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
		}
		return out
	}
	pods := func(release string) networkingv1.NetworkPolicyPeerArgs {
		return networkingv1.NetworkPolicyPeerArgs{PodSelector: metav1.LabelSelectorArgs{
			MatchLabels: pulumi.ToStringMap(KongPodLabels(release)),
		}}
	}
	_, err := networkingv1.NewNetworkPolicy(ctx, name+"-admin", &networkingv1.NetworkPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(args.ReleaseName + "-admin"), Namespace: args.Namespace},
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(KongPodLabels(args.ReleaseName))},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{pods(args.DataPlaneRelease), pods(args.ReleaseName)},
					Ports: tcp(KongAdminPort, KongManagerPort),
				},
				networkingv1.NetworkPolicyIngressRuleArgs{
					From:  networkingv1.NetworkPolicyPeerArray{pods(args.DataPlaneRelease)},
					Ports: tcp(KongClusterPort, KongClusterTelemetryPort),
				},
				networkingv1.NetworkPolicyIngressRuleArgs{
					Ports: tcp(KongIngressControllerWebhookPort, KongStatusPort, KongIngressControllerHealthPort, KongIngressControllerMetricsPort),
				},
			},
		},
	}, pulumi.Parent(k))
	return err
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
	if args.Postgres.Host != nil {
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

// verifyPostgres makes Kong require TLS of the database and verify its certificate against
// the CA bundle, which a ConfigMap carries into every Kong container. Kong checks the chain
// only (pgmoon does the handshake without a server name), so the bundle should hold the
// database's CAs and nothing more.
func (k *KongControlPlane) verifyPostgres(ctx *pulumi.Context, name string, args *KongControlPlaneArgs, values *kongValues) error {
	bundle, err := corev1.NewConfigMap(ctx, name+"-postgres-ca", &corev1.ConfigMapArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(args.ReleaseName + "-postgres-ca"), Namespace: args.Namespace},
		Data:     pulumi.StringMap{postgresCAKey: args.Postgres.CABundle},
	}, pulumi.Parent(k))
	if err != nil {
		return err
	}
	values.ExtraConfigMaps = append(values.ExtraConfigMaps, kongExtraMount{Name: bundle.Metadata.Name().Elem(), MountPath: postgresCAMountPath})
	// Kong reads the bundle at start: a new bundle (a CA AWS added) rolls the control plane.
	values.PodAnnotations = map[string]pulumi.StringInput{PostgresCAChecksumAnnotation: args.Postgres.CABundle.ToStringOutput().ApplyT(func(pem string) string {
		sum := sha256.Sum256([]byte(pem))
		return hex.EncodeToString(sum[:])
	}).(pulumi.StringOutput)}
	// The server's certificate must chain to the bundle, and a server that offers no TLS is
	// refused (pg_ssl alone is a hint: Kong would go on in plain text).
	values.Env["pg_ssl_verify"] = "on"
	values.Env["pg_ssl_required"] = "on"
	// Kong verifies every TLS peer against this list: the system's CAs stay in it for the
	// rest (plugins' upstreams), the bundle is added for the database.
	values.Env["lua_ssl_trusted_certificate"] = "system," + PostgresCAFile
	return nil
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
