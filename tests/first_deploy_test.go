package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// The rules here are those a first real `pulumi up` and a `pulumi destroy` live by, which mocks
// cannot show: each test quotes the upstream rule it encodes. They run over every stack file
// and over the defaults (the smallest configuration there is).

// configurations are every Pulumi.<stack>.yaml and the defaults, synthesized.
func configurations(t *testing.T) map[string]*synth.Document {
	t.Helper()
	docs := map[string]*synth.Document{}
	for stack := range stackFiles(t) {
		docs[stack] = testkit.SynthStack(t, projectDir, stack)
	}
	doc, err := synth.Run(synth.Options{Stack: "defaults", Config: map[string]string{
		"aws:region": "eu-west-1", "kong-alb-eks:domain": "kong.example.org", "kong-alb-eks:hostedZone": "example.org",
	}})
	if err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	docs["defaults"] = doc
	return docs
}

// A Kong data plane answers /status/ready with 200 only once it has loaded a non-empty
// configuration (Kong 3.9 kong/status/ready.lua, is_dbless_ready: "no configuration available
// (empty configuration present)" while the hash is DECLARATIVE_EMPTY_CONFIG_HASH), and the
// ingress controller adds no entity of its own with a database (KIC 3.5 deckgen/generate.go
// stubs one only in DB-less mode). Helm's wait on the data plane release and the ALB's health
// checks both depend on it: every configuration must hold a Kong entity whose creation does
// not wait for the data plane.
func TestEveryConfigurationGivesTheDataPlanesAConfiguration(t *testing.T) {
	t.Parallel()
	for name, doc := range configurations(t) {
		cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		if dp.Input("skipAwait") != false {
			t.Errorf("%s: the data plane release does not wait for its pods; the rule would not be tested by a deploy", name)
		}
		plugin := testkit.Named(t, doc, "kubernetes:configuration.konghq.com/v1:KongClusterPlugin", "kong-aws-cp-request-id")
		// KIC turns a KongClusterPlugin into a global plugin when it is labelled global
		// "true" and carries the controller's class (internal/store/store.go).
		if plugin.Input("metadata.labels.global") != "true" || plugin.Annotation("kubernetes.io/ingress.class") != cp.Input("values.ingressController.ingressClass") {
			t.Errorf("%s: the baseline plugin is not a global plugin of the control plane's ingress class", name)
		}
		testkit.WaitsOn(t, plugin, cp, "the KongClusterPlugin CRD and the ingress controller come with the control plane")
		if reaches(doc, plugin.URN, dp.URN) {
			t.Errorf("%s: the configuration waits for the data plane, which waits for a configuration: the first deploy hangs until Helm's timeout", name)
		}
		// The ALB's health check asks the same question as Helm.
		ing := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
		if ing.Annotation("alb.ingress.kubernetes.io/healthcheck-path") != "/status/ready" {
			t.Errorf("%s: the ALB does not check Kong's readiness", name)
		}
	}
}

// pulumi-eks v2 runs kubectl on the deploying machine (nodejs/eks/cluster.ts createCore:
// assertCompatibleKubectlVersionExists, and `kubectl apply` of its own VPC CNI manifest).
// The cluster is made of pulumi-aws resources instead, and EKS installs its networking as EKS
// add-ons: the VPC CNI (with network policy enforcement), CoreDNS and kube-proxy.
func TestNoStepNeedsKubectlAndNetworkingIsEKSAddons(t *testing.T) {
	t.Parallel()
	for name, doc := range configurations(t) {
		for _, r := range doc.Resources {
			if strings.HasPrefix(r.Type, "eks:") || strings.HasPrefix(r.Type, "command:") {
				t.Errorf("%s: %s %q needs tools on the deploying machine", name, r.Type, r.Name)
			}
		}
		cluster := testkit.Named(t, doc, "aws:eks/cluster:Cluster", doc.Outputs["clusterName"].(string))
		if cluster.Input("bootstrapSelfManagedAddons") != false {
			t.Errorf("%s: EKS would install unmanaged copies of the networking add-ons", name)
		}
		if doc.Outputs["clusterMode"] == "auto" {
			// EKS Auto Mode runs the networking, DNS, storage and Pod Identity itself ("you
			// don't need to install or upgrade networking add-ons", EKS User Guide).
			if got := doc.Find("aws:eks/addon:Addon"); len(got) != 0 {
				t.Errorf("%s: add-ons in Auto Mode: %v", name, got)
			}
			continue
		}
		addons := map[string]synth.Resource{}
		for _, a := range doc.Find("aws:eks/addon:Addon") {
			addons[a.Input("addonName").(string)] = a
		}
		for _, want := range []string{"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} {
			if _, ok := addons[want]; !ok {
				t.Errorf("%s: no %s add-on", name, want)
			}
		}
		if cni, ok := addons["vpc-cni"]; ok && cni.Input("configurationValues") != `{"enableNetworkPolicy":"true"}` {
			t.Errorf("%s: the VPC CNI does not enforce network policies: %v", name, cni.Input("configurationValues"))
		}
		policy := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kong-aws-cp-admin")
		if labels, _ := synth.Lookup(policy.Inputs, "spec.podSelector.matchLabels").(map[string]any); labels["app.kubernetes.io/instance"] != "kong-aws-cp" {
			t.Errorf("%s: the admin NetworkPolicy selects %v, not the control plane's pods", name, labels)
		}
	}
}

// Helm keeps a StatefulSet's PersistentVolumeClaims on uninstall (Helm docs, "helm
// uninstall": resources created by a StatefulSet's volumeClaimTemplates are not the release's);
// the claim goes with its namespace, and the EBS volume behind it is deleted later by the EBS
// CSI driver (StorageClass reclaimPolicy Delete), once it has detached. Nothing in Kubernetes
// waits for that, so the driver's add-on carries a delete hook that does; the namespace then
// need not wait for the driver on create, where the driver would be on the critical path.
func TestDestroyReleasesVolumesWhileTheDriverRuns(t *testing.T) {
	t.Parallel()
	for name, doc := range configurations(t) {
		ns := testkit.Named(t, doc, "kubernetes:core/v1:Namespace", "kong")
		if doc.Outputs["clusterMode"] == "auto" {
			// EKS's own driver: the StorageClass stands for it, and goes only once the volumes
			// are gone.
			class := testkit.Named(t, doc, "kubernetes:storage.k8s.io/v1:StorageClass", "ebs-csi-driver-gp3")
			if !slices.Contains(class.DeleteHooks, "ebs-csi-driver-volumes-released") || class.Input("provisioner") != "ebs.csi.eks.amazonaws.com" {
				t.Errorf("%s: the Auto Mode StorageClass %v has delete hooks %v", name, class.Input("provisioner"), class.DeleteHooks)
			}
			if ns.WaitsOn(class.URN) {
				t.Errorf("%s: the %s namespace waits for the StorageClass on create", name, ns.Name)
			}
			continue
		}
		driver := testkit.Named(t, doc, "aws:eks/addon:Addon", "ebs-csi-driver")
		if !slices.Contains(driver.DeleteHooks, "ebs-csi-driver-volumes-released") {
			t.Errorf("%s: the EBS CSI driver's add-on has delete hooks %v, want the one that waits for its volumes", name, driver.DeleteHooks)
		}
		if ns.WaitsOn(driver.URN) {
			t.Errorf("%s: the %s namespace waits for the EBS CSI driver on create", name, ns.Name)
		}
		cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
		if cp.Input("values.postgresql.enabled") == true {
			testkit.WaitsOn(t, cp, driver, name+": the bundled PostgreSQL's claim needs the driver")
		}
		// The driver's role outlives it: it deletes volumes with it.
		testkit.WaitsOn(t, driver, testkit.Named(t, doc, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-driver"), name)
	}
}

// With target-type ip the load balancer controller injects its readiness gates only into pods
// of namespaces labelled elbv2.k8s.aws/pod-readiness-gate-inject: enabled (its chart's
// webhook.yaml namespaceSelector; docs/deploy/pod_readiness_gate.md), so that a rollout waits
// for the ALB to see new pods healthy; and a stopping pod must outlast the target group's
// deregistration delay.
func TestRolloutsAndDrainsKeepServing(t *testing.T) {
	t.Parallel()
	for name, doc := range configurations(t) {
		ns := testkit.Named(t, doc, "kubernetes:core/v1:Namespace", "kong")
		label := "elbv2.k8s.aws/pod-readiness-gate-inject"
		if doc.Outputs["clusterMode"] == "auto" {
			label = "eks.amazonaws.com/pod-readiness-gate-inject"
		}
		if labels, _ := synth.Lookup(ns.Inputs, "metadata.labels").(map[string]any); labels[label] != "enabled" {
			t.Errorf("%s: the Kong namespace's labels %v do not enable readiness gates", name, labels)
		}
		ing := testkit.Named(t, doc, "kubernetes:networking.k8s.io/v1:Ingress", "kong-proxy")
		attrs := ing.Annotation("alb.ingress.kubernetes.io/target-group-attributes")
		var delay int
		if _, err := fmt.Sscanf(attrs, "deregistration_delay.timeout_seconds=%d", &delay); err != nil {
			t.Errorf("%s: no deregistration delay on the target group (%q): the ALB's default is 300 s", name, attrs)
			continue
		}
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		cmd := strings.Join(synth.Strings(dp.Input("values.lifecycle.preStop.exec.command")), " ")
		var wait int
		if _, err := fmt.Sscanf(cmd, "kong quit --wait=%d", &wait); err != nil || wait <= delay {
			t.Errorf("%s: the data plane's preStop %q does not outlast the %d s deregistration delay", name, cmd, delay)
		}
	}
}

// Kong believes X-Forwarded-For only from trusted_ips: they must hold every range the ALB
// takes addresses from, its subnets', and not only the VPC's primary CIDR.
func TestTrustedIPsAreTheALBSubnets(t *testing.T) {
	t.Parallel()
	for name, doc := range configurations(t) {
		dp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-dp")
		trusted, _ := dp.Input("values.env.trusted_ips").(string)
		var want []string
		for _, s := range doc.Find("aws:ec2/subnet:Subnet") {
			if strings.Contains(s.Name, "-public-") {
				want = append(want, s.Input("cidrBlock").(string))
			}
		}
		if len(want) == 0 || trusted != strings.Join(want, ",") {
			t.Errorf("%s: trusted_ips %q, the ALB's subnets are %v", name, trusted, want)
		}
	}
}
