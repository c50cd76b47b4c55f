package stacks_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

func TestDecodeSpec(t *testing.T) {
	ok := `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com",
		"postgresHost":"db.example.com","postgresPassword":"hunter2-secret","dataPlaneReplicas":3,"adminAllowedCidrs":["10.0.0.0/8"]}}`
	spec, err := stacks.DecodeSpec(strings.NewReader(ok), "")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "dev" || spec.Config.Kong.DataPlaneReplicas != 3 || spec.Config.Kong.PostgresPassword.Reveal() != "hunter2-secret" {
		t.Errorf("spec = %+v", spec)
	}
	b, err := json.Marshal(spec)
	if err != nil || strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"kong-alb-eks:postgresPassword":"[secret]"`) {
		t.Errorf("marshalled spec leaks or lacks the redaction (%v): %s", err, b)
	}
	if _, err := stacks.DecodeSpec(strings.NewReader(ok), "dev"); err != nil {
		t.Errorf("matching path name: %v", err)
	}

	cases := []struct {
		name, body, pathName string
		decodeErr            bool
		wantKey              string
	}{
		{"malformed", `{"name":`, "", true, ""},
		{"unknown field", `{"name":"dev","config":{},"extra":1}`, "", true, ""},
		{"trailing data", `{"name":"dev","config":{}} {}`, "", true, ""},
		{"not an object", `[]`, "", true, ""},
		{"no config", `{"name":"dev"}`, "", false, "config"},
		{"unknown key", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","nope":1}}`, "", false, "nope"},
		{"wrong type", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","dataPlaneReplicas":"two"}}`, "", false, "kong-alb-eks:dataPlaneReplicas"},
		{"bad name", `{"name":"../etc","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com"}}`, "", false, "name"},
		{"name mismatch", `{"name":"prod","config":{}}`, "dev", false, "name"},
		{"duplicate key", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"a.example.com","domain":"b.example.com","hostedZone":"example.com"}}`, "", true, ""},
		{"duplicate top-level key", `{"name":"dev","name":"prod","config":{}}`, "", true, ""},
		// The document's own keys decode into a struct, matched without regard to case.
		{"top-level key twice in another case", `{"name":"dev","config":{},"CONFIG":{}}`, "", true, ""},
		{"top-level key twice, folded (ſ is s)", `{"name":"dev","config":{},"conſig":{}}`, "", true, ""},
		// Config keys are a map's, matched exactly: another case is another (unknown) key.
		{"config key in another case", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"a.example.com","DOMAIN":"b.example.com","hostedZone":"example.com"}}`, "", false, "DOMAIN"},
		{"two spellings", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"a.example.com","kong-alb-eks:domain":"b.example.com","hostedZone":"example.com"}}`, "", false, "kong-alb-eks:domain"},
		{"newline in a value", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","postgresHost":"db.example.com","postgresUser":"kong\nadmin"}}`, "", false, "kong-alb-eks:postgresUser"},
		{"tab in a list", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","adminAllowedCidrs":["10.0.0.0/8\t"]}}`, "", false, "kong-alb-eks:adminAllowedCidrs"},
		{"secret of wrong type", `{"name":"dev","config":{"aws:region":"us-east-1","domain":"dev.example.com","hostedZone":"example.com","postgresHost":"db.example.com","postgresPassword":12345678}}`, "", false, "kong-alb-eks:postgresPassword"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stacks.DecodeSpec(strings.NewReader(tc.body), tc.pathName)
			if !errors.Is(err, stacks.ErrInvalidSpec) {
				t.Fatalf("got %v, want ErrInvalidSpec", err)
			}
			var de *stacks.DecodeError
			if got := errors.As(err, &de); got != tc.decodeErr {
				t.Fatalf("DecodeError = %v, want %v (%v)", got, tc.decodeErr, err)
			}
			if tc.decodeErr {
				return
			}
			var ise *stacks.InvalidSpecError
			if !errors.As(err, &ise) {
				t.Fatalf("not an InvalidSpecError: %v", err)
			}
			found := false
			for _, p := range ise.Problems {
				found = found || p.Key == tc.wantKey
			}
			if !found {
				t.Errorf("problems %v lack key %s", ise.Problems, tc.wantKey)
			}
			if strings.Contains(err.Error(), "12345678") {
				t.Errorf("the error echoes a secret: %v", err)
			}
		})
	}
}

func TestValidateStackName(t *testing.T) {
	for _, n := range []string{"dev", "a", "0", "team-a-prod", strings.Repeat("x", 63)} {
		if err := stacks.ValidateStackName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "-dev", "dev-", "Dev", "a_b", "a/b", "..", ".", "a.b", "dev\n", strings.Repeat("x", 64), "organization/kong-alb-eks/dev"} {
		if err := stacks.ValidateStackName(n); !errors.Is(err, stacks.ErrInvalidSpec) {
			t.Errorf("%q accepted", n)
		}
	}
}

// The portal creates either cluster mode: a spec in EKS Auto Mode decodes and validates, and
// names its nodes; the managed-only keys are refused in it.
func TestSpecsOfBothClusterModes(t *testing.T) {
	auto := `{"name":"team-a","config":{"aws:region":"eu-west-1","domain":"a.example.com","hostedZone":"example.com",
		"clusterMode":"auto","autoNodeArchitecture":"arm64","autoNodeCapacityType":"spot"}}`
	spec, err := stacks.DecodeSpec(strings.NewReader(auto), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("an Auto Mode spec: %v", err)
	}
	if c := spec.Config.Cluster; !c.AutoMode() || c.NodeArchitecture() != "arm64" || c.AutoNodeCapacityType != "spot" {
		t.Errorf("cluster = %+v", c)
	}
	managed := strings.Replace(auto, `"autoNodeArchitecture":"arm64","autoNodeCapacityType":"spot"`, `"nodeInstanceType":"m7g.large"`, 1)
	var invalid *stacks.InvalidSpecError
	if _, err := stacks.DecodeSpec(strings.NewReader(managed), ""); !errors.As(err, &invalid) || len(invalid.Problems) != 1 ||
		invalid.Problems[0].Key != "kong-alb-eks:nodeInstanceType" {
		t.Errorf("a node instance type in Auto Mode: %v", err)
	}
}
