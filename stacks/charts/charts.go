// Package charts reads the CustomResourceDefinitions of the charts a stack installs, from the
// same chart (repository, version, or local path) its Helm releases install, so that the
// program can apply and upgrade them (components.ChartCRDs).
package charts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// ErrNotLocal is what Local returns for a chart it would have to download.
var ErrNotLocal = errors.New("the chart is not a local path")

// IsLocal says whether src is a chart on this machine (a directory or an archive), which
// Helm loads without a repository.
func IsLocal(src components.ChartSource) bool {
	return src.Repository == "" && !registry.IsOCI(src.Chart)
}

// CRDs returns the CustomResourceDefinitions of the chart's crds/ directory, and of its
// dependencies', as `helm install` creates them (chart.CRDObjects). A chart in an HTTP(S)
// repository or an OCI registry is downloaded as Helm does (the repository's index.yaml, the
// registry's credentials from HELM_REGISTRY_CONFIG); its templates are not rendered, so no
// values are needed. Objects of other kinds in crds/ are left out.
func CRDs(src components.ChartSource) ([]components.CRD, error) {
	ch, err := load(src)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", src.Chart, src.Version, err)
	}
	crds, err := fromChart(ch)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", src.Chart, src.Version, err)
	}
	return crds, nil
}

// Local is CRDs for a machine without network: a chart that is not local gives ErrNotLocal.
func Local(src components.ChartSource) ([]components.CRD, error) {
	if !IsLocal(src) {
		return nil, ErrNotLocal
	}
	return CRDs(src)
}

func load(src components.ChartSource) (*chart.Chart, error) {
	if IsLocal(src) {
		return loader.Load(src.Chart)
	}
	settings := cli.New()
	ref := src.Chart
	if src.Repository != "" {
		url, err := repo.FindChartInRepoURL(src.Repository, src.Chart, src.Version, "", "", "", getter.All(settings))
		if err != nil {
			return nil, err
		}
		ref = url
	}
	client, err := registry.NewClient(registry.ClientOptCredentialsFile(settings.RegistryConfig), registry.ClientOptWriter(io.Discard))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kong-alb-eks-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	d := downloader.ChartDownloader{
		Out:              io.Discard,
		Verify:           downloader.VerifyNever,
		Getters:          getter.All(settings),
		Options:          []getter.Option{getter.WithRegistryClient(client)},
		RegistryClient:   client,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
	}
	saved, _, err := d.DownloadTo(ref, src.Version, dir)
	if err != nil {
		return nil, err
	}
	return loader.Load(saved)
}

// fromChart splits the crds/ files into their documents and keeps the CRDs.
func fromChart(ch *chart.Chart) ([]components.CRD, error) {
	var out []components.CRD
	for _, f := range ch.CRDObjects() {
		dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(f.File.Data), 4096)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.ToSlash(f.Filename), err)
			}
			if doc["apiVersion"] != "apiextensions.k8s.io/v1" || doc["kind"] != "CustomResourceDefinition" {
				continue // empty documents between separators, and anything that is not a CRD
			}
			meta, _ := doc["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if name == "" {
				return nil, fmt.Errorf("%s: a CustomResourceDefinition without a name", filepath.ToSlash(f.Filename))
			}
			out = append(out, components.CRD{Name: name, Manifest: doc})
		}
	}
	return out, nil
}
