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

// switchIdentity moves a running stack between IRSA and EKS Pod Identity in one up. To Pod
// Identity the preview is: the three roles' trust policies update in place (the roles, their
// ARNs and attachments stay), the agent add-on and the controller's association are created,
// the two add-ons take their roles through their own associations, the controller's release
// rolls its pods (new pods are what EKS gives the new credentials to), and the OIDC provider
// goes; back to IRSA, the same in reverse. The fake cloud refuses an association whose role
// does not trust Pod Identity yet, and a VPC CNI moved onto Pod Identity on running nodes
// before the agent; the stand-in of the controller fails the test if a controller pod it
// would start has no working credentials. After the up, every controller pod gets its role
// the new way.
func (e *env) switchIdentity(to string) {
	e.t.Helper()
	spec := e.spec
	from := spec.Config.Cluster.WorkloadIdentity
	spec.Config.Cluster.WorkloadIdentity = to
	cluster := spec.Config.ClusterName(e.name)
	// What Pod Identity has and IRSA has not, and the other way round.
	podIdentityOnly := []string{
		"aws:eks/addon:Addon " + cluster + "-pod-identity-agent",
		"aws:eks/podIdentityAssociation:PodIdentityAssociation aws-load-balancer-controller",
	}
	irsaOnly := []string{"aws:iam/openIdConnectProvider:OpenIdConnectProvider " + cluster}
	want := map[string]step{
		"aws:iam/role:Role " + cluster + "-vpc-cni":                  "update",
		"aws:iam/role:Role ebs-csi-driver":                           "update",
		"aws:iam/role:Role aws-load-balancer-controller":             "update",
		"aws:eks/addon:Addon " + cluster + "-vpc-cni":                "update",
		"aws:eks/addon:Addon ebs-csi-driver":                         "update",
		"kubernetes:helm.sh/v3:Release aws-load-balancer-controller": "update",
	}
	created, deleted := podIdentityOnly, irsaOnly
	if to == components.IRSA {
		created, deleted = irsaOnly, podIdentityOnly
	}
	for _, k := range created {
		want[k] = "create"
	}
	for _, k := range deleted {
		want[k] = "delete"
	}
	e.apply(from+" → "+to, spec, want)

	pods := e.items("/api/v1/namespaces/kube-system/pods?labelSelector=app.kubernetes.io/name%3Daws-load-balancer-controller")
	if len(pods) == 0 {
		e.t.Fatalf("no load balancer controller pod after the move to %s", to)
	}
	for _, pod := range pods {
		if field(pod, "metadata", "deletionTimestamp") != nil {
			continue
		}
		role, via, err := e.hosts.PodCredentials(pod)
		if err != nil || via != to {
			e.t.Errorf("controller pod %v after the move to %s: role %q through %q, %v; want its role through %s",
				field(pod, "metadata", "name"), to, role, via, err, to)
		}
	}
	e.checkDeclaredObjects()
}
