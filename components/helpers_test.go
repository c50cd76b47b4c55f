package components_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
)

const region = "us-east-1"

// render runs a program that registers components under the synth mocks (which answer as
// AWS and Kubernetes would) and returns what it registered and exported.
func render(t *testing.T, program func(ctx *pulumi.Context) (pulumi.Map, error)) *synth.Document {
	t.Helper()
	doc, err := synth.Run(synth.Options{
		Stack:   "test",
		Config:  map[string]string{"aws:region": region},
		Program: program,
	})
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return doc
}

func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v (%T), want %v (%T)", what, got, got, want, want)
	}
}

func assertWaitsOn(t *testing.T, r, dep synth.Resource) {
	t.Helper()
	if !r.WaitsOn(dep.URN) {
		t.Errorf("%s %q should wait on %s %q; its dependencies: %v", r.Type, r.Name, dep.Type, dep.Name, r.Dependencies)
	}
}

func assertNotWaitsOn(t *testing.T, r, dep synth.Resource) {
	t.Helper()
	if r.WaitsOn(dep.URN) {
		t.Errorf("%s %q should not wait on %s %q", r.Type, r.Name, dep.Type, dep.Name)
	}
}

// stringsOf returns the strings of a list input.
func stringsOf(v any) []string { return synth.Strings(v) }
