package wholeprogram

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/charts"
)

// transient are the resources the cluster itself writes and removes (events, leases,
// endpoints) or whose objects go with their namespace or pod: not what a destroy must remove.
var transient = map[string]bool{
	"events": true, "leases": true, "endpoints": true, "endpointslices": true,
	"tokenreviews": true, "subjectaccessreviews": true, "selfsubjectreviews": true,
}

// objects lists every object the API server serves, by "resource.group namespace/name", with
// the object itself: every served resource type that can be listed, found by discovery.
func (e *env) objects() map[string]object {
	e.t.Helper()
	versions := []string{"/api/v1"}
	for _, g := range field(e.get("/apis"), "groups").([]any) {
		versions = append(versions, "/apis/"+fmt.Sprint(field(g.(object), "preferredVersion", "groupVersion")))
	}
	out := map[string]object{}
	for _, gv := range versions {
		group := strings.TrimPrefix(strings.TrimPrefix(gv, "/api/v1"), "/apis/")
		group, _, _ = strings.Cut(group, "/")
		for _, r := range field(e.get(gv), "resources").([]any) {
			res := r.(object)
			name := fmt.Sprint(res["name"])
			if strings.Contains(name, "/") || transient[name] || !listable(res) {
				continue
			}
			for _, o := range e.items(gv + "/" + name) {
				ns, _ := field(o, "metadata", "namespace").(string)
				out[fmt.Sprintf("%s.%s %s/%s", name, group, ns, field(o, "metadata", "name"))] = o
			}
		}
	}
	return out
}

func listable(res object) bool {
	verbs, _ := res["verbs"].([]any)
	for _, v := range verbs {
		if v == "list" {
			return true
		}
	}
	return false
}

// checkNothingLeft: every object the API server holds after destroy was there before up, but
// the CRDs kept by design: those of the charts' crds/ directories, which the program applies
// and keeps (components.ChartCRDs), and those annotated helm.sh/resource-policy: keep
// (cert-manager's templated ones, crds.keep defaults to true); and the API server's own
// APIServices for their groups. On EKS they go with the cluster.
func (e *env) checkNothingLeft(before map[string]object) {
	e.t.Helper()
	kept := map[string]bool{}
	sources := []components.ChartSource{e.spec.Config.Charts.Kong}
	if !e.spec.Config.Cluster.AutoMode() {
		sources = append(sources, e.spec.Config.Charts.LoadBalancerController)
	}
	for _, src := range sources {
		crds, err := charts.Local(src)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, crd := range crds {
			kept["customresourcedefinitions.apiextensions.k8s.io /"+crd.Name] = true
		}
	}
	var left []string
	for key, o := range e.objects() {
		if _, ok := before[key]; ok {
			continue
		}
		annotations, _ := field(o, "metadata", "annotations").(object)
		labels, _ := field(o, "metadata", "labels").(object)
		// The API server registers an APIService for every group it serves, a kept CRD's too
		// (kube-aggregator's autoregister controller labels them automanaged).
		if strings.HasPrefix(key, "apiservices.apiregistration.k8s.io ") && labels["kube-aggregator.kubernetes.io/automanaged"] != nil {
			continue
		}
		if kept[key] || strings.HasPrefix(key, "customresourcedefinitions.apiextensions.k8s.io ") && annotations["helm.sh/resource-policy"] == "keep" {
			continue
		}
		left = append(left, fmt.Sprintf("%s (finalizers %v)", key, field(o, "metadata", "finalizers")))
	}
	sort.Strings(left)
	for _, l := range left {
		e.t.Errorf("outlived destroy in the API server: %s", l)
	}
}
