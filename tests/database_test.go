package tests

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/components"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// The prod stack's control plane runs on the RDS instance the program makes: private,
// encrypted, TLS required, reachable from the cluster's pods only, protected, backed up; Kong
// connects over verified TLS with the password from a Secret; and the instance is created in
// parallel with the cluster.
func TestProdRunsOnRDS(t *testing.T) {
	t.Parallel()
	doc := testkit.SynthStack(t, projectDir, "prod")
	db := testkit.Named(t, doc, "aws:rds/instance:Instance", "kong-prod-kong")
	for path, want := range map[string]any{
		"engine": "postgres", "engineVersion": "17.6", "instanceClass": "db.m7g.large",
		"storageEncrypted": true, "storageType": "gp3", "publiclyAccessible": false, "multiAz": true,
		"backupRetentionPeriod": 14.0, "deletionProtection": true, "skipFinalSnapshot": false,
		"autoMinorVersionUpgrade": false, "applyImmediately": false, "caCertIdentifier": components.RDSCACertificate,
		"performanceInsightsEnabled": true, "deleteAutomatedBackups": false, "port": 5432.0, "dbName": "kong", "username": "kong",
		"parameterGroupName": "kong-prod-kong-postgres17", "dbSubnetGroupName": "kong-prod-kong",
	} {
		if got := db.Input(path); got != want {
			t.Errorf("instance %s = %v, want %v", path, got, want)
		}
	}
	if got := db.Input("password"); got != synth.Secret {
		t.Errorf("the master password is %v, want a secret", got)
	}
	if snap, _ := db.Input("finalSnapshotIdentifier").(string); !strings.HasPrefix(snap, "kong-prod-kong-final-") {
		t.Errorf("final snapshot %q", snap)
	}

	params := testkit.Named(t, doc, "aws:rds/parameterGroup:ParameterGroup", "kong-prod-kong-postgres17")
	if params.Input("family") != "postgres17" || !strings.Contains(jsonOf(params.Input("parameters")), `"name":"rds.force_ssl","value":"1"`) {
		t.Errorf("parameter group: family %v, parameters %v; want postgres17 with rds.force_ssl 1", params.Input("family"), params.Input("parameters"))
	}
	subnets := testkit.Named(t, doc, "aws:rds/subnetGroup:SubnetGroup", "kong-prod-kong")
	for _, s := range []string{"kong-prod-private-0", "kong-prod-private-1", "kong-prod-private-2"} {
		testkit.WaitsOn(t, subnets, testkit.Named(t, doc, "aws:ec2/subnet:Subnet", s), "the database lives in the private subnets")
	}
	for _, s := range []string{"kong-prod-public-0"} {
		if reaches(doc, subnets.URN, testkit.Named(t, doc, "aws:ec2/subnet:Subnet", s).URN) {
			t.Error("the database's subnet group reaches a public subnet")
		}
	}

	// One rule admits 5432 from the cluster security group, and nothing else.
	group := testkit.Named(t, doc, "aws:ec2/securityGroup:SecurityGroup", "kong-prod-kong")
	if got, _ := db.Input("vpcSecurityGroupIds").([]any); len(got) != 1 {
		t.Errorf("instance security groups %v, want only its own", got)
	}
	testkit.WaitsOn(t, db, group, "the instance is in its own security group")
	var rules []synth.Resource
	for _, r := range doc.Resources {
		if strings.HasPrefix(r.Type, "aws:vpc/securityGroup") || r.Type == "aws:ec2/securityGroupRule:SecurityGroupRule" {
			rules = append(rules, r)
		}
	}
	if len(rules) != 1 {
		t.Fatalf("%d security group rules, want the one ingress rule", len(rules))
	}
	rule, cluster := rules[0], testkit.Named(t, doc, "aws:eks/cluster:Cluster", "kong-prod")
	if rule.Type != "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" || rule.Input("fromPort") != 5432.0 || rule.Input("toPort") != 5432.0 ||
		rule.Input("ipProtocol") != "tcp" || rule.Input("cidrIpv4") != nil || rule.Input("cidrIpv6") != nil {
		t.Errorf("the rule: %+v", rule.Inputs)
	}
	if sg, _ := rule.Input("referencedSecurityGroupId").(string); !strings.HasPrefix(sg, "sg-") {
		t.Errorf("the rule's source %v, want the cluster security group", rule.Input("referencedSecurityGroupId"))
	}
	testkit.WaitsOn(t, rule, cluster, "its source is the cluster's security group")
	if group.Inputs["ingress"] != nil || group.Inputs["egress"] != nil {
		t.Errorf("the group has inline rules: %v %v", group.Inputs["ingress"], group.Inputs["egress"])
	}

	// The instance waits for nothing of the cluster: it is created while EKS is.
	for _, r := range doc.Resources {
		if strings.HasPrefix(r.Type, "aws:eks/") && reaches(doc, db.URN, r.URN) {
			t.Errorf("the instance waits for %s %s: it would add RDS's creation to the time EKS takes", r.Type, r.Name)
		}
	}

	// Kong: verified TLS against the bundle, mounted from a ConfigMap; the password from a Secret.
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	for path, want := range map[string]any{
		"values.env.pg_host":                                 dbAddress(t, doc),
		"values.env.pg_port":                                 "5432",
		"values.env.pg_ssl":                                  "on",
		"values.env.pg_ssl_verify":                           "on",
		"values.env.pg_ssl_required":                         "on",
		"values.env.lua_ssl_trusted_certificate":             "system," + components.PostgresCAFile,
		"values.env.pg_password.valueFrom.secretKeyRef.name": "kong-aws-cp-postgres",
		"values.postgresql.enabled":                          false,
		"values.extraConfigMaps.0.name":                      "kong-aws-cp-postgres-ca",
		"values.extraConfigMaps.0.mountPath":                 "/etc/kong/postgres-ca",
	} {
		if got := cp.Input(path); got != want {
			t.Errorf("control plane %s = %v, want %v", path, got, want)
		}
	}
	if sum, _ := synth.LookupParts(cp.Inputs, "values", "podAnnotations", components.PostgresCAChecksumAnnotation).(string); len(sum) != 64 {
		t.Errorf("the pods carry no checksum of the CA bundle: %q", sum)
	}
	bundle := testkit.Named(t, doc, "kubernetes:core/v1:ConfigMap", "kong-aws-cp-postgres-ca")
	if got, _ := synth.LookupParts(bundle.Inputs, "data", "ca-bundle.pem").(string); !strings.Contains(got, "https://truststore.pki.rds.amazonaws.com/us-west-2/us-west-2-bundle.pem") {
		t.Errorf("the CA bundle's ConfigMap holds %q, want (offline) where up fetches it from", got)
	}
	secret := testkit.Named(t, doc, "kubernetes:core/v1:Secret", "kong-aws-cp-postgres")
	if secret.Input("stringData") != synth.Secret {
		t.Errorf("the password Secret's data is not secret: %v", secret.Input("stringData"))
	}
	testkit.WaitsOn(t, cp, db, "Kong's migrations connect to the database")
	testkit.WaitsOn(t, cp, rule, "the database must admit the cluster's pods before Kong connects")
	testkit.WaitsOn(t, cp, bundle, "the release mounts the bundle")
	if b, _ := json.Marshal(doc); strings.Contains(string(b), `"password":"`) && !strings.Contains(string(b), `"password":"`+synth.Secret) {
		t.Error("a password is in plaintext in the desired state")
	}

	// No bundled PostgreSQL: no volume to wait for.
	if tag, _ := cp.Input("values.postgresql.image.tag").(string); tag != "" {
		t.Error("the bundled PostgreSQL is configured")
	}
	if doc.Outputs[outputs.DatabaseAddress] != dbAddress(t, doc) {
		t.Errorf("databaseAddress output %v", doc.Outputs[outputs.DatabaseAddress])
	}
	if snap, _ := doc.Outputs[outputs.DatabaseFinalSnapshot].(string); snap != db.Input("finalSnapshotIdentifier") {
		t.Errorf("databaseFinalSnapshot output %v, want the instance's %v", snap, db.Input("finalSnapshotIdentifier"))
	}
}

// dev keeps the bundled PostgreSQL: no RDS resource, no database outputs.
func TestDevKeepsTheBundledDatabase(t *testing.T) {
	t.Parallel()
	doc := testkit.SynthStack(t, projectDir, "dev")
	for _, r := range doc.Resources {
		if strings.HasPrefix(r.Type, "aws:rds/") || r.Type == "aws:ec2/securityGroup:SecurityGroup" {
			t.Errorf("dev has %s %s", r.Type, r.Name)
		}
	}
	cp := testkit.Named(t, doc, "kubernetes:helm.sh/v3:Release", "kong-aws-cp")
	if cp.Input("values.postgresql.enabled") != true || cp.Input("values.env.pg_ssl_verify") != nil {
		t.Errorf("dev's control plane: postgresql.enabled %v, pg_ssl_verify %v", cp.Input("values.postgresql.enabled"), cp.Input("values.env.pg_ssl_verify"))
	}
	if _, ok := doc.Outputs[outputs.DatabaseAddress]; ok {
		t.Error("dev exports databaseAddress")
	}
}

func dbAddress(t *testing.T, doc *synth.Document) string {
	t.Helper()
	return "kong-prod-kong." + testkitHex(t, doc) + ".us-west-2.rds.amazonaws.com"
}

// testkitHex is the address's account-and-region part, as the instance's answer has it.
func testkitHex(t *testing.T, doc *synth.Document) string {
	t.Helper()
	addr, _ := doc.Outputs[outputs.DatabaseAddress].(string)
	parts := strings.Split(addr, ".")
	if len(parts) < 2 {
		t.Fatalf("databaseAddress %q", addr)
	}
	return parts[1]
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
