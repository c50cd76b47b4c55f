package standins

import (
	"net/http"
)

// endpoints stands in for the part of kube-controller-manager's endpoints controller this
// cluster cannot run: the controller makes an Endpoints object named for every Service with a
// selector (pkg/controller/endpoint), but kwok's pod IPs here are loopback addresses, which
// Endpoints validation refuses, so when a Service's pods are Ready before the Service exists
// the object is never made. The Kubernetes provider's Service await (pulumi-kubernetes
// await/service.go) waits for an event of that object and would then sit out its 10-minute
// timeout. The stand-in makes the object, without addresses; the awaiter does not need them
// (it succeeds once the object has settled with no not-ready address).
func (s *Standins) endpoints() error {
	services, err := s.list("/api/v1/services")
	if err != nil {
		return err
	}
	existing, err := s.list("/api/v1/endpoints")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, ep := range existing {
		have[nameOf(ep)] = true
	}
	for _, svc := range services {
		spec, _ := svc["spec"].(Object)
		if selector, _ := spec["selector"].(Object); len(selector) == 0 || have[nameOf(svc)] || meta(svc)["deletionTimestamp"] != nil {
			continue
		}
		ns := str(svc, "metadata", "namespace")
		_, err := s.cluster.Do(http.MethodPost, "/api/v1/namespaces/"+ns+"/endpoints", Object{
			"apiVersion": "v1", "kind": "Endpoints",
			"metadata": Object{"name": str(svc, "metadata", "name"), "namespace": ns},
		})
		if err != nil && !isAlreadyExists(err) {
			return err
		}
	}
	return nil
}
