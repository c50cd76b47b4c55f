package components_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// The Pod Identity trust policy is what EKS's user guide requires ("Create a Pod Identity
// association": principal pods.eks.amazonaws.com, actions sts:AssumeRole and sts:TagSession;
// CreatePodIdentityAssociation refuses a role whose trust lacks them), naming no cluster.
func TestPodIdentityTrustPolicy(t *testing.T) {
	t.Parallel()
	var doc struct {
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    []string
			Condition any
		}
	}
	if err := json.Unmarshal([]byte(components.PodIdentityTrustPolicy), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("statements: %+v", doc.Statement)
	}
	st := doc.Statement[0]
	assertEqual(t, "effect", st.Effect, "Allow")
	assertEqual(t, "principal", fmt.Sprint(st.Principal), "map[Service:pods.eks.amazonaws.com]")
	assertEqual(t, "actions", fmt.Sprint(st.Action), "[sts:AssumeRole sts:TagSession]")
	assertEqual(t, "condition", st.Condition, nil)
}

// With Pod Identity the cluster has the agent add-on and no OIDC provider; the VPC CNI's
// role comes through the add-on's own association, and aws-node (before the nodes, and on
// an update of the add-on) finds the agent there.
func TestClusterWithPodIdentity(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newCluster(ctx)
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"oidcArn": c.OIDCProviderARN, "issuer": c.OIDCIssuerURL}, nil
	})
	if got := doc.Find("aws:iam/openIdConnectProvider:OpenIdConnectProvider"); len(got) != 0 {
		t.Errorf("an OIDC provider nothing uses: %v", got)
	}
	assertEqual(t, "OIDC ARN output", doc.Outputs["oidcArn"], "")
	const addon = "aws:eks/addon:Addon"
	agent := testkit.Named(t, doc, addon, "eks-pod-identity-agent")
	assertEqual(t, "agent add-on", agent.Input("addonName"), "eks-pod-identity-agent")
	assertEqual(t, "agent cluster", agent.Input("clusterName"), "demo")
	assertWaitsOn(t, agent, testkit.Named(t, doc, "aws:eks/cluster:Cluster", "eks"))

	cni := testkit.Named(t, doc, addon, "eks-vpc-cni")
	assertEqual(t, "no IRSA role on the add-on", cni.Input("serviceAccountRoleArn"), nil)
	assertEqual(t, "associations", len(cni.Input("podIdentityAssociations").([]any)), 1)
	assertEqual(t, "association's service account", cni.Input("podIdentityAssociations.0.serviceAccount"), "aws-node")
	assertEqual(t, "association's role", cni.Input("podIdentityAssociations.0.roleArn"), "arn:aws:iam::123456789012:role/eks-vpc-cni")
	role := testkit.Named(t, doc, "aws:iam/role:Role", "eks-vpc-cni")
	assertEqual(t, "the CNI role's trust", role.Input("assumeRolePolicy"), components.PodIdentityTrustPolicy)
	assertWaitsOn(t, cni, agent)
	assertWaitsOn(t, cni, testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-vpc-cni"))
	ng := testkit.Named(t, doc, "aws:eks/nodeGroup:NodeGroup", "eks-nodes")
	assertWaitsOn(t, ng, agent)
	assertWaitsOn(t, ng, cni)
	// The agent is a DaemonSet: it waits for no node.
	assertNotWaitsOn(t, agent, ng)
}

// With Pod Identity the controller's role comes through an association made before the
// release (EKS injects the credentials only into pods created after it), its service account
// carries no IRSA annotation, and its pods are labelled with the mode so that a change of
// mode replaces them.
func TestLoadBalancerControllerWithPodIdentity(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newCluster(ctx)
		if err != nil {
			return nil, err
		}
		lbc, err := components.NewLoadBalancerController(ctx, "lbc", &components.LoadBalancerControllerArgs{
			ClusterName: c.Name, Region: region, VPCID: pulumi.String("vpc-0123456789abcdef0"), Identity: c.Identity,
			Chart: components.ChartSource{Chart: "aws-load-balancer-controller", Repository: "https://aws.github.io/eks-charts", Version: "3.5.0"},
		}, pulumi.Provider(c.Provider))
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"role": lbc.RoleARN}, nil
	})
	role := testkit.Named(t, doc, "aws:iam/role:Role", "lbc")
	assertEqual(t, "trust", role.Input("assumeRolePolicy"), components.PodIdentityTrustPolicy)
	association := testkit.Named(t, doc, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "lbc")
	assertEqual(t, "cluster", association.Input("clusterName"), "demo")
	assertEqual(t, "namespace", association.Input("namespace"), "kube-system")
	assertEqual(t, "service account", association.Input("serviceAccount"), "aws-load-balancer-controller")
	assertEqual(t, "role", association.Input("roleArn"), "arn:aws:iam::123456789012:role/lbc")
	assertWaitsOn(t, association, role)

	release := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "lbc")
	assertEqual(t, "no IRSA annotation", synth.LookupParts(release.Inputs, "values", "serviceAccount", "annotations", "eks.amazonaws.com/role-arn"), nil)
	assertEqual(t, "credentials annotation", synth.LookupParts(release.Inputs, "values", "podAnnotations", components.CredentialsAnnotation), components.PodIdentity)
	assertWaitsOn(t, release, association)
	assertWaitsOn(t, release, testkit.Named(t, doc, "aws:eks/addon:Addon", "eks-pod-identity-agent"))
	assertWaitsOn(t, release, testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "lbc"))
}

func TestEBSCSIDriverWithPodIdentity(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := newCluster(ctx)
		if err != nil {
			return nil, err
		}
		_, err = components.NewEBSCSIDriver(ctx, "ebs", &components.EBSCSIDriverArgs{
			ClusterName: c.Name, KubernetesVersion: c.KubernetesVersion, Identity: c.Identity, Nodes: c.Nodes, Kubeconfig: c.Kubeconfig,
		}, pulumi.Provider(c.Provider))
		return nil, err
	})
	addon := testkit.Named(t, doc, "aws:eks/addon:Addon", "ebs")
	assertEqual(t, "no IRSA role on the add-on", addon.Input("serviceAccountRoleArn"), nil)
	assertEqual(t, "association's service account", addon.Input("podIdentityAssociations.0.serviceAccount"), "ebs-csi-controller-sa")
	assertEqual(t, "association's role", addon.Input("podIdentityAssociations.0.roleArn"), "arn:aws:iam::123456789012:role/ebs")
	assertEqual(t, "trust", testkit.Named(t, doc, "aws:iam/role:Role", "ebs").Input("assumeRolePolicy"), components.PodIdentityTrustPolicy)
	assertWaitsOn(t, addon, testkit.Named(t, doc, "aws:eks/addon:Addon", "eks-pod-identity-agent"))
	if n := len(doc.Find("aws:eks/podIdentityAssociation:PodIdentityAssociation")); n != 0 {
		t.Errorf("%d standalone associations: EKS makes the add-on's own, and a second one for its service account is refused", n)
	}
}

// Switching the mode keeps every role (same name, so the same URN): only its trust policy
// changes, which IAM updates in place.
func TestSwitchingIdentityKeepsTheRoles(t *testing.T) {
	t.Parallel()
	roles := func(identity string) map[string]string {
		doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
			c, err := newClusterIn(ctx, identity)
			if err != nil {
				return nil, err
			}
			if _, err := components.NewEBSCSIDriver(ctx, "ebs", &components.EBSCSIDriverArgs{
				ClusterName: c.Name, KubernetesVersion: c.KubernetesVersion, Identity: c.Identity, Nodes: c.Nodes, Kubeconfig: c.Kubeconfig,
			}, pulumi.Provider(c.Provider)); err != nil {
				return nil, err
			}
			_, err = components.NewLoadBalancerController(ctx, "lbc", &components.LoadBalancerControllerArgs{
				ClusterName: c.Name, Region: region, VPCID: pulumi.String("vpc-0123456789abcdef0"), Identity: c.Identity,
				Chart: components.ChartSource{Chart: "aws-load-balancer-controller", Repository: "https://aws.github.io/eks-charts", Version: "3.5.0"},
			}, pulumi.Provider(c.Provider))
			return nil, err
		})
		out := map[string]string{}
		for _, r := range doc.Find("aws:iam/role:Role") {
			out[r.URN] = r.Input("assumeRolePolicy").(string)
		}
		for _, r := range doc.Find("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			out[r.URN] = fmt.Sprint(r.Input("role"), r.Input("policyArn"))
		}
		return out
	}
	irsa, podIdentity := roles(components.IRSA), roles(components.PodIdentity)
	assertEqual(t, "roles and attachments", len(podIdentity), len(irsa))
	changed := 0
	for urn, trust := range irsa {
		now, ok := podIdentity[urn]
		if !ok {
			t.Errorf("%s goes when the stack moves to Pod Identity", urn)
			continue
		}
		if now != trust {
			changed++
		}
	}
	assertEqual(t, "trust policies that change (the VPC CNI's, the EBS CSI driver's, the controller's)", changed, 3)
}
