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

// Do sends one request to the API server as the administrator (its client certificate) and
// decodes the answer; a PATCH is a JSON merge patch. A status above 299 is an *APIError: 404
// satisfies IsNotFound, and StatusCode gives any status.
func (c *Cluster) Do(method, path string, body any) (Object, error) {
	return decode(c.send(c.client, "", method, path, body))
}

// DoAs is Do with the bearer token as the only credential, as a client holding an `aws eks
// get-token` token calls EKS: the token file, a ServiceAccount's token, or else Options.Access
// authenticates it. An unknown token answers 401, a request no authorizer allows 403.
func (c *Cluster) DoAs(token, method, path string, body any) (Object, error) {
	return decode(c.send(c.tokenClient, token, method, path, body))
}

// APIError is an answer of the API server with a status above 299.
type APIError struct {
	Method, Path string
	Code         int    // the HTTP status code
	Status       string // the HTTP status line's text, as "403 Forbidden"
	Body         string // the API server's answer, a Status object as JSON
}

func (e *APIError) Error() string {
	if e.Code == http.StatusNotFound {
		return fmt.Sprintf("%s %s: %v", e.Method, e.Path, errNotFound)
	}
	return fmt.Sprintf("%s %s: %s: %s", e.Method, e.Path, e.Status, e.Body)
}

// Unwrap makes a 404 errors.Is errNotFound.
func (e *APIError) Unwrap() error {
	if e.Code == http.StatusNotFound {
		return errNotFound
	}
	return nil
}

// StatusCode is the HTTP status of the API server's answer that err reports (401, 403, ...),
// or 0 when err is nil or not such an answer (the request never got one).
func StatusCode(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// answer is what the API server sent back: the request and its raw body.
type answer struct {
	method, path string
	raw          []byte
}

// send makes one request through client, with token as its bearer token unless empty; an
// answer above 299 is an *APIError.
func (c *Cluster) send(client *http.Client, token, method, path string, body any) (answer, error) {
	a := answer{method: method, path: path}
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return a, err
		}
		in = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, in)
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, err
	}
	defer func() { _ = resp.Body.Close() }()
	if a.raw, err = io.ReadAll(resp.Body); err != nil {
		return a, err
	}
	if resp.StatusCode > 299 {
		return a, &APIError{Method: method, Path: path, Code: resp.StatusCode, Status: resp.Status, Body: string(a.raw)}
	}
	return a, nil
}

func decode(a answer, err error) (Object, error) {
	if err != nil {
		return nil, err
	}
	var out Object
	if len(a.raw) > 0 {
		if err := json.Unmarshal(a.raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", a.method, a.path, err)
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

// NodeGroupLabel is the label EKS puts on a managed node group's nodes, naming the group.
const NodeGroupLabel = "eks.amazonaws.com/nodegroup"

// InitialNodeGroup is the NodeGroupLabel of the nodes Start registers: the node group the
// cluster is made with, whose name is not known yet.
const InitialNodeGroup = "nodes"

// EKSNode is a kwok node labelled as EKS labels a managed node group's nodes: the i-th of
// group, of the instance type, in the region's zones in turn.
func EKSNode(name, group, instanceType, arch, region string, i int) Object {
	resources := map[string]any{"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
	return Object{
		"apiVersion": "v1", "kind": "Node",
		"metadata": Object{
			"name":        name,
			"annotations": Object{"kwok.x-k8s.io/node": "fake"},
			"labels": Object{
				"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
				"node.kubernetes.io/instance-type": instanceType,
				"topology.kubernetes.io/region":    region, "topology.kubernetes.io/zone": region + string(rune('a'+i%3)),
				NodeGroupLabel: group, "eks.amazonaws.com/capacityType": "ON_DEMAND",
			},
		},
		"status": Object{
			"capacity": resources, "allocatable": resources,
			"nodeInfo": Object{"architecture": arch, "operatingSystem": "linux", "kubeletVersion": "v1.34.4-kwok"},
		},
	}
}

// addNodes registers the initial node group's kwok nodes.
func (c *Cluster) addNodes(opts Options) error {
	if opts.NoNodes {
		return nil
	}
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
	for i := range n {
		name := fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", 64+i*32, 10+i)
		if _, err := c.Do(http.MethodPost, "/api/v1/nodes", EKSNode(name, InitialNodeGroup, instanceType, arch, region, i)); err != nil {
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
