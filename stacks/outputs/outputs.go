// Package outputs names the stack outputs. The program exports them; the Automation API,
// the portal service and verify read them.
package outputs

// Stack output names.
const (
	Region           = "region"
	Domain           = "domain"
	ClusterName      = "clusterName"
	VPCID            = "vpcId"
	CertificateARN   = "certificateArn"
	OIDCProviderARN  = "oidcProviderArn" // only with workloadIdentity irsa
	Kubeconfig       = "kubeconfig"      // secret
	ALBHostname      = "albHostname"
	ProxyURL         = "proxyUrl"
	KongManagerURL   = "kongManagerUrl"  // only when adminAllowedCidrs is set
	KongAdminAPIURL  = "kongAdminApiUrl" // only when adminAllowedCidrs is set
	AdminAllowedCIDR = "adminAllowedCidrs"
	ALBInboundCIDRs  = "albInboundCidrs" // the only client ranges the ALB admits; empty: everyone
	PlainHTTPAllowed = "plainHttpAllowed"
	KongVersion      = "kongVersion"
	ChartVersions    = "chartVersions" // map: kong, aws-load-balancer-controller (managed mode), cert-manager
	ClusterMode      = "clusterMode"   // managed or auto
	DemoURL          = "demoUrl"       // only when demoEnabled
	// The RDS instance, only with database rds: its host name, and the name of the snapshot
	// RDS takes when it is deleted.
	DatabaseAddress       = "databaseAddress"
	DatabaseFinalSnapshot = "databaseFinalSnapshot"
)
