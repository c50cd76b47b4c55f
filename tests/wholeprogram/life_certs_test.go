package wholeprogram

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// renewClusterCertificates renews both planes' cluster certificates as cert-manager does when
// their renewal time comes (the Issuing condition, which `cmctl renew` sets too): each Secret
// gets a new certificate, Reloader restarts both Deployments, and in the end every Kong pod is
// one started after the renewal (Kong reads the certificate only at start), while a data plane
// pod stayed Ready throughout. Nothing of it is a change to the stack: a preview after it plans
// nothing.
func (e *env) renewClusterCertificates() {
	e.t.Helper()
	kong := e.spec.Config.Kong
	releases := []string{kong.ControlPlaneRelease, kong.DataPlaneRelease}
	before := map[string]bool{} // the Kong pods' UIDs
	certs := map[string]any{}   // tls.crt of each release's Secret
	for _, rel := range releases {
		for _, pod := range e.kongPods(rel) {
			before[fmt.Sprint(field(pod, "metadata", "uid"))] = true
		}
		certs[rel] = field(e.get(e.clusterCertSecret(rel)), "data", "tls.crt")
	}
	watch := e.watchKong()
	for _, rel := range releases {
		path := fmt.Sprintf("/apis/cert-manager.io/v1/namespaces/%s/certificates/%s-kong-cluster", kong.Namespace, rel)
		conditions, _ := field(e.get(path), "status", "conditions").([]any)
		conditions = append(conditions, object{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
			"message": "Certificate re-issuance manually triggered", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)})
		if _, err := e.cluster.Do(http.MethodPatch, path+"/status", object{"status": object{"conditions": conditions}}); err != nil {
			e.t.Fatalf("renewing %s's cluster certificate: %v", rel, err)
		}
	}
	err := e.cluster.Eventually(4*time.Minute, "both planes restarted on their renewed certificates", func() (bool, error) {
		for _, rel := range releases {
			if field(e.get(e.clusterCertSecret(rel)), "data", "tls.crt") == certs[rel] {
				return false, fmt.Errorf("%s's cluster certificate is not renewed", rel)
			}
			pods := e.kongPods(rel)
			if len(pods) == 0 {
				return false, fmt.Errorf("%s has no Kong pod", rel)
			}
			for _, pod := range pods {
				if before[fmt.Sprint(field(pod, "metadata", "uid"))] {
					return false, fmt.Errorf("%s's pod %v runs since before the renewal, with the old certificate", rel, field(pod, "metadata", "name"))
				}
				if localcluster.Condition(pod, "Ready") != "True" {
					return false, fmt.Errorf("%s's pod %v is not Ready", rel, field(pod, "metadata", "name"))
				}
			}
		}
		return true, nil
	})
	if err != nil {
		e.t.Error(err)
	}
	watch("while the planes restarted on their renewed certificates")
	e.checkPreviewIsClean()
}

// kongPods are a release's Kong pods (not its migration Jobs' nor PostgreSQL's), but those
// terminating.
func (e *env) kongPods(release string) []object {
	selector := ""
	for k, v := range components.KongPodLabels(release) {
		if selector != "" {
			selector += ","
		}
		selector += k + "%3D" + v
	}
	var out []object
	for _, pod := range e.items(fmt.Sprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", e.spec.Config.Kong.Namespace, selector)) {
		if field(pod, "metadata", "deletionTimestamp") == nil {
			out = append(out, pod)
		}
	}
	return out
}

func (e *env) clusterCertSecret(release string) string {
	return fmt.Sprintf("/api/v1/namespaces/%s/secrets/%s", e.spec.Config.Kong.Namespace, components.KongClusterCertSecret(release))
}
