package standins

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// DrainPatience is how long the stand-in keeps retrying the eviction of a pod that a
// PodDisruptionBudget protects before it gives up and deletes the pod. Deleting a managed node
// group, EKS takes one node at a time, "sends a signal to drain the pods from the node. If pods
// don't drain from a node for 15 minutes, then the pods are deleted. This can happen, for
// example, when a pod disruption budget is too restrictive. After the node is drained, it is
// terminated. This step is repeated until all of the nodes ... are terminated" (EKS user guide,
// delete-managed-node-group). A minute here: anything that long is a test failure anyway,
// which Forced reports.
const DrainPatience = time.Minute

// nodeGroups stands in for the instances of EKS's managed node groups (their Auto Scaling
// groups and the kubelets that join the cluster), from the fake cloud's node groups:
//   - the nodes the local cluster starts with are the first node group's: they take its name
//     and instance type;
//   - every node group has scalingConfig.desiredSize nodes of its instance type, registered
//     as kwok nodes (which kwok makes Ready): EKS reports a node group ACTIVE only once its
//     nodes have joined, so a new group's nodes are there before anything after it runs;
//   - the nodes of a node group that is gone are drained as EKS drains them, one node at a
//     time and only once every live group has its nodes: cordoned, each pod not of a DaemonSet
//     evicted through the Eviction API (which a PodDisruptionBudget may refuse: 429, retried),
//     and, once empty, deleted. A pod still refused after DrainPatience is deleted (and Forced
//     says so).
func (s *Standins) nodeGroups() error {
	groups, err := s.world.Resources()
	if err != nil {
		return err
	}
	live := map[string]Object{} // by nodeGroupName
	for _, g := range groups {
		if g.Type == "aws:eks/nodeGroup:NodeGroup" {
			live[fmt.Sprint(g.Outputs["nodeGroupName"])] = g.Outputs
		}
	}
	nodes, err := s.list("/api/v1/nodes")
	if err != nil {
		return err
	}
	byGroup := map[string][]Object{}
	for _, n := range nodes {
		group := str(meta(n), "labels", localcluster.NodeGroupLabel)
		if group == "" { // EKS Auto Mode's (auto_mode.go)
			continue
		}
		byGroup[group] = append(byGroup[group], n)
	}
	if initial := byGroup[localcluster.InitialNodeGroup]; len(initial) > 0 && len(live) == 1 {
		for name, g := range live {
			types, _ := g["instanceTypes"].([]any)
			labels := Object{localcluster.NodeGroupLabel: name}
			if len(types) > 0 {
				labels["node.kubernetes.io/instance-type"] = types[0]
			}
			for _, n := range initial {
				if _, err := s.cluster.Do(http.MethodPatch, "/api/v1/nodes/"+nameOf(n), Object{"metadata": Object{"labels": labels}}); err != nil {
					return err
				}
			}
			byGroup[name], byGroup[localcluster.InitialNodeGroup] = append(byGroup[name], initial...), nil
			s.logf("node group %s: the cluster's first %d nodes are its", name, len(initial))
		}
	}
	allJoined := true
	for name, g := range live {
		joined, err := s.scaleOut(name, g, byGroup[name], len(nodes))
		if err != nil {
			return err
		}
		allJoined = allJoined && joined
	}
	if !allJoined {
		return nil
	}
	var gone []string
	for name := range byGroup {
		if _, ok := live[name]; !ok && name != localcluster.InitialNodeGroup && len(byGroup[name]) > 0 {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	// One node at a time: the first still there of the first group gone.
	sort.Strings(gone)
	draining := byGroup[gone[0]]
	sort.Slice(draining, func(i, j int) bool { return nameOf(draining[i]) < nameOf(draining[j]) })
	if err := s.drain(draining[0]); err != nil {
		return fmt.Errorf("draining %s of node group %s: %w", nameOf(draining[0]), gone[0], err)
	}
	return nil
}

// scaleOut registers the node group's missing nodes and reports whether all are Ready.
func (s *Standins) scaleOut(name string, g Object, have []Object, existing int) (bool, error) {
	scaling, _ := g["scalingConfig"].(Object)
	desired, _ := scaling["desiredSize"].(float64)
	types, _ := g["instanceTypes"].([]any)
	if len(types) == 0 {
		return false, fmt.Errorf("node group %s has no instance type", name)
	}
	arch := "amd64"
	if strings.Contains(fmt.Sprint(g["amiType"]), "ARM") {
		arch = "arm64"
	}
	ready := 0
	for _, n := range have {
		if localcluster.Condition(n, "Ready") == "True" {
			ready++
		}
	}
	for i := len(have); i < int(desired); i++ {
		n := existing + i
		node := fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", 64+(n%3)*32, 10+n)
		if _, err := s.cluster.Do(http.MethodPost, "/api/v1/nodes", localcluster.EKSNode(node, name, fmt.Sprint(types[0]), arch, s.region, n)); err != nil && !isAlreadyExists(err) {
			return false, err
		}
		s.logf("node group %s: node %s (%s) joined", name, node, types[0])
	}
	return len(have) >= int(desired) && ready == len(have), nil
}

// drain cordons the node, evicts what runs on it, and deletes it once nothing is left.
func (s *Standins) drain(node Object) error {
	name := nameOf(node)
	s.mu.Lock()
	if s.draining == nil {
		s.draining = map[string]time.Time{}
	}
	since, started := s.draining[name]
	if !started {
		since = time.Now()
		s.draining[name] = since
	}
	s.mu.Unlock()
	if !started {
		if _, err := s.cluster.Do(http.MethodPatch, "/api/v1/nodes/"+name, Object{"spec": Object{"unschedulable": true}}); err != nil {
			return err
		}
		s.logf("node %s: cordoned and draining", name)
	}
	pods, err := s.list("/api/v1/pods?fieldSelector=" + url.QueryEscape("spec.nodeName="+name))
	if err != nil {
		return err
	}
	left := 0
	for _, pod := range pods {
		if meta(pod)["deletionTimestamp"] != nil || ownedBy(pod, "DaemonSet") {
			continue
		}
		left++
		ns, podName := str(meta(pod), "namespace"), str(meta(pod), "name")
		path := "/api/v1/namespaces/" + ns + "/pods/" + podName
		_, err := s.cluster.Do(http.MethodPost, path+"/eviction", Object{
			"apiVersion": "policy/v1", "kind": "Eviction", "metadata": Object{"name": podName, "namespace": ns},
		})
		switch {
		case err == nil:
			s.logf("node %s: pod %s/%s evicted", name, ns, podName)
		case localcluster.StatusCode(err) == http.StatusTooManyRequests && time.Since(since) < DrainPatience:
			// A PodDisruptionBudget holds it: retried next round.
		case localcluster.StatusCode(err) == http.StatusTooManyRequests:
			if _, err := s.cluster.Do(http.MethodDelete, path, nil); err != nil && !isNotFound(err) {
				return err
			}
			s.mu.Lock()
			s.forced = append(s.forced, ns+"/"+podName)
			s.mu.Unlock()
			s.logf("node %s: pod %s/%s still protected after %v, deleted", name, ns, podName, DrainPatience)
		case !isNotFound(err):
			return err
		}
	}
	if left > 0 {
		return nil
	}
	if _, err := s.cluster.Do(http.MethodDelete, "/api/v1/nodes/"+name, nil); err != nil && !isNotFound(err) {
		return err
	}
	s.logf("node %s: drained and terminated", name)
	return nil
}

// Forced are the pods a drain deleted after their PodDisruptionBudget held them for
// DrainPatience.
func (s *Standins) Forced() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.forced...)
}

func ownedBy(o Object, kind string) bool {
	refs, _ := meta(o)["ownerReferences"].([]any)
	for _, r := range refs {
		if ref, _ := r.(Object); ref["kind"] == kind {
			return true
		}
	}
	return false
}
