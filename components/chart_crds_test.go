package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
)

const crdType = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

func widgetCRD(storage string) components.CRD {
	return components.CRD{Name: "widgets.example.com", Manifest: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata": map[string]any{
			"name":              "widgets.example.com",
			"annotations":       map[string]any{"controller-gen.kubebuilder.io/version": "v0.16.5"},
			"creationTimestamp": nil,
		},
		"spec": map[string]any{
			"group": "example.com",
			"names": map[string]any{"kind": "Widget", "plural": "widgets"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{"name": storage, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object"}}}},
		},
		"status": map[string]any{"acceptedNames": map[string]any{"kind": "", "plural": ""}, "storedVersions": []any{}},
	}}
}

// A chart's CRDs become resources of their own: applied with force over Helm's field manager
// (a stack whose CRDs Helm created is taken over), the status left to the API server, and
// kept on destroy.
func TestChartCRDsAreAppliedAndKeptOnDestroy(t *testing.T) {
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		c, err := components.NewChartCRDs(ctx, "widgets", &components.ChartCRDsArgs{
			Chart: components.ChartSource{Chart: "widgets", Version: "1.0.0"},
			CRDs:  []components.CRD{widgetCRD("v1")},
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"names": c.Names}, nil
	})
	crds := doc.Find(crdType)
	if len(crds) != 1 {
		t.Fatalf("%d CRD resources, want 1", len(crds))
	}
	crd := crds[0]
	assertEqual(t, "resource name", crd.Name, "widgets-widgets.example.com")
	assertEqual(t, "name", crd.Input("metadata.name"), "widgets.example.com")
	assertEqual(t, "patchForce", crd.Annotation("pulumi.com/patchForce"), "true")
	assertEqual(t, "the chart's annotation", crd.Annotation("controller-gen.kubebuilder.io/version"), "v0.16.5")
	assertEqual(t, "storage version", crd.Input("spec.versions.0.name"), "v1")
	if labels := crd.Input("metadata.labels"); labels != nil {
		t.Errorf("labels %v on a CRD the chart labels not: the API server drops an empty map, a diff on every preview", labels)
	}
	if crd.Input("status") != nil {
		t.Errorf("status is the API server's, but the CRD sets it: %v", crd.Input("status"))
	}
	if !crd.RetainOnDelete {
		t.Error("the CRD is deleted on destroy, with every object of its kind")
	}
	if !strings.HasSuffix(crd.Parent, "ChartCRDs::widgets") {
		t.Errorf("the CRD's parent is %q, want the component", crd.Parent)
	}
	assertEqual(t, "names output", strings.Join(synth.Strings(doc.Outputs["names"]), ","), "widgets.example.com")
}

func TestChartCRDsRefuseWhatIsNotACRD(t *testing.T) {
	notCRD := widgetCRD("v1")
	notCRD.Manifest["kind"] = "Kustomization"
	_, err := synth.Run(synth.Options{Stack: "test", Config: map[string]string{"aws:region": region},
		Program: func(ctx *pulumi.Context) (pulumi.Map, error) {
			_, err := components.NewChartCRDs(ctx, "widgets", &components.ChartCRDsArgs{
				Chart: components.ChartSource{Chart: "widgets", Version: "1.0.0"}, CRDs: []components.CRD{notCRD}})
			return nil, err
		}})
	if err == nil || !strings.Contains(err.Error(), "widgets.example.com of chart widgets 1.0.0: not an apiextensions.k8s.io/v1 CustomResourceDefinition") {
		t.Errorf("err = %v, want the CRD and the chart named", err)
	}
}
