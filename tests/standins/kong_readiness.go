package standins

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
)

// KongDataPlaneHold holds the Kong data-plane pods (the chart's proxy container with
// KONG_ROLE=data_plane) un-Ready until kongReadiness releases them.
var KongDataPlaneHold = localcluster.Hold{
	Query:  `.spec.containers.[] | select( .name == "proxy" ) | .env.[] | select( .name == "KONG_ROLE" ) | .value`,
	Values: []string{"data_plane"},
}

// kongReadiness is Kong's readiness rule for a data plane: /status/ready answers 200 only once
// the node has loaded a non-empty configuration from its control plane (Kong 3.9
// kong/status/ready.lua: "no configuration available (empty configuration present)" while the
// configuration hash is the empty one). The control plane has something to push once it is
// serving (its cluster Service has a ready endpoint) and the ingress controller in it has a
// Kong entity to translate: a global KongClusterPlugin of class kong, or an Ingress of class
// kong. Until then the data plane's pods stay un-Ready, its Deployment unavailable, and Helm's
// wait on its release times out, as on EKS.
func (s *Standins) kongReadiness() error {
	pods, err := s.list("/api/v1/pods")
	if err != nil {
		return err
	}
	empty := map[string]string{} // release -> a pod of it whose control plane has nothing to push
	for _, pod := range pods {
		if meta(pod)["deletionTimestamp"] != nil || str(meta(pod), "annotations", localcluster.HeldAnnotation) != "" {
			continue
		}
		env := proxyEnv(pod)
		if env["KONG_ROLE"] != "data_plane" {
			continue
		}
		why, err := s.kongConfiguration(env["KONG_CLUSTER_CONTROL_PLANE"], ProxyImageTag(pod))
		if err != nil {
			return err
		}
		if why == noEntity {
			empty[str(meta(pod), "labels", "app.kubernetes.io/instance")] = nameOf(pod)
		}
		if why != "" || !startedFor(pod, KongStartTime) {
			continue
		}
		if err := s.release(pod, "kong: data plane %s loaded a configuration from "+env["KONG_CLUSTER_CONTROL_PLANE"]+": Ready"); err != nil {
			return err
		}
	}
	if len(empty) > 0 && s.engine.Stalled(quiet) && waitsOnlyOn(s.engine.InFlight(), empty) {
		for release, pod := range empty {
			s.fail(fmt.Sprintf("the Kong data plane %s can never become Ready: its control plane serves but has no Kong entity "+
				"(no global KongClusterPlugin of class kong, no Ingress of class kong), so its configuration is empty and the data "+
				"plane's /status/ready answers 503, and the engine waits on nothing but the release %s: some Kong entity must be "+
				"created without waiting for the data plane", pod, release))
		}
	}
	return nil
}

// KongStartTime is how long a data plane pod takes, at the least, from its creation to Ready:
// the container starts, Kong connects to the control plane and loads its configuration, and
// (with the load balancer controller's readiness gate) the ALB must see the target healthy,
// a health check interval or more. Seconds on EKS; a few here, so that a replacement pod is
// never Ready at once and a drain that evicts too much at a time shows.
const KongStartTime = 3 * time.Second

// startedFor reports whether the pod was created at least d ago.
func startedFor(pod Object, d time.Duration) bool {
	created, err := time.Parse(time.RFC3339, str(meta(pod), "creationTimestamp"))
	return err == nil && time.Since(created) >= d
}

// noEntity is kongConfiguration's answer for a serving control plane with nothing to push.
const noEntity = "the control plane has no Kong entity: its configuration is empty"

// waitsOnlyOn reports whether every step in flight is one of these Helm releases.
func waitsOnlyOn(inFlight []string, releases map[string]string) bool {
	for _, urn := range inFlight {
		parts := strings.Split(urn, "::")
		types := strings.Split(parts[len(parts)-2], "$")
		if types[len(types)-1] != "kubernetes:helm.sh/v3:Release" || releases[parts[len(parts)-1]] == "" {
			return false
		}
	}
	return len(inFlight) > 0
}

// kongConfiguration says why the control plane at addr (SERVICE.NAMESPACE.svc...:PORT) has
// nothing to push, or "" when it has.
func (s *Standins) kongConfiguration(addr, dataPlaneVersion string) (string, error) {
	host, _, _ := strings.Cut(addr, ":")
	parts := strings.Split(host, ".")
	if len(parts) < 2 {
		return "the data plane names no control plane (" + addr + ")", nil
	}
	svc, err := s.cluster.Do(http.MethodGet, fmt.Sprintf("/api/v1/namespaces/%s/services/%s", parts[1], parts[0]), nil)
	if isNotFound(err) {
		return "the control plane's cluster Service " + host + " does not exist", nil
	}
	if err != nil {
		return "", err
	}
	serving, err := s.servingPods(svc)
	if err != nil || len(serving) == 0 {
		return "the control plane " + host + " is not serving", err
	}
	for _, cp := range serving {
		if why := KongVersionIncompatible(ProxyImageTag(cp), dataPlaneVersion); why != "" {
			return why, nil
		}
	}
	plugins, err := s.list("/apis/configuration.konghq.com/v1/kongclusterplugins")
	if err != nil {
		return "", err
	}
	for _, p := range plugins {
		if str(meta(p), "labels", "global") == "true" && str(meta(p), "annotations", "kubernetes.io/ingress.class") == "kong" {
			return "", nil
		}
	}
	ingresses, err := s.list("/apis/networking.k8s.io/v1/ingresses")
	if err != nil {
		return "", err
	}
	for _, ing := range ingresses {
		if str(ing, "spec", "ingressClassName") == "kong" {
			return "", nil
		}
	}
	return noEntity, nil
}

// KongVersionIncompatible is why a control plane of version cp refuses a data plane of
// version dp, or "" when it accepts it: Kong's check_kong_version_compatibility
// (kong/clustering/utils.lua) refuses another major version and a newer minor than its own
// ("data plane version ... is incompatible with control plane version ..."). Versions are
// image tags (3.10.0.4); one that does not parse is accepted, as Kong does not check it.
func KongVersionIncompatible(cp, dp string) string {
	cpMajor, cpMinor, ok1 := majorMinor(cp)
	dpMajor, dpMinor, ok2 := majorMinor(dp)
	switch {
	case !ok1 || !ok2:
		return ""
	case cpMajor != dpMajor:
		return fmt.Sprintf("data plane version %s is incompatible with control plane version %s (%d.x.y are accepted)", dp, cp, cpMajor)
	case dpMinor > cpMinor:
		return fmt.Sprintf("data plane version %s is incompatible with older control plane version %s (%d.x.y, x <= %d, are accepted)", dp, cp, cpMajor, cpMinor)
	}
	return ""
}

func majorMinor(version string) (int, int, bool) {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// ProxyImageTag is the image tag of a Kong pod's proxy container ("" without one).
func ProxyImageTag(pod Object) string {
	containers, _ := pod["spec"].(Object)["containers"].([]any)
	for _, c := range containers {
		co, _ := c.(Object)
		if co["name"] == "proxy" {
			image := fmt.Sprint(co["image"])
			if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
				return image[i+1:]
			}
		}
	}
	return ""
}

// proxyEnv is the plain environment of a pod's proxy container.
func proxyEnv(pod Object) map[string]string {
	out := map[string]string{}
	containers, _ := pod["spec"].(Object)["containers"].([]any)
	for _, c := range containers {
		co, _ := c.(Object)
		if co["name"] != "proxy" {
			continue
		}
		envs, _ := co["env"].([]any)
		for _, e := range envs {
			eo, _ := e.(Object)
			if v, ok := eo["value"].(string); ok {
				out[fmt.Sprint(eo["name"])] = v
			}
		}
	}
	return out
}
