package wholeprogram

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

const rdsInstanceType = "aws:rds/instance:Instance"

// databaseConfig points an RDS stack's CA bundle at a local file (the deploy machine's mirror,
// as databaseCaBundle allows): this machine cannot reach AWS's trust store. The bundle is a CA
// made here, in the form the region's bundle has.
func databaseConfig(t *testing.T) map[string]string {
	t.Helper()
	bundle := testkit.CA(t, "Amazon RDS eu-west-1 Root CA ECC384 G1 (stand-in)", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	path := filepath.Join(t.TempDir(), "eu-west-1-bundle.pem")
	if err := os.WriteFile(path, []byte(bundle), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"kong-alb-eks:databaseCaBundle": path}
}

// database is the stack's live RDS instance in the fake cloud.
func (e *env) database() fakecloud.Resource {
	e.t.Helper()
	dbs := e.resources(rdsInstanceType)
	if len(dbs) != 1 {
		e.t.Fatalf("%d RDS instances in the cloud, want 1", len(dbs))
	}
	return dbs[0]
}

// checkDatabase: the control plane runs on the RDS instance. The real Kong chart renders the
// control plane's Deployment (and its migration Jobs, checked after the Kong upgrade) with the
// instance's address, TLS required and verified against the bundle, which is mounted from the
// ConfigMap that holds it.
func (e *env) checkDatabase() {
	e.t.Helper()
	kong := e.spec.Config.Kong
	db := e.database()
	address := fmt.Sprint(db.Outputs["address"])
	if !strings.HasSuffix(address, ".rds.amazonaws.com") {
		e.t.Fatalf("the instance's address %q", address)
	}
	bundle, err := os.ReadFile(e.spec.Config.Database.CABundle)
	if err != nil {
		e.t.Fatal(err)
	}
	cm := e.get(fmt.Sprintf("/api/v1/namespaces/%s/configmaps/%s-postgres-ca", kong.Namespace, kong.ControlPlaneRelease))
	if field(cm, "data", "ca-bundle.pem") != string(bundle) {
		e.t.Errorf("the CA bundle's ConfigMap holds %v, want the bundle read at deploy time", field(cm, "data"))
	}
	deploy := e.get(fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments/%s-kong", kong.Namespace, kong.ControlPlaneRelease))
	e.checkKongReadsRDS("the control plane's Deployment", field(deploy, "spec", "template").(object), address)
}

// checkKongReadsRDS checks a pod template of the control plane's release: its Kong container
// connects to the instance over verified TLS, and mounts the bundle from the ConfigMap.
func (e *env) checkKongReadsRDS(what string, template object, address string) {
	e.t.Helper()
	kong := e.spec.Config.Kong
	containers, _ := field(template, "spec", "containers").([]any)
	var env map[string]string
	var mounts []any
	for _, c := range containers {
		env = map[string]string{}
		for _, v := range field(c.(object), "env").([]any) {
			value, _ := field(v.(object), "value").(string)
			env[fmt.Sprint(field(v.(object), "name"))] = value
		}
		if env["KONG_PG_HOST"] != "" {
			mounts, _ = field(c.(object), "volumeMounts").([]any)
			break
		}
	}
	for k, want := range map[string]string{
		"KONG_PG_HOST": address, "KONG_PG_PORT": "5432", "KONG_PG_SSL": "on", "KONG_PG_SSL_VERIFY": "on",
		"KONG_PG_SSL_REQUIRED": "on", "KONG_LUA_SSL_TRUSTED_CERTIFICATE": "system," + components.PostgresCAFile,
	} {
		if env[k] != want {
			e.t.Errorf("%s: %s = %q, want %q", what, k, env[k], want)
		}
	}
	volume := ""
	for _, v := range field(template, "spec", "volumes").([]any) {
		if field(v.(object), "configMap", "name") == kong.ControlPlaneRelease+"-postgres-ca" {
			volume = fmt.Sprint(field(v.(object), "name"))
		}
	}
	mounted := false
	for _, m := range mounts {
		mounted = mounted || (volume != "" && field(m.(object), "name") == volume && field(m.(object), "mountPath") == "/etc/kong/postgres-ca")
	}
	if !mounted {
		e.t.Errorf("%s: the CA bundle's ConfigMap is not mounted at /etc/kong/postgres-ca in the Kong container", what)
	}
}

// checkMigrationsOnRDS: the Kong upgrade's migration Jobs ran against the instance.
func (e *env) checkMigrationsOnRDS() {
	e.t.Helper()
	kong := e.spec.Config.Kong
	address := fmt.Sprint(e.database().Outputs["address"])
	for _, hook := range []string{"pre-upgrade-migrations", "post-upgrade-migrations"} {
		job := e.get(fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs/%s-kong-%s", kong.Namespace, kong.ControlPlaneRelease, hook))
		e.checkKongReadsRDS("the "+hook+" Job", field(job, "spec", "template").(object), address)
	}
}

// upgradeDatabase lives the database's day 2 as the README describes it. A new class and a new
// minor version are one update of the instance, never a replacement. Without
// databaseApplyImmediately they wait for the maintenance window, and until it passes the
// provider reads back the running class, so a preview still plans the update (nothing else);
// after the window a refresh finds it done and a preview plans nothing. With it, the next
// change is made at once.
func (e *env) upgradeDatabase() {
	e.t.Helper()
	id := e.spec.Config.DatabaseIdentifier(e.name)
	instance := map[string]step{rdsInstanceType + " " + id: "update"}

	spec := e.spec
	spec.Config.Database.InstanceClass, spec.Config.Database.EngineVersion = "db.m7g.xlarge", "17.7"
	e.upPlanned("database db.m7g.xlarge, 17.7 in the maintenance window", spec, instance)
	if db := e.database(); db.Outputs["instanceClass"] != "db.m7g.large" || db.Outputs["engineVersionActual"] != "17.6" {
		e.t.Errorf("before the window the instance runs %v %v, want db.m7g.large 17.6", db.Outputs["instanceClass"], db.Outputs["engineVersionActual"])
	}
	if got := e.plan(spec); fmt.Sprint(got) != fmt.Sprint(instance) {
		e.t.Errorf("before the window a preview plans\n  %s\nwant the pending update alone", describe(got))
	}
	if err := e.world.RunMaintenance(); err != nil {
		e.t.Fatal(err)
	}
	e.refresh("the maintenance window")
	if got := e.plan(spec); len(got) > 0 {
		e.t.Errorf("after the window and a refresh a preview plans %s", describe(got))
	}
	if db := e.database(); db.Outputs["instanceClass"] != "db.m7g.xlarge" || db.Outputs["engineVersionActual"] != "17.7" {
		e.t.Errorf("after the window the instance runs %v %v", db.Outputs["instanceClass"], db.Outputs["engineVersionActual"])
	}

	spec = e.spec
	spec.Config.Database.ApplyImmediately, spec.Config.Database.InstanceClass = true, "db.r7g.xlarge"
	e.apply("database db.r7g.xlarge at once", spec, instance)
	if db := e.database(); db.Outputs["instanceClass"] != "db.r7g.xlarge" {
		e.t.Errorf("applied at once, the instance runs %v", db.Outputs["instanceClass"])
	}
}

// refresh reads the stack's resources back (the engine's summary does not count what a
// refresh changed in the outputs alone: the preview after it is the check).
func (e *env) refresh(after string) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.manager.Refresh(ctx, e.spec.Name, e.record()); err != nil {
		e.t.Fatalf("refresh after %s: %v", after, err)
	}
}

// destroyProduction: the database's deletion protection refuses a destroy before anything is
// deleted; lifting it (README, "Tearing down production") is an update of the instance alone;
// the destroy then leaves nothing behind but the final snapshot, under the name the stack
// exported.
func (e *env) destroyProduction(before map[string]object) {
	e.t.Helper()
	live, err := e.world.Resources()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := e.ctx()
	_, err = e.manager.Destroy(ctx, e.spec.Name, e.record())
	cancel()
	var protected *automation.ProtectedError
	if !errors.As(err, &protected) || !strings.Contains(err.Error(), "databaseDeletionProtection") {
		e.t.Fatalf("destroying a protected production: %v, want it refused naming databaseDeletionProtection", err)
	}
	if after, _ := e.world.Resources(); len(after) != len(live) {
		e.t.Fatalf("the refused destroy deleted %d cloud resources", len(live)-len(after))
	}
	snapshot := e.stackOutput(outputs.DatabaseFinalSnapshot)

	spec := e.spec
	spec.Config.Database.DeletionProtection = false
	e.apply("lifting the database's deletion protection", spec, map[string]step{
		rdsInstanceType + " " + e.spec.Config.DatabaseIdentifier(e.name): "update",
	})
	e.destroy(before)
	snaps, err := e.world.Snapshots()
	if err != nil {
		e.t.Fatal(err)
	}
	if len(snaps) != 1 || snaps[0].Name != snapshot || !strings.HasPrefix(snapshot, e.spec.Config.DatabaseIdentifier(e.name)+"-final-") {
		e.t.Errorf("final snapshots %+v, want the one named %q", snaps, snapshot)
	}
}

// stackOutput is a stack output's value, as the manager reads it.
func (e *env) stackOutput(name string) string {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	outs, err := e.manager.Outputs(ctx, e.spec.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	v, ok := outs[name]
	if !ok {
		e.t.Fatalf("no stack output %s in %v", name, outs)
	}
	return fmt.Sprint(v.Value)
}
