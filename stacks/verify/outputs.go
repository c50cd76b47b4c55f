// Package verify checks a deployed kong-alb-eks stack from the outside, the way the reference
// walkthrough was checked by hand: the wildcard record resolves to the ALB, HTTP redirects to
// HTTPS, the certificate covers the names, Kong's proxy, Admin API and Manager answer, and the
// demo app answers through the ALB.
//
// The package needs neither the AWS nor the Pulumi SDK (the output names come from the leaf
// package stacks/outputs, and --stack runs the Pulumi CLI), so it builds fast; its tests run
// offline against httptest servers and an injected resolver.
package verify

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
)

// secretPlaceholder is what `pulumi stack output --json` prints for a secret without
// --show-secrets.
const secretPlaceholder = "[secret]"

// Outputs are the stack outputs verify reads. Outputs that are absent, null or secret
// ("[secret]") are left empty.
type Outputs struct {
	Region          string
	Domain          string
	ALBHostname     string
	ProxyURL        string
	KongManagerURL  string // empty: Kong Manager is not published
	KongAdminAPIURL string // empty: the Admin API is not published
	// AdminAllowedCIDRs is the allowlist the Admin API is published for. Entries that are not
	// valid CIDRs are kept in InvalidAdminCIDRs and otherwise ignored.
	AdminAllowedCIDRs []netip.Prefix
	InvalidAdminCIDRs []string
	// ALBInboundCIDRs are the only client ranges the ALB admits (albInboundCidrs); empty
	// means every client.
	ALBInboundCIDRs  []netip.Prefix
	PlainHTTPAllowed bool
	KongVersion      string
	DemoURL          string // empty: the demo app is not deployed
}

// ParseOutputsJSON parses a JSON object of stack outputs, as printed by
// `pulumi stack output --json`.
func ParseOutputsJSON(data []byte) (Outputs, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return Outputs{}, fmt.Errorf("stack outputs: expected a JSON object: %w", err)
	}
	if m == nil {
		return Outputs{}, fmt.Errorf("stack outputs: expected a JSON object, got null")
	}
	return ParseOutputs(m)
}

// ParseOutputs reads the outputs verify needs from a map of stack outputs (decoded JSON, or
// the values of the Automation API's OutputMap). The domain is required.
func ParseOutputs(m map[string]any) (Outputs, error) {
	var o Outputs
	var err error
	str := func(key string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = stringOutput(m, key)
		return s
	}
	o.Region = str(outputs.Region)
	o.Domain = strings.ToLower(strings.TrimSuffix(str(outputs.Domain), "."))
	o.ALBHostname = strings.ToLower(strings.TrimSuffix(str(outputs.ALBHostname), "."))
	o.ProxyURL = str(outputs.ProxyURL)
	o.KongManagerURL = str(outputs.KongManagerURL)
	o.KongAdminAPIURL = str(outputs.KongAdminAPIURL)
	o.KongVersion = str(outputs.KongVersion)
	o.DemoURL = str(outputs.DemoURL)
	if err != nil {
		return Outputs{}, err
	}
	if o.Domain == "" {
		return Outputs{}, fmt.Errorf("stack outputs: %q is missing: is the stack deployed?", outputs.Domain)
	}
	cidrs, err := listOutput(m, outputs.AdminAllowedCIDR)
	if err != nil {
		return Outputs{}, err
	}
	for _, s := range cidrs {
		p, perr := netip.ParsePrefix(strings.TrimSpace(s))
		if perr != nil {
			o.InvalidAdminCIDRs = append(o.InvalidAdminCIDRs, s)
			continue
		}
		o.AdminAllowedCIDRs = append(o.AdminAllowedCIDRs, p.Masked())
	}
	// The program validates albInboundCidrs before deploying, so an entry that is not a CIDR
	// can only come from an edited file: it is an error rather than a range silently dropped.
	inbound, err := listOutput(m, outputs.ALBInboundCIDRs)
	if err != nil {
		return Outputs{}, err
	}
	for _, s := range inbound {
		p, perr := netip.ParsePrefix(strings.TrimSpace(s))
		if perr != nil {
			return Outputs{}, fmt.Errorf("stack outputs: %q: %w", outputs.ALBInboundCIDRs, perr)
		}
		o.ALBInboundCIDRs = append(o.ALBInboundCIDRs, p.Masked())
	}
	if o.PlainHTTPAllowed, err = boolOutput(m, outputs.PlainHTTPAllowed); err != nil {
		return Outputs{}, err
	}
	return o, nil
}

func present(v any) bool {
	if v == nil {
		return false
	}
	s, ok := v.(string)
	return !ok || (s != secretPlaceholder && strings.TrimSpace(s) != "")
}

func stringOutput(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok || !present(v) {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("stack outputs: %q: expected a string, got %T", key, v)
	}
	return strings.TrimSpace(s), nil
}

func boolOutput(m map[string]any, key string) (bool, error) {
	v, ok := m[key]
	if !ok || !present(v) {
		return false, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("stack outputs: %q: expected true or false, got %v", key, v)
}

// listOutput accepts a JSON array of strings, a []string, a JSON-encoded array in a string,
// or a comma-separated string.
func listOutput(m map[string]any, key string) ([]string, error) {
	v, ok := m[key]
	if !ok || !present(v) {
		return nil, nil
	}
	switch l := v.(type) {
	case []string:
		return l, nil
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("stack outputs: %q: expected a list of strings, got an element %v (%T)", key, e, e)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "[") {
			var out []string
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, fmt.Errorf("stack outputs: %q: %w", key, err)
			}
			return out, nil
		}
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("stack outputs: %q: expected a list of strings, got %T", key, v)
}

// adminOpen reports whether the allowlist admits every address: empty, or holding a /0.
func (o Outputs) adminOpen() (bool, string) {
	if len(o.AdminAllowedCIDRs) == 0 {
		return true, "adminAllowedCidrs is empty"
	}
	for _, p := range o.AdminAllowedCIDRs {
		if p.Bits() == 0 {
			return true, "adminAllowedCidrs includes " + p.String()
		}
	}
	return false, ""
}

// adminAllows returns the allowlist entry that contains ip, if any.
func (o Outputs) adminAllows(ip netip.Addr) (netip.Prefix, bool) {
	return containing(o.AdminAllowedCIDRs, ip)
}

// containing returns the range of ps that contains ip, if any.
func containing(ps []netip.Prefix, ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// albOpen reports whether the ALB admits every client: albInboundCidrs empty or holding a /0.
func (o Outputs) albOpen() bool {
	return len(o.ALBInboundCIDRs) == 0 || slices.ContainsFunc(o.ALBInboundCIDRs, func(p netip.Prefix) bool { return p.Bits() == 0 })
}

// albAdmits returns the albInboundCidrs entry that contains ip, if any; it is true for any
// address when the ALB admits every client.
func (o Outputs) albAdmits(ip netip.Addr) (netip.Prefix, bool) {
	if o.albOpen() {
		return netip.Prefix{}, true
	}
	return containing(o.ALBInboundCIDRs, ip)
}
