package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// Role is what a principal may do with its tenant's environments.
type Role string

// Roles, each allowing what the one before allows and more.
const (
	// RoleViewer reads environments, operations, events.
	RoleViewer Role = "viewer"
	// RoleDeployer also previews and updates (creating an environment is an update).
	RoleDeployer Role = "deployer"
	// RoleAdmin also destroys, cancels operations, clears stale locks and reads the audit trail.
	RoleAdmin Role = "admin"
)

// Action is what a request asks to do.
type Action string

// Actions, by the role they need.
const (
	ActionRead    Action = "read"
	ActionPreview Action = "preview"
	ActionUpdate  Action = "update"
	ActionDestroy Action = "destroy"
	ActionCancel  Action = "cancel"
	ActionUnlock  Action = "unlock"
	ActionAudit   Action = "audit"
)

// needs is the least role an action needs.
var needs = map[Action]Role{
	ActionRead: RoleViewer, ActionPreview: RoleDeployer, ActionUpdate: RoleDeployer,
	ActionDestroy: RoleAdmin, ActionCancel: RoleAdmin, ActionUnlock: RoleAdmin, ActionAudit: RoleAdmin,
}

var rank = map[Role]int{RoleViewer: 1, RoleDeployer: 2, RoleAdmin: 3}

func (r Role) valid() bool { return rank[r] > 0 }

// Allows reports whether the role may perform a.
func (r Role) Allows(a Action) bool { return rank[r] > 0 && rank[r] >= rank[needs[a]] }

// Principal is who a request is, once authenticated.
type Principal struct {
	// ID names the principal in the audit trail: token:<id>, oidc:<issuer>#<subject>, or
	// api-token (PORTAL_API_TOKEN).
	ID string
	// Tenant is the tenant it acts for; empty for the operator (PORTAL_API_TOKEN), who acts on
	// every environment.
	Tenant string
	Role   Role
}

// operator is the principal of PORTAL_API_TOKEN: every environment, the admin role.
var operator = &Principal{ID: "api-token", Role: RoleAdmin}

// Tenant is a team sharing the service: the environments it owns, its quotas, and the limits on
// the configuration its principals may set.
type Tenant struct {
	Name string `json:"-"`
	// Environments are the names it owns, as path.Match patterns ("team-a-*").
	Environments []string `json:"environments"`
	// MaxEnvironments bounds how many environments it may have; 0 is no limit.
	MaxEnvironments int `json:"maxEnvironments,omitempty"`
	// MaxConcurrentOperations bounds its operations running at once; 0 is no limit.
	MaxConcurrentOperations int `json:"maxConcurrentOperations,omitempty"`
	// DeniedKeys are configuration keys (short or fully qualified) its principals may not set to
	// anything but their default (chart sources, say).
	DeniedKeys []string `json:"deniedKeys,omitempty"`
	// AdminAllowedCIDRsWithin, when set, are the ranges every adminAllowedCidrs entry must lie in.
	AdminAllowedCIDRsWithin []string `json:"adminAllowedCidrsWithin,omitempty"`

	denied []stacks.KeyInfo
	within []netip.Prefix
}

// Owns reports whether the environment name is the tenant's.
func (t *Tenant) Owns(name string) bool {
	for _, p := range t.Environments {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// refuseConfig says why the tenant's principals may not apply cfg ("" when they may).
func (t *Tenant) refuseConfig(cfg stacks.Config) string {
	// Compared as stack config (secrets in plaintext, in memory only), not as displayed values.
	got, defaults := cfg.PulumiConfig(), stacks.DefaultConfig().PulumiConfig()
	var reasons []string
	for _, k := range t.denied {
		if got[k.FullKey()].Value != defaults[k.FullKey()].Value {
			reasons = append(reasons, fmt.Sprintf("tenant %s may not set %s", t.Name, k.FullKey()))
		}
	}
	if len(t.within) > 0 {
		for _, c := range cfg.Kong.AdminAllowedCIDRs {
			p, err := netip.ParsePrefix(c)
			if err != nil || !insideAny(p, t.within) {
				reasons = append(reasons, fmt.Sprintf("tenant %s may set %s only within %s, not %s", t.Name,
					adminCIDRsKey, strings.Join(t.AdminAllowedCIDRsWithin, ", "), c))
			}
		}
	}
	return strings.Join(reasons, "; ")
}

const adminCIDRsKey = stacks.Project + ":adminAllowedCidrs"

func insideAny(p netip.Prefix, ranges []netip.Prefix) bool {
	for _, r := range ranges {
		if r.Addr().Is4() == p.Addr().Is4() && r.Bits() <= p.Bits() && r.Contains(p.Masked().Addr()) {
			return true
		}
	}
	return false
}

// AccessPolicy is the service's access configuration (the file `serve --access-policy` reads):
// its tenants, where static API tokens are kept, and the identity provider whose tokens it
// accepts.
type AccessPolicy struct {
	Tenants map[string]*Tenant `json:"tenants"`
	// Tokens is a token file, or a directory of them (a Kubernetes Secret mount): see tokenStore.
	Tokens string `json:"tokens,omitempty"`
	// OIDC, when set, accepts the identity provider's JWTs.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
}

// LoadAccessPolicy reads and checks a policy file, reporting every problem at once.
func LoadAccessPolicy(file string) (*AccessPolicy, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("access policy: %w", err)
	}
	var p AccessPolicy
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("access policy %s: %w", file, err)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("access policy %s: %w", file, err)
	}
	return &p, nil
}

func (p *AccessPolicy) check() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(p.Tenants) == 0 {
		add("tenants: at least one tenant is required")
	}
	names := make([]string, 0, len(p.Tenants))
	for name := range p.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := p.Tenants[name]
		key := "tenants." + name
		if t == nil {
			add("%s: expected an object", key)
			continue
		}
		t.Name = name
		if name == "" || strings.ContainsAny(name, " \t\n*") {
			add("%s: a tenant name is a non-empty word without spaces or '*'", key)
		}
		if len(t.Environments) == 0 {
			add("%s.environments: at least one pattern is required (for example %q)", key, name+"-*")
		}
		for _, pat := range t.Environments {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				add("%s.environments: %q is not a pattern", key, pat)
			}
		}
		if t.MaxEnvironments < 0 || t.MaxConcurrentOperations < 0 {
			add("%s: maxEnvironments and maxConcurrentOperations are 0 (no limit) or more", key)
		}
		for _, k := range t.DeniedKeys {
			info, ok := stacks.LookupKey(k)
			if !ok {
				add("%s.deniedKeys: %q is not a configuration key", key, k)
				continue
			}
			t.denied = append(t.denied, info)
		}
		for _, c := range t.AdminAllowedCIDRsWithin {
			pr, err := netip.ParsePrefix(c)
			if err != nil {
				add("%s.adminAllowedCidrsWithin: %q is not a CIDR range", key, c)
				continue
			}
			t.within = append(t.within, pr.Masked())
		}
	}
	if p.Tokens == "" && p.OIDC == nil {
		add("tokens or oidc: the policy names no way to authenticate a tenant's principal")
	}
	if p.OIDC != nil {
		problems = append(problems, p.OIDC.check()...)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// tenantOf is the tenant of a principal (nil for the operator).
func (p *AccessPolicy) tenantOf(pr *Principal) *Tenant {
	if p == nil || pr.Tenant == "" {
		return nil
	}
	return p.Tenants[pr.Tenant]
}
