package charts_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/charts"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func chartsDir(t *testing.T) string { return testkit.ChartsDir(t, filepath.Join("..", "..")) }

func names(crds []components.CRD) []string {
	var out []string
	for _, c := range crds {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

func storageVersion(t *testing.T, crds []components.CRD, name string) string {
	t.Helper()
	for _, c := range crds {
		if c.Name != name {
			continue
		}
		versions, _ := synth.Lookup(c.Manifest, "spec.versions").([]any)
		for i := range versions {
			if synth.Lookup(versions[i], "storage") == true {
				s, _ := synth.Lookup(versions[i], "name").(string)
				return s
			}
		}
	}
	t.Fatalf("no CRD %s with a storage version in %v", name, names(crds))
	return ""
}

// The real charts' crds/: Kong's 12 and the load balancer controller's 7 (its crds/ also
// holds a kustomization.yaml, which is not a CRD), and the controller's 3.5.0 moving the
// gateway.k8s.aws configurations to v1, the change `helm upgrade` would never apply.
func TestCRDsOfTheRealCharts(t *testing.T) {
	dir := chartsDir(t)
	for chart, want := range map[string]int{
		"kong-3.3.0": 12, "kong-3.4.1": 12, "aws-load-balancer-controller-3.4.3": 7, "aws-load-balancer-controller-3.5.0": 7,
		"cert-manager-v1.21.1": 0, // its CRDs are templates (crds.enabled), which Helm upgrades
	} {
		crds, err := charts.CRDs(components.ChartSource{Chart: filepath.Join(dir, chart)})
		if err != nil {
			t.Fatalf("%s: %v", chart, err)
		}
		if len(crds) != want {
			t.Errorf("%s: %d CRDs %v, want %d", chart, len(crds), names(crds), want)
		}
	}
	kong, _ := charts.CRDs(components.ChartSource{Chart: filepath.Join(dir, "kong-3.4.1")})
	if !slices.Contains(names(kong), "kongclusterplugins.configuration.konghq.com") {
		t.Errorf("Kong's CRDs %v lack the KongClusterPlugin the program creates", names(kong))
	}
	previous, _ := charts.CRDs(components.ChartSource{Chart: filepath.Join(dir, "aws-load-balancer-controller-3.4.3")})
	current, _ := charts.CRDs(components.ChartSource{Chart: filepath.Join(dir, "aws-load-balancer-controller-3.5.0")})
	for _, name := range []string{"listenerruleconfigurations.gateway.k8s.aws", "loadbalancerconfigurations.gateway.k8s.aws", "targetgroupconfigurations.gateway.k8s.aws"} {
		if from, to := storageVersion(t, previous, name), storageVersion(t, current, name); from != "v1beta1" || to != "v1" {
			t.Errorf("%s: storage version %s in 3.4.3 and %s in 3.5.0, want v1beta1 and v1", name, from, to)
		}
	}
}

// A chart from an HTTP repository is found through the repository's index.yaml and
// downloaded, as the Helm release does; Helm's settings come from the HELM_ variables.
func TestCRDsFromARepository(t *testing.T) {
	src := filepath.Join(chartsDir(t), "aws-load-balancer-controller-3.5.0")
	ch, err := loader.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	served := t.TempDir()
	if _, err := chartutil.Save(ch, served); err != nil {
		t.Fatal(err)
	}
	var requests []string
	files := http.FileServer(http.Dir(served))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.Path)
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	index, err := repo.IndexDirectory(served, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.WriteFile(filepath.Join(served, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, filepath.Join(home, v))
	}

	crds, err := charts.CRDs(components.ChartSource{Chart: "aws-load-balancer-controller", Repository: srv.URL, Version: "3.5.0"})
	if err != nil {
		t.Fatal(err)
	}
	local, _ := charts.CRDs(components.ChartSource{Chart: src})
	if got, want := strings.Join(names(crds), ","), strings.Join(names(local), ","); got != want {
		t.Errorf("CRDs from the repository %s, want the local chart's %s", got, want)
	}
	if !slices.Contains(requests, "/index.yaml") || !slices.Contains(requests, "/aws-load-balancer-controller-3.5.0.tgz") {
		t.Errorf("requests %v, want the index and the chart's archive", requests)
	}

	_, err = charts.CRDs(components.ChartSource{Chart: "aws-load-balancer-controller", Repository: srv.URL, Version: "9.9.9"})
	if err == nil || !strings.Contains(err.Error(), "chart aws-load-balancer-controller 9.9.9") {
		t.Errorf("a version the repository lacks: err = %v, want the chart and version named", err)
	}
	if _, err := charts.Local(components.ChartSource{Chart: "aws-load-balancer-controller", Repository: srv.URL, Version: "3.5.0"}); !errors.Is(err, charts.ErrNotLocal) {
		t.Errorf("Local of a repository's chart: err = %v, want ErrNotLocal", err)
	}
}
