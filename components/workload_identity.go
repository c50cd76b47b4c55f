package components

import (
	"fmt"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Workload identity modes: how the pods of a service account get its IAM role.
const (
	// PodIdentity is EKS Pod Identity: an association (cluster, namespace, service account ->
	// role), the eks-pod-identity-agent on every node, and roles that trust
	// pods.eks.amazonaws.com.
	PodIdentity = "pod-identity"
	// IRSA is IAM roles for service accounts: the cluster's IAM OIDC provider, a role-arn
	// annotation on the service account, and roles that trust the provider for that account.
	IRSA = "irsa"
)

// WorkloadIdentity is how the cluster's pods get IAM roles; the cluster makes it and the
// components whose pods call AWS use it.
type WorkloadIdentity struct {
	// Mode is PodIdentity or IRSA.
	Mode        string
	ClusterName pulumi.StringInput
	// Agent is the eks-pod-identity-agent add-on (PodIdentity only). It serves credentials
	// on each node, and the pods of an association get them from it.
	Agent pulumi.Resource
	// OIDCProviderARN and OIDCIssuerURL are what IRSA trust policies name (IRSA only).
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
}

// PodIdentity reports whether roles come through EKS Pod Identity.
func (w WorkloadIdentity) PodIdentity() bool { return w.Mode == PodIdentity }

// check reports a WorkloadIdentity that cannot give roles.
func (w WorkloadIdentity) check() error {
	switch {
	case w.Mode == PodIdentity && (w.Agent == nil || w.ClusterName == nil):
		return fmt.Errorf("EKS Pod Identity needs the cluster's name and its eks-pod-identity-agent add-on")
	case w.Mode == IRSA && (w.OIDCProviderARN == nil || w.OIDCIssuerURL == nil):
		return fmt.Errorf("IRSA needs the cluster's OIDC provider")
	case w.Mode != PodIdentity && w.Mode != IRSA:
		return fmt.Errorf("workload identity %q: expected %s or %s", w.Mode, PodIdentity, IRSA)
	}
	return nil
}

// serviceAccountRole gives a Helm release's service account its role: with Pod Identity an
// association, with IRSA the service account's role-arn annotation. It returns the annotations
// for the chart's service account and what the release must wait for.
//
// Either way the role reaches a pod only as the pod is created: EKS adds the Pod Identity
// environment (AWS_CONTAINER_CREDENTIALS_FULL_URI) "when Amazon EKS starts a new pod that uses
// a service account with an EKS Pod Identity association" (EKS User Guide, "How EKS Pod
// Identity Agent works with a Pod"), and the IRSA webhook adds its own likewise. So the
// release waits for the association and the agent, and the chart's pods must be restarted when
// the mode changes (CredentialsAnnotation).
func serviceAccountRole(ctx *pulumi.Context, name string, w WorkloadIdentity, namespace, serviceAccount string, role pulumi.StringInput, opts ...pulumi.ResourceOption) (map[string]pulumi.StringInput, []pulumi.Resource, error) {
	if !w.PodIdentity() {
		return map[string]pulumi.StringInput{"eks.amazonaws.com/role-arn": role}, nil, nil
	}
	association, err := awseks.NewPodIdentityAssociation(ctx, name, &awseks.PodIdentityAssociationArgs{
		ClusterName:    w.ClusterName,
		Namespace:      pulumi.String(namespace),
		ServiceAccount: pulumi.String(serviceAccount),
		RoleArn:        role,
	}, opts...)
	if err != nil {
		return nil, nil, err
	}
	return map[string]pulumi.StringInput{}, []pulumi.Resource{association, w.Agent}, nil
}

// CredentialsAnnotation, on the pod template of a workload that calls AWS, names where its
// credentials come from (the mode). A pod keeps the credentials it was created with, and the
// SDKs' default chain prefers IRSA's web identity to the Pod Identity agent ("If your
// workloads currently use credentials that are earlier in the chain of credentials, those
// credentials will continue to be used", EKS User Guide, "EKS Pod Identity"): a change of mode
// must replace the pods, and this annotation changing does.
const CredentialsAnnotation = "kong-alb-eks.io/aws-credentials"
