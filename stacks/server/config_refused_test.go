package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/tests/testkit"
)

// TestThePortalRefusesEachBadConfiguration sends each of the configurations synth and the
// engine refuse (testkit.BadConfigurations) as an environment spec: each is refused with the
// same one problem, by key, and creates no environment.
func TestThePortalRefusesEachBadConfiguration(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	base := testkit.StackConfig(t, "../..", "dev")
	// The portal decodes a spec with DecodeSpec: the dev stack's own configuration passes.
	if _, err := stacks.DecodeSpec(strings.NewReader(testkit.SpecJSON(t, base)), "base"); err != nil {
		t.Fatalf("the dev stack's own configuration: %v", err)
	}
	for _, c := range testkit.BadConfigurations(t) {
		t.Run(c.Name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range base {
				cfg[k] = v
			}
			c.ApplyTo(cfg)
			r := f.do(http.MethodPut, "/v1/environments/refused", testkit.SpecJSON(t, cfg))
			if r.status != http.StatusBadRequest || r.errorCode(t) != "invalid_spec" {
				t.Fatalf("%d %s, want 400 invalid_spec", r.status, r.body)
			}
			problems, _ := r.json(t)["error"].(map[string]any)["problems"].([]any)
			if len(problems) != 1 {
				t.Fatalf("want exactly one problem, got %s", r.body)
			}
			p, _ := problems[0].(map[string]any)
			if msg, _ := p["message"].(string); p["key"] != c.Key || !strings.Contains(msg, c.Message) {
				t.Errorf("problem = %v, want %s: ...%s...", p, c.Key, c.Message)
			}
			if r := f.do(http.MethodGet, "/v1/environments/refused", ""); r.status != http.StatusNotFound {
				t.Errorf("a refused spec left an environment: %d %s", r.status, r.body)
			}
		})
	}
}
