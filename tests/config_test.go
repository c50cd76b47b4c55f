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
	seen := map[string]string{}
	for _, c := range testkit.BadConfigurations(t) {
		t.Run(c.Name, func(t *testing.T) {
			cfg := testkit.StackConfig(t, projectDir, "dev")
			c.ApplyTo(cfg)
			doc, err := synth.Run(synth.Options{Stack: "dev", Config: cfg})
			var verr *stacks.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a validation error, got %v", err)
			}
			if len(verr.Problems) != 1 {
				t.Errorf("want exactly one problem, got %v", verr.Problems)
			}
			if got := verr.Problems[0]; got.Key != c.Key || !strings.Contains(got.Message, c.Message) {
				t.Errorf("problem = %s: %s; want %s: ...%s...", got.Key, got.Message, c.Key, c.Message)
			}
			if other, dup := seen[verr.Problems[0].Message]; dup {
				t.Errorf("same message as case %q", other)
			}
			seen[verr.Problems[0].Message] = c.Name
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
		env, err := stacks.LoadAndDeploy(ctx, stacks.Operation{}) // as main.go's program: the keys from the engine's environment
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

// The cluster name defaults to kong-alb-eks-<stack>, and the names made from it (IAM roles of
// at most 64 characters, a node group of at most 63) limit it to 48: a longer stack name is
// refused, by synth and by the portal's spec, unless clusterName is set.
func TestDefaultClusterNameFitsTheStack(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("s", 36)
	cfg := testkit.StackConfig(t, projectDir, "dev")
	_, err := synth.Run(synth.Options{Stack: long, Config: cfg})
	var verr *stacks.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Key != "kong-alb-eks:clusterName" ||
		!strings.Contains(verr.Problems[0].Message, "use a stack name of at most 35 characters") {
		t.Errorf("synth of stack %s: %v", long, err)
	}
	cfg["kong-alb-eks:clusterName"] = "kong"
	if _, err := synth.Run(synth.Options{Stack: long, Config: cfg}); err != nil {
		t.Errorf("with clusterName set, the stack's name does not matter: %v", err)
	}
	values := map[string]json.RawMessage{"aws:region": json.RawMessage(`"us-east-1"`), "domain": json.RawMessage(`"eks.example.com"`), "hostedZone": json.RawMessage(`"example.com"`)}
	_, err = stacks.SpecFromMap(long, values)
	if err == nil || !strings.Contains(err.Error(), "kong-alb-eks:clusterName: the default cluster name") {
		t.Errorf("the portal's spec for environment %s: %v", long, err)
	}
	if _, err := stacks.SpecFromMap(long[:35], values); err != nil {
		t.Errorf("a 35-character environment name: %v", err)
	}
}
