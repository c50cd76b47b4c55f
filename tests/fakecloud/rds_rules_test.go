package fakecloud

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

func dbAt(version, class string, extra map[string]any) map[string]any {
	major := strings.SplitN(version, ".", 2)[0]
	in := map[string]any{
		"identifier": "kong-prod-kong", "engine": "postgres", "engineVersion": version, "instanceClass": class,
		"allocatedStorage": 50, "multiAz": true, "parameterGroupName": "kong-prod-kong-postgres" + major,
		"allowMajorVersionUpgrade": true, "deletionProtection": true, "skipFinalSnapshot": false,
		"finalSnapshotIdentifier": "kong-prod-kong-final-0a1b2c3d",
	}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// rdsOn is a provider with the parameter groups of PostgreSQL 16 and 17 and an instance at
// 17.6 on db.m7g.large.
func rdsOn(t *testing.T) (*Provider, *live, resource.PropertyMap) {
	t.Helper()
	p := cloud(t)
	for _, major := range []string{"16", "17"} {
		p.mustCreate(t, rdsParameterGroup, "pg"+major, map[string]any{"name": "kong-prod-kong-postgres" + major, "family": "postgres" + major})
	}
	db := p.mustCreate(t, rdsInstance, "db", dbAt("17.6", "db.m7g.large", nil))
	_, state := p.outputs(t, db)
	return p, db, state
}

// outputs is the world's record of a live resource, as a property map.
func (p *Provider) outputs(t *testing.T, l *live) (Resource, resource.PropertyMap) {
	t.Helper()
	r, ok, err := p.World.Get(l.typ, string(l.id))
	if err != nil || !ok {
		t.Fatalf("%s %s is not live: %v", l.typ, l.id, err)
	}
	return r, resource.NewPropertyMapFromMap(r.Outputs)
}

// updateFrom updates as the engine does, from the state the last operation left.
func (p *Provider) updateFrom(t *testing.T, l *live, state resource.PropertyMap, changes map[string]any) (resource.PropertyMap, error) {
	t.Helper()
	news := changed(l.in, changes)
	res, err := p.Update(context.Background(), plugin.UpdateRequest{
		URN: urn(l.typ, l.name), Name: l.name, Type: tokens.Type(l.typ), ID: l.id,
		OldInputs: inputs(l.in), OldOutputs: state, NewInputs: inputs(news),
	})
	if err == nil {
		l.in = news
	}
	return res.Properties, err
}

func (p *Provider) diffFrom(t *testing.T, l *live, state resource.PropertyMap) plugin.DiffResult {
	t.Helper()
	res, err := p.Diff(context.Background(), plugin.DiffRequest{Type: tokens.Type(l.typ), OldInputs: inputs(l.in), OldOutputs: state, NewInputs: inputs(l.in)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (p *Provider) refresh(t *testing.T, l *live, state resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	res, err := p.Read(context.Background(), plugin.ReadRequest{URN: urn(l.typ, l.name), Name: l.name, Type: tokens.Type(l.typ), ID: l.id, Inputs: inputs(l.in), State: state})
	if err != nil {
		t.Fatal(err)
	}
	return res.Outputs
}

// Without ApplyImmediately a class change waits for the maintenance window: the provider reads
// back the running class, so a preview shows the change again (an update, never a
// replacement) until the window applies it; the engine version stays as configured while it
// is pending.
func TestRDSChangesWaitForTheMaintenanceWindow(t *testing.T) {
	p, db, state := rdsOn(t)
	state, err := p.updateFrom(t, db, state, map[string]any{"instanceClass": "db.m7g.xlarge", "engineVersion": "17.7"})
	if err != nil {
		t.Fatal(err)
	}
	if got := str(state, "instanceClass"); got != "db.m7g.large" {
		t.Errorf("class after the update %q, want the running db.m7g.large until the window", got)
	}
	if got, actual := str(state, "engineVersion"), str(state, "engineVersionActual"); got != "17.7" || actual != "17.6" {
		t.Errorf("engine version %q (actual %q), want 17.7 configured and 17.6 running", got, actual)
	}
	res := p.diffFrom(t, db, state)
	if res.Changes != plugin.DiffSome || res.Replace() || len(res.ChangedKeys) != 1 || res.ChangedKeys[0] != "instanceClass" {
		t.Errorf("a preview before the window: %+v, want an update of instanceClass alone", res)
	}
	if err := p.World.RunMaintenance(); err != nil {
		t.Fatal(err)
	}
	state = p.refresh(t, db, state)
	if got, actual := str(state, "instanceClass"), str(state, "engineVersionActual"); got != "db.m7g.xlarge" || actual != "17.7" {
		t.Errorf("after the window: class %q, version %q", got, actual)
	}
	if res := p.diffFrom(t, db, state); res.Changes != plugin.DiffNone {
		t.Errorf("a preview after the window and a refresh: %+v, want no change", res)
	}
}

func TestRDSAppliesImmediatelyWhenAsked(t *testing.T) {
	p, db, state := rdsOn(t)
	state, err := p.updateFrom(t, db, state, map[string]any{"instanceClass": "db.r7g.large", "applyImmediately": true})
	if err != nil {
		t.Fatal(err)
	}
	if got := str(state, "instanceClass"); got != "db.r7g.large" {
		t.Errorf("class %q", got)
	}
	if res := p.diffFrom(t, db, state); res.Changes != plugin.DiffNone {
		t.Errorf("preview after an immediate change: %+v", res)
	}
}

func TestRDSRefusesWhatRDSRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		changes map[string]any
		want    string
	}{
		{"a downgrade", map[string]any{"engineVersion": "17.4"}, "Cannot upgrade postgres from 17.6 to 17.4"},
		{"a major upgrade without the flag", map[string]any{"engineVersion": "18.1", "allowMajorVersionUpgrade": false, "parameterGroupName": "kong-prod-kong-postgres17"}, "AllowMajorVersionUpgrade"},
		{"a parameter group of another family", map[string]any{"parameterGroupName": "kong-prod-kong-postgres16"}, "DBParameterGroupFamily postgres16"},
		{"less storage", map[string]any{"allocatedStorage": 40}, "storage can only grow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, db, state := rdsOn(t)
			if _, err := p.updateFrom(t, db, state, c.changes); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// A protected instance is not deleted; without protection RDS takes the final snapshot, which
// outlives it, and refuses a second snapshot of the same name.
func TestRDSDeletionProtectionAndFinalSnapshot(t *testing.T) {
	p, db, state := rdsOn(t)
	del := func(l *live, state resource.PropertyMap) error {
		_, err := p.Delete(context.Background(), plugin.DeleteRequest{URN: urn(l.typ, l.name), Name: l.name, Type: tokens.Type(l.typ), ID: l.id, Outputs: state})
		return err
	}
	if err := del(db, state); err == nil || !strings.Contains(err.Error(), "Cannot delete protected DB Instance") {
		t.Fatalf("deleting a protected instance: %v", err)
	}
	state, err := p.updateFrom(t, db, state, map[string]any{"deletionProtection": false})
	if err != nil {
		t.Fatal(err)
	}
	if err := del(db, state); err != nil {
		t.Fatal(err)
	}
	snaps, err := p.World.Snapshots()
	if err != nil || len(snaps) != 1 || snaps[0].Name != "kong-prod-kong-final-0a1b2c3d" || snaps[0].EngineVersion != "17.6" {
		t.Fatalf("snapshots %+v (%v), want the final one", snaps, err)
	}
	again := p.mustCreate(t, rdsInstance, "db2", dbAt("17.6", "db.m7g.large", map[string]any{"deletionProtection": false}))
	_, state = p.outputs(t, again)
	if err := del(again, state); err == nil || !strings.Contains(err.Error(), "DBSnapshotAlreadyExists") {
		t.Errorf("a second final snapshot of the same name: %v", err)
	}
}
