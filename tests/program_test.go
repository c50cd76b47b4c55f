// Package tests holds the whole-program tests: the real program, synthesized under mocks
// for every stack file of the project, and the project files themselves.
package tests

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

const projectDir = ".."

// stackFiles lists the project's Pulumi.<stack>.yaml files.
func stackFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(projectDir, "Pulumi.*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no stack files found: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "Pulumi."), ".yaml")] = p
	}
	return out
}

// reaches reports whether from waits on to, directly or through other resources.
func reaches(doc *synth.Document, from, to string) bool {
	seen := map[string]bool{}
	var walk func(urn string) bool
	walk = func(urn string) bool {
		if urn == to {
			return true
		}
		if seen[urn] {
			return false
		}
		seen[urn] = true
		r, ok := doc.ByURN(urn)
		if !ok {
			return false
		}
		for _, d := range r.Dependencies {
			if walk(d) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

var componentToken = regexp.MustCompile(`^kong-alb-eks:[a-z]+:[A-Z][A-Za-z]+$`)

func TestEveryStackSynthesizes(t *testing.T) {
	t.Parallel()
	for stack := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			doc := testkit.SynthStack(t, projectDir, stack)
			for _, k := range []string{outputs.Region, outputs.ClusterName, outputs.VPCID, outputs.CertificateARN,
				outputs.Kubeconfig, outputs.ALBHostname, outputs.ProxyURL,
				outputs.KongVersion, outputs.ChartVersions} {
				if _, ok := doc.Outputs[k]; !ok {
					t.Errorf("output %s missing", k)
				}
			}
			// The shipped stacks use EKS Pod Identity: no OIDC provider, so no output of it.
			if v, ok := doc.Outputs[outputs.OIDCProviderARN]; ok {
				t.Errorf("output %s = %v with Pod Identity", outputs.OIDCProviderARN, v)
			}
			if doc.Outputs[outputs.Kubeconfig] != synth.Secret {
				t.Errorf("kubeconfig output is not secret: %v", doc.Outputs[outputs.Kubeconfig])
			}
			for _, r := range doc.Resources {
				if !r.Custom && strings.HasPrefix(r.Type, "kong-alb-eks:") && !componentToken.MatchString(r.Type) {
					t.Errorf("component type %q is not kong-alb-eks:<module>:<Type>", r.Type)
				}
				// Everything but the top-level components and the Kong namespace is parented
				// to a component.
				if strings.HasSuffix(r.Parent, "pulumi:pulumi:Stack::kong-alb-eks-"+stack) && r.Custom && r.Type != "kubernetes:core/v1:Namespace" {
					t.Errorf("%s %q is not parented to a component", r.Type, r.Name)
				}
				if strings.HasPrefix(r.Type, "kubernetes:") {
					if !strings.Contains(r.Provider, "pulumi:providers:kubernetes") {
						t.Errorf("%s %q does not use the cluster's Kubernetes provider", r.Type, r.Name)
					}
				}
			}
		})
	}
}

func TestDNSAliasesTheIngressHostname(t *testing.T) {
	t.Parallel()
	doc := testkit.SynthStack(t, projectDir, "dev")
	ingress := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
	hostname := doc.Outputs[outputs.ALBHostname]
	if h, _ := hostname.(string); !strings.HasSuffix(h, ".us-east-1.elb.amazonaws.com") {
		t.Fatalf("albHostname output = %v, want the Ingress's status hostname", hostname)
	}
	record := testkit.Named(t, doc, "aws:route53/record:Record", "eks.example.com-A")
	if got := record.Input("aliases.0.name"); got != hostname {
		t.Errorf("the wildcard record aliases %v, the Ingress's hostname is %v", got, hostname)
	}
	if got := record.Input("name"); got != "*.eks.example.com" {
		t.Errorf("record name = %v", got)
	}
	if got := record.Input("aliases.0.zoneId"); got != "Z35SXDOTRQ7X7K" {
		t.Errorf("alias zone = %v, want us-east-1's ALB zone", got)
	}
	testkit.WaitsOn(t, record, ingress, "the alias target is the Ingress's status hostname")
}

func TestOrderingOnCreateAndDestroy(t *testing.T) {
	t.Parallel()
	doc := testkit.SynthStack(t, projectDir, "dev")
	const release = "kubernetes:helm.sh/v3:Release"
	lbc := testkit.Named(t, doc, release, "aws-load-balancer-controller")
	certManager := testkit.Named(t, doc, release, "cert-manager")
	cp := testkit.Named(t, doc, release, "kong-aws-cp")
	dp := testkit.Named(t, doc, release, "kong-aws-dp")
	issuer := testkit.Named(t, doc, "kubernetes:cert-manager.io/v1:Issuer", "cert-manager-issuer")
	ingress := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
	validation := testkit.Named(t, doc, "aws:acm/certificateValidation:CertificateValidation", "eks.example.com")
	cluster := testkit.Named(t, doc, "aws:eks/cluster:Cluster", "kong-alb-eks-dev")

	for _, kong := range []synth.Resource{cp, dp} {
		testkit.WaitsOn(t, kong, issuer, "cluster mTLS renders only with cert-manager's API and the CA issuer")
		testkit.WaitsOn(t, kong, lbc, "the controller's webhook admits Ingresses")
	}
	testkit.WaitsOn(t, ingress, lbc, "webhook race on create; on destroy the controller must remove the ALB and the finalizer")
	// The ALB provisions while Kong installs: the load balancer controller builds an ALB whose
	// backend Service does not exist yet (a 503 rule: tolerateNonExistentBackendService
	// defaults to true, pkg/config/ingress_config.go) and watches Services, enqueuing the
	// Ingress when it appears (controllers/ingress/eventhandlers/service_events.go).
	if reaches(doc, ingress.URN, dp.URN) {
		t.Error("the ALB Ingress waits on the data plane release: the ALB would provision only after Kong is Ready")
	}
	if got := ingress.Input("spec.rules.0.http.paths.0.backend.service.name"); got != "kong-aws-dp-kong-proxy" {
		t.Errorf("the Ingress routes to %v, not the data plane's proxy Service", got)
	}
	testkit.WaitsOn(t, ingress, validation, "the ALB serves the issued certificate")
	testkit.WaitsOn(t, issuer, certManager, "cert-manager's webhook admits Issuers only once it serves")
	for _, ing := range []string{"kong-aws-cp-manager", "kong-aws-cp-admin"} {
		testkit.WaitsOn(t, testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", ing), lbc, "the controller's webhook admits every Ingress")
	}
	testkit.WaitsOn(t, testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kuard"), cp, "the ingress controller turns it into a route")
	addon := testkit.Named(t, doc, "aws:eks/addon:Addon", "ebs-csi-driver")
	testkit.WaitsOn(t, cp, addon, "the bundled PostgreSQL's volume needs the EBS CSI driver")
	nodes := testkit.Named(t, doc, "aws:eks/nodeGroup:NodeGroup", "kong-alb-eks-dev-nodes")
	for _, assoc := range []string{"kong-alb-eks-dev-private-0", "kong-alb-eks-dev-private-1"} {
		testkit.WaitsOn(t, nodes, testkit.Named(t, doc, "aws:ec2/routeTableAssociation:RouteTableAssociation", assoc), "nodes need the NAT route to join")
	}
	nat := testkit.Named(t, doc, "aws:ec2/natGateway:NatGateway", "kong-alb-eks-dev-0")
	if reaches(doc, cluster.URN, nat.URN) {
		t.Error("the EKS control plane waits on the NAT gateway, which it does not need")
	}

	// No edge longer than needed: the certificate proceeds in parallel with the cluster, the
	// controller and cert-manager in parallel with each other, the two Kong planes too.
	cert := testkit.Named(t, doc, "aws:acm/certificate:Certificate", "eks.example.com")
	for _, pair := range [][2]synth.Resource{{validation, cluster}, {cert, cluster}, {lbc, certManager}, {certManager, lbc}, {cp, dp}, {dp, cp}} {
		if reaches(doc, pair[0].URN, pair[1].URN) {
			t.Errorf("%s %q waits on %s %q, which it does not need", pair[0].Type, pair[0].Name, pair[1].Type, pair[1].Name)
		}
	}
}

func TestBothKongReleasesUseTheOneIssuer(t *testing.T) {
	t.Parallel()
	for stack := range stackFiles(t) {
		doc := testkit.SynthStack(t, projectDir, stack)
		cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		issuer := testkit.Named(t, doc, "kubernetes:cert-manager.io/v1:Issuer", "cert-manager-issuer")
		name := issuer.Input("metadata.name")
		for _, r := range []synth.Resource{cp, dp} {
			if got := r.Input("values.certificates.issuer"); got != name {
				t.Errorf("%s: %s uses issuer %v, the CA issuer is %v", stack, r.Name, got, name)
			}
		}
		if got, want := dp.Input("values.env.cluster_control_plane"), "kong-aws-cp-kong-cluster.kong.svc:8005"; got != want {
			t.Errorf("%s: cluster_control_plane = %v, want %v", stack, got, want)
		}
	}
}

func TestAdminExposurePerStack(t *testing.T) {
	t.Parallel()
	dev := testkit.SynthStack(t, projectDir, "dev") // adminAllowedCidrs: [203.0.113.0/24]
	if dev.Outputs[outputs.KongAdminAPIURL] != "https://kong.eks.example.com/api" {
		t.Errorf("dev admin URL = %v", dev.Outputs[outputs.KongAdminAPIURL])
	}
	plugin := testkit.Named(t, dev, "kubernetes:configuration.konghq.com/v1:KongPlugin", "kong-aws-cp-admin-allowlist")
	if got := synth.Lookup(plugin.Inputs, "config.allow.0"); got != "203.0.113.0/24" {
		t.Errorf("allowlist = %v", got)
	}
	prod := testkit.SynthStack(t, projectDir, "prod") // no allowlist: nothing published
	if _, ok := prod.Outputs[outputs.KongAdminAPIURL]; ok {
		t.Error("prod publishes the Admin API without an allowlist")
	}
	if n := len(prod.Find("kubernetes:configuration.konghq.com/v1:KongPlugin")); n != 0 {
		t.Errorf("prod has %d KongPlugins", n)
	}
	for _, ing := range prod.Find("kubernetes:networking.k8s.io/v1:Ingress") {
		if ing.Input("spec.ingressClassName") == "kong" {
			t.Errorf("prod publishes %s", ing.Name)
		}
	}
}

func TestSynthIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := testkit.SynthStack(t, projectDir, "dev"), testkit.SynthStack(t, projectDir, "dev")
	var ua, ub []string
	for _, r := range a.Resources {
		ua = append(ua, r.URN)
	}
	for _, r := range b.Resources {
		ub = append(ub, r.URN)
	}
	if !sort.StringsAreSorted(ua) || strings.Join(ua, "\n") != strings.Join(ub, "\n") {
		t.Error("two synth runs list resources differently")
	}
}

// Each chart's crds/ is applied by the program, before the release whose templates and
// controller use it, and no release installs crds/ itself: Helm would never upgrade them.
// Read from the real charts, as local charts (synth downloads nothing).
func TestChartCRDsComeBeforeTheirReleases(t *testing.T) {
	t.Parallel()
	file, err := synth.ReadStackFile(synth.StackFilePath(projectDir, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	charts := testkit.ChartsDir(t, projectDir)
	for key, dir := range map[string]string{"kongChart": "kong-3.4.1", "loadBalancerControllerChart": "aws-load-balancer-controller-3.5.0", "certManagerChart": "cert-manager-v1.21.1"} {
		file.Config["kong-alb-eks:"+key] = filepath.Join(charts, dir)
		file.Config["kong-alb-eks:"+key+"Repository"] = ""
	}
	doc, err := synth.Run(synth.Options{Stack: "dev", Config: file.Config, SecretKeys: file.SecretKeys})
	if err != nil {
		t.Fatal(err)
	}
	const release = "kubernetes:helm.sh/v3:Release"
	for _, r := range doc.Find(release) {
		if r.Input("skipCrds") != true {
			t.Errorf("release %s installs its chart's crds/, which Helm never upgrades", r.Name)
		}
	}
	perRelease := map[string]int{}
	for _, crd := range doc.Find("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition") {
		owner := strings.TrimSuffix(crd.Parent[strings.LastIndex(crd.Parent, "::")+2:], "-crds")
		testkit.WaitsOn(t, testkit.Named(t, doc, release, owner), crd, "the chart's templates and its controller use its CRDs")
		perRelease[owner]++
		if !crd.RetainOnDelete {
			t.Errorf("CRD %s is deleted on destroy", crd.Name)
		}
	}
	if perRelease["aws-load-balancer-controller"] != 7 || perRelease["kong-aws-cp"] != 12 || len(perRelease) != 2 {
		t.Errorf("CRDs per release %v, want the load balancer controller's 7 and Kong's 12 (the control plane's)", perRelease)
	}
	// Kong's objects wait for Kong's CRDs (through the control plane's release).
	plugin := testkit.Named(t, doc, "kubernetes:configuration.konghq.com/v1:KongClusterPlugin", "kong-aws-cp-request-id")
	crd := testkit.Named(t, doc, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "kong-aws-cp-crds-kongclusterplugins.configuration.konghq.com")
	if !reaches(doc, plugin.URN, crd.URN) {
		t.Error("the KongClusterPlugin does not wait for its CRD")
	}
}
