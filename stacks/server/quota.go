package server

import (
	"context"
	"fmt"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// createsEnvironment reports whether an operation of kind brings its environment into being
// when it does not exist: an update does, and so does a preview (its stack stays).
func createsEnvironment(kind automation.Operation) bool {
	return kind == automation.OpUp || kind == automation.OpPreview
}

// tenantCount is a tenant's environments as the backend listed them, for its environment
// quota. The list is read outside s.mu: mark is where the server's count of ended operations
// stood before it was read, so that an environment whose operation ended after that (and
// that the list may have missed) is counted too.
type tenantCount struct {
	names map[string]bool
	mark  uint64
}

// tenantEnvironments lists the request's tenant's environments, when its environment quota
// must be checked (an operation that may create the environment, by a tenant with a quota);
// nil otherwise. A count it returns is open: quotaLocked closes it.
func (s *Server) tenantEnvironments(ctx context.Context, c *call, kind automation.Operation) (*tenantCount, error) {
	if c.tenant == nil || c.tenant.MaxEnvironments == 0 || !createsEnvironment(kind) {
		return nil, nil
	}
	s.mu.Lock()
	s.counting++
	count := &tenantCount{names: map[string]bool{}, mark: s.endSeq}
	s.mu.Unlock()
	infos, err := s.m.List(ctx)
	if err != nil {
		s.mu.Lock()
		s.closeCountLocked()
		s.mu.Unlock()
		return nil, err
	}
	for _, info := range infos {
		if c.tenant.Owns(info.Name) {
			count.names[info.Name] = true
		}
	}
	return count, nil
}

// closeCountLocked ends a count: once none is open, the ended environments need not be kept.
// s.mu is held.
func (s *Server) closeCountLocked() {
	s.counting--
	if s.counting == 0 {
		clear(s.ended)
	}
}

// endedLocked notes that env's operation left s.active, for the counts open now. s.mu is held.
func (s *Server) endedLocked(env string) {
	if s.counting > 0 {
		s.endSeq++
		s.ended[env] = s.endSeq
	}
}

// quotaLocked says why starting an operation on env would exceed the tenant's quotas
// ("" when it would not); count is the tenant's environments (nil when its environment quota
// does not apply), which it closes. Called with s.mu held, so that concurrent requests see
// each other's operations: an environment exists if the backend listed it, an operation of
// this service is on it, or one ended since the list was read.
func (s *Server) quotaLocked(c *call, env string, count *tenantCount) string {
	t := c.tenant
	if t == nil {
		return ""
	}
	owned := map[string]bool{}
	if count != nil {
		for name := range count.names {
			owned[name] = true
		}
		for name, seq := range s.ended {
			if seq > count.mark && t.Owns(name) {
				owned[name] = true
			}
		}
		s.closeCountLocked()
	}
	running := 0
	for name := range s.active {
		if t.Owns(name) {
			running++
			owned[name] = true
		}
	}
	if t.MaxConcurrentOperations > 0 && running >= t.MaxConcurrentOperations {
		return fmt.Sprintf("tenant %s may run at most %d operations at once, and %d are running", t.Name, t.MaxConcurrentOperations, running)
	}
	if count != nil && !owned[env] && len(owned) >= t.MaxEnvironments {
		return fmt.Sprintf("tenant %s may have at most %d environments, and has %d: the %s of %q would create another",
			t.Name, t.MaxEnvironments, len(owned), c.action, env)
	}
	return ""
}
