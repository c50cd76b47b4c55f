package components

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CertManagerArgs configures cert-manager and the CA issuer Kong's cluster certificates come
// from.
type CertManagerArgs struct {
	Chart ChartSource
	// IssuerNamespace is where the CA Issuer lives: the Kong namespace (an Issuer is
	// namespaced, and the Kong chart's certificates.issuer names one in its own namespace).
	IssuerNamespace pulumi.StringInput
	// IssuerName is the CA Issuer both Kong releases use.
	IssuerName string
}

// CertManager is cert-manager with a self-signed root, a CA certificate and a CA Issuer.
type CertManager struct {
	pulumi.ResourceState

	// IssuerName resolves once the Issuer is Ready (its CA secret exists).
	IssuerName pulumi.StringOutput `pulumi:"issuerName"`
	// Issuer is done when the CA Issuer is ready to sign: the Kong releases wait for it.
	Issuer pulumi.Resource
}

// CertManagerNamespace is the namespace cert-manager is installed into; the program creates it.
const CertManagerNamespace = "cert-manager"

// NewCertManager installs cert-manager and creates the CA issuer. Pass the cluster's
// Kubernetes provider with pulumi.Providers.
func NewCertManager(ctx *pulumi.Context, name string, args *CertManagerArgs, opts ...pulumi.ResourceOption) (*CertManager, error) {
	if args == nil || args.IssuerNamespace == nil || args.IssuerName == "" {
		return nil, fmt.Errorf("cert-manager %s: issuer namespace and name are required", name)
	}
	c := &CertManager{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:kubernetes:CertManager", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	values := certManagerValues{
		CRDs: enabled{Enabled: true},
		// The post-install hook Job that waits until the webhook serves cert-manager.io
		// resources: with Helm's wait, the release is done only then.
		StartupAPICheck: enabled{Enabled: true},
	}
	relArgs, err := releaseArgs("cert-manager", CertManagerNamespace, args.Chart, values, 600)
	if err != nil {
		return nil, err
	}
	// The namespace is the program's, not Helm's: Helm never deletes a namespace it created,
	// so destroy would leave it behind.
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(CertManagerNamespace)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	relArgs.Namespace = ns.Metadata.Name().Elem()
	release, err := helmv3.NewRelease(ctx, name, relArgs, parent)
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	// cert-manager's webhook (failurePolicy Fail) admits Issuers and Certificates only once it
	// serves, and their CRDs come with the release: everything below waits for it.
	afterRelease := pulumi.DependsOn([]pulumi.Resource{release})

	selfSigned, err := apiextensions.NewCustomResource(ctx, name+"-selfsigned", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("ClusterIssuer"),
		Metadata:   metav1.ObjectMetaArgs{Name: pulumi.String(args.IssuerName + "-selfsigned")},
		OtherFields: map[string]any{
			"spec": map[string]any{"selfSigned": map[string]any{}},
		},
	}, parent, afterRelease)
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	caSecret := args.IssuerName + "-ca"
	ca, err := apiextensions.NewCustomResource(ctx, name+"-ca", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		Metadata: metav1.ObjectMetaArgs{
			Name:      pulumi.String(caSecret),
			Namespace: args.IssuerNamespace,
			// Pulumi waits until cert-manager has issued the CA.
			Annotations: pulumi.StringMap{"pulumi.com/waitFor": pulumi.String("condition=Ready")},
		},
		OtherFields: map[string]any{
			"spec": map[string]any{
				"isCA":       true,
				"commonName": "kong-cluster-ca",
				"secretName": caSecret,
				"duration":   "87600h", // ten years: rotating the cluster CA is a planned operation
				"privateKey": map[string]any{"algorithm": "ECDSA", "size": 256},
				"issuerRef": map[string]any{
					"name":  selfSigned.Metadata.Name().Elem(),
					"kind":  "ClusterIssuer",
					"group": "cert-manager.io",
				},
			},
		},
	}, parent, afterRelease)
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	issuer, err := apiextensions.NewCustomResource(ctx, name+"-issuer", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Issuer"),
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(args.IssuerName),
			Namespace:   args.IssuerNamespace,
			Annotations: pulumi.StringMap{"pulumi.com/waitFor": pulumi.String("condition=Ready")},
		},
		OtherFields: map[string]any{
			"spec": map[string]any{"ca": map[string]any{"secretName": caSecret}},
		},
	},
		parent, afterRelease,
		// The Issuer is Ready only once the CA secret exists; the secret name is a plain
		// string, so the edge to the CA Certificate is explicit.
		pulumi.DependsOn([]pulumi.Resource{ca}))
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	c.IssuerName = issuer.Metadata.Name().Elem()
	c.Issuer = issuer
	return c, registerOutputs(ctx, c)
}

type certManagerValues struct {
	CRDs            enabled `json:"crds"`
	StartupAPICheck enabled `json:"startupapicheck"`
}
