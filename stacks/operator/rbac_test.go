package operator_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/operator"
	"github.com/kong-alb-eks/kong-alb-eks/tests/operatorstandin"
)

// The executor works as a service account bound to PortalRole in the operator namespace and
// nothing else (the API server's RBAC is real): up, status, list, config and destroy.
func leastPrivilege(t *testing.T, w *world) {
	c := w.cluster
	role, err := runtime.DefaultUnstructuredConverter.ToUnstructured(operator.PortalRole(namespace))
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct {
		path string
		body any
	}{
		{"/api/v1/namespaces/" + namespace + "/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "portal"}}},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace + "/roles", role},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace + "/rolebindings", map[string]any{
			"metadata": map[string]any{"name": "kong-alb-eks-portal"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kong-alb-eks-portal"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "portal", "namespace": namespace}},
		}},
	} {
		if _, err := c.Do("POST", req.path, req.body); err != nil {
			t.Fatal(err)
		}
	}
	// The binding takes effect through the authorizer's cache, some time after it is written.
	if err := c.WaitAllowed(30*time.Second, "system:serviceaccount:"+namespace+":portal", namespace, operator.PortalRole(namespace).Rules); err != nil {
		t.Fatal(err)
	}
	tr, err := c.Do("POST", "/api/v1/namespaces/"+namespace+"/serviceaccounts/portal/token", map[string]any{"spec": map[string]any{"expirationSeconds": 3600}})
	if err != nil {
		t.Fatal(err)
	}
	token := tr["status"].(map[string]any)["token"].(string)
	asPortal := rest.CopyConfig(w.rest)
	asPortal.BearerToken = token

	w.scriptFor("rbac", func(*operator.Stack, string) operatorstandin.Outcome { return operatorstandin.Outcome{} })
	e := w.executorAs(t, asPortal)
	if _, err := e.Up(ctx(t), spec(t, "rbac"), automation.WithID("op-0008")); err != nil {
		t.Fatalf("up as the portal: %v", err)
	}
	if _, err := e.Status(ctx(t), "rbac"); err != nil {
		t.Errorf("status as the portal: %v", err)
	}
	if cfg, err := e.Config(ctx(t), "rbac"); err != nil || cfg.Kong.PostgresPassword.Reveal() != "s3cret-password" {
		t.Errorf("config as the portal: %v", err)
	}
	if list, err := e.List(ctx(t)); err != nil || len(list) == 0 {
		t.Errorf("list as the portal: %v %v", list, err)
	}
	if _, err := e.Destroy(ctx(t), "rbac", automation.WithID("op-0009")); err != nil {
		t.Errorf("destroy as the portal: %v", err)
	}
	// And no more than that namespace: the same token reads nothing elsewhere.
	other, err := operator.New(operator.Options{REST: asPortal, Namespace: "default",
		Repository: "https://github.com/kong-alb-eks/kong-alb-eks.git", Commit: strings.Repeat("ab", 20),
		Backend: "s3://kong-alb-eks-state?region=us-east-1", Image: "pulumi/pulumi:3.263.0-nonroot", Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.List(ctx(t)); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("the portal's token listed Stacks in another namespace: %v", err)
	}
	var nf *automation.NotFoundError
	if _, err := e.Status(ctx(t), "rbac"); !errors.As(err, &nf) {
		t.Errorf("after the destroy: %v", err)
	}
}

// The Role the README tells an administrator to create is PortalRole, rule for rule.
func TestREADMEShowsThePortalRole(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "# portal-role\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README has no portal-role YAML block")
	}
	var shown map[string]any
	if err := yaml.Unmarshal([]byte(block), &shown); err != nil {
		t.Fatal(err)
	}
	want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(operator.PortalRole("environments"))
	if err != nil {
		t.Fatal(err)
	}
	delete(want["metadata"].(map[string]any), "creationTimestamp")
	a, _ := json.Marshal(shown)
	b, _ := json.Marshal(want)
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("README's Role:\n%s\nPortalRole:\n%s", a, b)
	}
}
