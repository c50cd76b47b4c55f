package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Object is a Kubernetes object as JSON decodes it.
type Object = map[string]any

// Do sends one request to the API server as the administrator and decodes the answer; a
// PATCH is a JSON merge patch. A status of 404 is errNotFound (IsNotFound), others above 299 an error with the API server's
// message.
func (c *Cluster) Do(method, path string, body any) (Object, error) {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		in = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, in)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s %s: %w", method, path, errNotFound)
	}
	if resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	var out Object
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return out, nil
}

var errNotFound = errors.New("not found")

// IsNotFound reports whether err is the API server's 404.
func IsNotFound(err error) bool { return err != nil && errors.Is(err, errNotFound) }

// Eventually polls check until it returns true, or fails with its last error after timeout;
// it fails at once, with the log's tail, if a process of the cluster has exited.
func (c *Cluster) Eventually(timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while waiting for %s: %s", p.name, what, tail(p.log))
			default:
			}
		}
		ok, err := check()
		if ok {
			return nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s: not within %s (last: %v)", what, timeout, last)
}

// addNodes registers kwok nodes labelled as EKS labels a managed node group's nodes.
func (c *Cluster) addNodes(opts Options) error {
	n, arch, region := opts.Nodes, opts.Arch, opts.Region
	if n == 0 {
		n = 2
	}
	if arch == "" {
		arch = "amd64"
	}
	if region == "" {
		region = "us-east-1"
	}
	instanceType := map[string]string{"amd64": "m6i.large", "arm64": "m7g.large"}[arch]
	if instanceType == "" {
		return fmt.Errorf("no EKS instance type for architecture %q", arch)
	}
	resources := map[string]any{"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
	for i := range n {
		name := fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", 64+i*32, 10+i)
		node := Object{
			"apiVersion": "v1", "kind": "Node",
			"metadata": Object{
				"name":        name,
				"annotations": Object{"kwok.x-k8s.io/node": "fake"},
				"labels": Object{
					"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
					"node.kubernetes.io/instance-type": instanceType,
					"topology.kubernetes.io/region":    region, "topology.kubernetes.io/zone": region + string(rune('a'+i%3)),
					"eks.amazonaws.com/nodegroup": "nodes", "eks.amazonaws.com/capacityType": "ON_DEMAND",
				},
			},
			"status": Object{
				"capacity": resources, "allocatable": resources,
				"nodeInfo": Object{"architecture": arch, "operatingSystem": "linux", "kubeletVersion": "v1.34.4-kwok"},
			},
		}
		if _, err := c.Do(http.MethodPost, "/api/v1/nodes", node); err != nil {
			return fmt.Errorf("registering node %s: %w", name, err)
		}
	}
	return c.Eventually(60*time.Second, "kwok nodes Ready", func() (bool, error) {
		list, err := c.Do(http.MethodGet, "/api/v1/nodes", nil)
		if err != nil {
			return false, err
		}
		items, _ := list["items"].([]any)
		ready := 0
		for _, it := range items {
			if Condition(it.(Object), "Ready") == "True" {
				ready++
			}
		}
		return ready == n, fmt.Errorf("%d of %d nodes Ready", ready, n)
	})
}

// Condition returns the status of an object's condition of that type ("" when absent).
func Condition(obj Object, typ string) string {
	status, _ := obj["status"].(Object)
	conds, _ := status["conditions"].([]any)
	for _, c := range conds {
		m, _ := c.(Object)
		if m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
