package fakecloud

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// RDS's rules for DB instances, as the fake enforces them (never in a preview), with the
// errors terraform-provider-aws reports: the operation, then RDS's code and message.
//
// The sources: terraform-provider-aws v5 internal/service/rds/instance.go (pulumi's
// patched-v5.14.0 branch: Update sends ModifyDBInstance with ApplyImmediately from
// apply_immediately; Read sets instance_class, multi_az and allocated_storage from what
// DescribeDBInstances reports and keeps the configured engine_version while it is the pending
// one, verify.go compareActualEngineVersion; Delete sends the final snapshot's name unless
// skip_final_snapshot); the RDS User Guide ("Settings for DB instances": which changes wait for
// the maintenance window without ApplyImmediately, that storage only grows; "Upgrading the
// PostgreSQL DB engine": AllowMajorVersionUpgrade and a parameter group of the new family;
// "Deleting a DB instance": deletion protection).

const (
	rdsInstance       = "aws:rds/instance:Instance"
	rdsParameterGroup = "aws:rds/parameterGroup:ParameterGroup"
)

// rdsDeferred are the settings a ModifyDBInstance without ApplyImmediately leaves pending until
// the maintenance window (RDS User Guide, "Settings for DB instances": "If you don't choose to
// apply the change immediately, it occurs during the next maintenance window").
var rdsDeferred = []string{"instanceClass", "engineVersion", "multiAz", "allocatedStorage", "caCertIdentifier", "dbSubnetGroupName"}

// rdsRules applies RDS's rules to a create (old nil) or an update of a DB instance, and
// writes into state what the provider reads back: the running values of what is pending.
func (w *World) rdsRules(r *Resource, old *Resource, in, state resource.PropertyMap) error {
	if r.Type != rdsInstance {
		return nil
	}
	op := "creating RDS DB Instance (" + str(in, "identifier") + ")"
	running := str(in, "engineVersion")
	if old != nil {
		op = "updating RDS DB Instance (" + str(in, "identifier") + ")"
		running = fmt.Sprint(old.Outputs["engineVersionActual"])
	}
	if err := w.engineVersionRule(op, running, old != nil, in); err != nil {
		return err
	}
	if old == nil {
		return nil
	}
	if n, o := number(in, "allocatedStorage"), toInt(old.Outputs["allocatedStorage"]); n < o {
		return awsError(op, "InvalidParameterCombination", fmt.Sprintf("Invalid storage size: %d GiB is less than the %d GiB allocated; storage can only grow", n, o))
	}
	r.Pending = old.Pending
	if applyImmediately(in) {
		r.Pending = nil
		state["engineVersionActual"] = resource.NewStringProperty(str(in, "engineVersion"))
		return nil
	}
	// Left for the window: the provider reads back the running value (its planned state, and
	// so the next preview, shows the change again until the window); the engine version stays
	// as configured, the pending one.
	for _, k := range rdsDeferred {
		key := resource.PropertyKey(k)
		now, had := old.Outputs[k]
		if !had || sameValue(now, in[key]) {
			continue
		}
		if r.Pending == nil {
			r.Pending = map[string]any{}
		}
		r.Pending[k] = plainValue(in[key])
		if k != "engineVersion" {
			state[key] = resource.NewPropertyValue(now)
		}
	}
	state["engineVersionActual"] = resource.NewStringProperty(running)
	return nil
}

// engineVersionRule: a version goes only forward (RDS answers a lower one with
// "InvalidParameterCombination: Cannot upgrade postgres from 13.15 to 13.13"), a new major
// version needs AllowMajorVersionUpgrade, and the parameter group's family must be the
// version's.
func (w *World) engineVersionRule(op, running string, update bool, in resource.PropertyMap) error {
	want := str(in, "engineVersion")
	if update && compareEngineVersions(want, running) < 0 {
		return awsError(op, "InvalidParameterCombination", fmt.Sprintf("Cannot upgrade %s from %s to %s", str(in, "engine"), running, want))
	}
	major := strings.SplitN(want, ".", 2)[0]
	if update && major != strings.SplitN(running, ".", 2)[0] && !boolean(in, "allowMajorVersionUpgrade") {
		return awsError(op, "InvalidParameterCombination", "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.")
	}
	group := str(in, "parameterGroupName")
	if group == "" {
		return nil
	}
	pg, ok, err := w.Get(rdsParameterGroup, group)
	if err != nil || !ok {
		return err
	}
	if family := fmt.Sprint(pg.Outputs["family"]); family != str(in, "engine")+major {
		return awsError(op, "InvalidParameterCombination", fmt.Sprintf(
			"The parameter group %s with DBParameterGroupFamily %s can't be used for this instance. Use a parameter group with DBParameterGroupFamily %s%s.",
			group, family, str(in, "engine"), major))
	}
	return nil
}

// rdsDelete is DeleteDBInstance as the provider sends it from the state: refused while deletion
// protection is on; with skipFinalSnapshot false, a final snapshot under a name no snapshot
// has (the snapshot outlives the instance, and the world keeps it).
func (w *World) rdsDelete(id string, state resource.PropertyMap) error {
	op := "deleting RDS DB Instance (" + id + ")"
	if boolean(state, "deletionProtection") {
		return awsError(op, "InvalidParameterCombination", "Cannot delete protected DB Instance, please disable deletion protection and try again.")
	}
	if boolean(state, "skipFinalSnapshot") {
		return nil
	}
	name := str(state, "finalSnapshotIdentifier")
	if name == "" {
		return fmt.Errorf("%s: final_snapshot_identifier is required when skip_final_snapshot is false", op)
	}
	path := filepath.Join(w.Dir, "snapshots", name+".json")
	if _, err := os.Stat(path); err == nil {
		return awsError(op, "DBSnapshotAlreadyExists", "Cannot create the snapshot because a snapshot with the identifier "+name+" already exists.")
	}
	return writeJSON(path, Snapshot{Name: name, Instance: str(state, "identifier"), EngineVersion: str(state, "engineVersionActual"), At: time.Now().UTC()})
}

// Snapshot is a DB snapshot RDS took of an instance it deleted.
type Snapshot struct {
	Name          string    `json:"name"`
	Instance      string    `json:"instance"`
	EngineVersion string    `json:"engineVersion"`
	At            time.Time `json:"at"`
}

// Snapshots are the final snapshots of deleted DB instances.
func (w *World) Snapshots() ([]Snapshot, error) {
	return readAll[Snapshot](filepath.Join(w.Dir, "snapshots"))
}

// RunMaintenance is the maintenance window passing: every DB instance's pending changes are
// applied, and it reports them as running.
func (w *World) RunMaintenance() error {
	return w.locked(func() error {
		all, err := w.Resources()
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Type != rdsInstance || len(r.Pending) == 0 {
				continue
			}
			for k, v := range r.Pending {
				r.Outputs[k] = v
				if k == "engineVersion" {
					r.Outputs["engineVersionActual"] = v
				}
			}
			r.Pending = nil
			if err := w.put(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// rdsRunning is what a refresh (the provider's Read) reports of a DB instance: the state,
// with the deferred settings as RDS runs them, and the engine version as the provider keeps it
// (the configured one while it is pending or running).
func (w *World) rdsRunning(id string, state resource.PropertyMap) (resource.PropertyMap, error) {
	live, ok, err := w.Get(rdsInstance, id)
	if err != nil || !ok {
		return state, err
	}
	out := state.Copy()
	for _, k := range rdsDeferred {
		if v, had := live.Outputs[k]; had && k != "engineVersion" {
			out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
	}
	actual := fmt.Sprint(live.Outputs["engineVersionActual"])
	out["engineVersionActual"] = resource.NewStringProperty(actual)
	if pending, _ := live.Pending["engineVersion"].(string); str(state, "engineVersion") != pending && str(state, "engineVersion") != actual {
		out["engineVersion"] = resource.NewStringProperty(actual)
	}
	return out, nil
}

// rdsPlannedFrom: the bridge plans an instance's update from its prior state, whose deferred
// settings hold what RDS runs; the old inputs are compared with those in their place.
func rdsPlannedFrom(oldInputs, oldOutputs resource.PropertyMap) resource.PropertyMap {
	out := oldInputs.Copy()
	for _, k := range rdsDeferred {
		key := resource.PropertyKey(k)
		if v, ok := oldOutputs[key]; ok && k != "engineVersion" {
			if _, set := out[key]; set {
				out[key] = v
			}
		}
	}
	return out
}

func applyImmediately(in resource.PropertyMap) bool { return boolean(in, "applyImmediately") }

func boolean(m resource.PropertyMap, k string) bool {
	v, ok := m[resource.PropertyKey(k)]
	return ok && plain(v).IsBool() && plain(v).BoolValue()
}

func number(m resource.PropertyMap, k string) int {
	v, ok := m[resource.PropertyKey(k)]
	if ok && plain(v).IsNumber() {
		return int(plain(v).NumberValue())
	}
	return 0
}

func toInt(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

func sameValue(live any, in resource.PropertyValue) bool {
	return fmt.Sprint(live) == fmt.Sprint(plainValue(plain(in)))
}

// compareEngineVersions compares dotted versions numerically.
func compareEngineVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
