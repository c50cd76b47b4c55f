package components

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NodePoolArgs configures an EKS Auto Mode node pool.
type NodePoolArgs struct {
	Nodes AutoNodes
}

// NodePool is an EKS Auto Mode node pool (a Karpenter NodePool, karpenter.sh/v1, of EKS's
// default NodeClass) for nodes the built-in general-purpose pool does not give: arm64, or
// spot. Its instances are chosen as the built-in pool's are (C, M and R, generation 5 or
// newer; EKS User Guide, "Create a Node Pool for EKS Auto Mode").
type NodePool struct {
	pulumi.ResourceState

	Name pulumi.StringOutput `pulumi:"name"`
}

// NewNodePool creates the node pool. Pass the cluster's Kubernetes provider.
func NewNodePool(ctx *pulumi.Context, name string, args *NodePoolArgs, opts ...pulumi.ResourceOption) (*NodePool, error) {
	if args == nil || args.Nodes.Architecture == "" || args.Nodes.CapacityType == "" {
		return nil, fmt.Errorf("node pool %s: an architecture and a capacity type are required", name)
	}
	np := &NodePool{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:cluster:NodePool", name, np, opts...); err != nil {
		return nil, err
	}
	requirement := func(key, op string, values ...string) map[string]any {
		return map[string]any{"key": key, "operator": op, "values": values}
	}
	pool, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("karpenter.sh/v1"),
		Kind:       pulumi.String("NodePool"),
		Metadata:   metav1.ObjectMetaArgs{Name: pulumi.String(name)},
		OtherFields: map[string]any{"spec": map[string]any{
			"template": map[string]any{"spec": map[string]any{
				"nodeClassRef": map[string]any{"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"},
				"requirements": []any{
					requirement("kubernetes.io/arch", "In", args.Nodes.Architecture),
					requirement("karpenter.sh/capacity-type", "In", args.Nodes.CapacityType),
					requirement("eks.amazonaws.com/instance-category", "In", "c", "m", "r"),
					requirement("eks.amazonaws.com/instance-generation", "Gt", "4"),
				},
			}},
			// Nodes that are empty or could be packed tighter go; the data plane's
			// PodDisruptionBudget keeps a proxy serving while they do.
			"disruption": map[string]any{"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
		}},
	}, pulumi.Parent(np))
	if err != nil {
		return nil, fmt.Errorf("node pool %s: %w", name, err)
	}
	np.Name = pool.Metadata.Name().Elem()
	return np, registerOutputs(ctx, np)
}
