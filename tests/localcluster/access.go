package localcluster

import (
	"fmt"
	"net/http"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

// WaitAllowed waits until the API server's authorizer lets user do every verb of rules on their
// resources in namespace. The RBAC authorizer reads Roles and bindings from an informer cache,
// so a binding takes effect some time after it is written, longer on a loaded machine; a
// SubjectAccessReview asks that same authorizer, so once each answers allowed, requests made
// with the user's credentials are allowed too.
func (c *Cluster) WaitAllowed(timeout time.Duration, user, namespace string, rules []rbacv1.PolicyRule) error {
	for _, rule := range rules {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				for _, verb := range rule.Verbs {
					what := fmt.Sprintf("%s allowed to %s %s.%s in %s", user, verb, resource, group, namespace)
					review := Object{
						"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
						"spec": Object{"user": user, "resourceAttributes": Object{
							"namespace": namespace, "verb": verb, "group": group, "resource": resource,
						}},
					}
					if err := c.Eventually(timeout, what, func() (bool, error) {
						answer, err := c.Do(http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
						if err != nil {
							return false, err
						}
						status, _ := answer["status"].(Object)
						allowed, _ := status["allowed"].(bool)
						return allowed, fmt.Errorf("not yet: %v", status)
					}); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
