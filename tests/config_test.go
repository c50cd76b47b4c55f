package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestBadConfigurationsRegisterNothing(t *testing.T) {
	t.Parallel()
	const p = "kong-alb-eks:"
	cases := []struct {
		name    string
		set     map[string]string
		key     string
		message string
	}{
		{"one-label domain", map[string]string{p + "domain": "localhost"}, p + "domain", "at least two labels"},
		{"domain outside the zone", map[string]string{p + "domain": "eks.example.org"}, p + "domain", "not inside the hosted zone"},
		{"no region", map[string]string{"aws:region": "us-east"}, "aws:region", "expected an AWS region"},
		{"VPC CIDR does not parse", map[string]string{p + "vpcCidr": "10.0.0.0/33"}, p + "vpcCidr", "expected an IPv4 CIDR"},
		{"subnet outside the VPC", map[string]string{p + "publicSubnetCidrs": `["10.1.0.0/22","10.0.4.0/22"]`}, p + "publicSubnetCidrs", "not inside the VPC CIDR"},
		{"overlapping subnets", map[string]string{p + "privateSubnetCidrs": `["10.0.4.0/24","10.0.96.0/19"]`}, p + "privateSubnetCidrs", "overlaps"},
		{"min above desired", map[string]string{p + "nodeMinSize": "3"}, p + "nodeDesiredSize", "nodeMinSize <= nodeDesiredSize <= nodeMaxSize"},
		{"node size not a number", map[string]string{p + "nodeMaxSize": "three"}, p + "nodeMaxSize", "expected an integer"},
		{"unpinned Kubernetes", map[string]string{p + "kubernetesVersion": "latest"}, p + "kubernetesVersion", "versions are pinned"},
		{"unpinned chart", map[string]string{p + "kongChartVersion": ""}, p + "kongChartVersion", "versions are pinned"},
		{"chart version range", map[string]string{p + "kongChartVersion": "^3.0"}, p + "kongChartVersion", "an exact chart version"},
		{"chart version wildcard", map[string]string{p + "certManagerChartVersion": "1.x"}, p + "certManagerChartVersion", "an exact chart version"},
		{"moving Kong tag", map[string]string{p + "kongVersion": "3.10"}, p + "kongVersion", "not a moving tag"},
		{"moving PostgreSQL tag", map[string]string{p + "postgresImageTag": "13"}, p + "postgresImageTag", "not a moving tag"},
		{"spaces around a value", map[string]string{p + "nodeInstanceType": " m6i.large"}, p + "nodeInstanceType", "no spaces around the value"},
		{"a CIDR listed twice", map[string]string{p + "adminAllowedCidrs": `["203.0.113.0/24","203.0.113.0/24"]`}, p + "adminAllowedCidrs", "is listed twice"},
		{"an empty list item", map[string]string{p + "publicSubnetCidrs": `["10.0.0.0/22",""]`}, p + "publicSubnetCidrs", "item 1 is empty"},
		{"a list item with spaces", map[string]string{p + "privateSubnetCidrs": `["10.0.64.0/19"," 10.0.96.0/19"]`}, p + "privateSubnetCidrs", "item 1 has spaces around it"},
		{"IPv6 inbound range on an IPv4 ALB", map[string]string{p + "albInboundCidrs": `["2001:db8::/32"]`}, p + "albInboundCidrs", "the ALB is IPv4-only"},
		{"misspelt key", map[string]string{p + "nodeInstanceTyp": "m6i.large"}, p + "nodeInstanceTyp", "did you mean kong-alb-eks:nodeInstanceType?"},
		{"key in the wrong case", map[string]string{p + "NodeInstanceType": "m6i.large"}, p + "NodeInstanceType", "(keys are case-sensitive): did you mean kong-alb-eks:nodeInstanceType?"},
		{"key that is nothing like one", map[string]string{p + "flux": "on"}, p + "flux", "unknown configuration key (Pulumi.yaml lists the keys)"},
		{"import without a body", map[string]string{p + "certificateMode": "import", p + "certificatePrivateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, p + "certificateBody", `required when certificateMode is "import"`},
		{"two certificate modes", map[string]string{p + "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}, p + "certificateArn", "exactly one certificate mode"},
		{"certificate in another region", map[string]string{p + "certificateMode": "arn", p + "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}, p + "certificateArn", "its own region"},
		{"data plane newer than control plane", map[string]string{p + "kongDataPlaneVersion": "3.11.0.0"}, p + "kongDataPlaneVersion", "upgrade the control plane first"},
		{"admin open to the world", map[string]string{p + "adminAllowedCidrs": `["0.0.0.0/0"]`}, p + "adminAllowedCidrs", "whole internet"},
		{"unknown NAT layout", map[string]string{p + "natGateways": "two"}, p + "natGateways", `expected "one-per-az" or "single"`},
		{"unknown IP address type", map[string]string{p + "ipAddressType": "ipv6"}, p + "ipAddressType", `expected "ipv4" or "dualstack"`},
		{"external Postgres without password", map[string]string{p + "postgresHost": "kong.abc123.us-east-1.rds.amazonaws.com"}, p + "postgresPassword", "required with postgresHost"},
		{"arm instance, x86 AMI", map[string]string{p + "nodeInstanceType": "m7g.large"}, p + "nodeAmiType", "does not run on instance type m7g.large"},
		{"amd64 demo on Graviton nodes", map[string]string{p + "nodeInstanceType": "m7g.large", p + "nodeAmiType": "AL2023_ARM_64_STANDARD"}, p + "demoImage", "built for amd64 but the nodes are arm64"},
		{"arm64 demo on x86 nodes", map[string]string{p + "demoImage": "gcr.io/kuar-demo/kuard-arm64:1"}, p + "demoImage", "built for ARM but the nodes are x86_64"},
		{"VPC CNI without network policies", map[string]string{p + "vpcCniVersion": "v1.14.0-eksbuild.2"}, p + "vpcCniVersion", "cannot enforce network policies"},
		{"add-on version range", map[string]string{p + "corednsVersion": "1.12"}, p + "corednsVersion", "expected an EKS add-on version"},
		{"access entry for a role session", map[string]string{p + "accessEntries": `["arn:aws:sts::123456789012:assumed-role/admins/alice AmazonEKSViewPolicy"]`}, p + "accessEntries", "is a role session"},
		{"access entry with an unknown policy", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AdministratorAccess"]`}, p + "accessEntries", "expected an EKS access policy"},
		{"access entry granted twice", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AmazonEKSViewPolicy","arn:aws:iam::123456789012:role/ops AmazonEKSViewPolicy kong"]`}, p + "accessEntries", "twice"},
		{"access entry with a bad namespace", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops AmazonEKSEditPolicy Kong"]`}, p + "accessEntries", "expected namespace names"},
		{"access entry without a policy", map[string]string{p + "accessEntries": `["arn:aws:iam::123456789012:role/ops"]`}, p + "accessEntries", "expected \"PRINCIPAL_ARN POLICY\""},
	}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testkit.StackConfig(t, projectDir, "dev")
			for k, v := range c.set {
				cfg[k] = v
			}
			doc, err := synth.Run(synth.Options{Stack: "dev", Config: cfg})
			var verr *stacks.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a validation error, got %v", err)
			}
			if len(verr.Problems) != 1 {
				t.Errorf("want exactly one problem, got %v", verr.Problems)
			}
			if got := verr.Problems[0]; got.Key != c.key || !strings.Contains(got.Message, c.message) {
				t.Errorf("problem = %s: %s; want %s: ...%s...", got.Key, got.Message, c.key, c.message)
			}
			if other, dup := seen[verr.Problems[0].Message]; dup {
				t.Errorf("same message as case %q", other)
			}
			seen[verr.Problems[0].Message] = c.name
			if _, known := stacks.LookupKey(verr.Problems[0].Key); !known && !strings.HasPrefix(verr.Problems[0].Message, "unknown configuration key") {
				t.Errorf("the problem names %s, which is no config key", verr.Problems[0].Key)
			}
			if len(doc.Resources) != 0 || len(doc.Invokes) != 0 {
				t.Errorf("an invalid stack registered %d resources and made %d lookups", len(doc.Resources), len(doc.Invokes))
			}
		})
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	cfg := testkit.StackConfig(t, projectDir, "dev")
	cfg["kong-alb-eks:domain"] = "nodots"
	cfg["kong-alb-eks:nodeMinSize"] = "0"
	cfg["kong-alb-eks:kongVersion"] = "latest"
	cfg["kong-alb-eks:sslPolicy"] = "TLS1.3"
	_, err := synth.Run(synth.Options{Stack: "dev", Config: cfg})
	var verr *stacks.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a validation error, got %v", err)
	}
	keys := map[string]bool{}
	for _, p := range verr.Problems {
		keys[p.Key] = true
	}
	for _, k := range []string{"kong-alb-eks:domain", "kong-alb-eks:nodeMinSize", "kong-alb-eks:kongVersion", "kong-alb-eks:sslPolicy"} {
		if !keys[k] {
			t.Errorf("%s not reported; got %v", k, verr.Problems)
		}
	}
}

func TestSynthCommandFailsLikeARealRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "Pulumi.bad.yaml")
	if err := os.WriteFile(bad, []byte("config:\n  aws:region: us-east-1\n  kong-alb-eks:domain: eks.example.com\n  kong-alb-eks:hostedZone: example.com\n  kong-alb-eks:nodeMaxSize: \"1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := synth.Command([]string{"--config-file", bad, "--stack", "bad"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "kong-alb-eks:nodeMaxSize") || stdout.Len() != 0 {
		t.Errorf("stderr = %q, stdout = %q", stderr.String(), stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := synth.Command([]string{"--dir", projectDir, "--stack", "dev", "--format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code = %d: %s", code, stderr.String())
	}
	doc, err := synth.ReadJSON(&stdout)
	if err != nil || doc.Stack != "dev" || len(doc.Resources) == 0 {
		t.Errorf("JSON output: %v, %+v", err, doc)
	}
}

// Keys of other namespaces are their providers' to check; a misspelt key of the program's own
// is refused also when the engine starts the program (`pulumi up`, `pulumi preview`): the
// engine hands the program its stack's whole configuration as PULUMI_CONFIG (the Go SDK's
// pulumi.EnvConfig), which is where the program finds the keys it does not declare.
func TestUnknownKeysUnderTheEngine(t *testing.T) {
	cfg := testkit.StackConfig(t, projectDir, "dev")
	cfg["aws:someFutureSetting"] = "x"
	cfg["kubernetes:enableServerSideApply"] = "true"
	if _, err := synth.Run(synth.Options{Stack: "dev", Config: cfg}); err != nil {
		t.Errorf("keys of other namespaces were refused: %v", err)
	}

	cfg["kong-alb-eks:nodeInstanceTyp"] = "m6i.large"
	all, _ := json.Marshal(cfg)
	t.Setenv(pulumi.EnvConfig, string(all))
	delete(cfg, "kong-alb-eks:nodeInstanceTyp") // the engine does not pass unknown keys to GetConfig's callers either way
	doc, err := synth.Run(synth.Options{Stack: "dev", Config: cfg, Program: func(ctx *pulumi.Context) (pulumi.Map, error) {
		env, err := stacks.LoadAndDeploy(ctx) // as main.go's program: the keys from the engine's environment
		if err != nil {
			return nil, err
		}
		return env.Outputs, nil
	}})
	var verr *stacks.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Key != "kong-alb-eks:nodeInstanceTyp" ||
		!strings.Contains(verr.Problems[0].Message, "did you mean kong-alb-eks:nodeInstanceType?") {
		t.Fatalf("a misspelt key in PULUMI_CONFIG: %v", err)
	}
	if len(doc.Resources) != 0 {
		t.Errorf("a refused configuration registered %d resources", len(doc.Resources))
	}
}
