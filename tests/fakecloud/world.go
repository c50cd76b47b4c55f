// Package fakecloud stands in for AWS under the real Pulumi engine: test plugins named aws and
// random (cmd/fakecloud, speaking the engine's provider protocol) answer from the same answers
// as the synth mocks (stacks/synth/answers), and keep what exists in a World, a directory the
// tests read: every call in order, every live resource, and the EBS volumes the CSI driver's
// stand-in makes. The same binary, named aws, answers `aws eks get-token` with a token the
// local control plane accepts: its static administrator token, or, in a world made with
// EnforceAccess, a token of the calling IAM principal that Access authenticates and authorizes
// as EKS would, from the cluster's creator and its access entries (principals.go, access.go).
//
// Its Diff answers as the real providers do: a change of a property the provider replaces on
// is a replacement (replacement.go, from the upstream schemas), in the order the bridge
// picks (diff.go); and the world refuses what AWS refuses, a second live resource under a
// name AWS holds unique (names.go), so a create-before-delete replacement of a resource
// with a fixed name fails as it would on AWS; and EKS's version rules (eks_rules.go): a
// cluster moves one minor version at a time and only once its node groups have caught up, a
// node group is never newer than its cluster, an add-on runs a version published for the
// cluster's.
package fakecloud

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// WorldEnv names the World's directory, for the plugins and the aws command.
const WorldEnv = "KONG_ALB_EKS_FAKE_CLOUD"

// World is what the fake cloud holds, in a directory.
type World struct{ Dir string }

// Endpoint is the cluster every EKS cluster of the world is: the local control plane.
type Endpoint struct {
	answers.Endpoint
	Token string // a bearer token the API server accepts
}

// ClusterAt is the endpoint of an API server at url with the CA caData (base64 PEM) that
// accepts token.
func ClusterAt(url, caData, token string) Endpoint {
	return Endpoint{Endpoint: answers.Endpoint{URL: url, CAData: caData}, Token: token}
}

// Call is one request the plugins or the aws command served.
type Call struct {
	Time     time.Time      `json:"time"`
	Provider string         `json:"provider"` // aws, random, aws-cli
	Method   string         `json:"method"`   // Create, Read, Update, Delete, Invoke, get-token
	Type     string         `json:"type,omitempty"`
	URN      string         `json:"urn,omitempty"`
	ID       string         `json:"id,omitempty"`
	Inputs   map[string]any `json:"inputs,omitempty"` // secrets are "[secret]"
	Preview  bool           `json:"preview,omitempty"`
}

// Resource is a live resource: what Create or Update answered.
type Resource struct {
	Type    string         `json:"type"`
	URN     string         `json:"urn"`
	ID      string         `json:"id"`
	Outputs map[string]any `json:"outputs"` // secrets are "[secret]"
	// Key is the name AWS holds unique for it (see names.go), when the program fixed one.
	Key string `json:"key,omitempty"`
	// Instances counts the AWS resources live under this ID, when more than one: the answers
	// derive IDs from names where AWS gives every create its own, so the new half of a
	// create-before-delete replacement gets the old half's ID.
	Instances int `json:"instances,omitempty"`
	// Upgrade, for an EKS cluster, is its last in-place version upgrade while it can still be
	// rolled back (eks_rules.go).
	Upgrade *VersionUpgrade `json:"upgrade,omitempty"`
	// Creator, for an EKS cluster, is the IAM principal that created it (principals.go), whom
	// EKS makes a cluster administrator while bootstrapClusterCreatorAdminPermissions holds
	// (access.go). It is kept here, not among the outputs: the real provider has no such output,
	// and one the engine saw would go into the stack's state.
	Creator string `json:"creator,omitempty"`
	// Changed is when the resource was last created or updated.
	Changed time.Time `json:"changed"`
	// Pending, for an RDS DB instance, are the changes waiting for its maintenance window
	// (rds_rules.go): setting to value.
	Pending map[string]any `json:"pending,omitempty"`
}

// Volume is an EBS volume made for a PersistentVolumeClaim.
type Volume struct {
	ID    string `json:"id"`
	Claim string `json:"claim"` // namespace/name
}

// NewWorld makes an empty world in dir.
func NewWorld(dir string, ep Endpoint, opts ...WorldOption) (*World, error) {
	var o worldOptions
	for _, opt := range opts {
		opt(&o)
	}
	w := &World{Dir: dir}
	for _, d := range []string{"resources", "volumes", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if o.enforceAccess {
		if err := w.makeAccessKey(); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(ep)
	if err != nil {
		return nil, err
	}
	return w, os.WriteFile(filepath.Join(dir, "endpoint.json"), b, 0o600)
}

// WorldFromEnv is the world WorldEnv names.
func WorldFromEnv() (*World, error) {
	dir := os.Getenv(WorldEnv)
	if dir == "" {
		return nil, fmt.Errorf("%s is not set: the fake cloud runs only inside the tests", WorldEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "endpoint.json")); err != nil {
		return nil, fmt.Errorf("%s=%s is not a fake cloud world: %w", WorldEnv, dir, err)
	}
	return &World{Dir: dir}, nil
}

// Endpoint is where the world's clusters are.
func (w *World) Endpoint() (Endpoint, error) {
	var ep Endpoint
	b, err := os.ReadFile(filepath.Join(w.Dir, "endpoint.json"))
	if err != nil {
		return ep, err
	}
	return ep, json.Unmarshal(b, &ep)
}

// Record appends a call to the journal, under a lock: plugins run as separate processes.
func (w *World) Record(c Call) error {
	c.Time = time.Now().UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(w.Dir, "calls.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}

// Calls is the journal, in order.
func (w *World) Calls() ([]Call, error) {
	f, err := os.Open(filepath.Join(w.Dir, "calls.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var calls []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("calls.jsonl: %w", err)
		}
		calls = append(calls, c)
	}
	return calls, sc.Err()
}

func key(parts ...string) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(parts)))
	return hex.EncodeToString(sum[:12]) + ".json"
}

func (w *World) resourcePath(typ, id string) string {
	return filepath.Join(w.Dir, "resources", key(typ, id))
}

// Put records an updated resource, keeping its key, instances and creator.
func (w *World) Put(r Resource) error {
	return w.locked(func() error { return w.put(r) })
}

// put is Put with the lock held.
func (w *World) put(r Resource) error {
	var old Resource
	ok, err := readJSON(w.resourcePath(r.Type, r.ID), &old)
	if err != nil {
		return err
	}
	if ok {
		r.Key, r.Instances = old.Key, old.Instances
		if r.Creator == "" {
			r.Creator = old.Creator
		}
	}
	return writeJSON(w.resourcePath(r.Type, r.ID), r)
}

// Add records a resource AWS just created. A live resource of the type holding the same Key
// makes AWS refuse it (refuse's error), unless the type is an upsert one, where AWS takes
// the create as the same object. A live resource under the same ID (and no Key) is another
// AWS resource the answers gave the same ID: the ID then counts one more instance.
func (w *World) Add(r Resource, upsert bool, refuse func() error) error {
	return w.locked(func() error { return w.add(r, upsert, refuse) })
}

// add is Add with the lock held.
func (w *World) add(r Resource, upsert bool, refuse func() error) error {
	if r.Key != "" && !upsert {
		live, err := w.Resources()
		if err != nil {
			return err
		}
		for _, l := range live {
			if l.Type == r.Type && l.Key == r.Key {
				return refuse()
			}
		}
	}
	var old Resource
	ok, err := readJSON(w.resourcePath(r.Type, r.ID), &old)
	if err != nil {
		return err
	}
	if ok && !upsert {
		r.Instances = max(old.Instances, 1) + 1
	}
	return writeJSON(w.resourcePath(r.Type, r.ID), r)
}

// Get is a live resource, or false.
func (w *World) Get(typ, id string) (Resource, bool, error) {
	var r Resource
	ok, err := readJSON(w.resourcePath(typ, id), &r)
	return r, ok, err
}

// Remove forgets a deleted resource: one instance of those under its ID; for an upsert type
// (byKey), every live resource of the type holding its Key, since AWS deletes the one
// object they all are. The last instance of an EKS cluster or access entry takes with it what
// EKS deletes with it (removeWith, access.go).
func (w *World) Remove(typ, id string, byKey bool) error {
	return w.locked(func() error {
		var r Resource
		ok, err := readJSON(w.resourcePath(typ, id), &r)
		if err != nil || !ok {
			return err
		}
		if byKey && r.Key != "" {
			live, err := w.Resources()
			if err != nil {
				return err
			}
			for _, l := range live {
				if l.Type == typ && l.Key == r.Key {
					if err := removeFile(w.resourcePath(typ, l.ID)); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if r.Instances > 1 {
			r.Instances--
			if r.Instances == 1 {
				r.Instances = 0
			}
			return writeJSON(w.resourcePath(typ, id), r)
		}
		if err := removeFile(w.resourcePath(typ, id)); err != nil {
			return err
		}
		return w.removeWith(r)
	})
}

// locked runs f holding the world's resource lock: the plugins are separate processes, and
// a create's check for a taken name (or an EKS version rule's look at the cluster and its
// node groups) and its write must not interleave with another's. The lock is a flock on a
// fresh descriptor, so f must not take it again (use put and add inside, not Put and Add).
func (w *World) locked(f func() error) error {
	l, err := os.OpenFile(filepath.Join(w.Dir, "resources.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	return f()
}

// Resources lists the live resources, by type then ID.
func (w *World) Resources() ([]Resource, error) {
	out, err := readAll[Resource](filepath.Join(w.Dir, "resources"))
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// PutVolume records a volume; RemoveVolume deletes it; Volumes lists them.
func (w *World) PutVolume(v Volume) error {
	return writeJSON(filepath.Join(w.Dir, "volumes", key(v.ID)), v)
}

// RemoveVolume deletes a volume.
func (w *World) RemoveVolume(id string) error {
	return removeFile(filepath.Join(w.Dir, "volumes", key(id)))
}

func removeFile(path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Volumes lists the volumes that exist.
func (w *World) Volumes() ([]Volume, error) {
	out, err := readAll[Volume](filepath.Join(w.Dir, "volumes"))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// writeJSON writes atomically (a rename), so a reader never sees half a file.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// readAll decodes every JSON file of dir.
func readAll[T any](dir string) ([]T, error) {
	var out []T
	err := eachJSON(dir, func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func eachJSON(dir string, f func([]byte) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) { // removed meanwhile
			continue
		}
		if err != nil {
			return err
		}
		if err := f(b); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	return nil
}

// Plain turns a property map into JSON-able values, with every secret as "[secret]" and
// every unknown as "[unknown]": nothing secret is ever written down.
func Plain(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = plainValue(v)
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return "[secret]"
	case v.IsComputed(), v.IsOutput() && !v.OutputValue().Known:
		return "[unknown]"
	case v.IsOutput():
		if v.OutputValue().Secret {
			return "[secret]"
		}
		return plainValue(v.OutputValue().Element)
	case v.IsArray():
		out := make([]any, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			out = append(out, plainValue(e))
		}
		return out
	case v.IsObject():
		return Plain(v.ObjectValue())
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsNull():
		return nil
	}
	return v.V
}
