package operator

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// The stack controller copies its Workspace's Stalled condition whenever the Workspace is not
// ready, without asking which generation the condition belongs to, and the workspace
// controller keeps the condition until it starts a new pod (stack_controller.go, the workspace
// readiness check; workspace_controller.go): the operation after a WorkspaceFailed one would
// read the old stall as its own. Only a Workspace whose status and Stalled condition are of
// its current generation answers.
func TestAStaleWorkspaceStallIsNoAnswer(t *testing.T) {
	workspace := func(gen, observed, condObserved int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "auto.pulumi.com/v1alpha1", "kind": "Workspace",
			"metadata": map[string]any{"name": "env", "namespace": "ns", "generation": gen},
			"status": map[string]any{"observedGeneration": observed, "conditions": []any{map[string]any{
				"type": "Stalled", "status": "True", "reason": "InstallationFailed", "message": "x",
				"observedGeneration": condObserved, "lastTransitionTime": "2026-12-03T00:00:00Z"}}},
		}}
	}
	stalled := &automation.RunnerError{Code: "stalled", Reason: "WorkspaceFailed"}
	for _, c := range []struct {
		name  string
		ws    *unstructured.Unstructured
		err   *automation.RunnerError
		stale bool
	}{
		{"the condition of the current generation", workspace(3, 3, 3), stalled, false},
		{"the condition of an earlier generation", workspace(3, 3, 2), stalled, true},
		{"a Workspace its controller has not seen yet", workspace(3, 2, 2), stalled, true},
		{"another stall reason", workspace(3, 3, 2), &automation.RunnerError{Code: "stalled", Reason: "SpecInvalid"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), c.ws)
			e := &Executor{workspaces: client.Resource(WorkspaceResource).Namespace("ns")}
			if got := e.staleWorkspaceStall(context.Background(), "env", c.err); got != c.stale {
				t.Errorf("stale = %v, want %v", got, c.stale)
			}
		})
	}
}

// The names of an operation's config objects fit the pod volumes the operator mounts them as
// (configmap-NAME, secret-NAME: at most 63 characters) for the longest environment name and a
// real operation ID, and differ between operations and between a preview and an update.
func TestConfigObjectNamesFitAVolumeName(t *testing.T) {
	env := "e23456789012345678901234567890123456789012345678901234567890123"
	a, b := configName(env, RoleEnvironment, "op-0123456789abcdef01234567"), configName(env, RoleEnvironment, "op-0123456789abcdef01234568")
	if len("configmap-"+a) > 63 || len("secret-"+a) > 63 {
		t.Errorf("%s is too long for a volume name", a)
	}
	if a == b || a == configName(env, RolePreview, "op-0123456789abcdef01234567") {
		t.Errorf("config object names collide: %s", a)
	}
}
