package testkit

import (
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
)

// StackConfig is a stack file's configuration (Pulumi.<stack>.yaml in dir) as synth passes it
// to the program, lists as JSON.
func StackConfig(t testing.TB, dir, stack string) map[string]string {
	t.Helper()
	file, err := synth.ReadStackFile(synth.StackFilePath(dir, stack))
	if err != nil {
		t.Fatal(err)
	}
	return file.Config
}

// SynthStack runs the real program under synth's mocks on a stack file of the project in dir.
func SynthStack(t testing.TB, dir, stack string) *synth.Document {
	t.Helper()
	file, err := synth.ReadStackFile(synth.StackFilePath(dir, stack))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := synth.Run(synth.Options{Stack: stack, Config: file.Config, SecretKeys: file.SecretKeys})
	if err != nil {
		t.Fatalf("synth %s: %v", stack, err)
	}
	return doc
}

// Named is the resource of a type and name, failing the test (with the names there are) if
// the document has none.
func Named(t testing.TB, doc *synth.Document, typ, name string) synth.Resource {
	t.Helper()
	r, ok := doc.Named(typ, name)
	if !ok {
		var names []string
		for _, x := range doc.Find(typ) {
			names = append(names, x.Name)
		}
		t.Fatalf("stack %s has no %s named %q; it has %v", doc.Stack, typ, name, names)
	}
	return r
}

// WaitsOn fails the test unless r waits on dep (a dependency the engine sees), saying why it
// must.
func WaitsOn(t testing.TB, r, dep synth.Resource, why string) {
	t.Helper()
	if !r.WaitsOn(dep.URN) {
		t.Errorf("%s %q must wait on %s %q (%s)", r.Type, r.Name, dep.Type, dep.Name, why)
	}
}
