package standins

import (
	"crypto/sha1" //nolint:gosec // Reloader's hash, reproduced, not a security measure
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// ReloaderImage is the image of Stakater Reloader's container (chart 2.2.16, appVersion
// v1.4.21); the stand-in acts while a Deployment running it is available.
const ReloaderImage = "ghcr.io/stakater/reloader"

// reloader stands in for Stakater Reloader v1.4.21, as the program configures it (watching its
// own namespace, Secrets only, the default env-vars strategy), while its Deployment is
// available. The rules, from stakater/Reloader at v1.4.21:
//   - a Deployment is watched when its own metadata carries secret.reloader.stakater.com/reload,
//     a comma-separated list of Secret names, each matched as an anchored regular expression
//     (pkg/common ShouldReload);
//   - it acts on a Secret's update whose data hash changed, not on its creation
//     (reloadOnCreate is off), nor on a change of metadata only (handler/update.go);
//   - the hash is the SHA-1 of the Secret's data entries as key=value (decoded values),
//     sorted and joined with ";" (util.go GetSHAfromSecret);
//   - it sets the env var STAKATER_<NAME>_SECRET to the hash in the first container that mounts
//     the Secret as a volume, else the first that references it in env or envFrom, else the
//     first container, and writes nothing when the value is there already (handler/upgrade.go).
//
// The Deployment controller, which is real here, then rolls the pods.
func (s *Standins) reloader() error {
	deployments, err := s.list("/apis/apps/v1/deployments")
	if err != nil {
		return err
	}
	namespace := ""
	for _, d := range deployments {
		if runsImage(d, ReloaderImage) && available(d) {
			namespace = str(d, "metadata", "namespace")
		}
	}
	if namespace == "" {
		return nil
	}
	// Helm's release records are Secrets too, large ones, and never named in an annotation
	// here: leaving them out keeps this poll cheap.
	secrets, err := s.list("/api/v1/namespaces/" + namespace + "/secrets?fieldSelector=type%21%3Dhelm.sh%2Frelease.v1")
	if err != nil {
		return err
	}
	changed := map[string]string{} // secret name → new hash
	s.mu.Lock()
	if s.secretHashes == nil {
		s.secretHashes = map[string]string{}
	}
	for _, sec := range secrets {
		key := namespace + "/" + nameOf(sec)
		hash := secretHash(sec)
		if old, seen := s.secretHashes[key]; seen && old != hash {
			changed[str(sec, "metadata", "name")] = hash
		}
		s.secretHashes[key] = hash
	}
	s.mu.Unlock()
	if len(changed) == 0 {
		return nil
	}
	for _, d := range deployments {
		if str(d, "metadata", "namespace") != namespace {
			continue
		}
		for _, pattern := range strings.Split(str(d, "metadata", "annotations", "secret.reloader.stakater.com/reload"), ",") {
			pattern = strings.TrimSpace(pattern)
			if pattern == "" {
				continue
			}
			re, err := regexp.Compile("^" + pattern + "$")
			if err != nil {
				continue
			}
			for secret, hash := range changed {
				if re.MatchString(secret) {
					if err := s.reload(d, secret, hash); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// reload writes the Secret's hash into the Deployment's pod template, as Reloader's env-vars
// strategy does.
func (s *Standins) reload(d Object, secret, hash string) error {
	path := objectPath("/apis/apps/v1", "deployments", d)
	fresh, err := s.cluster.Do(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	podSpec := at(fresh, "spec", "template", "spec")
	containers, _ := podSpec["containers"].([]any)
	if len(containers) == 0 {
		return nil
	}
	target := referencingContainer(podSpec, containers, secret)
	name := "STAKATER_" + envVarName(secret) + "_SECRET"
	env, _ := target["env"].([]any)
	for _, e := range env {
		if ev, _ := e.(Object); ev["name"] == name {
			if ev["value"] == hash {
				return nil
			}
			ev["value"] = hash
			name = ""
		}
	}
	if name != "" {
		target["env"] = append(env, Object{"name": name, "value": hash})
	}
	if _, err := s.cluster.Do(http.MethodPut, path, fresh); err != nil {
		return err
	}
	s.logf("reloader: deployment %s restarted for secret %s", nameOf(d), secret)
	return nil
}

// referencingContainer is the container Reloader writes to: the first to mount the Secret,
// else the first to reference it in its environment, else the first.
func referencingContainer(podSpec Object, containers []any, secret string) Object {
	volumes := map[string]bool{}
	vols, _ := podSpec["volumes"].([]any)
	for _, v := range vols {
		vol, _ := v.(Object)
		if str(vol, "secret", "secretName") == secret {
			volumes[str(vol, "name")] = true
		}
	}
	for _, c := range containers {
		mounts, _ := c.(Object)["volumeMounts"].([]any)
		for _, m := range mounts {
			if mount, _ := m.(Object); volumes[str(mount, "name")] {
				return c.(Object)
			}
		}
	}
	for _, c := range containers {
		env, _ := c.(Object)["env"].([]any)
		for _, e := range env {
			if ev, _ := e.(Object); str(ev, "valueFrom", "secretKeyRef", "name") == secret {
				return c.(Object)
			}
		}
		from, _ := c.(Object)["envFrom"].([]any)
		for _, f := range from {
			if ref, _ := f.(Object); str(ref, "secretRef", "name") == secret {
				return c.(Object)
			}
		}
	}
	return containers[0].(Object)
}

var nonAlnum = regexp.MustCompile(`[^A-Z0-9]+`)

// envVarName is Reloader's ConvertToEnvVarName: upper case, every run of other characters one
// underscore, none leading.
func envVarName(s string) string {
	return strings.TrimLeft(nonAlnum.ReplaceAllString(strings.ToUpper(s), "_"), "_")
}

// secretHash is Reloader's hash of a Secret's data.
func secretHash(sec Object) string {
	data, _ := sec["data"].(Object)
	entries := make([]string, 0, len(data))
	for k, v := range data {
		raw, _ := base64.StdEncoding.DecodeString(fmt.Sprint(v))
		entries = append(entries, k+"="+string(raw))
	}
	sort.Strings(entries)
	sum := sha1.Sum([]byte(strings.Join(entries, ";"))) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// runsImage reports whether a Deployment's pods run a container of the image (any tag).
func runsImage(d Object, image string) bool {
	containers, _ := at(d, "spec", "template", "spec")["containers"].([]any)
	for _, c := range containers {
		if img := str(c.(Object), "image"); img == image || strings.HasPrefix(img, image+":") {
			return true
		}
	}
	return false
}

// available reports whether every replica of a Deployment is available.
func available(d Object) bool {
	want, _ := at(d, "spec")["replicas"].(float64)
	avail, _ := at(d, "status")["availableReplicas"].(float64)
	return want > 0 && avail >= want
}

// at is the object at a path of nested objects, nil where there is none.
func at(o Object, path ...string) Object {
	for _, p := range path {
		o, _ = o[p].(Object)
	}
	return o
}
