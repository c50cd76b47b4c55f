// Package standins runs, inside a test, the smallest things that behave like the controllers
// whose pods cannot run on the local control plane (kwok starts no container): the AWS Load
// Balancer Controller, cert-manager (its webhook and CA injection, its issuers), the EBS CSI
// driver, and the admission webhooks of the charts. Each acts only while the Deployment it
// stands in for is Ready, as the real pod would, and encodes the upstream behaviour the
// program depends on (the source is cited where it is encoded).
package standins

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// Object is a Kubernetes object as JSON decodes it.
type Object = localcluster.Object

// Standins are the stand-ins of one cluster.
type Standins struct {
	cluster *localcluster.Cluster
	world   *fakecloud.World
	region  string
	engine  Engine

	cancel context.CancelFunc
	wg     sync.WaitGroup

	fatal     chan string
	fatalOnce sync.Once

	mu     sync.Mutex
	errors []string
	events []string
	hooks  *webhooks
	// wafs are the web ACLs associated with the ALBs, by Ingress (namespace/name).
	wafs map[string]string
	// released is when the EBS CSI driver first saw each released volume (by volume ID).
	released map[string]time.Time
	// draining is when each node's drain started; forced, the pods a drain deleted.
	draining map[string]time.Time
	forced   []string
	// secretHashes are the data hashes of the Secrets Reloader watches, as it last saw them.
	secretHashes map[string]string
}

// Holds are the pods the stand-ins turn Ready themselves (localcluster.Options.Holds): the
// Kong data planes and the load balancer controller.
var Holds = []localcluster.Hold{KongDataPlaneHold, LoadBalancerControllerHold}

// Engine is what the stand-ins see of the Pulumi operation under way.
type Engine interface {
	// Stalled reports whether no step has started or finished for at least d: whatever is in
	// flight waits on something.
	Stalled(d time.Duration) bool
	// InFlight are the URNs of the resources (not components) whose steps have started and not
	// finished.
	InFlight() []string
}

// quiet is how long the engine must have waited on nothing but what a stand-in holds before
// the stand-in acts on it: the engine starts a step within milliseconds of its inputs being
// ready, so two seconds without a step means nothing else is coming.
const quiet = 2 * time.Second

// Start runs every stand-in until Stop; engine is the operations' progress (the cluster
// must hold the pods in Holds).
func Start(c *localcluster.Cluster, w *fakecloud.World, region string, engine Engine) *Standins {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Standins{cluster: c, world: w, region: region, engine: engine, cancel: cancel, fatal: make(chan string, 1)}
	s.hooks = newWebhooks(s)
	for name, step := range map[string]func() error{
		"webhooks":                           s.hooks.reconcile,
		"aws-load-balancer-controller":       s.loadBalancerController,
		"aws-load-balancer-controller-start": s.loadBalancerControllerStart,
		"cert-manager":                       s.certManager,
		"ebs-csi-driver":                     s.ebsCSIDriver,
		"node-groups":                        s.nodeGroups,
		"auto-mode-nodes":                    s.autoModeNodes,
		"kong":                               s.kongReadiness,
		"reloader":                           s.reloader,
		"endpoints":                          s.endpoints,
	} {
		s.loop(ctx, name, step)
	}
	return s
}

// Stop ends every stand-in and returns what went wrong in them.
func (s *Standins) Stop() []string {
	s.cancel()
	s.wg.Wait()
	s.hooks.closeAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

// Fatal delivers the first state the stand-ins know can never resolve (a deleted Ingress whose
// controller is gone, a data plane with nothing to load): the test ends the operation at once with that message rather than
// waiting for its timeout.
func (s *Standins) Fatal() <-chan string { return s.fatal }

func (s *Standins) fail(msg string) {
	s.fatalOnce.Do(func() {
		s.logf("FATAL %s", msg)
		s.fatal <- msg
	})
}

// Events are what the stand-ins did, in order (for a failing test's log).
func (s *Standins) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func (s *Standins) loop(ctx context.Context, name string, step func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		last := ""
		for {
			// The API server answers 429 while a new CRD's storage initializes: a retry, not a fault.
			if err := step(); err != nil && err.Error() != last && !strings.Contains(err.Error(), "429 Too Many Requests") {
				last = err.Error()
				s.mu.Lock()
				s.errors = append(s.errors, name+": "+last)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

func (s *Standins) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, time.Now().UTC().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

// list returns the items of a collection; a resource whose CRD is not installed yet is empty.
func (s *Standins) list(path string) ([]Object, error) {
	out, err := s.cluster.Do(http.MethodGet, path, nil)
	if localcluster.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	items, _ := out["items"].([]any)
	objs := make([]Object, 0, len(items))
	for _, it := range items {
		if o, ok := it.(Object); ok {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// deploymentReady reports whether a Deployment labelled app.kubernetes.io/name=app has every
// replica available: the moment its pods would start serving.
func (s *Standins) deploymentReady(app string) (bool, error) {
	ds, err := s.list("/apis/apps/v1/deployments?labelSelector=app.kubernetes.io/name%3D" + app)
	if err != nil || len(ds) == 0 {
		return false, err
	}
	for _, d := range ds {
		status, _ := d["status"].(Object)
		spec, _ := d["spec"].(Object)
		want, _ := spec["replicas"].(float64)
		if avail, _ := status["availableReplicas"].(float64); avail < want || want == 0 {
			return false, nil
		}
	}
	return true, nil
}

// release turns a held pod Ready (localcluster.HeldAnnotation), logging what with the pod's name.
func (s *Standins) release(pod Object, what string) error {
	if meta(pod)["deletionTimestamp"] != nil || str(meta(pod), "annotations", localcluster.HeldAnnotation) != "" {
		return nil
	}
	if _, err := s.cluster.Do(http.MethodPatch, objectPath("/api/v1", "pods", pod), Object{"metadata": Object{"annotations": Object{localcluster.HeldAnnotation: "true"}}}); err != nil {
		return err
	}
	s.logf(what, nameOf(pod))
	return nil
}

// readyPods counts the Ready, not terminating pods a Service's selector matches: the
// addresses the endpoints controller would publish.
func (s *Standins) readyPods(svc Object) (int, error) {
	pods, err := s.servingPods(svc)
	return len(pods), err
}

// servingPods are the Ready, not terminating pods a Service's selector matches.
func (s *Standins) servingPods(svc Object) ([]Object, error) {
	sel, _ := svc["spec"].(Object)["selector"].(Object)
	if len(sel) == 0 {
		return nil, nil
	}
	var terms []string
	for k, v := range sel {
		terms = append(terms, k+"="+fmt.Sprint(v))
	}
	pods, err := s.list("/api/v1/namespaces/" + fmt.Sprint(meta(svc)["namespace"]) + "/pods?labelSelector=" + url.QueryEscape(strings.Join(terms, ",")))
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, p := range pods {
		if meta(p)["deletionTimestamp"] == nil && condition(p, "Ready") == "True" {
			out = append(out, p)
		}
	}
	return out, nil
}

func meta(o Object) Object { m, _ := o["metadata"].(Object); return m }

func str(o Object, path ...string) string {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(Object)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func objectPath(apiPrefix, resource string, o Object) string {
	m := meta(o)
	ns, _ := m["namespace"].(string)
	name, _ := m["name"].(string)
	if ns == "" {
		return fmt.Sprintf("%s/%s/%s", apiPrefix, resource, name)
	}
	return fmt.Sprintf("%s/namespaces/%s/%s/%s", apiPrefix, ns, resource, name)
}

func finalizers(o Object) []string {
	var out []string
	fs, _ := meta(o)["finalizers"].([]any)
	for _, f := range fs {
		if s, ok := f.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func hasString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func without(list []string, s string) []string {
	out := []string{}
	for _, e := range list {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

func nameOf(o Object) string {
	m := meta(o)
	ns, _ := m["namespace"].(string)
	name, _ := m["name"].(string)
	return strings.TrimPrefix(ns+"/"+name, "/")
}

func isNotFound(err error) bool { return localcluster.IsNotFound(err) }

func isAlreadyExists(err error) bool {
	return err != nil && strings.Contains(err.Error(), "AlreadyExists")
}
