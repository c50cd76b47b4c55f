package localcluster

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The real Kubernetes provider against the real API server, through the Automation API, as the
// program runs: `up` creates the objects and waits for the Deployment's pods (kwok makes them
// Ready), a preview right after shows no change, `destroy` deletes everything.
func TestRealProviderUpPreviewDestroy(t *testing.T) {
	c := Start(t, Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	program := func(ctx *pulumi.Context) error {
		prov, err := kubernetes.NewProvider(ctx, "local", &kubernetes.ProviderArgs{Kubeconfig: pulumi.ToSecret(pulumi.String(c.Kubeconfig)).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		k8s := pulumi.Provider(prov)
		ns, err := corev1.NewNamespace(ctx, "demo", &corev1.NamespaceArgs{Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("demo")}}, k8s)
		if err != nil {
			return err
		}
		if _, err := corev1.NewConfigMap(ctx, "settings", &corev1.ConfigMapArgs{
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("settings"), Namespace: ns.Metadata.Name()},
			Data:     pulumi.StringMap{"mode": pulumi.String("test")},
		}, k8s); err != nil {
			return err
		}
		labels := pulumi.StringMap{"app": pulumi.String("demo")}
		_, err = appsv1.NewDeployment(ctx, "demo", &appsv1.DeploymentArgs{
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("demo"), Namespace: ns.Metadata.Name()},
			Spec: appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(1),
				Selector: metav1.LabelSelectorArgs{MatchLabels: labels},
				Template: corev1.PodTemplateSpecArgs{
					Metadata: metav1.ObjectMetaArgs{Labels: labels},
					Spec: corev1.PodSpecArgs{Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name: pulumi.String("demo"), Image: pulumi.String("registry.example/demo:1"),
					}}},
				},
			},
		}, k8s)
		return err
	}
	stack := newStack(ctx, t, program)

	if _, err := stack.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	cm, err := c.Do(http.MethodGet, "/api/v1/namespaces/demo/configmaps/settings", nil)
	if err != nil {
		t.Fatalf("the ConfigMap up created: %v", err)
	}
	if data, _ := cm["data"].(Object); data["mode"] != "test" {
		t.Errorf("ConfigMap data %v", cm["data"])
	}
	d, err := c.Do(http.MethodGet, "/apis/apps/v1/namespaces/demo/deployments/demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := d["status"].(Object); status["readyReplicas"] != 1.0 {
		t.Errorf("up returned before the Deployment was Ready: %v", d["status"])
	}

	pre, err := stack.Preview(ctx, optpreview.Diff())
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	for op, n := range pre.ChangeSummary {
		if op != apitype.OpSame && n > 0 {
			t.Errorf("a preview right after up plans %d %s: %s", n, op, pre.StdOut)
		}
	}

	if _, err := stack.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if _, err := c.Do(http.MethodGet, "/api/v1/namespaces/demo", nil); !IsNotFound(err) {
		t.Errorf("the namespace outlived destroy: %v", err)
	}
}

// newStack is an inline-program stack on a file backend in a private PULUMI_HOME holding the
// locally built provider, with plugin downloads off: nothing leaves the machine.
func newStack(ctx context.Context, t *testing.T, program pulumi.RunFunc) auto.Stack {
	t.Helper()
	provider := os.Getenv(ProviderEnv)
	if provider == "" {
		t.Fatalf("%s is not set: run the tests through `make test`, which builds the provider (.ci/install-kubernetes-provider.sh)", ProviderEnv)
	}
	dir := t.TempDir()
	if err := InstallPlugin(filepath.Join(dir, "home"), "kubernetes", KubernetesPluginVersion, provider); err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(dir, "state")
	for _, d := range []string{backend, filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"PULUMI_BACKEND_URL":                          "file://" + backend,
		"PULUMI_CONFIG_PASSPHRASE":                    "local-test",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_HOME":                                 filepath.Join(dir, "home"),
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "local", "localcluster", program,
		auto.WorkDir(filepath.Join(dir, "work")),
		auto.PulumiHome(env["PULUMI_HOME"]),
		auto.EnvVars(env),
		auto.Project(workspace.Project{Name: tokens.PackageName("localcluster"), Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: env["PULUMI_BACKEND_URL"]}}))
	if err != nil {
		if strings.Contains(err.Error(), "executable file not found") {
			t.Fatalf("the Pulumi CLI is not on PATH: run the tests through `make test` (.ci/install-pulumi.sh): %v", err)
		}
		t.Fatal(err)
	}
	return stack
}
