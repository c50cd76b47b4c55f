package components

import (
	"fmt"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ReloaderArgs configures Stakater Reloader.
type ReloaderArgs struct {
	// Namespace is the namespace it runs in and the only one it watches, as an output of the
	// Namespace resource; NamespaceName is its name.
	Namespace     pulumi.StringInput
	NamespaceName string
	Chart         ChartSource
}

// Reloader is Stakater Reloader: when a Secret named in a Deployment's
// secret.reloader.stakater.com/reload annotation changes, it restarts that Deployment (a
// rolling update, so the Deployment's strategy and PodDisruptionBudget hold). Here it restarts
// the Kong planes when cert-manager renews their cluster certificates.
type Reloader struct {
	pulumi.ResourceState

	ReleaseName pulumi.StringOutput `pulumi:"releaseName"`
}

// ReloaderRelease is the Helm release's name.
const ReloaderRelease = "reloader"

// NewReloader installs Reloader into one namespace, watching only that one. Pass the cluster's
// Kubernetes provider with pulumi.Providers.
func NewReloader(ctx *pulumi.Context, name string, args *ReloaderArgs, opts ...pulumi.ResourceOption) (*Reloader, error) {
	if args == nil || args.Namespace == nil || args.NamespaceName == "" {
		return nil, fmt.Errorf("reloader %s: the namespace is required", name)
	}
	r := &Reloader{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:Reloader", name, r, opts...); err != nil {
		return nil, err
	}
	values := reloaderValues{Reloader: reloaderSettings{
		// Its own namespace only (the chart then passes KUBERNETES_NAMESPACE and grants a
		// Role there, not a ClusterRole): it reads the Secrets of Kong's namespace, no other.
		WatchGlobally: false,
		// Only Secrets matter here.
		IgnoreConfigMaps: true,
		// The default reload strategy, env-vars, writes the Secret's hash into the container
		// that mounts it and does nothing when the hash is already there (Reloader
		// internal/pkg/handler/upgrade.go): no restart without a change of the data.
		Deployment: reloaderDeployment{Resources: resources{
			Requests: map[string]string{"cpu": "10m", "memory": "64Mi"},
			Limits:   map[string]string{"memory": "256Mi"},
		}},
	}}
	relArgs, err := releaseArgs(ReloaderRelease, args.NamespaceName, args.Chart, values, 600)
	if err != nil {
		return nil, fmt.Errorf("reloader %s: %w", name, err)
	}
	relArgs.Namespace = args.Namespace
	release, err := helmv3.NewRelease(ctx, name, relArgs, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("reloader %s: %w", name, err)
	}
	r.ReleaseName = release.Status.Name().Elem()
	return r, registerOutputs(ctx, r)
}

type reloaderValues struct {
	Reloader reloaderSettings `json:"reloader"`
}

type reloaderSettings struct {
	WatchGlobally    bool               `json:"watchGlobally"`
	IgnoreConfigMaps bool               `json:"ignoreConfigMaps"`
	Deployment       reloaderDeployment `json:"deployment"`
}

type reloaderDeployment struct {
	Resources resources `json:"resources"`
}

type resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}
