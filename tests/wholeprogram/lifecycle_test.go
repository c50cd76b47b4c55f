package wholeprogram

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

type object = localcluster.Object

// The whole program's life for each shipped stack and the defaults: up reaches a working
// environment the API server holds as declared; the wildcard records alias the hostname the
// load balancer controller wrote; a preview right after shows no change; one key's change
// updates only what it should; destroy leaves nothing behind.
func TestShippedStacksLifecycle(t *testing.T) {
	t.Parallel()
	for _, stack := range shippedStacks(t) {
		t.Run(stack, func(t *testing.T) {
			// Each stack has a control plane, a fake cloud and an engine of its own; most of a
			// stack's time is spent waiting (on the engine, on the stand-ins' reconcile loops),
			// so the stacks share the machine well.
			t.Parallel()
			// Where a program release that left crds/ to Helm had deployed: the defaults start
			// on the previous charts, with the CRDs Helm created for them, and live the charts'
			// upgrade; dev's charts were upgraded by Helm since, which left the previous CRDs.
			var override map[string]string
			if stack == "defaults" {
				// ... and on IRSA, which the defaults' life moves to EKS Pod Identity.
				override = irsaConfig(chartConfig(t, previousCharts))
			}
			if stack == "prod" {
				override = databaseConfig(t)
			}
			e := newEnv(t, stack, override)
			before := e.objects()
			if stack == "defaults" || stack == "dev" {
				e.helmCRDs(previousCharts)
			}
			e.up()
			if stack == "dev" {
				e.checkUpgradedCRDs("the first up over Helm's")
			}
			e.checkOrder("create")
			e.checkStateOrdering()
			e.checkDeclaredObjects()
			e.checkDatabaseVolume()
			e.checkDNSFollowsTheALB()
			e.checkNoSecretInState()
			e.checkPreviewIsClean()
			e.checkRefreshIsClean()
			e.checkScalingTheDataPlane()
			// The day-2 life (life_test.go) runs where it costs least: the dev stack lives it
			// whole; prod lives its RDS database's day 2 (life_database_test.go), with the Kong
			// control plane's upgrade, whose migrations run against the database.
			switch stack {
			case "auto":
				e.checkAutoModeNodes()
				e.destroy(before)
			case "dev":
				e.live()
				// CI's destroy runs as a role that did not create the cluster.
				e.destroyAs("arn:aws:iam::123456789012:role/platform-admins", before)
			case "prod":
				e.checkDatabase()
				e.upgradeDatabase()
				e.upgradeKongControlPlane()
				e.checkMigrationsOnRDS()
				e.destroyProduction(before)
			default:
				e.upgradeCharts()
				e.switchIdentity(components.PodIdentity)
				e.switchIdentity(components.IRSA)
				e.switchIdentity(components.PodIdentity)
				e.renewClusterCertificates()
				e.destroy(before)
			}
		})
	}
}

func shippedStacks(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(repoRoot, "Pulumi.*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files in %s: %v", repoRoot, err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	return append(out, "defaults")
}

func (e *env) up() {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	res, err := e.manager.Up(ctx, e.spec, e.record())
	if err != nil {
		e.t.Fatalf("up: %v", err)
	}
	e.t.Logf("up: %v", res.Changes)
}

func (e *env) get(path string) object {
	e.t.Helper()
	o, err := e.cluster.Do(http.MethodGet, path, nil)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	return o
}

func (e *env) items(path string) []object {
	e.t.Helper()
	list := e.get(path)
	raw, _ := list["items"].([]any)
	out := make([]object, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.(object))
	}
	return out
}

func field(o object, path ...string) any {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(object)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// checkDeclaredObjects: the namespaces, every release's workloads (available: Helm waited), the
// ALB Ingress with its annotations, the Kong plugins, the policy and the secrets exist.
func (e *env) checkDeclaredObjects() {
	e.t.Helper()
	cfg := e.spec.Config
	namespaces := []string{cfg.Kong.Namespace, "cert-manager"}
	if cfg.Demo.Enabled {
		namespaces = append(namespaces, cfg.Demo.Name)
	}
	for _, ns := range namespaces {
		e.get("/api/v1/namespaces/" + ns)
	}
	releases := []struct{ ns, name string }{
		{"cert-manager", "cert-manager"},
		{cfg.Kong.Namespace, cfg.Kong.ControlPlaneRelease}, {cfg.Kong.Namespace, cfg.Kong.DataPlaneRelease},
	}
	if !cfg.Cluster.AutoMode() {
		releases = append(releases, struct{ ns, name string }{"kube-system", "aws-load-balancer-controller"})
	}
	for _, rel := range releases {
		deployments := e.items(fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments?labelSelector=app.kubernetes.io/instance%%3D%s", rel.ns, rel.name))
		if len(deployments) == 0 {
			e.t.Errorf("release %s/%s: no Deployment in the API server", rel.ns, rel.name)
		}
		for _, d := range deployments {
			if field(d, "status", "availableReplicas") != field(d, "spec", "replicas") {
				e.t.Errorf("release %s/%s: Deployment %v is not available after up: %v", rel.ns, rel.name, field(d, "metadata", "name"), d["status"])
			}
		}
	}
	ing := e.get(fmt.Sprintf("/apis/networking.k8s.io/v1/namespaces/%s/ingresses/kong-proxy", cfg.Kong.Namespace))
	if field(ing, "spec", "ingressClassName") != "alb" {
		e.t.Errorf("the proxy Ingress's class is %v, want alb", field(ing, "spec", "ingressClassName"))
	}
	certARN := cfg.Certificate.ARN // an existing certificate, or the one ACM issued or imported
	for _, r := range e.resources("aws:acm/certificate:Certificate") {
		certARN = r.ID
	}
	const p = "alb.ingress.kubernetes.io/"
	want := map[string]string{
		p + "scheme": "internet-facing", p + "target-type": "ip", p + "backend-protocol": "HTTPS",
		p + "listen-ports": `[{"HTTP": 80}, {"HTTPS": 443}]`, p + "certificate-arn": certARN,
	}
	if cfg.Cluster.AutoMode() {
		// The class holds the scheme and the certificate (the stand-in of Auto Mode's
		// controller checks its parameters).
		delete(want, p+"scheme")
		delete(want, p+"certificate-arn")
		params := e.get("/apis/eks.amazonaws.com/v1/ingressclassparams/alb")
		if certs, _ := field(params, "spec", "certificateARNs").([]any); len(certs) != 1 || certs[0] != certARN {
			e.t.Errorf("the ALB class's certificates are %v, want [%s]", certs, certARN)
		}
	}
	for k, want := range want {
		if got := field(ing, "metadata", "annotations", k); got != want {
			e.t.Errorf("the proxy Ingress's %s is %v, want %q", k, got, want)
		}
	}
	e.get("/apis/configuration.konghq.com/v1/kongclusterplugins/" + cfg.Kong.ControlPlaneRelease + "-request-id")
	e.get(fmt.Sprintf("/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/%s-admin", cfg.Kong.Namespace, cfg.Kong.ControlPlaneRelease))
	e.get(fmt.Sprintf("/apis/cert-manager.io/v1/namespaces/%s/issuers/%s", cfg.Kong.Namespace, cfg.Kong.IssuerName))
}

// resources are the fake cloud's live resources of a type.
func (e *env) resources(typ string) []fakecloud.Resource {
	e.t.Helper()
	all, err := e.world.Resources()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []fakecloud.Resource
	for _, r := range all {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// checkDNSFollowsTheALB: the records the aws plugin received for *.DOMAIN alias exactly the
// hostname the load balancer controller's stand-in wrote on the Ingress, in the region's ALB zone.
func (e *env) checkDNSFollowsTheALB() {
	e.t.Helper()
	cfg := e.spec.Config
	ing := e.get(fmt.Sprintf("/apis/networking.k8s.io/v1/namespaces/%s/ingresses/kong-proxy", cfg.Kong.Namespace))
	lbs, _ := field(ing, "status", "loadBalancer", "ingress").([]any)
	if len(lbs) != 1 {
		e.t.Fatalf("the proxy Ingress has no load balancer status: %v", ing["status"])
	}
	hostname := field(lbs[0].(object), "hostname")
	records := 0
	for _, r := range e.resources("aws:route53/record:Record") {
		if r.Outputs["name"] != "*."+cfg.Domain {
			continue
		}
		records++
		aliases, _ := r.Outputs["aliases"].([]any)
		if len(aliases) != 1 {
			e.t.Errorf("record %s has aliases %v", r.ID, r.Outputs["aliases"])
			continue
		}
		a := aliases[0].(map[string]any)
		if a["name"] != hostname || a["zoneId"] != answers.ALBZone(cfg.Region) {
			e.t.Errorf("record %s aliases %v in zone %v; the Ingress's ALB is %v in zone %s", r.ID, a["name"], a["zoneId"], hostname, answers.ALBZone(cfg.Region))
		}
	}
	if records == 0 {
		e.t.Errorf("no *.%s record reached the aws provider", cfg.Domain)
	}
}

// checkNoSecretInState: the Postgres password the cluster holds appears nowhere in the state.
func (e *env) checkNoSecretInState() {
	e.t.Helper()
	cfg := e.spec.Config
	sec := e.get(fmt.Sprintf("/api/v1/namespaces/%s/secrets/%s-postgres", cfg.Kong.Namespace, cfg.Kong.ControlPlaneRelease))
	data, _ := sec["data"].(object)
	var state []byte
	_ = filepath.Walk(e.stateDir(), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(path, ".json") {
			b, _ := os.ReadFile(path)
			state = append(state, b...)
		}
		return nil
	})
	if len(state) == 0 {
		e.t.Fatalf("no state under %s", e.stateDir())
	}
	for k, v := range data {
		plain, _ := base64.StdEncoding.DecodeString(fmt.Sprint(v))
		if len(plain) >= 8 && strings.Contains(string(state), string(plain)) {
			e.t.Errorf("the value of %s in Secret %s-postgres is in the state in plaintext", k, cfg.Kong.ControlPlaneRelease)
		}
	}
}

func (e *env) stateDir() string { return filepath.Join(filepath.Dir(e.world.Dir), "state", "backend") }

func (e *env) checkPreviewIsClean() {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	pre, err := e.manager.Preview(ctx, e.spec, e.record())
	if err != nil {
		e.t.Fatalf("preview: %v", err)
	}
	if changes := nonSame(pre.Changes); len(changes) > 0 {
		e.t.Errorf("a preview right after up plans %v (a perpetual diff):\n%s", changes, pre.Diff)
	}
}

// checkRefreshIsClean: a refresh right after up reads every resource back, from the fake cloud
// and from the API server, and finds it as up left it; a preview after it still plans nothing.
func (e *env) checkRefreshIsClean() {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	res, err := e.manager.Refresh(ctx, e.spec.Name, e.record())
	if err != nil {
		e.t.Fatalf("refresh: %v", err)
	}
	if changes := nonSame(res.Changes); len(changes) > 0 {
		e.t.Errorf("a refresh right after up finds drift: %v", changes)
	}
	calls, err := e.world.Calls()
	if err != nil {
		e.t.Fatal(err)
	}
	reads := 0
	for _, c := range calls {
		if c.Method == "Read" {
			reads++
		}
	}
	if live, _ := e.world.Resources(); reads < len(live) {
		e.t.Errorf("the refresh read %d cloud resources of %d", reads, len(live))
	}
	e.checkPreviewIsClean()
}

// checkScalingTheDataPlane: changing dataPlaneReplicas updates the data plane's release, and
// nothing else; the Deployment follows.
func (e *env) checkScalingTheDataPlane() {
	e.t.Helper()
	spec := e.spec
	spec.Config.Kong.DataPlaneReplicas++
	e.apply("scaling the data plane", spec, map[string]step{
		"kubernetes:helm.sh/v3:Release " + spec.Config.Kong.DataPlaneRelease: "update",
	})
	cfg := spec.Config
	path := fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments?labelSelector=app.kubernetes.io/instance%%3D%s", cfg.Kong.Namespace, cfg.Kong.DataPlaneRelease)
	for _, d := range e.items(path) {
		if field(d, "spec", "replicas") != float64(cfg.Kong.DataPlaneReplicas) {
			e.t.Errorf("after the scale-up the data plane Deployment wants %v replicas, want %d", field(d, "spec", "replicas"), cfg.Kong.DataPlaneReplicas)
		}
	}
	// Helm's wait counts a Deployment ready with all but its rollout's maxUnavailable pods
	// ready (helm pkg/kube/ready.go, deploymentReady), so the last new pod may still be
	// starting when the up ends.
	err := e.cluster.Eventually(time.Minute, "the scaled data plane available", func() (bool, error) {
		for _, d := range e.items(path) {
			if field(d, "status", "availableReplicas") != float64(cfg.Kong.DataPlaneReplicas) {
				return false, fmt.Errorf("the data plane Deployment has %v of %d available", field(d, "status", "availableReplicas"), cfg.Kong.DataPlaneReplicas)
			}
		}
		return true, nil
	})
	if err != nil {
		e.t.Error(err)
	}
}

// checkDatabaseVolume: the bundled PostgreSQL's claim is bound to an EBS volume (so that the
// destroy has a volume to delete).
func (e *env) checkDatabaseVolume() {
	e.t.Helper()
	kong := e.spec.Config.Kong
	if e.spec.Config.EffectiveDatabase() != stacks.DatabaseBundled {
		return
	}
	claims := e.items("/api/v1/namespaces/" + kong.Namespace + "/persistentvolumeclaims")
	volumes, err := e.world.Volumes()
	if err != nil {
		e.t.Fatal(err)
	}
	if len(claims) != 1 || field(claims[0], "status", "phase") != "Bound" || len(volumes) != 1 {
		e.t.Errorf("the bundled PostgreSQL has %d claims (%v) and %d EBS volumes, want one bound claim and its volume",
			len(claims), claims, len(volumes))
	}
}

func nonSame(c automation.Changes) map[string]int {
	out := map[string]int{}
	for k, v := range c {
		if k != "same" && v > 0 {
			out[k] = v
		}
	}
	return out
}

// destroy: everything the program made is gone, from the API server (what was there before up is
// all that is left) and from the cloud, and no volume is left.
func (e *env) destroy(before map[string]object) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	// The order checks below look at the destroy's steps only.
	e.mu.Lock()
	e.events = nil
	e.mu.Unlock()
	if _, err := e.manager.Destroy(ctx, e.spec.Name, e.record()); err != nil {
		e.t.Fatalf("destroy: %v", err)
	}
	e.checkOrder("delete")
	e.checkNothingLeft(before)
	left, err := e.world.Resources()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range left {
		e.t.Errorf("%s %s outlived destroy in the cloud", r.Type, r.ID)
	}
	volumes, err := e.world.Volumes()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range volumes {
		e.t.Errorf("EBS volume %s of claim %s outlived destroy: the volume was released after the EBS CSI driver was gone", v.ID, v.Claim)
	}
}
