package fakecloud

import (
	"slices"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// EKS's access policies, the ones the program and its stacks associate, as rules like RBAC's:
// only allow rules, of verbs on resources ("resource" or "resource/subresource") of API groups
// ("" is the core group), or of verbs on non-resource URLs. The tables are those of "Review
// access policy permissions" (amazon-eks-user-guide,
// latest/ug/manage-access/k8s-access/access-policy-reference.adoc, #access-policy-permissions),
// one rule per row:
//
//   - AmazonEKSClusterAdminPolicy: every verb on every resource of every group, and every verb
//     on every non-resource URL.
//   - AmazonEKSAdminViewPolicy: get, list, watch on every resource of every group ("Note this
//     includes Kubernetes Secrets").
//   - AmazonEKSViewPolicy: get, list, watch on the workload, networking, policy and core
//     resources listed, which leave out Secrets, the pods' exec, attach, port-forward and proxy
//     subresources, RBAC objects and cluster-scoped objects but namespaces.
//   - AmazonEKSEditPolicy: View's rows, get, list, watch on Secrets and the pods' and services'
//     proxy-like subresources, the write verbs on the listed workload and core resources
//     (Secrets included), and impersonate on ServiceAccounts; no RBAC objects.
//   - AmazonEKSAdminPolicy: Edit's rows, and every verb on Roles and RoleBindings and create on
//     LocalSubjectAccessReviews.
//
// The page gives each table whole; the tables below are built from shared rows because Edit's
// table is View's rows plus its own, and Admin's is Edit's plus two, row for row.
// AmazonEKSClusterAdminPolicy is also what EKS gives a cluster's creator (access.go).

// policyRule allows Verbs on Resources of Groups, or (Paths set) Verbs on non-resource URLs;
// "*" matches anything.
type policyRule struct {
	Groups, Resources, Verbs, Paths []string
}

const (
	read  = "get list watch"
	write = "create delete deletecollection patch update"
)

// rule is a row of the tables: space-separated groups (core written ""), resources and verbs.
func rule(group, resources, verbs string) policyRule {
	return policyRule{Groups: []string{group}, Resources: strings.Fields(resources), Verbs: strings.Fields(verbs)}
}

const policyARNPrefix = "arn:aws:eks::aws:cluster-access-policy/"

// Access policy names.
const (
	ClusterAdminPolicy = "AmazonEKSClusterAdminPolicy"
	AdminPolicy        = "AmazonEKSAdminPolicy"
	EditPolicy         = "AmazonEKSEditPolicy"
	ViewPolicy         = "AmazonEKSViewPolicy"
	AdminViewPolicy    = "AmazonEKSAdminViewPolicy"
)

var (
	// viewRules are AmazonEKSViewPolicy's rows.
	viewRules = []policyRule{
		rule("apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale deployments/status replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale statefulsets/status", read),
		rule("autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status", read),
		rule("batch", "cronjobs cronjobs/status jobs jobs/status", read),
		rule("discovery.k8s.io", "endpointslices", read),
		rule("extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status ingresses ingresses/status networkpolicies replicasets replicasets/scale replicasets/status replicationcontrollers/scale", read),
		rule("networking.k8s.io", "ingresses ingresses/status networkpolicies", read),
		rule("policy", "poddisruptionbudgets poddisruptionbudgets/status", read),
		rule("", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods replicationcontrollers replicationcontrollers/scale serviceaccounts services services/status", read),
		rule("", "bindings events limitranges namespaces/status pods/log pods/status replicationcontrollers/status resourcequotas resourcequotas/status", read),
		rule("", "namespaces", read),
	}
	// editRules are AmazonEKSEditPolicy's rows: View's and these.
	editRules = append(slices.Clone(viewRules),
		rule("apps", "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale statefulsets statefulsets/scale", write),
		rule("autoscaling", "horizontalpodautoscalers", write),
		rule("batch", "cronjobs jobs", write),
		rule("extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses networkpolicies replicasets replicasets/scale replicationcontrollers/scale", write),
		rule("networking.k8s.io", "ingresses networkpolicies", write),
		rule("policy", "poddisruptionbudgets", write),
		rule("", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy", read),
		rule("", "serviceaccounts", "impersonate"),
		rule("", "pods pods/attach pods/exec pods/portforward pods/proxy", write),
		rule("", "configmaps events persistentvolumeclaims replicationcontrollers replicationcontrollers/scale secrets serviceaccounts services services/proxy", write),
	)
	// adminRules are AmazonEKSAdminPolicy's rows: Edit's and these.
	adminRules = append(slices.Clone(editRules),
		rule("authorization.k8s.io", "localsubjectaccessreviews", "create"),
		rule("rbac.authorization.k8s.io", "rolebindings roles", "create delete deletecollection get list patch update watch"),
	)

	// accessPolicies are the rules of each access policy the fake knows, by name.
	accessPolicies = map[string][]policyRule{
		ClusterAdminPolicy: {
			{Groups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
			{Paths: []string{"*"}, Verbs: []string{"*"}},
		},
		AdminViewPolicy: {{Groups: []string{"*"}, Resources: []string{"*"}, Verbs: strings.Fields(read)}},
		ViewPolicy:      viewRules,
		EditPolicy:      editRules,
		AdminPolicy:     adminRules,
	}
)

// policyName is the name of the access policy an ARN names, or false.
func policyName(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, policyARNPrefix)
	return name, ok && name != ""
}

// allows: one of the rules allows the request.
func allows(rules []policyRule, a localcluster.RequestAttributes) bool {
	for _, r := range rules {
		if r.allows(a) {
			return true
		}
	}
	return false
}

func (r policyRule) allows(a localcluster.RequestAttributes) bool {
	if !matches(r.Verbs, a.Verb) {
		return false
	}
	if !a.IsResourceRequest() {
		return len(r.Paths) > 0 && matches(r.Paths, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	return len(r.Paths) == 0 && matches(r.Groups, a.Group) && matches(r.Resources, res)
}

func matches(allowed []string, v string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, v)
}
