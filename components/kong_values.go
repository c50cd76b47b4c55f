package components

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The Kong chart (Kong/charts, charts/kong) has no values schema: a misspelt key is ignored
// without error. These types are the keys this project sets, so the compiler checks them.

// Kong's ports, as the chart and the reference setup use them.
const (
	KongClusterPort          = 8005
	KongClusterTelemetryPort = 8006
	KongStatusPort           = 8100
	KongAdminPort            = 8001
	KongManagerPort          = 8002
	KongProxyHTTPSPort       = 443
	// The Kong Ingress Controller's container ports (chart 3.4.1): the admission webhook the
	// API server calls, and its health (probes) and metrics endpoints.
	KongIngressControllerWebhookPort = 8080
	KongIngressControllerHealthPort  = 10254
	KongIngressControllerMetricsPort = 10255
	// KongClusterCommonName is certificates.cluster.commonName of both releases. The chart
	// (3.4.1) uses the value as given for the cluster certificate's common name and DNS name
	// (templates/certificate.yaml) and for KONG_CLUSTER_SERVER_NAME (templates/_helpers.tpl),
	// so each plane's certificate and the name its peer verifies always agree; it is set here
	// so that both releases set the same name, whatever the chart's default becomes.
	KongClusterCommonName = "kong_cluster"
	KongGatewayImage      = "kong/kong-gateway"
)

// KongPodLabels select the Kong pods of a release: the chart labels its Deployment's pods
// with the chart name, the release and component "app" (its migration Jobs' pods carry other
// components, the bundled PostgreSQL's another name).
func KongPodLabels(release string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "kong",
		"app.kubernetes.io/instance":  release,
		"app.kubernetes.io/component": "app",
	}
}

// KongClusterCertSecret is the Secret cert-manager keeps a release's cluster certificate in:
// the chart's Certificate <release>-kong-cluster has secretName <fullname>-cluster-cert
// (templates/certificate.yaml, fullname <release>-kong). The proxy container mounts it and
// Kong reads it once, at start.
func KongClusterCertSecret(release string) string { return release + "-kong-cluster-cert" }

// ReloadOnSecretAnnotation, on a Deployment, names the Secrets whose change makes Stakater
// Reloader restart it (Reloader internal/pkg/options/flags.go; read from the Deployment's own
// metadata first, pkg/common ShouldReload).
const ReloadOnSecretAnnotation = "secret.reloader.stakater.com/reload"

// KongServiceName is the name the chart gives a release's Service: <release>-kong-<service>.
func KongServiceName(release, service string) string { return release + "-kong-" + service }

type kongValues struct {
	Image               kongImage      `json:"image"`
	ReplicaCount        int            `json:"replicaCount,omitempty"`
	PodDisruptionBudget *kongPDB       `json:"podDisruptionBudget,omitempty"`
	Lifecycle           *kongLifecycle `json:"lifecycle,omitempty"`
	// TerminationGracePeriodSeconds is the pod's; the chart's default is 30.
	TerminationGracePeriodSeconds int                   `json:"terminationGracePeriodSeconds,omitempty"`
	Env                           map[string]any        `json:"env"`
	Admin                         kongService           `json:"admin"`
	Manager                       kongService           `json:"manager"`
	Portal                        enabled               `json:"portal"`
	PortalAPI                     enabled               `json:"portalapi"`
	Cluster                       kongService           `json:"cluster"`
	ClusterTelemetry              kongService           `json:"clustertelemetry"`
	Proxy                         kongService           `json:"proxy"`
	Status                        kongStatus            `json:"status"`
	Enterprise                    enabled               `json:"enterprise"`
	Certificates                  kongCertificates      `json:"certificates"`
	IngressController             kongIngressController `json:"ingressController"`
	PostgreSQL                    *kongPostgreSQL       `json:"postgresql,omitempty"`
	// ExtraConfigMaps are mounted into the Kong containers of the Deployment and the
	// migration Jobs (the chart's extraConfigMaps; templates/_helpers.tpl userDefinedVolumes).
	ExtraConfigMaps []kongExtraMount `json:"extraConfigMaps,omitempty"`
	// DeploymentAnnotations go on the Kong Deployment's own metadata (the chart's
	// deploymentAnnotations).
	DeploymentAnnotations map[string]string `json:"deploymentAnnotations,omitempty"`
	// PodAnnotations go on the pod template: a change rolls the Deployment.
	PodAnnotations map[string]pulumi.StringInput `json:"podAnnotations,omitempty"`
}

type kongImage struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

type kongPDB struct {
	Enabled        bool `json:"enabled"`
	MaxUnavailable int  `json:"maxUnavailable"`
}

type kongLifecycle struct {
	PreStop kongExecHook `json:"preStop"`
}

type kongExecHook struct {
	Exec struct {
		Command []string `json:"command"`
	} `json:"exec"`
}

// kongQuitTimeout is how long `kong quit` lets open requests finish once it starts shutting
// Kong down (its default, as the chart's values.yaml notes beside the preStop hook).
const kongQuitTimeout = 10

// drainMargin covers the seconds between a pod turning Terminating and the ALB no longer
// sending it new requests: the controller sees the endpoint go, deregisters the target, and
// the ALB's nodes take the change.
const drainMargin = 10

// drainFor keeps a stopping Kong serving while the ALB drains it. When a pod starts
// terminating, the load balancer controller deregisters its IP; the ALB stops sending new
// requests within seconds and lets open ones finish for the deregistration delay. The
// chart's preStop hook `kong quit --wait=N` keeps Kong serving for N seconds and then shuts
// it down gracefully (kongQuitTimeout); the grace period covers both, with room to spare,
// so that the kubelet never kills Kong while the ALB still sends to it.
func (v *kongValues) drainFor(deregistrationDelay int) {
	wait := deregistrationDelay + drainMargin
	hook := kongExecHook{}
	hook.Exec.Command = []string{"kong", "quit", fmt.Sprintf("--wait=%d", wait), fmt.Sprintf("--timeout=%d", kongQuitTimeout)}
	v.Lifecycle = &kongLifecycle{PreStop: hook}
	v.TerminationGracePeriodSeconds = wait + kongQuitTimeout + drainMargin
}

type kongListener struct {
	Enabled       bool `json:"enabled"`
	ServicePort   int  `json:"servicePort,omitempty"`
	ContainerPort int  `json:"containerPort,omitempty"`
}

type kongService struct {
	Enabled bool          `json:"enabled"`
	Type    string        `json:"type,omitempty"`
	HTTP    *kongListener `json:"http,omitempty"` // the cluster listeners have TLS only
	TLS     kongListener  `json:"tls"`
	// Ingress is always off: the Ingresses this project needs are Pulumi resources.
	Ingress enabled `json:"ingress"`
}

type kongStatus struct {
	Enabled bool         `json:"enabled"`
	HTTP    kongListener `json:"http"`
}

type kongCertificate struct {
	Enabled    bool   `json:"enabled"`
	CommonName string `json:"commonName,omitempty"`
}

type kongCertificates struct {
	Enabled bool               `json:"enabled"`
	Issuer  pulumi.StringInput `json:"issuer"`
	Cluster kongCertificate    `json:"cluster"`
	// The chart enables these with placeholder names by default; the ALB terminates TLS for
	// clients, so they stay off.
	Proxy  kongCertificate `json:"proxy"`
	Admin  kongCertificate `json:"admin"`
	Portal kongCertificate `json:"portal"`
}

type kongIngressController struct {
	Enabled          bool           `json:"enabled"`
	IngressClass     string         `json:"ingressClass,omitempty"`
	Env              map[string]any `json:"env,omitempty"`
	GatewayDiscovery *enabled       `json:"gatewayDiscovery,omitempty"`
}

type kongExtraMount struct {
	Name      pulumi.StringInput `json:"name"`
	MountPath string             `json:"mountPath"`
}

type kongPostgreSQL struct {
	Enabled bool              `json:"enabled"`
	Auth    kongPostgresAuth  `json:"auth"`
	Image   kongPostgresImage `json:"image"`
}

type kongPostgresAuth struct {
	Username       string             `json:"username"`
	Database       string             `json:"database"`
	ExistingSecret pulumi.StringInput `json:"existingSecret"`
}

type kongPostgresImage struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

// kongBaseValues are the settings both planes share: the image, cluster mTLS certificates
// from the one CA issuer, the status listener, and no chart-made Ingresses.
func kongBaseValues(release, version string, issuer pulumi.StringInput) kongValues {
	return kongValues{
		Image:     kongImage{Repository: KongGatewayImage, Tag: version},
		Env:       map[string]any{},
		Portal:    enabled{Enabled: false},
		PortalAPI: enabled{Enabled: false},
		// Enterprise mode emits the manager's container port and the cluster telemetry
		// listener; without a license Kong Gateway runs in free mode.
		Enterprise: enabled{Enabled: true},
		Status:     kongStatus{Enabled: true, HTTP: kongListener{Enabled: true, ContainerPort: KongStatusPort}},
		// With cert-manager's API present, certificates.enabled and certificates.cluster.enabled
		// (and cluster.enabled) make the chart run cluster mTLS in pki mode: both planes get
		// certificates from the same CA, and KONG_CLUSTER_SERVER_NAME is the common name.
		Certificates: kongCertificates{
			Enabled: true,
			Issuer:  issuer,
			Cluster: kongCertificate{Enabled: true, CommonName: KongClusterCommonName},
		},
		// cert-manager renews the cluster certificate (90 days, 15 before expiry, the chart's
		// certificates.duration and renewBefore) by rewriting its Secret, but Kong reads it only
		// at start: without a restart a plane would present the old certificate until it
		// expires, and then fail the other plane's mTLS. Reloader (components/reloader.go)
		// restarts the Deployment, a rolling update, when the Secret's data changes.
		DeploymentAnnotations: map[string]string{ReloadOnSecretAnnotation: KongClusterCertSecret(release)},
	}
}
