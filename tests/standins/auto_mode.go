package standins

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// autoModeState is what the world's EKS cluster has of EKS Auto Mode: its compute (and built-in
// node pools), block storage and load balancing.
type autoModeState struct {
	cluster                              string
	compute, blockStorage, loadBalancing bool
	nodePools                            []string
}

// autoMode reads the world's one EKS cluster.
func (s *Standins) autoMode() (autoModeState, error) {
	all, err := s.world.Resources()
	if err != nil {
		return autoModeState{}, err
	}
	for _, r := range all {
		if r.Type != "aws:eks/cluster:Cluster" {
			continue
		}
		o := Object(r.Outputs)
		st := autoModeState{
			cluster:       r.ID,
			compute:       field(o, "computeConfig", "enabled") == true,
			blockStorage:  field(o, "storageConfig", "blockStorage", "enabled") == true,
			loadBalancing: field(o, "kubernetesNetworkConfig", "elasticLoadBalancing", "enabled") == true,
		}
		pools, _ := field(o, "computeConfig", "nodePools").([]any)
		for _, p := range pools {
			st.nodePools = append(st.nodePools, fmt.Sprint(p))
		}
		return st, nil
	}
	return autoModeState{}, nil
}

// field is the value at path in o, or nil.
func field(o Object, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(Object)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// AutoModeComputeLabel marks the nodes EKS Auto Mode launched (eks.amazonaws.com/compute-type
// auto, as Auto Mode labels its nodes).
const AutoModeComputeLabel = "eks.amazonaws.com/compute-type"

// maxAutoNodes bounds the nodes the stand-in launches.
const maxAutoNodes = 4

// autoModeNodes stands in for EKS Auto Mode's compute (Karpenter, run by EKS): while the
// world's cluster has compute enabled and a pod is unschedulable (the scheduler's PodScheduled
// False, Unschedulable), it registers a kwok node from a node pool that can take it: the
// built-in general-purpose pool (amd64, on-demand; EKS User Guide, "Enable or disable built-in
// NodePools") when the cluster has it, else a NodePool (karpenter.sh/v1) of the cluster's,
// labelled with its architecture and capacity type. The system pool, tainted
// CriticalAddonsOnly, takes none of the program's pods. One node a pass; on EKS a node comes in
// about a minute. When the cluster is gone, or its compute off, EKS terminates Auto Mode's
// instances: the stand-in deletes their nodes.
func (s *Standins) autoModeNodes() error {
	st, err := s.autoMode()
	if err != nil {
		return err
	}
	nodes, err := s.list("/api/v1/nodes?labelSelector=" + AutoModeComputeLabel + "%3Dauto")
	if err != nil {
		return err
	}
	if !st.compute {
		for _, n := range nodes {
			if _, err := s.cluster.Do(http.MethodDelete, "/api/v1/nodes/"+fmt.Sprint(meta(n)["name"]), nil); err != nil && !isNotFound(err) {
				return err
			}
			s.logf("auto mode: node %s terminated (the cluster's compute is gone)", nameOf(n))
		}
		return nil
	}
	pods, err := s.list("/api/v1/pods?fieldSelector=spec.nodeName%3D")
	if err != nil {
		return err
	}
	pending := 0
	for _, p := range pods {
		if meta(p)["deletionTimestamp"] == nil && podUnschedulable(p) {
			pending++
		}
	}
	if pending == 0 || len(nodes) >= maxAutoNodes {
		return nil
	}
	pool, arch, capacity, err := s.autoModePool(st)
	if err != nil || pool == "" {
		return err
	}
	i := len(nodes)
	name := fmt.Sprintf("i-%017x.%s.compute.internal", 0xa0+i, s.region)
	instanceType := map[string]string{"amd64": "m6i.large", "arm64": "m7g.large"}[arch]
	node := localcluster.EKSNode(name, "", instanceType, arch, s.region, i)
	labels := meta(node)["labels"].(Object)
	delete(labels, localcluster.NodeGroupLabel)
	delete(labels, "eks.amazonaws.com/capacityType")
	labels[AutoModeComputeLabel] = "auto"
	labels["karpenter.sh/nodepool"] = pool
	labels["karpenter.sh/capacity-type"] = capacity
	if _, err := s.cluster.Do(http.MethodPost, "/api/v1/nodes", node); err != nil && !isAlreadyExists(err) {
		return err
	}
	s.logf("auto mode: node %s (%s, %s) launched from node pool %s for %d pending pods", name, arch, capacity, pool, pending)
	return nil
}

// autoModePool is the pool a new node comes from, with its architecture and capacity type.
func (s *Standins) autoModePool(st autoModeState) (pool, arch, capacity string, err error) {
	for _, p := range st.nodePools {
		if p == "general-purpose" {
			return p, "amd64", "on-demand", nil
		}
	}
	pools, err := s.list("/apis/karpenter.sh/v1/nodepools")
	if err != nil || len(pools) == 0 {
		return "", "", "", err
	}
	arch, capacity = "amd64", "on-demand"
	reqs, _ := field(pools[0], "spec", "template", "spec", "requirements").([]any)
	for _, r := range reqs {
		req, _ := r.(Object)
		values, _ := req["values"].([]any)
		if len(values) == 0 || req["operator"] != "In" {
			continue
		}
		switch req["key"] {
		case "kubernetes.io/arch":
			arch = fmt.Sprint(values[0])
		case "karpenter.sh/capacity-type":
			capacity = fmt.Sprint(values[0])
		}
	}
	return nameOf(pools[0]), arch, capacity, nil
}

func podUnschedulable(p Object) bool {
	conds, _ := field(p, "status", "conditions").([]any)
	for _, c := range conds {
		cond, _ := c.(Object)
		if cond["type"] == "PodScheduled" && cond["status"] == "False" && strings.EqualFold(fmt.Sprint(cond["reason"]), "Unschedulable") {
			return true
		}
	}
	return false
}

// InstallAutoModeCRDs installs the CRDs EKS puts in every Auto Mode cluster that the program
// uses: IngressClassParams and NodeClass (eks.amazonaws.com/v1) and NodePool (karpenter.sh/v1),
// with open schemas (the stand-ins check what they read).
func InstallAutoModeCRDs(c *localcluster.Cluster) error {
	for _, crd := range []struct{ group, plural, kind string }{
		{"eks.amazonaws.com", "ingressclassparams", "IngressClassParams"},
		{"eks.amazonaws.com", "nodeclasses", "NodeClass"},
		{"karpenter.sh", "nodepools", "NodePool"},
	} {
		body := Object{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": Object{"name": crd.plural + "." + crd.group},
			"spec": Object{
				"group": crd.group, "scope": "Cluster",
				"names": Object{"plural": crd.plural, "kind": crd.kind, "singular": strings.ToLower(crd.kind), "listKind": crd.kind + "List"},
				"versions": []any{Object{"name": "v1", "served": true, "storage": true,
					"schema": Object{"openAPIV3Schema": Object{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
			},
		}
		if _, err := c.Do(http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("the Auto Mode CRD %s.%s: %w", crd.plural, crd.group, err)
		}
	}
	return c.Eventually(30*time.Second, "the Auto Mode CRDs established", func() (bool, error) {
		_, err := c.Do(http.MethodGet, "/apis/karpenter.sh/v1/nodepools", nil)
		if err == nil {
			_, err = c.Do(http.MethodGet, "/apis/eks.amazonaws.com/v1/ingressclassparams", nil)
		}
		return err == nil, err
	})
}
