package synth

import (
	"strings"
	"time"
)

// The tables the estimate (estimate.go) weighs and prunes the graph with.

// Timing is how long creating one resource typically takes, with a plausible range.
type Timing struct {
	Typical, Low, High time.Duration
	// Label names the thing timed ("EKS control plane"); Source says where the figure comes
	// from.
	Label, Source string
}

type timingRule struct {
	match func(Resource) bool
	Timing
}

// apiCall is an AWS or Kubernetes API call the provider does not wait on beyond its answer.
var apiCall = Timing{Typical: 10 * time.Second, Low: 2 * time.Second, High: 30 * time.Second,
	Label: "API call", Source: "IAM and VPC pieces, and plain Kubernetes objects, take seconds"}

// timings gives each resource type its typical creation time; the first rule that matches wins.
// The figures are typical times, checked against what the provider waits
// for and what the service documents say.
var timings = []timingRule{
	{isType("aws:eks/cluster:Cluster"), Timing{10 * time.Minute, 8 * time.Minute, 15 * time.Minute, "EKS control plane",
		"Amazon EKS User Guide, Create a cluster: provisioning takes several minutes, and the provider waits until the cluster is ACTIVE"}},
	{rdsInstance(true), Timing{15 * time.Minute, 10 * time.Minute, 30 * time.Minute, "RDS Multi-AZ instance",
		"RDS User Guide, Troubleshooting: it can take up to 20 minutes before a new instance is available; a Multi-AZ instance also creates and syncs its standby; the provider waits until it is available"}},
	{rdsInstance(false), Timing{10 * time.Minute, 6 * time.Minute, 20 * time.Minute, "RDS instance",
		"RDS User Guide, Troubleshooting: it can take up to 20 minutes before a new instance is available; the provider waits until it is available"}},
	{isType("aws:eks/nodeGroup:NodeGroup"), Timing{4 * time.Minute, 3 * time.Minute, 5 * time.Minute, "managed node group",
		"the provider waits until the node group is ACTIVE, its instances joined"}},
	{isType("aws:ec2/natGateway:NatGateway"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "NAT gateway",
		"Amazon VPC User Guide, NAT gateways: pending until available, which the provider waits for"}},
	{isType("aws:acm/certificateValidation:CertificateValidation"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "ACM DNS validation",
		"AWS Certificate Manager User Guide, DNS validation: issued once ACM sees the CNAME record"}},
	{isType("aws:route53/record:Record"), Timing{1 * time.Minute, 30 * time.Second, 90 * time.Second, "Route53 propagation",
		"Route 53 API Reference, ChangeResourceRecordSets: changes generally propagate to all name servers within 60 seconds; the provider waits for INSYNC"}},
	{albIngress, Timing{3 * time.Minute, 2 * time.Minute, 4 * time.Minute, "ALB provisioning",
		"pulumi-kubernetes waits for the Ingress's load balancer hostname, which the controller sets once the ALB is provisioned"}},
	{awaitedOfType("kubernetes:helm.sh/v3:Release"), Timing{2 * time.Minute, 1 * time.Minute, 3 * time.Minute, "Helm release waiting for its pods",
		"pulumi-kubernetes Release waits for the release's resources to be ready unless skipAwait"}},
	{awaitedOfType("kubernetes:apps/v1:Deployment"), Timing{1 * time.Minute, 30 * time.Second, 2 * time.Minute, "Deployment rollout",
		"pulumi-kubernetes awaits a Deployment's ready replicas; a small image on running nodes"}},
	{isType("aws:eks/addon:Addon"), Timing{2 * time.Minute, 1 * time.Minute, 4 * time.Minute, "EKS add-on",
		"Amazon EKS User Guide, Amazon EKS add-ons: the add-on's pods roll out on the nodes; the provider waits until it is ACTIVE"}},
	{hasTypePrefix("pulumi:providers:"), Timing{0, 0, 0, "provider", "a provider is configured, not created"}},
	{hasTypePrefix("random:"), Timing{0, 0, 0, "random value", "computed locally by the random provider"}},
	{hasTypePrefix("aws:"), apiCall},
	{hasTypePrefix("kubernetes:"), apiCall},
}

// requiredEdge is an order the environment truly needs: waiter after waited.
type requiredEdge struct {
	waiter, waited func(Resource) bool
	why            string
}

// requiredEdges are the orders a working environment truly needs. Beside them, every resource
// waits on its provider (see required).
var requiredEdges = []requiredEdge{
	// Network.
	{anyOf(isType("aws:ec2/subnet:Subnet"), isType("aws:ec2/internetGateway:InternetGateway"), isType("aws:ec2/routeTable:RouteTable")),
		isType("aws:ec2/vpc:Vpc"), "created in the VPC"},
	{isType("aws:ec2/natGateway:NatGateway"), anyOf(isType("aws:ec2/eip:Eip"), isType("aws:ec2/subnet:Subnet")), "the NAT gateway takes its address and public subnet"},
	{isType("aws:ec2/routeTable:RouteTable"), anyOf(isType("aws:ec2/natGateway:NatGateway"), isType("aws:ec2/internetGateway:InternetGateway")), "routes point at the gateway"},
	{isType("aws:ec2/routeTableAssociation:RouteTableAssociation"), anyOf(isType("aws:ec2/routeTable:RouteTable"), isType("aws:ec2/subnet:Subnet")), "associates a table with a subnet"},
	// Cluster.
	{anyOf(isType("aws:eks/cluster:Cluster"), isType("aws:eks/nodeGroup:NodeGroup")), isType("aws:ec2/subnet:Subnet"), "placed in the subnets"},
	{anyOf(isType("aws:eks/nodeGroup:NodeGroup"), isType("aws:iam/openIdConnectProvider:OpenIdConnectProvider"), hasTypePrefix("pulumi:providers:kubernetes")),
		isType("aws:eks/cluster:Cluster"), "the cluster before anything in it"},
	{isType("aws:eks/nodeGroup:NodeGroup"), hasTypePrefix("aws:iam/"), "the node role and its policies are the nodes' identity"},
	{isType("aws:eks/cluster:Cluster"), hasTypePrefix("aws:iam/"), "EKS assumes the cluster role, with its policy, to create the cluster"},
	{anyOf(isType("aws:eks/addon:Addon"), isType("aws:eks/accessEntry:AccessEntry"), isType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")),
		isType("aws:eks/cluster:Cluster"), "the cluster before anything in it"},
	{isType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"), isType("aws:eks/accessEntry:AccessEntry"), "a policy is associated with an existing access entry"},
	{isType("aws:eks/nodeGroup:NodeGroup"), isAddon("vpc-cni"), "a node is Ready only once the VPC CNI runs on it"},
	{isType("aws:eks/nodeGroup:NodeGroup"), isAddon("eks-pod-identity-agent"), "aws-node gets its credentials from the Pod Identity agent on its node"},
	{isAddon("vpc-cni"), isAddon("eks-pod-identity-agent"),
		"aws-node, restarted by an update of the add-on on running nodes (the move from IRSA), gets its credentials from the agent: ipamd exits without them (amazon-vpc-cni-k8s cmd/aws-k8s-agent/main.go)"},
	{isType("aws:eks/podIdentityAssociation:PodIdentityAssociation"), anyOf(isType("aws:eks/cluster:Cluster"), isType("aws:iam/role:Role")),
		"the association names the cluster and a role, whose trust policy EKS checks as it is made"},
	{isChart("aws-load-balancer-controller"), anyOf(isType("aws:eks/podIdentityAssociation:PodIdentityAssociation"), isAddon("eks-pod-identity-agent")),
		"EKS gives a pod its Pod Identity credentials only if the association exists as the pod is created, and the agent serves them"},
	{hasTypePrefix("pulumi:providers:kubernetes"), anyOf(isType("aws:eks/nodeGroup:NodeGroup"), isAddon("coredns"), isAddon("kube-proxy")),
		"workloads need nodes, kube-proxy to reach Services and CoreDNS to resolve names"},
	{isType("kubernetes:core/v1:Namespace"), isAddon("aws-ebs-csi-driver"), "on destroy the namespace and its volume claims go while the EBS CSI driver still deletes volumes"},
	{isType("aws:iam/role:Role"), isType("aws:iam/openIdConnectProvider:OpenIdConnectProvider"), "an IRSA role trusts the cluster's OIDC provider"},
	{isType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), anyOf(isType("aws:iam/role:Role"), isType("aws:iam/policy:Policy")), "attaches a policy to a role"},
	// Certificate.
	{isRecordType("CNAME"), isType("aws:acm/certificate:Certificate"), "the validation record's name and value come from the certificate request"},
	{isType("aws:acm/certificateValidation:CertificateValidation"), anyOf(isType("aws:acm/certificate:Certificate"), isRecordType("CNAME")), "ACM validates through the CNAME record"},
	// Kubernetes.
	{anyOf(isType("kubernetes:helm.sh/v3:Release"), isType("kubernetes:apps/v1:Deployment")), isType("aws:eks/nodeGroup:NodeGroup"), "pods need nodes, and the release or rollout waits for its pods"},
	{hasTypePrefix("kubernetes:"), isType("kubernetes:core/v1:Namespace"), "a namespaced object needs its namespace"},
	{isChart("aws-load-balancer-controller"), hasTypePrefix("aws:iam/"), "the controller's service account assumes its IAM role, with the official policy attached"},
	{hasTypePrefix("kubernetes:cert-manager.io/"), isChart("cert-manager"), "cert-manager's CRDs and webhook come with its release"},
	{hasTypePrefix("kubernetes:cert-manager.io/"), hasTypePrefix("kubernetes:cert-manager.io/"), "the CA is signed by the self-signed issuer; the issuer signs with the CA"},
	{isChart("kong"), isType("kubernetes:cert-manager.io/v1:Issuer"), "the issuer before the Kong releases: it issues their cluster mTLS certificates"},
	{isChart("kong"), isChart("aws-load-balancer-controller"), "the controller's pod webhook gives Kong's pods their readiness gates only as they are created, and its Ingress webhook admits the Kong-class Ingresses"},
	{addonOtherThan("vpc-cni"), anyOf(isType("aws:eks/nodeGroup:NodeGroup"), hasTypePrefix("aws:iam/")), "the add-on's pods need nodes, and its IAM role"},
	{isAddon("vpc-cni"), hasTypePrefix("aws:iam/"), "aws-node assigns pod addresses through its IAM role"},
	{isChart("kong"), isType("aws:eks/addon:Addon"), "the bundled PostgreSQL's volume needs the EBS CSI driver"},
	{isType("kubernetes:core/v1:Secret"), hasTypePrefix("random:"), "the Secret holds the generated passwords"},
	{isChart("kong"), isType("kubernetes:core/v1:Secret"), "Kong and PostgreSQL read their passwords from the Secret"},
	{hasTypePrefix("kubernetes:configuration.konghq.com/"), isChart("kong"), "Kong's CRDs come with its chart"},
	{kongControlPlane, anyOf(isType("aws:rds/instance:Instance"), isType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")),
		"the control plane's migrations connect to its database, which must admit the cluster's pods"},
	{isType("aws:rds/instance:Instance"), anyOf(isType("aws:rds/subnetGroup:SubnetGroup"), isType("aws:rds/parameterGroup:ParameterGroup"), isType("aws:ec2/securityGroup:SecurityGroup")),
		"the instance is created in its subnet group, with its parameter group and security group"},
	{isType("aws:rds/subnetGroup:SubnetGroup"), isType("aws:ec2/subnet:Subnet"), "the subnet group names the private subnets"},
	{anyOf(isType("aws:ec2/securityGroup:SecurityGroup")), isType("aws:ec2/vpc:Vpc"), "created in the VPC"},
	{isType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), anyOf(isType("aws:ec2/securityGroup:SecurityGroup"), isType("aws:eks/cluster:Cluster")),
		"the rule is the database group's, and its source is the cluster's security group"},
	{isType("kubernetes:networking.k8s.io/v1:Ingress"), hasTypePrefix("kubernetes:configuration.konghq.com/"), "the Ingress names the plugin"},
	{albIngress, isChart("aws-load-balancer-controller"), "the controller before the Ingress: it provisions the ALB"},
	{albIngress, anyOf(isType("kubernetes:networking.k8s.io/v1:IngressClass"), isType("kubernetes:eks.amazonaws.com/v1:IngressClassParams")),
		"in Auto Mode the class holds the ALB's scheme, subnets and certificate"},
	{isType("kubernetes:eks.amazonaws.com/v1:IngressClassParams"), anyOf(isType("aws:acm/certificateValidation:CertificateValidation"), isType("aws:ec2/subnet:Subnet")),
		"the class names the issued certificate and the public subnets"},
	{isType("kubernetes:networking.k8s.io/v1:IngressClass"), isType("kubernetes:eks.amazonaws.com/v1:IngressClassParams"), "the class names its parameters"},
	{anyOf(isType("kubernetes:helm.sh/v3:Release"), isType("kubernetes:apps/v1:Deployment")), isType(autoNodesType), "pods need nodes, and in Auto Mode a node comes once pods are pending"},
	{isType(autoNodesType), hasTypePrefix("pulumi:providers:kubernetes"), "the first pods are created through the provider"},
	{albIngress, isType("aws:acm/certificateValidation:CertificateValidation"), "the certificate's validation before the Ingress: the HTTPS listener needs an issued certificate"},
	{albIngress, isType("aws:ec2/subnet:Subnet"), "the ALB goes in the public subnets"},
	{isRecordType("A", "AAAA"), albIngress, "the Ingress before the DNS record: its alias target is the ALB's hostname"},
	// The world's orders (estimate_world.go).
	{isType(dataPlaneReadyType), anyOf(kongDataPlane, kongEntity), "a data plane is Ready once its pods run and its control plane pushes it a non-empty configuration"},
	{isType(targetsHealthyType), isVirtualOr(albIngress), "the ALB routes to data plane pods once they are Ready and pass its health checks"},
	{isType(workingType), isVirtualOr(isRecordType("A", "AAAA")), "a working environment: the ALB serving, the records resolving, a data plane Ready"},
}

// required reports whether waiter truly needs waited first, and why.
func required(waiter, waited Resource) (bool, string) {
	if waiter.Provider != "" && waiter.Provider == waited.URN {
		return true, "created through its provider"
	}
	for _, e := range requiredEdges {
		if e.waiter(waiter) && e.waited(waited) {
			return true, e.why
		}
	}
	return false, ""
}

// Matchers for the tables.

func isType(typ string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == typ }
}

func hasTypePrefix(prefix string) func(Resource) bool {
	return func(r Resource) bool { return strings.HasPrefix(r.Type, prefix) }
}

func anyOf(matchers ...func(Resource) bool) func(Resource) bool {
	return func(r Resource) bool {
		for _, m := range matchers {
			if m(r) {
				return true
			}
		}
		return false
	}
}

// isChart matches a Helm release of a chart.
func isChart(chart string) func(Resource) bool {
	return func(r Resource) bool {
		return r.Type == "kubernetes:helm.sh/v3:Release" && r.Input("chart") == chart
	}
}

// rdsInstance matches an RDS DB instance, Multi-AZ or not.
func rdsInstance(multiAZ bool) func(Resource) bool {
	return func(r Resource) bool {
		return r.Type == "aws:rds/instance:Instance" && (r.Input("multiAz") == true) == multiAZ
	}
}

// kongControlPlane matches a Kong release in role control_plane.
func kongControlPlane(r Resource) bool {
	return r.Type == "kubernetes:helm.sh/v3:Release" && r.Input("values.env.role") == "control_plane"
}

// isVirtual matches the estimate's own resources (estimate_world.go).
func isVirtual(r Resource) bool { return strings.HasPrefix(r.Type, "estimate:") }

// isVirtualOr matches the estimate's own resources and those the matchers match.
func isVirtualOr(matchers ...func(Resource) bool) func(Resource) bool {
	return anyOf(append(matchers, isVirtual)...)
}

// isAddon matches the EKS add-on of that name.
func isAddon(name string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == "aws:eks/addon:Addon" && r.Input("addonName") == name }
}

// addonOtherThan matches every EKS add-on but the one named.
func addonOtherThan(name string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == "aws:eks/addon:Addon" && r.Input("addonName") != name }
}

// isRecordType matches a Route53 record of one of the DNS types.
func isRecordType(types ...string) func(Resource) bool {
	return func(r Resource) bool {
		if r.Type != "aws:route53/record:Record" {
			return false
		}
		for _, t := range types {
			if r.Input("type") == t {
				return true
			}
		}
		return false
	}
}

// albIngress matches an Ingress of the ALB class that Pulumi waits on.
func albIngress(r Resource) bool {
	if r.Type != "kubernetes:networking.k8s.io/v1:Ingress" || skipsAwait(r) {
		return false
	}
	return r.Input("spec.ingressClassName") == "alb" || r.Annotation("kubernetes.io/ingress.class") == "alb"
}

// awaitedOfType matches a resource of a type that Pulumi waits on.
func awaitedOfType(typ string) func(Resource) bool {
	return func(r Resource) bool { return r.Type == typ && !skipsAwait(r) }
}

func skipsAwait(r Resource) bool {
	return r.Input("skipAwait") == true || r.Annotation("pulumi.com/skipAwait") == "true"
}
