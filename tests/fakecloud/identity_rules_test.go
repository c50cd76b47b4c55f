package fakecloud

import (
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

const irsaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"},` +
	`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{}}}]}`

// identityCloud is a cluster prod with a role lbc trusting trust.
func identityCloud(t *testing.T, trust string) (*Provider, *live) {
	t.Helper()
	p := cloud(t)
	p.mustCreate(t, clusterType, "prod", clusterAt("1.34"))
	role := p.mustCreate(t, iamRole, "lbc", map[string]any{"assumeRolePolicy": trust})
	return p, role
}

func lbcAssociation(role string) map[string]any {
	return map[string]any{"clusterName": "prod", "namespace": "kube-system", "serviceAccount": "aws-load-balancer-controller", "roleArn": role}
}

const lbcRoleARN = "arn:aws:iam::123456789012:role/lbc"

func TestAnAssociationNeedsARoleThatTrustsPodIdentity(t *testing.T) {
	p, _ := identityCloud(t, irsaTrust)
	if _, err := p.create(t, podIdentityAssociation, "lbc", lbcAssociation(lbcRoleARN)); err == nil ||
		!strings.Contains(err.Error(), "Trust policy of the role provided is invalid") {
		t.Errorf("an association with an IRSA-only role: %v", err)
	}
	if _, err := p.create(t, podIdentityAssociation, "lbc", lbcAssociation("arn:aws:iam::123456789012:role/none")); err == nil ||
		!strings.Contains(err.Error(), "Role provided in the request does not exist") {
		t.Errorf("an association with no role: %v", err)
	}
	p2, _ := identityCloud(t, components.PodIdentityTrustPolicy)
	p2.mustCreate(t, podIdentityAssociation, "lbc", lbcAssociation(lbcRoleARN))
}

// One association per service account, whoever owns it: an add-on's own counts.
func TestOneAssociationPerServiceAccount(t *testing.T) {
	p, _ := identityCloud(t, components.PodIdentityTrustPolicy)
	p.mustCreate(t, addonType, "ebs", map[string]any{"clusterName": "prod", "addonName": "aws-ebs-csi-driver",
		"podIdentityAssociations": []any{map[string]any{"serviceAccount": "ebs-csi-controller-sa", "roleArn": lbcRoleARN}}})
	in := lbcAssociation(lbcRoleARN)
	in["serviceAccount"] = "ebs-csi-controller-sa"
	if _, err := p.create(t, podIdentityAssociation, "ebs-again", in); err == nil || !strings.Contains(err.Error(), "ResourceInUseException") {
		t.Errorf("a second association for the add-on's service account: %v", err)
	}
}

// On a cluster with nodes, aws-node moves to Pod Identity only with the agent there.
func TestAWSNodeNeedsTheAgentOnRunningNodes(t *testing.T) {
	p, _ := identityCloud(t, components.PodIdentityTrustPolicy)
	cni := map[string]any{"clusterName": "prod", "addonName": "vpc-cni",
		"podIdentityAssociations": []any{map[string]any{"serviceAccount": "aws-node", "roleArn": lbcRoleARN}}}
	first := p.mustCreate(t, addonType, "cni", cni) // no nodes yet: nothing restarts
	p.delete(t, addonType, "cni", first.id)
	p.mustCreate(t, nodeGroupType, "nodes", nodesAt("1.34"))
	if _, err := p.create(t, addonType, "cni", cni); err == nil || !strings.Contains(err.Error(), "eks-pod-identity-agent") {
		t.Errorf("aws-node onto Pod Identity with no agent: %v", err)
	}
	p.mustCreate(t, addonType, "agent", map[string]any{"clusterName": "prod", "addonName": "eks-pod-identity-agent"})
	p.mustCreate(t, addonType, "cni", cni)
}

// The SDK's chain: IRSA's web identity first, then Pod Identity for pods created after their
// association, with the agent there and a role that trusts it.
func TestPodCredentials(t *testing.T) {
	p, role := identityCloud(t, components.PodIdentityTrustPolicy)
	before := time.Now().Add(-2 * time.Second) // creation times are kept to the second
	p.mustCreate(t, podIdentityAssociation, "lbc", lbcAssociation(lbcRoleARN))
	after := time.Now()
	const ns, sa = "kube-system", "aws-load-balancer-controller"
	if _, _, err := p.World.PodCredentials("prod", ns, sa, before, ""); err == nil || !strings.Contains(err.Error(), "before its service account's Pod Identity association") {
		t.Errorf("a pod created before the association: %v", err)
	}
	if _, _, err := p.World.PodCredentials("prod", ns, sa, after, ""); err == nil || !strings.Contains(err.Error(), "eks-pod-identity-agent") {
		t.Errorf("no agent: %v", err)
	}
	p.mustCreate(t, addonType, "agent", map[string]any{"clusterName": "prod", "addonName": "eks-pod-identity-agent"})
	if got, via, err := p.World.PodCredentials("prod", ns, sa, after, ""); err != nil || got != lbcRoleARN || via != "pod-identity" {
		t.Errorf("Pod Identity: %s %s %v", got, via, err)
	}
	// The IRSA annotation wins, and the role does not trust the provider.
	if _, via, err := p.World.PodCredentials("prod", ns, sa, after, lbcRoleARN); err == nil || via != "irsa" {
		t.Errorf("a pod with the IRSA annotation and a Pod Identity role: %s %v", via, err)
	}
	// A role whose trust no longer allows Pod Identity fails the pods that use it.
	if _, err := p.updateFrom(t, role, nil, map[string]any{"assumeRolePolicy": irsaTrust}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.World.PodCredentials("prod", ns, sa, after, ""); err == nil || !strings.Contains(err.Error(), "AssumeRoleForPodIdentity") {
		t.Errorf("a role that no longer trusts Pod Identity: %v", err)
	}
}
