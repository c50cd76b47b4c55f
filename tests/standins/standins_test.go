package standins

import (
	"crypto/sha1" //nolint:gosec // Reloader's hash
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// engine is an operation the test steers: busy (steps starting and finishing) or stalled on
// the steps in flight.
type engine struct {
	mu       sync.Mutex
	busy     bool
	inFlight []string
}

func (e *engine) Stalled(time.Duration) bool { e.mu.Lock(); defer e.mu.Unlock(); return !e.busy }

func (e *engine) InFlight() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.inFlight...)
}

func (e *engine) set(busy bool, inFlight ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.busy, e.inFlight = busy, inFlight
}

func start(t *testing.T) (*localcluster.Cluster, *Standins, *engine) {
	t.Helper()
	c := localcluster.Start(t, localcluster.Options{Nodes: 1, Region: "eu-west-1", Holds: Holds})
	w, err := fakecloud.NewWorld(t.TempDir(), fakecloud.ClusterAt(c.Server, c.CAData, c.Token))
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine{}
	s := Start(c, w, "eu-west-1", eng)
	t.Cleanup(func() {
		for _, e := range s.Stop() {
			t.Logf("stand-in: %s", e)
		}
	})
	return c, s, eng
}

func mustCreate(t *testing.T, c *localcluster.Cluster, path string, obj Object) {
	t.Helper()
	if _, err := c.Do(http.MethodPost, path, obj); err != nil {
		t.Fatal(err)
	}
}

func deployment(name string, labels Object, container Object) Object {
	return Object{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": Object{"name": name},
		"spec": Object{"replicas": 1, "selector": Object{"matchLabels": labels},
			"template": Object{"metadata": Object{"labels": labels}, "spec": Object{"containers": []any{container}}}}}
}

func readyReplicas(t *testing.T, c *localcluster.Cluster, name string) float64 {
	t.Helper()
	d, err := c.Do(http.MethodGet, "/apis/apps/v1/namespaces/default/deployments/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := d["status"].(Object)["readyReplicas"].(float64)
	return n
}

// A Kong data plane is Ready only once its control plane serves and has a Kong entity: with
// the control plane Ready but no entity it stays un-Ready; an Ingress of class kong releases it.
func TestKongDataPlaneWaitsForAnEntity(t *testing.T) {
	c, _, _ := start(t)
	startKong(t, c)
	mustCreate(t, c, "/apis/networking.k8s.io/v1/namespaces/default/ingresses", Object{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": Object{"name": "demo"}, "spec": Object{"ingressClassName": "kong", "defaultBackend": Object{
			"service": Object{"name": "demo", "port": Object{"number": 80}}}}})
	if err := c.Eventually(time.Minute, "the data plane Ready once an entity exists", func() (bool, error) { return readyReplicas(t, c, "dp") == 1, nil }); err != nil {
		t.Fatal(err)
	}
}

// startKong starts a Kong control plane and a data plane of release "dp", and waits until the
// control plane is Ready and the data plane, with no entity to load, is still not.
func startKong(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	cp := Object{"app": "cp"}
	mustCreate(t, c, "/apis/apps/v1/namespaces/default/deployments", deployment("cp", cp, Object{"name": "proxy", "image": "kong:3.9",
		"env": []any{Object{"name": "KONG_ROLE", "value": "control_plane"}}}))
	mustCreate(t, c, "/api/v1/namespaces/default/services", Object{"apiVersion": "v1", "kind": "Service",
		"metadata": Object{"name": "cp-cluster"}, "spec": Object{"selector": cp, "ports": []any{Object{"port": 8005}}}})
	mustCreate(t, c, "/apis/apps/v1/namespaces/default/deployments", deployment("dp", Object{"app.kubernetes.io/instance": "dp"}, Object{"name": "proxy", "image": "kong:3.9",
		"env": []any{Object{"name": "KONG_ROLE", "value": "data_plane"}, Object{"name": "KONG_CLUSTER_CONTROL_PLANE", "value": "cp-cluster.default.svc:8005"}}}))

	if err := c.Eventually(time.Minute, "the control plane Ready", func() (bool, error) { return readyReplicas(t, c, "cp") == 1, nil }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // several rounds of kwok and the stand-in
	if n := readyReplicas(t, c, "dp"); n != 0 {
		t.Fatalf("the data plane is Ready (%v) while its control plane has no Kong entity", n)
	}
}

const dataPlaneRelease = "urn:pulumi:dev::kong-alb-eks::kong-alb-eks:kong:KongDataPlane$kubernetes:helm.sh/v3:Release::dp"

// A data plane with nothing to load is fatal only once nothing in flight could give it an
// entity: while another step runs (it may create one) it waits; when the engine waits on the
// data plane's release alone, the stand-in says why it can never be Ready.
func TestKongDataPlaneWithNothingToLoadIsFatal(t *testing.T) {
	c, s, eng := start(t)
	eng.set(false, dataPlaneRelease, "urn:pulumi:dev::kong-alb-eks::kubernetes:configuration.konghq.com/v1:KongClusterPlugin::baseline")
	startKong(t, c)
	select {
	case msg := <-s.Fatal():
		t.Fatalf("fatal while a step that may create an entity is in flight: %s", msg)
	case <-time.After(2 * time.Second):
	}
	eng.set(false, dataPlaneRelease)
	select {
	case msg := <-s.Fatal():
		for _, want := range []string{"default/dp-", "can never become Ready", "no Kong entity", "nothing but the release dp"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the stand-in's message %q does not say %q", msg, want)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no stand-in reported the data plane that can never be Ready")
	}
}

// The load balancer controller turns Ready only once the engine waits on nothing else.
// podIdentityFor puts in the world what EKS Pod Identity gives a service account: the cluster,
// the agent, a role that trusts Pod Identity and an association made before now.
func podIdentityFor(t *testing.T, s *Standins, namespace, account string) {
	t.Helper()
	const role = "arn:aws:iam::123456789012:role/lbc"
	before := time.Now().Add(-time.Minute)
	for _, r := range []fakecloud.Resource{
		{Type: "aws:eks/cluster:Cluster", ID: "prod", Outputs: map[string]any{"name": "prod"}},
		{Type: "aws:eks/addon:Addon", ID: "prod:eks-pod-identity-agent", Outputs: map[string]any{"addonName": "eks-pod-identity-agent", "clusterName": "prod"}},
		{Type: "aws:iam/role:Role", ID: "lbc", Outputs: map[string]any{"arn": role, "assumeRolePolicy": components.PodIdentityTrustPolicy}},
		{Type: "aws:eks/podIdentityAssociation:PodIdentityAssociation", ID: "a-1", Changed: before, Outputs: map[string]any{
			"clusterName": "prod", "namespace": namespace, "serviceAccount": account, "roleArn": role}},
	} {
		if err := s.world.Put(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadBalancerControllerStartsLast(t *testing.T) {
	c, s, eng := start(t)
	podIdentityFor(t, s, "default", "default")
	eng.set(true)
	mustCreate(t, c, "/apis/apps/v1/namespaces/default/deployments", deployment("lbc",
		Object{"app.kubernetes.io/name": "aws-load-balancer-controller"}, Object{"name": "controller", "image": "aws-load-balancer-controller:v2"}))
	time.Sleep(3 * time.Second) // several rounds of kwok and the stand-in
	if n := readyReplicas(t, c, "lbc"); n != 0 {
		t.Fatalf("the controller is Ready (%v) while the engine is busy", n)
	}
	eng.set(false)
	if err := c.Eventually(time.Minute, "the controller Ready once the engine stalls", func() (bool, error) { return readyReplicas(t, c, "lbc") == 1, nil }); err != nil {
		t.Fatal(err)
	}
}

// A controller pod EKS would give no credentials (here: no Pod Identity association for its
// service account, and no IRSA annotation) would fail every reconcile: the stand-in says so
// instead of making it Ready.
func TestLoadBalancerControllerWithoutCredentialsIsFatal(t *testing.T) {
	c, s, eng := start(t)
	if err := s.world.Put(fakecloud.Resource{Type: "aws:eks/cluster:Cluster", ID: "prod", Outputs: map[string]any{"name": "prod"}}); err != nil {
		t.Fatal(err)
	}
	eng.set(false)
	mustCreate(t, c, "/apis/apps/v1/namespaces/default/deployments", deployment("lbc",
		Object{"app.kubernetes.io/name": "aws-load-balancer-controller"}, Object{"name": "controller", "image": "aws-load-balancer-controller:v2"}))
	select {
	case msg := <-s.Fatal():
		if !strings.Contains(msg, "has no AWS credentials") || !strings.Contains(msg, "neither an IRSA role nor a Pod Identity association") {
			t.Errorf("the stand-in's message: %q", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stand-in started a controller without credentials")
	}
}

// A deleted ALB Ingress whose controller is gone keeps its finalizer for ever: the stand-in
// says so at once, naming the Ingress and the rule.
func TestOrphanedALBIngressIsFatal(t *testing.T) {
	c, s, _ := start(t)
	mustCreate(t, c, "/apis/networking.k8s.io/v1/namespaces/default/ingresses", Object{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": Object{"name": "proxy", "finalizers": []any{IngressFinalizer}}, "spec": Object{"ingressClassName": "alb", "defaultBackend": Object{
			"service": Object{"name": "proxy", "port": Object{"number": 443}}}}})
	if _, err := c.Do(http.MethodDelete, "/apis/networking.k8s.io/v1/namespaces/default/ingresses/proxy", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-s.Fatal():
		for _, want := range []string{"default/proxy", IngressFinalizer, "before the controller"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the stand-in's message %q does not say %q", msg, want)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no stand-in reported the Ingress that can never be deleted")
	}
	// Let the cluster stop cleanly: remove the finalizer ourselves.
	_, _ = c.Do(http.MethodPatch, "/apis/networking.k8s.io/v1/namespaces/default/ingresses/proxy", Object{"metadata": Object{"finalizers": nil}})
}

// Kong's hybrid-mode rule: a control plane takes data planes of its major version and of its
// minor or older, never newer.
func TestKongVersionCompatibility(t *testing.T) {
	for _, c := range []struct {
		cp, dp string
		ok     bool
	}{
		{"3.10.0.4", "3.10.0.4", true}, {"3.10.0.4", "3.9.1.2", true}, {"3.10.0.4", "3.10.0.7", true},
		{"3.9.1.2", "3.10.0.4", false}, {"3.10.0.4", "2.8.4.1", false}, {"4.0.0.0", "3.10.0.4", false},
	} {
		if why := KongVersionIncompatible(c.cp, c.dp); (why == "") != c.ok {
			t.Errorf("control plane %s, data plane %s: %q, want accepted %t", c.cp, c.dp, why, c.ok)
		}
	}
	pod := Object{"spec": Object{"containers": []any{Object{"name": "proxy", "image": "registry.local:5000/kong/kong-gateway:3.10.0.4"}}}}
	if tag := ProxyImageTag(pod); tag != "3.10.0.4" {
		t.Errorf("image tag %q", tag)
	}
}

// The stand-in writes what Reloader v1.4.21 writes: util.go ConvertToEnvVarName and
// GetSHAfromSecret (key=value of the decoded data, sorted, joined with ";").
func TestReloaderNamesAndHashesAsReloaderDoes(t *testing.T) {
	for in, want := range map[string]string{
		"kong-aws-cp-kong-cluster-cert": "KONG_AWS_CP_KONG_CLUSTER_CERT",
		"-my..secret":                   "MY_SECRET",
	} {
		if got := envVarName(in); got != want {
			t.Errorf("envVarName(%q) = %q, want %q", in, got, want)
		}
	}
	sec := Object{"data": Object{"b": base64.StdEncoding.EncodeToString([]byte("2")), "a": base64.StdEncoding.EncodeToString([]byte("1"))}}
	sum := sha1.Sum([]byte("a=1;b=2")) //nolint:gosec // Reloader's hash
	if got := secretHash(sec); got != hex.EncodeToString(sum[:]) {
		t.Errorf("secretHash = %s, want the SHA-1 of a=1;b=2", got)
	}
}
