package stacks_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

func validConfig() stacks.Config {
	c := stacks.DefaultConfig()
	c.Region, c.Domain, c.HostedZone = "us-east-1", "eks.example.com", "example.com"
	return c
}

func problemsOf(t *testing.T, err error) stacks.Problems {
	t.Helper()
	var verr *stacks.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a *stacks.ValidationError, got %v", err)
	}
	return verr.Problems
}

func TestDefaultsAreValid(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestKeysAreUniqueAndQualified(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range stacks.Keys() {
		if seen[k.FullKey()] {
			t.Errorf("key %s twice", k.FullKey())
		}
		seen[k.FullKey()] = true
		if !strings.Contains(k.FullKey(), ":") {
			t.Errorf("key %s is not qualified", k.FullKey())
		}
	}
	for _, want := range []string{"aws:region", "kong-alb-eks:domain", "kong-alb-eks:kongChartVersion", "kong-alb-eks:certManagerChartRepository"} {
		if !seen[want] {
			t.Errorf("no key %s", want)
		}
	}
}

func TestPulumiConfigRoundTrips(t *testing.T) {
	c := validConfig()
	c.Kong.AdminAllowedCIDRs = []string{"203.0.113.0/24"}
	c.Kong.PostgresHost, c.Kong.PostgresPassword = "db.internal", "s3cret"
	c.Cluster.NodeMaxSize = 7
	c.ALB.AllowPlainHTTP = true
	values := c.PulumiConfig()
	if v := values["kong-alb-eks:postgresPassword"]; !v.Secret || v.Value != "s3cret" {
		t.Errorf("postgresPassword = %+v, want the plaintext marked secret", v)
	}
	if v := values["kong-alb-eks:adminAllowedCidrs"]; v.Value != `["203.0.113.0/24"]` {
		t.Errorf("arrays are JSON in stack config, got %q", v.Value)
	}
	loaded, err := stacks.LoadConfig(func(k string) (string, bool) { v, ok := values[k]; return v.Value, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", loaded, c)
	}
}

func TestLoadConfigReportsParseAndValidationProblemsByKey(t *testing.T) {
	_, err := stacks.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{
			"aws:region": "us-east-1", "kong-alb-eks:domain": "eks.example.com", "kong-alb-eks:hostedZone": "example.com",
			"kong-alb-eks:nodeMinSize": "two", "kong-alb-eks:publicSubnetCidrs": "10.0.0.0/22", "kong-alb-eks:demoEnabled": "yes please",
		}[k]
		return v, ok
	})
	got := map[string]string{}
	for _, p := range problemsOf(t, err) {
		got[p.Key] = p.Message
	}
	for k, want := range map[string]string{
		"kong-alb-eks:nodeMinSize": "expected an integer", "kong-alb-eks:publicSubnetCidrs": "expected a list of strings",
		"kong-alb-eks:demoEnabled": "expected true or false",
	} {
		if !strings.Contains(got[k], want) {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
}

func TestConfigFromMapIsStrict(t *testing.T) {
	_, err := stacks.ConfigFromMap(map[string]json.RawMessage{
		"aws:region": json.RawMessage(`"us-east-1"`), "domain": json.RawMessage(`"eks.example.com"`),
		"kong-alb-eks:hostedZone": json.RawMessage(`"example.com"`),
		"nodeMinSiz":              json.RawMessage(`2`),
		"nodeMaxSize":             json.RawMessage(`"4"`),
		"postgresPassword":        json.RawMessage(`12345`),
	})
	got := map[string]string{}
	for _, p := range problemsOf(t, err) {
		got[p.Key] = p.Message
	}
	if got["nodeMinSiz"] != "unknown configuration key: did you mean kong-alb-eks:nodeMinSize?" {
		t.Errorf("unknown key: %q", got["nodeMinSiz"])
	}
	if !strings.Contains(got["kong-alb-eks:nodeMaxSize"], "expected an integer") {
		t.Errorf("wrong type: %q", got["kong-alb-eks:nodeMaxSize"])
	}
	if msg := got["kong-alb-eks:postgresPassword"]; msg == "" || strings.Contains(msg, "12345") {
		t.Errorf("a bad secret is reported without its value: %q", msg)
	}

	cfg, err := stacks.ConfigFromMap(map[string]json.RawMessage{
		"aws:region": json.RawMessage(`"us-east-1"`), "domain": json.RawMessage(`"eks.example.com"`),
		"hostedZone": json.RawMessage(`"example.com"`), "adminAllowedCidrs": json.RawMessage(`["198.51.100.0/24"]`),
		"nodeMaxSize": json.RawMessage(`5`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.NodeMaxSize != 5 || cfg.Kong.AdminAllowedCIDRs[0] != "198.51.100.0/24" || cfg.Kong.Version != stacks.DefaultConfig().Kong.Version {
		t.Errorf("spec not applied over the defaults: %+v", cfg)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := validConfig()
	c.Certificate.PrivateKey = "-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(b), fmt.Sprint(c.Certificate.PrivateKey)} {
		if strings.Contains(s, "TOPSECRET") {
			t.Errorf("secret printed: %s", s)
		}
	}
	k, _ := stacks.LookupKey("certificatePrivateKey")
	if c.Value(k) != "[secret]" {
		t.Errorf("Value of a secret = %v", c.Value(k))
	}
}

func TestImportedCertificateMustCoverTheNames(t *testing.T) {
	c := validConfig()
	c.Certificate.Mode = stacks.CertificateImport
	body, key := testkit.SelfSigned(t, "*.eks.example.com", "eks.example.com")
	c.Certificate.Body, c.Certificate.PrivateKey = body, stacks.Secret(key)
	if err := c.Validate(); err != nil {
		t.Fatalf("a wildcard for the domain is valid: %v", err)
	}
	other, otherKey := testkit.SelfSigned(t, "*.other.example.com")
	c.Certificate.Body, c.Certificate.PrivateKey = other, stacks.Secret(otherKey)
	problems := problemsOf(t, c.Validate())
	if len(problems) != 2 || problems[0].Key != "kong-alb-eks:certificateBody" || !strings.Contains(problems[0].Message, "does not cover proxy.eks.example.com") {
		t.Errorf("problems = %v", problems)
	}
	c.Certificate.Body, c.Certificate.PrivateKey = "not a certificate", "not a key"
	for _, p := range problemsOf(t, c.Validate()) {
		if strings.Contains(p.Message, "not a key") {
			t.Errorf("the key's value is echoed: %s", p.Message)
		}
	}
}

func TestVersionSkew(t *testing.T) {
	for _, c := range []struct {
		cp, dp string
		ok     bool
	}{
		{"3.10.0.4", "", true}, {"3.10.0.4", "3.10.0.4", true}, {"3.10.0.4", "3.10.0.1", true},
		{"3.14.0.0", "3.10.0.4", true}, {"3.10.0.4", "3.10.0.5", false}, {"3.10.0.4", "3.14.0.0", false},
		{"3.10.0.4", "2.8.4.0", false}, {"3.10", "3.10.0.1", false},
	} {
		cfg := validConfig()
		cfg.Kong.Version, cfg.Kong.DataPlaneVersion = c.cp, c.dp
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("control plane %s, data plane %q: valid = %v, want %v (%v)", c.cp, c.dp, err == nil, c.ok, err)
		}
	}
	cfg := validConfig()
	cfg.Kong.DataPlaneVersion = "3.10.0.1"
	if cfg.Kong.EffectiveDataPlaneVersion() != "3.10.0.1" || stacks.DefaultConfig().Kong.EffectiveDataPlaneVersion() != stacks.DefaultConfig().Kong.Version {
		t.Error("EffectiveDataPlaneVersion")
	}
}

func TestChartSources(t *testing.T) {
	c := validConfig()
	c.Charts.CertManager = stacks.ChartSource{Chart: "oci://quay.io/jetstack/charts/cert-manager", Version: "v1.21.1"}
	c.Charts.Kong = stacks.ChartSource{Chart: "./charts/kong", Version: "3.4.1"}
	if err := c.Validate(); err != nil {
		t.Fatalf("OCI and local charts are valid: %v", err)
	}
	c.Charts.CertManager.Repository = "https://charts.jetstack.io"
	c.Charts.LoadBalancerController.Repository = "ftp://mirror"
	keys := map[string]bool{}
	for _, p := range problemsOf(t, c.Validate()) {
		keys[p.Key] = true
	}
	if !keys["kong-alb-eks:certManagerChartRepository"] || !keys["kong-alb-eks:loadBalancerControllerChartRepository"] {
		t.Errorf("problems by key: %v", keys)
	}
}

func TestNearestKey(t *testing.T) {
	for set, want := range map[string]string{
		"kong-alb-eks:nodeInstanceTyp":  "did you mean kong-alb-eks:nodeInstanceType?",
		"kong-alb-eks:domian":           "did you mean kong-alb-eks:domain?",
		"kong-alb-eks:KONGVERSION":      "(keys are case-sensitive): did you mean kong-alb-eks:kongVersion?",
		"kong-alb-eks:zzz":              "(Pulumi.yaml lists the keys)",
		"kong-alb-eks:kubernetesVersio": "did you mean kong-alb-eks:kubernetesVersion?",
	} {
		_, err := stacks.LoadConfig(func(string) (string, bool) { return "", false }, set)
		var ve *stacks.ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Key != set || !strings.Contains(ve.Problems[0].Message, want) {
			t.Errorf("%s: %v, want %q", set, err, want)
		}
	}
}
