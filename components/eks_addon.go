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
	// cluster's Kubernetes version, looked up on every run so that the add-on follows the
	// cluster through upgrades.
	Version string
	// KubernetesVersion is the cluster's version (an output of the cluster, so that an
	// unpinned add-on updates only after the control plane has).
	KubernetesVersion pulumi.StringInput
	// Role is the IAM role of the add-on's service account, if it calls AWS.
	Role *addonRole
	// ConfigurationValues is the add-on's JSON configuration, if any.
	ConfigurationValues string
	Tags                map[string]string
}

// addonRole is an add-on's IAM role, for its service account.
type addonRole struct {
	Identity       WorkloadIdentity
	ServiceAccount string
	ARN            pulumi.StringInput
}

func newEKSAddon(ctx *pulumi.Context, name string, a eksAddon, opts ...pulumi.ResourceOption) (*awseks.Addon, error) {
	args := &awseks.AddonArgs{
		ClusterName: a.ClusterName,
		AddonName:   pulumi.String(a.Name),
		// Adopt a copy of the same software installed by hand (or by an older setup) before.
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
		Tags:                     pulumi.ToStringMap(a.Tags),
	}
	switch {
	case a.Version != "":
		args.AddonVersion = pulumi.String(a.Version)
	case a.KubernetesVersion != nil:
		// The add-on's version is optional and computed: left unset, it keeps the version it
		// was created with whatever the cluster's version becomes. EKS's default for the
		// cluster's version, asked each run, moves it along (as pulumi-eks and
		// terraform-aws-eks do); when AWS publishes a new default, the next preview shows the
		// add-on's update.
		args.AddonVersion = awseks.GetAddonVersionOutput(ctx, awseks.GetAddonVersionOutputArgs{
			AddonName:         pulumi.String(a.Name),
			KubernetesVersion: a.KubernetesVersion,
			MostRecent:        pulumi.Bool(false),
		}).Version()
	}
	if r := a.Role; r != nil {
		if r.Identity.PodIdentity() {
			// EKS makes (and owns) the association for the add-on's service account, and
			// rolls the add-on's pods so that they take it up. Left unset, the IRSA role ARN
			// of an add-on that had one is cleared by the same update.
			args.PodIdentityAssociations = awseks.AddonPodIdentityAssociationArray{awseks.AddonPodIdentityAssociationArgs{
				RoleArn: r.ARN, ServiceAccount: pulumi.String(r.ServiceAccount),
			}}
		} else {
			args.ServiceAccountRoleArn = r.ARN
		}
	}
	if a.ConfigurationValues != "" {
		args.ConfigurationValues = pulumi.String(a.ConfigurationValues)
	}
	return awseks.NewAddon(ctx, name, args, opts...)
}
