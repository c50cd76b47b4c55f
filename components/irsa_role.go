package components

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// irsaRole is an IAM role for a Kubernetes service account (IRSA) with one managed policy.
type irsaRole struct {
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	Namespace       string
	ServiceAccount  string
	PolicyARN       pulumi.StringInput
	Tags            map[string]string
}

// newIRSARole creates the role and attaches its policy; workloads that call AWS as soon as they
// start should wait for the attachment.
func newIRSARole(ctx *pulumi.Context, name string, r irsaRole, opts ...pulumi.ResourceOption) (*iam.Role, *iam.RolePolicyAttachment, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: pulumi.All(r.OIDCProviderARN, r.OIDCIssuerURL).ApplyT(func(v []any) (string, error) {
			return IRSATrustPolicy(v[0].(string), v[1].(string), r.Namespace, r.ServiceAccount)
		}).(pulumi.StringOutput),
		Tags: pulumi.ToStringMap(r.Tags),
	}, opts...)
	if err != nil {
		return nil, nil, err
	}
	attachment, err := iam.NewRolePolicyAttachment(ctx, name, &iam.RolePolicyAttachmentArgs{
		Role: role.Name, PolicyArn: r.PolicyARN,
	}, opts...)
	if err != nil {
		return nil, nil, err
	}
	return role, attachment, nil
}

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
