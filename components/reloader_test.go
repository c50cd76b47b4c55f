package components_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// Each Kong plane's Deployment names its own cluster certificate's Secret for Reloader: Kong
// reads the certificate at start only, so a renewal must restart the plane.
func TestKongPlanesRestartWhenTheirCertificateIsRenewed(t *testing.T) {
	t.Parallel()
	doc := renderKong(t, kongPlanes{postgres: bundledPostgres})
	for _, rel := range []string{"kong-aws-cp", "kong-aws-dp"} {
		r := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", rel)
		got := synth.LookupParts(r.Inputs, "values", "deploymentAnnotations", components.ReloadOnSecretAnnotation)
		assertEqual(t, rel+" reloads on", got, rel+"-kong-cluster-cert")
	}
	assertEqual(t, "the Secret's name", components.KongClusterCertSecret("kong-aws-cp"), "kong-aws-cp-kong-cluster-cert")
}

// Reloader watches Kong's namespace only, for Secrets only.
func TestReloaderWatchesKongsNamespaceOnly(t *testing.T) {
	t.Parallel()
	doc := render(t, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := components.NewReloader(ctx, "reloader", &components.ReloaderArgs{
			Namespace: pulumi.String("kong"), NamespaceName: "kong",
			Chart: components.ChartSource{Chart: "reloader", Repository: "https://stakater.github.io/stakater-charts", Version: "2.2.16"},
		})
		return nil, err
	})
	r := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "reloader")
	for path, want := range map[string]any{
		"name": "reloader", "namespace": "kong", "chart": "reloader", "version": "2.2.16",
		"repositoryOpts.repo":              "https://stakater.github.io/stakater-charts",
		"values.reloader.watchGlobally":    false,
		"values.reloader.ignoreConfigMaps": true,
		"skipCrds":                         true,
	} {
		assertEqual(t, "reloader "+path, r.Input(path), want)
	}
}
