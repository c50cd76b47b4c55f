// Package stacks holds the stack's typed configuration, the composition function that both
// main.go and the Automation API run, and the Automation API manager a platform portal uses.
package stacks

import (
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// Project is the Pulumi project name and the namespace of every project config key.
const Project = "kong-alb-eks"

// Config is the whole stack's configuration, one typed tree. Every leaf field carries a `key`
// tag naming its Pulumi config key: keys without a namespace belong to the project
// (`kong-alb-eks:<key>`), `aws:region` is the AWS provider's own key. Fields tagged
// `secret:"true"` are written to stack config as secrets and are never printed.
//
// The same tree is built from Pulumi config (LoadConfig), from a portal's JSON spec
// (ConfigFromMap), or in Go (DefaultConfig and assignments); Validate checks it in all cases.
type Config struct {
	// Region is the AWS region of every resource, including the ACM certificate the ALB serves.
	Region string `key:"aws:region"`
	// Domain is the base DNS name: the proxy answers *.Domain, Kong Manager kong.Domain.
	Domain string `key:"domain"`
	// HostedZone is the public Route53 zone Domain lives in. It is looked up, never created.
	HostedZone string `key:"hostedZone"`

	Network     NetworkConfig
	Cluster     ClusterConfig
	Certificate CertificateConfig
	Kong        KongConfig
	Database    DatabaseConfig
	ALB         ALBConfig
	Charts      ChartsConfig
	Demo        DemoConfig
}

// NAT gateway layouts.
const (
	NATOnePerAZ = "one-per-az"
	NATSingle   = "single"
)

// NetworkConfig describes a new VPC, or names an existing one (ExistingVPCID set).
type NetworkConfig struct {
	VPCCIDR            string   `key:"vpcCidr"`
	PublicSubnetCIDRs  []string `key:"publicSubnetCidrs"`
	PrivateSubnetCIDRs []string `key:"privateSubnetCidrs"`
	// AvailabilityZones pins the zones of the subnets, in order; empty means the region's
	// first available zones, one per subnet pair.
	AvailabilityZones []string `key:"availabilityZones"`
	NATGateways       string   `key:"natGateways"`

	ExistingVPCID            string   `key:"existingVpcId"`
	ExistingPublicSubnetIDs  []string `key:"existingPublicSubnetIds"`
	ExistingPrivateSubnetIDs []string `key:"existingPrivateSubnetIds"`
}

// UsesExistingVPC reports whether the stack runs in a VPC it does not own.
func (n NetworkConfig) UsesExistingVPC() bool { return n.ExistingVPCID != "" }

// ClusterConfig describes the EKS cluster and its nodes.
type ClusterConfig struct {
	// Name is the EKS cluster name; empty means "kong-alb-eks-<stack>".
	Name              string `key:"clusterName"`
	KubernetesVersion string `key:"kubernetesVersion"`
	// Mode is managed (a managed node group, the networking and EBS add-ons and the load
	// balancer controller's chart, all the program's) or auto (EKS Auto Mode: EKS runs the
	// nodes, networking, storage and load balancing).
	Mode string `key:"clusterMode"`
	// AutoNodeArchitecture and AutoNodeCapacityType shape Auto Mode's nodes (auto only):
	// amd64 on-demand is EKS's built-in general-purpose node pool; anything else is a node
	// pool of the program's.
	AutoNodeArchitecture string `key:"autoNodeArchitecture"`
	AutoNodeCapacityType string `key:"autoNodeCapacityType"`
	NodeInstanceType     string `key:"nodeInstanceType"`
	NodeAMIType          string `key:"nodeAmiType"`
	NodeMinSize          int    `key:"nodeMinSize"`
	NodeDesiredSize      int    `key:"nodeDesiredSize"`
	NodeMaxSize          int    `key:"nodeMaxSize"`
	// EBSCSIDriverVersion pins the aws-ebs-csi-driver add-on; empty means the version EKS makes
	// the default for KubernetesVersion.
	EBSCSIDriverVersion string `key:"ebsCsiDriverVersion"`
	// The networking add-ons, likewise: empty means EKS's default version.
	VPCCNIVersion    string `key:"vpcCniVersion"`
	CoreDNSVersion   string `key:"corednsVersion"`
	KubeProxyVersion string `key:"kubeProxyVersion"`
	// WorkloadIdentity is how the VPC CNI, the EBS CSI driver and the load balancer
	// controller get their IAM roles: pod-identity (EKS Pod Identity) or irsa (IAM roles for
	// service accounts, through the cluster's IAM OIDC provider).
	WorkloadIdentity string `key:"workloadIdentity"`
	// PodIdentityAgentVersion pins the eks-pod-identity-agent add-on (pod-identity only);
	// empty means EKS's default version.
	PodIdentityAgentVersion string   `key:"podIdentityAgentVersion"`
	EndpointPublicAccess    bool     `key:"endpointPublicAccess"`
	EndpointPrivateAccess   bool     `key:"endpointPrivateAccess"`
	PublicAccessCIDRs       []string `key:"publicAccessCidrs"`
	// AccessEntries grant IAM principals access to the cluster, one grant per item:
	// "PRINCIPAL_ARN POLICY" for the whole cluster, "PRINCIPAL_ARN POLICY NS1,NS2" for some
	// namespaces (see access.go).
	AccessEntries []string `key:"accessEntries"`
}

// Cluster modes.
const (
	ClusterManaged = "managed"
	ClusterAuto    = "auto"
)

// AutoMode reports whether EKS Auto Mode runs the cluster's nodes and capabilities.
func (c ClusterConfig) AutoMode() bool { return c.Mode == ClusterAuto }

// NodeArchitecture is the nodes' CPU architecture (amd64 or arm64).
func (c ClusterConfig) NodeArchitecture() string {
	if c.AutoMode() {
		return c.AutoNodeArchitecture
	}
	if strings.Contains(c.NodeAMIType, "ARM") {
		return components.ARM64
	}
	return components.AMD64
}

// Certificate modes.
const (
	CertificateACM    = "acm"
	CertificateImport = "import"
	CertificateARN    = "arn"
)

// CertificateConfig chooses the certificate the ALB serves for *.Domain and Domain.
type CertificateConfig struct {
	Mode       string `key:"certificateMode"`
	ARN        string `key:"certificateArn"`
	Body       string `key:"certificateBody" lines:"true"`
	Chain      string `key:"certificateChain" lines:"true"`
	PrivateKey Secret `key:"certificatePrivateKey" secret:"true" lines:"true"`
}

// KongConfig describes the two Kong releases (hybrid mode) and the Admin API exposure.
type KongConfig struct {
	// Version is the kong/kong-gateway image tag of the control plane, and of the data plane
	// unless DataPlaneVersion is set (for a staged upgrade: control plane first).
	Version             string   `key:"kongVersion"`
	DataPlaneVersion    string   `key:"kongDataPlaneVersion"`
	Namespace           string   `key:"kongNamespace"`
	ControlPlaneRelease string   `key:"controlPlaneRelease"`
	DataPlaneRelease    string   `key:"dataPlaneRelease"`
	DataPlaneReplicas   int      `key:"dataPlaneReplicas"`
	IssuerName          string   `key:"caIssuerName"`
	AdminAllowedCIDRs   []string `key:"adminAllowedCidrs"`

	// Postgres: the chart's bundled PostgreSQL unless PostgresHost names an external one.
	PostgresImageRepository string `key:"postgresImageRepository"`
	PostgresImageTag        string `key:"postgresImageTag"`
	PostgresHost            string `key:"postgresHost"`
	PostgresPort            int    `key:"postgresPort"`
	PostgresDatabase        string `key:"postgresDatabase"`
	PostgresUser            string `key:"postgresUser"`
	PostgresPassword        Secret `key:"postgresPassword" secret:"true"`
	PostgresSSL             bool   `key:"postgresSsl"`
}

// EffectiveDataPlaneVersion is the data plane's image tag.
func (k KongConfig) EffectiveDataPlaneVersion() string {
	if k.DataPlaneVersion != "" {
		return k.DataPlaneVersion
	}
	return k.Version
}

// UsesExternalPostgres reports whether the control plane uses a Postgres outside the chart
// that the stack names with postgresHost.
func (k KongConfig) UsesExternalPostgres() bool { return k.PostgresHost != "" }

// The control plane's databases.
const (
	// DatabaseBundled is the Kong chart's own PostgreSQL, a pod with an EBS volume.
	DatabaseBundled = "bundled"
	// DatabaseRDS is an Amazon RDS for PostgreSQL instance the program makes.
	DatabaseRDS = "rds"
	// DatabaseExternal is a PostgreSQL made elsewhere, named by postgresHost.
	DatabaseExternal = "external"
)

// DatabaseConfig chooses the control plane's database and, for RDS, describes the instance.
type DatabaseConfig struct {
	// Kind is bundled, rds or external; empty means external when postgresHost is set, else
	// bundled (what stacks made before the choice existed run).
	Kind string `key:"database"`

	// RDS. The engine version is pinned as major.minor (RDS's form): minor upgrades are
	// changes of this key, reviewed in a preview like any other.
	EngineVersion       string `key:"databaseEngineVersion"`
	InstanceClass       string `key:"databaseInstanceClass"`
	AllocatedStorage    int    `key:"databaseAllocatedStorage"`    // GiB, gp3
	MaxAllocatedStorage int    `key:"databaseMaxAllocatedStorage"` // GiB; 0 turns storage autoscaling off
	MultiAZ             bool   `key:"databaseMultiAz"`
	BackupRetentionDays int    `key:"databaseBackupRetentionDays"`
	// Windows in UTC, in RDS's forms: hh24:mi-hh24:mi and ddd:hh24:mi-ddd:hh24:mi.
	BackupWindow       string `key:"databaseBackupWindow"`
	MaintenanceWindow  string `key:"databaseMaintenanceWindow"`
	DeletionProtection bool   `key:"databaseDeletionProtection"`
	// ApplyImmediately applies instance class and engine version changes at the next up
	// instead of in the maintenance window.
	ApplyImmediately bool `key:"databaseApplyImmediately"`
	// CABundle is where the RDS certificate authorities Kong trusts come from: an https://
	// URL or a local PEM file; empty means the region's bundle from AWS's trust store.
	CABundle string `key:"databaseCaBundle"`
}

// EffectiveDatabase is the database the control plane uses: Kind, or what an unset Kind means.
func (c Config) EffectiveDatabase() string {
	switch {
	case c.Database.Kind != "":
		return c.Database.Kind
	case c.Kong.UsesExternalPostgres():
		return DatabaseExternal
	}
	return DatabaseBundled
}

// ALB IP address types.
const (
	IPv4      = "ipv4"
	DualStack = "dualstack"
)

// ALBConfig describes the internet-facing ALB in front of the data plane.
type ALBConfig struct {
	AllowPlainHTTP bool     `key:"allowPlainHttp"`
	SSLPolicy      string   `key:"sslPolicy"`
	InboundCIDRs   []string `key:"albInboundCidrs"`
	WAFv2ACLARN    string   `key:"wafv2AclArn"`
	IPAddressType  string   `key:"ipAddressType"`
}

// ChartSource says where a Helm chart comes from: a chart name in an HTTP(S) repository,
// or (with Repository empty) an oci:// reference or a local chart path in Chart.
type ChartSource = components.ChartSource

// ChartsConfig pins the charts and where to fetch them.
type ChartsConfig struct {
	Kong                   ChartSource `key:"kongChart"`
	LoadBalancerController ChartSource `key:"loadBalancerControllerChart"`
	CertManager            ChartSource `key:"certManagerChart"`
	Reloader               ChartSource `key:"reloaderChart"`
}

// DemoConfig describes the optional demo workload published through Kong.
type DemoConfig struct {
	Enabled bool   `key:"demoEnabled"`
	Name    string `key:"demoName"`
	Image   string `key:"demoImage"`
}

// DefaultConfig returns the configuration every stack starts from. Region, Domain and
// HostedZone have no default.
func DefaultConfig() Config {
	return Config{
		Network: NetworkConfig{
			VPCCIDR:            "10.0.0.0/16",
			PublicSubnetCIDRs:  []string{"10.0.0.0/22", "10.0.4.0/22", "10.0.8.0/22"},
			PrivateSubnetCIDRs: []string{"10.0.64.0/19", "10.0.96.0/19", "10.0.128.0/19"},
			AvailabilityZones:  []string{},
			NATGateways:        NATOnePerAZ,
			// Existing-VPC fields stay empty.
			ExistingPublicSubnetIDs:  []string{},
			ExistingPrivateSubnetIDs: []string{},
		},
		Cluster: ClusterConfig{
			KubernetesVersion:     "1.34",
			NodeInstanceType:      "m6i.large",
			NodeAMIType:           "AL2023_x86_64_STANDARD",
			NodeMinSize:           2,
			NodeDesiredSize:       2,
			NodeMaxSize:           4,
			EndpointPublicAccess:  true,
			EndpointPrivateAccess: true,
			PublicAccessCIDRs:     []string{"0.0.0.0/0"},
			AccessEntries:         []string{},
			WorkloadIdentity:      components.PodIdentity,
			Mode:                  ClusterManaged,
			AutoNodeArchitecture:  components.AMD64,
			AutoNodeCapacityType:  components.OnDemand,
		},
		Certificate: CertificateConfig{Mode: CertificateACM},
		Kong: KongConfig{
			Version:                 "3.10.0.4",
			Namespace:               "kong",
			ControlPlaneRelease:     "kong-aws-cp",
			DataPlaneRelease:        "kong-aws-dp",
			DataPlaneReplicas:       2,
			IssuerName:              "my-ca-issuer",
			AdminAllowedCIDRs:       []string{},
			PostgresImageRepository: "docker.io/bitnamilegacy/postgresql",
			PostgresImageTag:        "13.11.0-debian-11-r20",
			PostgresPort:            5432,
			PostgresDatabase:        "kong",
			PostgresUser:            "kong",
			PostgresSSL:             true,
		},
		Database: DatabaseConfig{
			EngineVersion:       "17.6",
			InstanceClass:       "db.t4g.medium",
			AllocatedStorage:    20,
			MaxAllocatedStorage: 100,
			BackupRetentionDays: 7,
			BackupWindow:        "03:00-03:30",
			MaintenanceWindow:   "sun:04:00-sun:04:30",
			DeletionProtection:  true,
		},
		ALB: ALBConfig{
			SSLPolicy:     "ELBSecurityPolicy-TLS13-1-2-2021-06",
			InboundCIDRs:  []string{},
			IPAddressType: IPv4,
		},
		Charts: ChartsConfig{
			Kong:                   ChartSource{Chart: "kong", Repository: "https://charts.konghq.com", Version: "3.4.1"},
			LoadBalancerController: ChartSource{Chart: "aws-load-balancer-controller", Repository: "https://aws.github.io/eks-charts", Version: "3.5.0"},
			CertManager:            ChartSource{Chart: "cert-manager", Repository: "https://charts.jetstack.io", Version: "v1.21.1"},
			Reloader:               ChartSource{Chart: "reloader", Repository: "https://stakater.github.io/stakater-charts", Version: "2.2.16"},
		},
		Demo: DemoConfig{
			Name:  "kuard",
			Image: "gcr.io/kuar-demo/kuard-amd64:1",
		},
	}
}

// ClusterName is the EKS cluster's name: the configured one, or kong-alb-eks-<stack>.
func (c Config) ClusterName(stack string) string {
	if c.Cluster.Name != "" {
		return c.Cluster.Name
	}
	return Project + "-" + stack
}

// DatabaseIdentifier is the RDS instance's identifier: <cluster name>-kong, in the form RDS
// requires (RDS User Guide, "Naming constraints": 1 to 63 letters, digits and hyphens, a
// letter first, no two hyphens in a row, none last; RDS stores it in lower case), which a
// cluster name need not have (it may hold underscores, or start with a digit).
func (c Config) DatabaseIdentifier(stack string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(c.ClusterName(stack)) + "-kong" {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	id := b.String()
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = "db-" + id
	}
	if len(id) > 63 {
		id = id[:63]
	}
	return strings.TrimRight(id, "-")
}

// ProtectedResources names what the stack's configuration protects from deletion: the RDS
// instance while databaseDeletionProtection holds.
func (c Config) ProtectedResources(stack string) []string {
	if c.EffectiveDatabase() == DatabaseRDS && c.Database.DeletionProtection {
		return []string{"the RDS instance " + c.DatabaseIdentifier(stack)}
	}
	return nil
}
