package wholeprogram

import (
	"github.com/kong-alb-eks/kong-alb-eks/tests/standins"
)

// checkAutoModeNodes: an EKS Auto Mode stack's pods run on nodes EKS launched (the stand-in of
// its compute) from the pool the stack asks for: its architecture and capacity type, and no
// managed node group.
func (e *env) checkAutoModeNodes() {
	e.t.Helper()
	if groups := e.resources("aws:eks/nodeGroup:NodeGroup"); len(groups) != 0 {
		e.t.Errorf("an Auto Mode stack with node groups: %v", groups)
	}
	cl := e.spec.Config.Cluster
	nodes := e.items("/api/v1/nodes")
	if len(nodes) == 0 {
		e.t.Fatal("no node in the Auto Mode cluster")
	}
	for _, n := range nodes {
		labels := field(n, "metadata", "labels")
		if field(n, "metadata", "labels", standins.AutoModeComputeLabel) != "auto" ||
			field(n, "metadata", "labels", "kubernetes.io/arch") != cl.AutoNodeArchitecture ||
			field(n, "metadata", "labels", "karpenter.sh/capacity-type") != cl.AutoNodeCapacityType {
			e.t.Errorf("node %v is not an Auto Mode node of %s %s: %v", field(n, "metadata", "name"), cl.AutoNodeArchitecture, cl.AutoNodeCapacityType, labels)
		}
	}
	for _, pod := range e.items("/api/v1/pods") {
		if field(pod, "spec", "nodeName") == nil && field(pod, "metadata", "deletionTimestamp") == nil && field(pod, "status", "phase") != "Succeeded" {
			e.t.Errorf("pod %v/%v is not scheduled", field(pod, "metadata", "namespace"), field(pod, "metadata", "name"))
		}
	}
}
