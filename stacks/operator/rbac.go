package operator

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PortalRole is all the executor needs, in the operator namespace only: the environments'
// Stacks (written, read, deleted; the operator writes their status), the ConfigMaps and
// Secrets that hold each operation's configuration (created, owned by their Stack through a
// patch, read back, pruned; and the Secrets the workspaces take their environment from, checked
// to exist), and the Workspaces (read, to tell a stall of theirs from an old one). Nothing cluster-wide, no pods, no RBAC. The README shows it as
// YAML; the tests run the executor under exactly this Role.
func PortalRole(namespace string) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: "kong-alb-eks-portal", Namespace: namespace},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{StackResource.Group}, Resources: []string{StackResource.Resource}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
			{APIGroups: []string{WorkspaceResource.Group}, Resources: []string{WorkspaceResource.Resource}, Verbs: []string{"get"}},
		},
	}
}
