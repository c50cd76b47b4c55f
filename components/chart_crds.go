package components

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CRD is one CustomResourceDefinition from a chart's crds/ directory, as a manifest.
type CRD struct {
	Name     string
	Manifest map[string]any
}

// ChartCRDsArgs are the CRDs of one chart (read by the caller from the chart the releases
// install: stacks/charts), and the chart, which names them in errors.
type ChartCRDsArgs struct {
	Chart ChartSource
	CRDs  []CRD
}

// ChartCRDs applies a chart's crds/ directory as Pulumi resources, so that a chart upgrade
// upgrades its CRDs. Helm creates crds/ on install only and never upgrades or deletes it
// (Helm's "Custom Resource Definitions" best practices, method 1), so the releases here skip
// it (SkipCrds) and wait for this instead.
//
// Destroy leaves the CRDs in the cluster (RetainOnDelete), as Helm does: deleting a CRD
// deletes every object of its kind, including those the stack did not make, and hangs while
// one of them carries a finalizer whose controller is already gone. The cluster's own
// deletion removes them.
type ChartCRDs struct {
	pulumi.ResourceState

	// Names are the CRDs' names, sorted.
	Names pulumi.StringArrayOutput `pulumi:"names"`
	// Ready lists the CRDs, for DependsOn: the provider waits for each to be Established.
	Ready []pulumi.Resource
}

// NewChartCRDs registers one CustomResourceDefinition resource per CRD. Pass the cluster's
// Kubernetes provider with pulumi.Providers.
func NewChartCRDs(ctx *pulumi.Context, name string, args *ChartCRDsArgs, opts ...pulumi.ResourceOption) (*ChartCRDs, error) {
	if args == nil {
		return nil, fmt.Errorf("chart CRDs %s: args are required", name)
	}
	c := &ChartCRDs{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:ChartCRDs", name, c, opts...); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(args.CRDs))
	for _, crd := range args.CRDs {
		res, err := newCRD(ctx, name, crd, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("chart CRDs %s: CRD %s of chart %s %s: %w", name, crd.Name, args.Chart.Chart, args.Chart.Version, err)
		}
		c.Ready = append(c.Ready, res)
		names = append(names, crd.Name)
	}
	sort.Strings(names)
	c.Names = pulumi.ToStringArray(names).ToStringArrayOutput()
	return c, registerOutputs(ctx, c)
}

// newCRD registers one CRD. Its resource name is the component's and the CRD's, which stays
// the same across chart versions, so an upgrade updates it in place; a rename would delete the
// CRD (kept, RetainOnDelete) and adopt it again.
func newCRD(ctx *pulumi.Context, component string, crd CRD, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	if crd.Manifest["apiVersion"] != "apiextensions.k8s.io/v1" || crd.Manifest["kind"] != "CustomResourceDefinition" {
		return nil, fmt.Errorf("not an apiextensions.k8s.io/v1 CustomResourceDefinition")
	}
	meta, _ := crd.Manifest["metadata"].(map[string]any)
	annotations := pulumi.StringMap{
		// The first up of a stack whose CRDs Helm created takes them over: Helm's field
		// manager owns their fields, and a changed field would otherwise be a conflict of
		// server-side apply (pulumi-kubernetes await.go, patchForce).
		"pulumi.com/patchForce": pulumi.String("true"),
	}
	for k, v := range stringMap(meta["annotations"]) {
		annotations[k] = pulumi.String(v)
	}
	metadata := metav1.ObjectMetaArgs{Name: pulumi.String(crd.Name), Annotations: annotations}
	// Labels only when the chart sets some: an empty map the API server drops would be a
	// difference on every preview.
	if labels := stringMap(meta["labels"]); len(labels) > 0 {
		metadata.Labels = pulumi.ToStringMap(labels)
	}
	fields := map[string]any{}
	for k, v := range crd.Manifest {
		switch k {
		case "apiVersion", "kind", "metadata", "status": // status is the API server's
		default:
			fields[k] = v
		}
	}
	return apiextensions.NewCustomResource(ctx, component+"-"+crd.Name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("apiextensions.k8s.io/v1"),
		Kind:        pulumi.String("CustomResourceDefinition"),
		Metadata:    metadata,
		OtherFields: fields,
	}, append(opts, pulumi.RetainOnDelete(true))...)
}

// stringMap is a manifest's map of strings (labels, annotations); other values are left out.
func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, item := range m {
		if s, ok := item.(string); ok {
			out[k] = s
		}
	}
	return out
}
