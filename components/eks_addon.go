package components

import (
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// eksAddon is an EKS add-on: software that EKS installs into the cluster, keeps patched and
// reports on.
type eksAddon struct {
	ClusterName pulumi.StringInput
	// Name is the add-on's name in the EKS catalogue (vpc-cni, coredns, ...).
	Name string
	// Version pins the add-on; empty means the version EKS makes the default for the
	// cluster's Kubernetes version.
	Version string
	// ServiceAccountRoleARN is the IRSA role of the add-on's service account, if it calls AWS.
	ServiceAccountRoleARN pulumi.StringPtrInput
	// ConfigurationValues is the add-on's JSON configuration, if any.
	ConfigurationValues string
	Tags                map[string]string
}

func newEKSAddon(ctx *pulumi.Context, name string, a eksAddon, opts ...pulumi.ResourceOption) (*awseks.Addon, error) {
	args := &awseks.AddonArgs{
		ClusterName:           a.ClusterName,
		AddonName:             pulumi.String(a.Name),
		ServiceAccountRoleArn: a.ServiceAccountRoleARN,
		// Adopt a copy of the same software installed by hand (or by an older setup) before.
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
		Tags:                     pulumi.ToStringMap(a.Tags),
	}
	if a.Version != "" {
		args.AddonVersion = pulumi.String(a.Version)
	}
	if a.ConfigurationValues != "" {
		args.ConfigurationValues = pulumi.String(a.ConfigurationValues)
	}
	return awseks.NewAddon(ctx, name, args, opts...)
}
