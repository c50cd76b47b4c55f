package components

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// IAM roles: for the pods of Kubernetes service accounts (through EKS Pod Identity or IRSA)
// and for AWS services.

// workloadRole is the IAM role of one Kubernetes service account's pods, with one managed
// policy.
type workloadRole struct {
	Identity       WorkloadIdentity
	Namespace      string
	ServiceAccount string
	PolicyARN      pulumi.StringInput
	Tags           map[string]string
}

// newWorkloadRole creates the role, trusting what Identity says, and attaches its policy;
// workloads that call AWS as soon as they start should wait for the attachment. Switching
// Identity changes only the trust policy, which IAM updates in place (UpdateAssumeRolePolicy):
// the role, its ARN and its attachment stay.
func newWorkloadRole(ctx *pulumi.Context, name string, r workloadRole, opts ...pulumi.ResourceOption) (*iam.Role, *iam.RolePolicyAttachment, error) {
	var trust pulumi.StringInput
	if r.Identity.PodIdentity() {
		trust = pulumi.String(PodIdentityTrustPolicy)
	} else {
		if r.Identity.OIDCProviderARN == nil || r.Identity.OIDCIssuerURL == nil {
			return nil, nil, fmt.Errorf("role %s: IRSA needs the cluster's OIDC provider", name)
		}
		trust = pulumi.All(r.Identity.OIDCProviderARN, r.Identity.OIDCIssuerURL).ApplyT(func(v []any) (string, error) {
			return IRSATrustPolicy(v[0].(string), v[1].(string), r.Namespace, r.ServiceAccount)
		}).(pulumi.StringOutput)
	}
	role, attachments, err := newRole(ctx, name, trust, []pulumi.StringInput{r.PolicyARN}, r.Tags, opts...)
	if err != nil {
		return nil, nil, err
	}
	return role, attachments[0], nil
}

// newServiceRole creates a role that an AWS service (eks.amazonaws.com, ec2.amazonaws.com)
// assumes, with managed policies. The attachments are returned for DependsOn: a service
// checks the role's permissions as it uses it, and no input says so.
func newServiceRole(ctx *pulumi.Context, name, service string, policyARNs []string, tags map[string]string, opts ...pulumi.ResourceOption) (*iam.Role, []pulumi.Resource, error) {
	return newServiceRoleActing(ctx, name, service, "sts:AssumeRole", policyARNs, tags, opts...)
}

// newServiceRoleActing is newServiceRole whose trust allows the service actions (a string,
// or a list such as sts:AssumeRole and sts:TagSession).
func newServiceRoleActing(ctx *pulumi.Context, name, service string, actions any, policyARNs []string, tags map[string]string, opts ...pulumi.ResourceOption) (*iam.Role, []pulumi.Resource, error) {
	trust, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": service}, "Action": actions,
		}},
	})
	if err != nil {
		return nil, nil, err
	}
	policies := make([]pulumi.StringInput, len(policyARNs))
	for i, arn := range policyARNs {
		policies[i] = pulumi.String(arn)
	}
	role, attachments, err := newRole(ctx, name, pulumi.String(string(trust)), policies, tags, opts...)
	if err != nil {
		return nil, nil, err
	}
	deps := make([]pulumi.Resource, len(attachments))
	for i, a := range attachments {
		deps[i] = a
	}
	return role, deps, nil
}

// newRole creates a role with a trust policy and attaches managed policies, one attachment
// each (named <name>, then <name>-1, ...).
func newRole(ctx *pulumi.Context, name string, trust pulumi.StringInput, policyARNs []pulumi.StringInput, tags map[string]string, opts ...pulumi.ResourceOption) (*iam.Role, []*iam.RolePolicyAttachment, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{AssumeRolePolicy: trust, Tags: pulumi.ToStringMap(tags)}, opts...)
	if err != nil {
		return nil, nil, err
	}
	attachments := make([]*iam.RolePolicyAttachment, len(policyARNs))
	for i, arn := range policyARNs {
		attachmentName := name
		if i > 0 {
			attachmentName = fmt.Sprintf("%s-%d", name, i)
		}
		attachments[i], err = iam.NewRolePolicyAttachment(ctx, attachmentName, &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: arn,
		}, opts...)
		if err != nil {
			return nil, nil, err
		}
	}
	return role, attachments, nil
}

// PodIdentityTrustPolicy is the trust policy of a role for EKS Pod Identity: the EKS Auth
// service assumes it for a pod and tags the session with the pod's cluster, namespace and
// service account (EKS User Guide, "Create a Pod Identity association": both actions are
// required). It names no cluster: which pods get the role is the association's business.
const PodIdentityTrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// IRSATrustPolicy is the trust policy of an IAM role for a Kubernetes service account: the
// cluster's OIDC provider may assume it for exactly that service account (sub) and only for
// STS (aud).
func IRSATrustPolicy(providerARN, issuerURL, namespace, serviceAccount string) (string, error) {
	issuer := strings.TrimPrefix(issuerURL, "https://")
	if providerARN == "" || issuer == "" {
		return "", fmt.Errorf("IRSA trust policy needs the OIDC provider ARN and issuer")
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"Federated": providerARN},
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Condition": map[string]any{"StringEquals": map[string]any{
				issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
				issuer + ":aud": "sts.amazonaws.com",
			}},
		}},
	}
	b, err := json.Marshal(doc)
	return string(b), err
}
