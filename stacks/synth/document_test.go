package synth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestPlainRedactsSecretsAndMarksUnknowns(t *testing.T) {
	t.Parallel()
	in := resource.NewPropertyMapFromMap(map[string]any{
		"password": resource.MakeSecret(resource.NewProperty("hunter2")),
		"nested":   map[string]any{"token": resource.MakeSecret(resource.NewProperty("abc"))},
		"id":       resource.MakeComputed(resource.NewProperty("")),
		"output":   resource.NewProperty(resource.Output{Known: false}),
		"list":     []any{"a", 1.0},
	})
	got := plainMap(in)
	for path, want := range map[string]any{
		"password": Secret, "nested.token": Secret, "id": Computed, "output": Computed, "list.0": "a", "list.1": 1.0,
	} {
		if v := Lookup(got, path); v != want {
			t.Errorf("%s = %v, want %v", path, v, want)
		}
	}
	var b bytes.Buffer
	if err := WriteText(&b, &Document{Project: "p", Stack: "s", Resources: []Resource{{URN: "urn:pulumi:s::p::t::n", Type: "t", Name: "n", Custom: true, Inputs: got}}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hunter2") || !strings.Contains(b.String(), "password: [secret]") || !strings.Contains(b.String(), "id: <computed>") {
		t.Errorf("text rendering:\n%s", b.String())
	}
}
