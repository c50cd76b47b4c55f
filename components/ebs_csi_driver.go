package components

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The EBS CSI controller's service account, which its IAM role trusts.
const (
	ebsCSIServiceAccount = "ebs-csi-controller-sa"
	ebsCSIPolicyARN      = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
	// GP3StorageClass is the cluster's default StorageClass.
	GP3StorageClass = "gp3"
)

// EBSCSIDriverArgs configures the EBS CSI driver add-on.
type EBSCSIDriverArgs struct {
	ClusterName pulumi.StringInput
	// Identity gives the controller its role (Cluster.Identity).
	Identity WorkloadIdentity
	// BuiltIn: the cluster is in EKS Auto Mode, whose block storage is EKS's own driver; only
	// the StorageClass is made.
	BuiltIn bool
	// AddonVersion pins the add-on; empty means the version EKS makes the default for the
	// cluster's Kubernetes version.
	AddonVersion string
	// KubernetesVersion is the cluster's version (Cluster.KubernetesVersion): an unpinned
	// add-on follows it.
	KubernetesVersion pulumi.StringInput
	// Nodes: the add-on's pods run on them, and EKS reports it ACTIVE only then.
	Nodes pulumi.Resource
	// Kubeconfig reaches the cluster: before the add-on is removed, it is used to wait until
	// the driver has deleted every volume it would delete.
	Kubeconfig pulumi.StringInput
	// KubeconfigEnv is added to the environment of the kubeconfig's credential command (see
	// stacks.Operation); its PATH, if any, finds the command.
	KubeconfigEnv map[string]string
	Tags          map[string]string
}

// EBSCSIDriver is the Amazon EBS CSI driver (an EKS add-on with an IAM role) and a default
// encrypted gp3 StorageClass: since Kubernetes 1.23 the in-tree EBS plugin is gone, and
// without them a PersistentVolumeClaim (the bundled PostgreSQL's) stays Pending.
type EBSCSIDriver struct {
	pulumi.ResourceState

	StorageClass pulumi.StringOutput `pulumi:"storageClass"`
	// Ready is done when volumes can be provisioned.
	Ready []pulumi.Resource
}

// NewEBSCSIDriver installs the add-on and the StorageClass. Pass the cluster's Kubernetes
// provider with pulumi.Providers.
func NewEBSCSIDriver(ctx *pulumi.Context, name string, args *EBSCSIDriverArgs, opts ...pulumi.ResourceOption) (*EBSCSIDriver, error) {
	if args == nil || args.ClusterName == nil || args.KubernetesVersion == nil || args.Nodes == nil || args.Kubeconfig == nil {
		return nil, fmt.Errorf("EBS CSI driver %s: cluster name, version and kubeconfig, and nodes are required", name)
	}
	if !args.BuiltIn {
		if err := args.Identity.check(); err != nil {
			return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
		}
	}
	d := &EBSCSIDriver{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:aws:EBSCSIDriver", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	volumesReleased, err := newVolumesReleasedHook(ctx, name, args.ClusterName, args.Kubeconfig, args.KubeconfigEnv)
	if err != nil {
		return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
	}
	// Released volumes are deleted by the driver, some time after their claims: the driver
	// (the add-on, or in Auto Mode the StorageClass, as what stands for EKS's driver) goes
	// only once they are.
	afterVolumes := pulumi.ResourceHooks(&pulumi.ResourceHookBinding{BeforeDelete: []*pulumi.ResourceHook{volumesReleased}})
	if args.BuiltIn {
		class, err := newGP3Class(ctx, name, autoModeEBSDriverName, parent, afterVolumes)
		if err != nil {
			return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
		}
		d.StorageClass = class.Metadata.Name().Elem()
		d.Ready = []pulumi.Resource{class}
		return d, registerOutputs(ctx, d)
	}
	role, attachment, err := newWorkloadRole(ctx, name, workloadRole{
		Identity: args.Identity, Namespace: "kube-system", ServiceAccount: ebsCSIServiceAccount,
		PolicyARN: pulumi.String(ebsCSIPolicyARN), Tags: args.Tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
	}
	addonWaitsFor := []pulumi.Resource{args.Nodes, attachment}
	if args.Identity.Agent != nil {
		addonWaitsFor = append(addonWaitsFor, args.Identity.Agent)
	}
	addon, err := newEKSAddon(ctx, name, eksAddon{
		ClusterName: args.ClusterName, Name: "aws-ebs-csi-driver", Version: args.AddonVersion, KubernetesVersion: args.KubernetesVersion,
		Role: &addonRole{Identity: args.Identity, ServiceAccount: ebsCSIServiceAccount, ARN: role.Arn}, Tags: args.Tags,
	},
		parent,
		afterVolumes,
		// EKS reports the add-on ACTIVE only once its pods run on nodes, and the controller
		// needs its policy to provision volumes (and, with Pod Identity, the agent to get its
		// credentials from); none of these is an input.
		pulumi.DependsOn(addonWaitsFor))
	if err != nil {
		return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
	}
	class, err := newGP3Class(ctx, name, ebsCSIDriverName, parent)
	if err != nil {
		return nil, fmt.Errorf("EBS CSI driver %s: %w", name, err)
	}
	d.StorageClass = class.Metadata.Name().Elem()
	d.Ready = []pulumi.Resource{addon, class}
	return d, registerOutputs(ctx, d)
}

// newGP3Class is the cluster's default StorageClass: encrypted gp3 volumes of driver, in the
// zone of the pod's node.
func newGP3Class(ctx *pulumi.Context, name, driver string, opts ...pulumi.ResourceOption) (*storagev1.StorageClass, error) {
	return storagev1.NewStorageClass(ctx, name+"-gp3", &storagev1.StorageClassArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(GP3StorageClass),
			Annotations: pulumi.StringMap{"storageclass.kubernetes.io/is-default-class": pulumi.String("true")},
		},
		Provisioner:          pulumi.String(driver),
		Parameters:           pulumi.StringMap{"type": pulumi.String("gp3"), "encrypted": pulumi.String("true")},
		VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
		AllowVolumeExpansion: pulumi.Bool(true),
		ReclaimPolicy:        pulumi.String("Delete"),
	}, opts...)
}
