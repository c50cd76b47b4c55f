package wholeprogram

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/charts"
)

// upgradedCRDs are the CRDs the previous charts' crds/ and the current ones' differ in: the
// load balancer controller 3.5.0 gives its three gateway.k8s.aws configurations the storage
// version v1 (the charts' README, "Upgrade pairs"); Kong's 12 are the same in 3.3.0 and 3.4.1.
var upgradedCRDs = []string{
	"listenerruleconfigurations.gateway.k8s.aws", "loadbalancerconfigurations.gateway.k8s.aws", "targetgroupconfigurations.gateway.k8s.aws",
}

// helmCRDs creates the CRDs of the charts in dirs (chartsDir's, by configuration key) as
// `helm install` did for a stack of a program release that left crds/ to Helm: created, not
// applied, by Helm's field manager (helm pkg/kube client.go, Create). The next up must take
// them over, and, where the stack's charts are newer, upgrade them: an apply that changes a
// field another manager set is a conflict (the API server's server-side apply), which
// pulumi.com/patchForce overrides.
func (e *env) helmCRDs(dirs map[string]string) {
	e.t.Helper()
	for _, key := range []string{"kongChart", "loadBalancerControllerChart"} {
		crds, err := charts.Local(components.ChartSource{Chart: filepath.Join(chartsDir(e.t), dirs[key])})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, crd := range crds {
			if _, err := e.cluster.Do(http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager=helm", crd.Manifest); err != nil {
				e.t.Fatalf("creating CRD %s as Helm did: %v", crd.Name, err)
			}
		}
	}
}

// upgradeCharts moves all three charts from their previous releases to the current ones. The
// preview shows the four releases and the CRDs that changed updating, nothing else; after the
// up, the CRDs are the new charts' (Helm alone would have kept the old ones), the control
// plane's release ran Kong's migrations as its upgrade hooks, and a data plane pod was Ready
// throughout while the data planes rolled.
func (e *env) upgradeCharts() {
	e.t.Helper()
	spec := e.spec
	dir := chartsDir(e.t)
	for _, c := range []struct {
		src *components.ChartSource
		key string
	}{
		{&spec.Config.Charts.Kong, "kongChart"},
		{&spec.Config.Charts.LoadBalancerController, "loadBalancerControllerChart"},
		{&spec.Config.Charts.CertManager, "certManagerChart"},
	} {
		c.src.Chart = filepath.Join(dir, currentCharts[c.key])
	}
	kong := spec.Config.Kong
	want := map[string]step{}
	for _, release := range []string{"aws-load-balancer-controller", "cert-manager", kong.ControlPlaneRelease, kong.DataPlaneRelease} {
		want["kubernetes:helm.sh/v3:Release "+release] = "update"
	}
	for _, crd := range upgradedCRDs {
		want["kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition aws-load-balancer-controller-crds-"+crd] = "update"
	}
	watch := e.watchKong()
	e.apply("charts, previous → current", spec, want)

	e.checkUpgradedCRDs("the chart upgrade")
	deployment := e.get("/apis/apps/v1/namespaces/kube-system/deployments/aws-load-balancer-controller")
	if chart := field(deployment, "metadata", "labels", "helm.sh/chart"); chart != "aws-load-balancer-controller-3.5.0" {
		e.t.Errorf("the load balancer controller's Deployment is of chart %v after the upgrade", chart)
	}
	e.checkMigrationJobs()
	e.checkDeclaredObjects()
	watch("during the chart upgrade")
}

// checkUpgradedCRDs: the CRDs the load balancer controller 3.5.0 changed are its, after what.
func (e *env) checkUpgradedCRDs(after string) {
	e.t.Helper()
	for _, name := range upgradedCRDs {
		crd := e.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
		if v := storageVersion(crd); v != "v1" {
			e.t.Errorf("CRD %s stores %s after %s, want the current chart's v1", name, v, after)
		}
	}
}

// checkMigrationJobs: the Kong chart's pre-upgrade and post-upgrade hook Jobs (`kong
// migrations up` and `finish`) of the control plane's last upgrade ran to completion.
func (e *env) checkMigrationJobs() {
	e.t.Helper()
	kong := e.spec.Config.Kong
	for _, hook := range []string{"pre-upgrade-migrations", "post-upgrade-migrations"} {
		job := e.get(fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs/%s-kong-%s", kong.Namespace, kong.ControlPlaneRelease, hook))
		if field(job, "status", "succeeded") != float64(1) {
			e.t.Errorf("the chart's %s Job did not run to completion in the control plane's upgrade: %v", hook, field(job, "status"))
		}
	}
}

// storageVersion is the version a CRD stores its objects in.
func storageVersion(crd object) string {
	versions, _ := field(crd, "spec", "versions").([]any)
	for _, v := range versions {
		if field(v.(object), "storage") == true {
			name, _ := field(v.(object), "name").(string)
			return name
		}
	}
	return ""
}
