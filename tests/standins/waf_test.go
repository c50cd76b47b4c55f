package standins

import "testing"

// The controller's rule for wafv2-acl-arn (annotations.md): an ARN associates, "none"
// detaches, and an absent or empty annotation leaves the association as it was.
func TestWebACLFollowsTheControllersRule(t *testing.T) {
	s := &Standins{}
	ingress := func(annotations Object) Object {
		return Object{"metadata": Object{"namespace": "kong", "name": "proxy", "annotations": annotations}}
	}
	const acl = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/kong/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	for _, step := range []struct {
		what        string
		annotations Object
		want        string
	}{
		{"no annotation on a new ALB", nil, ""},
		{"an ARN associates it", Object{wafAnnotation: acl}, acl},
		{"an absent annotation leaves it attached", Object{}, acl},
		{"an empty one too", Object{wafAnnotation: ""}, acl},
		{"none detaches it", Object{wafAnnotation: "none"}, ""},
	} {
		s.reconcileWAF(ingress(step.annotations))
		if got := s.WebACL("kong", "proxy"); got != step.want {
			t.Errorf("%s: web ACL %q, want %q", step.what, got, step.want)
		}
	}
}
