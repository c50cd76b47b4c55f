package stacks_test

import (
	"maps"
	"reflect"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/verify"
)

// TestDeployExportsALBInboundCIDRs runs the program under synth's mocks: the client ranges the
// ALB admits are a stack output, which verify reads.
func TestDeployExportsALBInboundCIDRs(t *testing.T) {
	base := map[string]string{
		"aws:region":              "us-east-1",
		"kong-alb-eks:domain":     "eks.example.com",
		"kong-alb-eks:hostedZone": "example.com",
		// A dual-stack ALB: an IPv6 range admits no one behind an IPv4-only one.
		"kong-alb-eks:ipAddressType": "dualstack",
	}
	for _, tc := range []struct {
		config string // albInboundCidrs as synth passes a list; "" leaves it unset
		want   []any
		ranges int // as verify parses them
	}{
		{"", []any{}, 0},
		{`["192.0.2.0/24","2001:db8::/32"]`, []any{"192.0.2.0/24", "2001:db8::/32"}, 2},
	} {
		config := maps.Clone(base)
		if tc.config != "" {
			config["kong-alb-eks:albInboundCidrs"] = tc.config
		}
		doc, err := synth.Run(synth.Options{Stack: "dev", Config: config})
		if err != nil {
			t.Fatalf("synth %s: %v", tc.config, err)
		}
		got, ok := doc.Outputs[outputs.ALBInboundCIDRs]
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: output %s = %#v (present: %v), want %#v", tc.config, outputs.ALBInboundCIDRs, got, ok, tc.want)
		}
		o, err := verify.ParseOutputs(doc.Outputs)
		if err != nil {
			t.Fatalf("%s: verify cannot read the outputs: %v", tc.config, err)
		}
		if len(o.ALBInboundCIDRs) != tc.ranges {
			t.Errorf("%s: verify read %v", tc.config, o.ALBInboundCIDRs)
		}
	}
}
