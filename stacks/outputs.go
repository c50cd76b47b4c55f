package stacks

// Stack output names. The verify command, the Automation API and the README read these.
const (
	OutputRegion           = "region"
	OutputDomain           = "domain"
	OutputClusterName      = "clusterName"
	OutputVPCID            = "vpcId"
	OutputCertificateARN   = "certificateArn"
	OutputOIDCProviderARN  = "oidcProviderArn"
	OutputKubeconfig       = "kubeconfig" // secret
	OutputALBHostname      = "albHostname"
	OutputProxyURL         = "proxyUrl"
	OutputKongManagerURL   = "kongManagerUrl"  // only when adminAllowedCidrs is set
	OutputKongAdminAPIURL  = "kongAdminApiUrl" // only when adminAllowedCidrs is set
	OutputAdminAllowedCIDR = "adminAllowedCidrs"
	OutputPlainHTTPAllowed = "plainHttpAllowed"
	OutputKongVersion      = "kongVersion"
	OutputChartVersions    = "chartVersions" // map: kong, aws-load-balancer-controller, cert-manager
	OutputDemoURL          = "demoUrl"       // only when demoEnabled
)
