package synth_test

import (
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// BenchmarkSynth runs the whole program under the synth mocks on the dev configuration: what
// `synth` (and each side of the pull-request diff) costs, less the process start and build.
func BenchmarkSynth(b *testing.B) {
	config := testkit.StackConfig(b, "../..", "dev")
	b.ReportAllocs()
	for b.Loop() {
		doc, err := synth.Run(synth.Options{Stack: "dev", Config: config})
		if err != nil {
			b.Fatal(err)
		}
		if len(doc.Resources) == 0 {
			b.Fatal("no resources")
		}
	}
}

// BenchmarkEstimate models the dev stack's time to a working environment from its document.
func BenchmarkEstimate(b *testing.B) {
	doc := synthesize(b, testkit.StackConfig(b, "../..", "dev"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := synth.EstimateDocument(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate validates the default configuration with a region and domain set: the
// checks every deployment and synth run first.
func BenchmarkValidate(b *testing.B) {
	cfg := stacks.DefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Domain = "eks.example.com"
	cfg.HostedZone = "example.com"
	if err := cfg.Validate(); err != nil {
		b.Fatalf("the benchmark's configuration is invalid: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
