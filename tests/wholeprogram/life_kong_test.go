package wholeprogram

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/tests/localcluster"
	"github.com/kong-alb-eks/kong-alb-eks/tests/standins"
)

// upgradeKong moves Kong one minor up in the two steps README documents, control plane first:
// a control plane refuses data planes of a newer minor (the stand-in holds such a data plane
// un-Ready, as Kong's check_kong_version_compatibility does). First kongVersion moves and
// kongDataPlaneVersion keeps the data planes where they are: only the control plane's release
// updates, and the chart runs its migrations as that release's pre-upgrade and post-upgrade
// hook Jobs. Then kongDataPlaneVersion goes: only the data plane's release updates, one pod at a
// time. At no moment does a data plane run a newer version than a control plane pod, and a
// data plane pod is Ready throughout.
func (e *env) upgradeKong() {
	e.t.Helper()
	watch := e.watchKong()
	from, to, spec := e.upgradeKongControlPlane()
	kong := spec.Config.Kong

	spec.Config.Kong.DataPlaneVersion = ""
	e.apply("Kong data plane "+from+" → "+to, spec, map[string]step{
		"kubernetes:helm.sh/v3:Release " + kong.DataPlaneRelease: "update",
	})
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods?labelSelector=app.kubernetes.io/instance%%3D%s", kong.Namespace, kong.DataPlaneRelease)
	err := e.cluster.Eventually(2*time.Minute, "every data plane pod at "+to+" and Ready", func() (bool, error) {
		for _, pod := range e.items(path) {
			if tag := standins.ProxyImageTag(pod); tag != to || localcluster.Condition(pod, "Ready") != "True" {
				return false, fmt.Errorf("data plane pod %v: %s, Ready %s", field(pod, "metadata", "name"), tag, localcluster.Condition(pod, "Ready"))
			}
		}
		return true, nil
	})
	if err != nil {
		e.t.Error(err)
	}
	watch("during the Kong upgrade")
}

// upgradeKongControlPlane is the first step of upgradeKong: the control plane one minor up, the
// data planes held where they are; the chart's migration Jobs must have run. It returns the
// versions and the spec applied.
func (e *env) upgradeKongControlPlane() (from, to string, spec stacks.Spec) {
	e.t.Helper()
	spec = e.spec
	kong := spec.Config.Kong
	from = kong.EffectiveDataPlaneVersion()
	var major, minor int
	if _, err := fmt.Sscanf(kong.Version, "%d.%d", &major, &minor); err != nil {
		e.t.Fatalf("kongVersion %q: %v", kong.Version, err)
	}
	to = fmt.Sprintf("%d.%d.0.0", major, minor+1)
	spec.Config.Kong.Version, spec.Config.Kong.DataPlaneVersion = to, from
	e.apply("Kong control plane "+from+" → "+to, spec, map[string]step{
		"kubernetes:helm.sh/v3:Release " + kong.ControlPlaneRelease: "update",
	})
	e.checkMigrationJobs()
	return from, to, spec
}

// watchKong samples the Kong pods every 100 ms until the returned function is called, which
// fails the test (saying when, "during ...") if there was a moment without a Ready data plane
// pod, or a data plane pod running a version a control plane pod of the moment refuses.
func (e *env) watchKong() func(when string) {
	kong := e.spec.Config.Kong
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods", kong.Namespace)
	stop := make(chan struct{})
	type result struct {
		least int
		newer []string
	}
	done := make(chan result)
	go func() {
		least, newer := -1, map[string]bool{}
		for {
			if out, err := e.cluster.Do(http.MethodGet, path, nil); err == nil {
				var cps, dps []object
				items, _ := out["items"].([]any)
				for _, it := range items {
					pod, _ := it.(object)
					if field(pod, "metadata", "deletionTimestamp") != nil {
						continue
					}
					switch field(pod, "metadata", "labels", "app.kubernetes.io/instance") {
					case kong.ControlPlaneRelease:
						if standins.ProxyImageTag(pod) != "" {
							cps = append(cps, pod)
						}
					case kong.DataPlaneRelease:
						dps = append(dps, pod)
					}
				}
				ready := 0
				for _, dp := range dps {
					if localcluster.Condition(dp, "Ready") == "True" {
						ready++
					}
					for _, cp := range cps {
						if why := standins.KongVersionIncompatible(standins.ProxyImageTag(cp), standins.ProxyImageTag(dp)); why != "" {
							newer[fmt.Sprintf("%v: %s", field(dp, "metadata", "name"), why)] = true
						}
					}
				}
				if least < 0 || ready < least {
					least = ready
				}
			}
			select {
			case <-stop:
				var out []string
				for v := range newer {
					out = append(out, v)
				}
				sort.Strings(out)
				done <- result{least, out}
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func(when string) {
		e.t.Helper()
		close(stop)
		r := <-done
		if r.least < 1 {
			e.t.Errorf("%s the data plane had %d Ready pods at one point, want at least one throughout", when, r.least)
		}
		for _, v := range r.newer {
			e.t.Errorf("%s a data plane ran a version its control plane refuses: %s", when, v)
		}
	}
}
