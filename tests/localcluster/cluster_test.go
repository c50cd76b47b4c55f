package localcluster

import (
	"encoding/json"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// The control plane does what the whole-program tests rely on: nodes labelled like EKS nodes
// of the configured architecture, Deployments scheduled onto them and Ready (controller
// manager, scheduler, kwok), Jobs completing (Helm's hook Jobs), and a deleted namespace gone
// with everything in it (the namespace controller and finalizers).
func TestControlPlaneRunsWorkloads(t *testing.T) {
	c := Start(t, Options{Arch: "arm64", Nodes: 2, Region: "us-west-2"})

	nodes, err := c.Do(http.MethodGet, "/api/v1/nodes", nil)
	if err != nil {
		t.Fatal(err)
	}
	items, _ := nodes["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("%d nodes, want 2", len(items))
	}
	for _, it := range items {
		labels, _ := it.(Object)["metadata"].(Object)["labels"].(Object)
		if labels["kubernetes.io/arch"] != "arm64" || labels["topology.kubernetes.io/region"] != "us-west-2" || labels["eks.amazonaws.com/nodegroup"] == nil {
			t.Errorf("node labels %v are not an arm64 EKS node's in us-west-2", labels)
		}
	}

	mustDo(t, c, http.MethodPost, "/api/v1/namespaces", Object{"apiVersion": "v1", "kind": "Namespace", "metadata": Object{"name": "demo"}})
	labels := Object{"app": "demo"}
	mustDo(t, c, http.MethodPost, "/apis/apps/v1/namespaces/demo/deployments", Object{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": Object{"name": "demo"},
		"spec": Object{
			"replicas": 2, "selector": Object{"matchLabels": labels},
			"template": Object{"metadata": Object{"labels": labels}, "spec": Object{
				"nodeSelector": Object{"kubernetes.io/arch": "arm64"},
				"containers":   []any{Object{"name": "demo", "image": "registry.example/demo:1"}},
			}},
		},
	})
	mustDo(t, c, http.MethodPost, "/apis/batch/v1/namespaces/demo/jobs", Object{
		"apiVersion": "batch/v1", "kind": "Job", "metadata": Object{"name": "migrate"},
		"spec": Object{"template": Object{"spec": Object{
			"restartPolicy": "Never",
			"containers":    []any{Object{"name": "migrate", "image": "registry.example/demo:1"}},
		}}},
	})
	if err := c.Eventually(90*time.Second, "the Deployment Ready", func() (bool, error) {
		d, err := c.Do(http.MethodGet, "/apis/apps/v1/namespaces/demo/deployments/demo", nil)
		if err != nil {
			return false, err
		}
		status, _ := d["status"].(Object)
		return status["readyReplicas"] == 2.0, errors.New("readyReplicas " + toString(status["readyReplicas"]))
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Eventually(90*time.Second, "the Job complete", func() (bool, error) {
		j, err := c.Do(http.MethodGet, "/apis/batch/v1/namespaces/demo/jobs/migrate", nil)
		if err != nil {
			return false, err
		}
		return Condition(j, "Complete") == "True", errors.New("not complete")
	}); err != nil {
		t.Fatal(err)
	}

	mustDo(t, c, http.MethodDelete, "/api/v1/namespaces/demo", nil)
	if err := c.Eventually(120*time.Second, "the namespace deleted", func() (bool, error) {
		_, err := c.Do(http.MethodGet, "/api/v1/namespaces/demo", nil)
		return IsNotFound(err), err
	}); err != nil {
		t.Fatal(err)
	}
}

// Every process is gone once the cluster stops.
func TestStopEndsEveryProcess(t *testing.T) {
	c := Start(t, Options{Nodes: 1})
	pids := c.PIDs()
	if len(pids) != 5 {
		t.Fatalf("processes %v, want etcd, the API server, the controller manager, the scheduler and kwok", pids)
	}
	c.stop()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still runs after stop: %v", name, pid, err)
		}
	}
}

func mustDo(t *testing.T, c *Cluster, method, path string, body any) Object {
	t.Helper()
	out, err := c.Do(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func toString(v any) string {
	if v == nil {
		return "none"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
