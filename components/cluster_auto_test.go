package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func newAutoCluster(ctx *pulumi.Context, nodes components.AutoNodes) (*components.Cluster, error) {
	return components.NewCluster(ctx, "eks", &components.ClusterArgs{
		Name: "demo", KubernetesVersion: "1.34", Region: region,
		PrivateSubnetIDs:     pulumi.ToStringArray([]string{"subnet-private000000001", "subnet-private000000002"}),
		EndpointPublicAccess: true, PublicAccessCIDRs: []string{"0.0.0.0/0"},
		AutoMode: true, AutoNodes: nodes,
	})
}

// An Auto Mode cluster (EKS User Guide, "Learn about identity and access in EKS Auto Mode";
// pulumi-aws's eks.Cluster example): compute, block storage and load balancing switched on
// together, a cluster role EKS may tag its sessions with and the Auto Mode policies, a node
// role with the minimal node policies; no node group, no add-on, no OIDC provider, no access
// entry for the nodes (EKS makes it).
func TestAutoModeCluster(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := newAutoCluster(ctx, components.AutoNodes{Architecture: components.AMD64, CapacityType: components.OnDemand})
		return nil, err
	})
	cluster := testkit.Named(t, doc, "aws:eks/cluster:Cluster", "eks")
	assertEqual(t, "compute", cluster.Input("computeConfig.enabled"), true)
	assertEqual(t, "built-in pools", strings.Join(stringsOf(cluster.Input("computeConfig.nodePools")), ","), "system,general-purpose")
	assertEqual(t, "node role", cluster.Input("computeConfig.nodeRoleArn"), "arn:aws:iam::123456789012:role/eks-node")
	assertEqual(t, "load balancing", cluster.Input("kubernetesNetworkConfig.elasticLoadBalancing.enabled"), true)
	assertEqual(t, "block storage", cluster.Input("storageConfig.blockStorage.enabled"), true)
	assertEqual(t, "no self-managed add-ons", cluster.Input("bootstrapSelfManagedAddons"), false)
	role := testkit.Named(t, doc, "aws:iam/role:Role", "eks-cluster")
	if trust, _ := role.Input("assumeRolePolicy").(string); !strings.Contains(trust, `"sts:TagSession"`) || !strings.Contains(trust, `"eks.amazonaws.com"`) {
		t.Errorf("the cluster role trusts %s", trust)
	}
	var policies []string
	for _, n := range []string{"eks-cluster", "eks-cluster-1", "eks-cluster-2", "eks-cluster-3", "eks-cluster-4"} {
		a := testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", n)
		assertWaitsOn(t, cluster, a)
		policies = append(policies, strings.TrimPrefix(a.Input("policyArn").(string), "arn:aws:iam::aws:policy/"))
	}
	assertEqual(t, "cluster role policies", strings.Join(policies, ","),
		"AmazonEKSClusterPolicy,AmazonEKSComputePolicy,AmazonEKSBlockStoragePolicy,AmazonEKSLoadBalancingPolicy,AmazonEKSNetworkingPolicy")
	var nodePolicies []string
	provider := testkit.Named(t, doc, "pulumi:providers:kubernetes", "eks")
	for _, n := range []string{"eks-node", "eks-node-1"} {
		a := testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", n)
		assertWaitsOn(t, provider, a) // the nodes join with them
		nodePolicies = append(nodePolicies, strings.TrimPrefix(a.Input("policyArn").(string), "arn:aws:iam::aws:policy/"))
	}
	assertEqual(t, "node role policies", strings.Join(nodePolicies, ","), "AmazonEKSWorkerNodeMinimalPolicy,AmazonEC2ContainerRegistryPullOnly")
	for _, typ := range []string{"aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
		"aws:eks/accessEntry:AccessEntry", "kubernetes:karpenter.sh/v1:NodePool"} {
		if got := doc.Find(typ); len(got) != 0 {
			t.Errorf("%s in an Auto Mode cluster with the built-in pools: %v", typ, got)
		}
	}
}

// Graviton (or spot) nodes come from a node pool of the program's; the built-in
// general-purpose pool (amd64 on-demand) is left out so that the workloads land there.
func TestAutoModeNodePool(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := newAutoCluster(ctx, components.AutoNodes{Architecture: components.ARM64, CapacityType: components.Spot})
		return nil, err
	})
	cluster := testkit.Named(t, doc, "aws:eks/cluster:Cluster", "eks")
	assertEqual(t, "built-in pools", strings.Join(stringsOf(cluster.Input("computeConfig.nodePools")), ","), "system")
	pool := testkit.Named(t, doc, "kubernetes:karpenter.sh/v1:NodePool", "eks")
	assertEqual(t, "node class", pool.Input("spec.template.spec.nodeClassRef.name"), "default")
	assertEqual(t, "node class group", pool.Input("spec.template.spec.nodeClassRef.group"), "eks.amazonaws.com")
	want := map[string]string{"kubernetes.io/arch": "arm64", "karpenter.sh/capacity-type": "spot"}
	reqs, _ := pool.Input("spec.template.spec.requirements").([]any)
	for _, r := range reqs {
		m := r.(map[string]any)
		if v, ok := want[m["key"].(string)]; ok {
			assertEqual(t, m["key"].(string), strings.Join(stringsOf(m["values"]), ","), v)
			delete(want, m["key"].(string))
		}
	}
	if len(want) > 0 {
		t.Errorf("the node pool lacks requirements %v", want)
	}
}

// The proxy Ingress of an Auto Mode cluster names its class, which holds the scheme, subnets,
// certificate and address type in IngressClassParams (eks.amazonaws.com/v1) for EKS's
// built-in controller; the Ingress keeps the rest, and no annotation Auto Mode does not
// support.
func TestAutoModeALBIngressClass(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		class, err := components.NewALBIngressClass(ctx, "alb", &components.ALBIngressClassArgs{
			Name: "alb", IPAddressType: "ipv4",
			SubnetIDs:       pulumi.ToStringArray([]string{"subnet-public1", "subnet-public2"}),
			CertificateARNs: pulumi.ToStringArray([]string{"arn:aws:acm:us-east-1:123456789012:certificate/abc"}),
		})
		if err != nil {
			return nil, err
		}
		_, err = components.NewProxyIngress(ctx, "kong-proxy", &components.ProxyIngressArgs{
			Namespace: pulumi.String("kong"), Domain: "eks.example.com", ServiceName: pulumi.String("kong-aws-dp-kong-proxy"), ServicePort: 443,
			CertificateARN: pulumi.String("arn:aws:acm:us-east-1:123456789012:certificate/abc"), PublicSubnetIDs: pulumi.ToStringArray([]string{"subnet-public1"}),
			SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06", IPAddressType: "ipv4", Tags: map[string]string{"stack": "auto"},
			Class: "alb", AutoMode: true, WaitFor: class.Ready,
		})
		return nil, err
	})
	class := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:IngressClass", "alb")
	assertEqual(t, "controller", class.Input("spec.controller"), "eks.amazonaws.com/alb")
	assertEqual(t, "parameters group", class.Input("spec.parameters.apiGroup"), "eks.amazonaws.com")
	assertEqual(t, "parameters kind", class.Input("spec.parameters.kind"), "IngressClassParams")
	params := testkit.Named(t, doc, "kubernetes:eks.amazonaws.com/v1:IngressClassParams", "alb")
	assertEqual(t, "scheme", params.Input("spec.scheme"), "internet-facing")
	assertEqual(t, "subnets", strings.Join(stringsOf(params.Input("spec.subnets.ids")), ","), "subnet-public1,subnet-public2")
	assertEqual(t, "certificates", strings.Join(stringsOf(params.Input("spec.certificateARNs")), ","), "arn:aws:acm:us-east-1:123456789012:certificate/abc")
	assertEqual(t, "address type", params.Input("spec.ipAddressType"), "ipv4")

	ing := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
	assertEqual(t, "class", ing.Input("spec.ingressClassName"), "alb")
	assertWaitsOn(t, ing, class)
	assertWaitsOn(t, ing, params)
	for _, k := range components.AutoModeClassAnnotations {
		if v := ing.Annotation(k); v != "" {
			t.Errorf("the Ingress repeats %s=%s, which the class holds", k, v)
		}
	}
	for _, k := range []string{"group.name", "waf-acl-id", "web-acl-id", "shield-advanced-protection"} {
		if v := ing.Annotation("alb.ingress.kubernetes.io/" + k); v != "" {
			t.Errorf("annotation %s, which Auto Mode does not support", k)
		}
	}
	assertEqual(t, "target type", ing.Annotation("alb.ingress.kubernetes.io/target-type"), "ip")
	assertEqual(t, "backend protocol", ing.Annotation("alb.ingress.kubernetes.io/backend-protocol"), "HTTPS")
}
