package wholeprogram

import (
	"github.com/kong-alb-eks/kong-alb-eks/components"
)

// irsaConfig: the stack starts as a release before EKS Pod Identity left it, on IRSA.
func irsaConfig(override map[string]string) map[string]string {
	if override == nil {
		override = map[string]string{}
	}
	override["kong-alb-eks:workloadIdentity"] = components.IRSA
	return override
}

// moveToPodIdentity moves a running stack from IRSA to EKS Pod Identity in one up. The
// preview: the three roles' trust policies update in place (the roles, their ARNs and
// attachments stay), the agent add-on and the controller's association are created, the two
// add-ons take their roles through their own associations, the controller's release rolls
// its pods (new pods are what EKS gives the new credentials to), and the OIDC provider goes.
// The fake cloud refuses an association whose role does not trust Pod Identity yet, and a
// VPC CNI moved onto Pod Identity on running nodes before the agent; the stand-in of the
// controller fails the test if a controller pod it would start has no working credentials.
// After the up, every controller pod gets its role through Pod Identity.
func (e *env) moveToPodIdentity() {
	e.t.Helper()
	spec := e.spec
	spec.Config.Cluster.WorkloadIdentity = components.PodIdentity
	cluster := spec.Config.ClusterName(e.name)
	want := map[string]step{
		"aws:iam/role:Role " + cluster + "-vpc-cni":                                          "update",
		"aws:iam/role:Role ebs-csi-driver":                                                   "update",
		"aws:iam/role:Role aws-load-balancer-controller":                                     "update",
		"aws:eks/addon:Addon " + cluster + "-pod-identity-agent":                             "create",
		"aws:eks/addon:Addon " + cluster + "-vpc-cni":                                        "update",
		"aws:eks/addon:Addon ebs-csi-driver":                                                 "update",
		"aws:eks/podIdentityAssociation:PodIdentityAssociation aws-load-balancer-controller": "create",
		"kubernetes:helm.sh/v3:Release aws-load-balancer-controller":                         "update",
		"aws:iam/openIdConnectProvider:OpenIdConnectProvider " + cluster:                     "delete",
	}
	e.apply("IRSA → EKS Pod Identity", spec, want)

	pods := e.items("/api/v1/namespaces/kube-system/pods?labelSelector=app.kubernetes.io/name%3Daws-load-balancer-controller")
	if len(pods) == 0 {
		e.t.Fatal("no load balancer controller pod after the move")
	}
	for _, pod := range pods {
		if field(pod, "metadata", "deletionTimestamp") != nil {
			continue
		}
		role, via, err := e.hosts.PodCredentials(pod)
		if err != nil || via != components.PodIdentity {
			e.t.Errorf("controller pod %v after the move: role %q through %q, %v; want its role through Pod Identity",
				field(pod, "metadata", "name"), role, via, err)
		}
	}
	e.checkDeclaredObjects()
}
