package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// names lists the environments a principal sees.
func (f *tenantFixture) names(token string) string {
	f.t.Helper()
	var out []string
	list, _ := f.expect(http.MethodGet, "/v1/environments", "", token, http.StatusOK).json(f.t)["environments"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	return strings.Join(out, " ")
}

// A preview brings its environment into being, so a tenant at its environment quota may not
// preview a new one (nor, then, update it); it may still preview and update the ones it has.
func TestEnvironmentQuotaHoldsForPreviews(t *testing.T) {
	t.Parallel()
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) { p.Tenants["team-a"].MaxEnvironments = 1 })
	f.startAs(http.MethodPost, "/v1/environments/team-a-one/preview", specBody("a.example.com"), aDeployer)
	r := f.expect(http.MethodPost, "/v1/environments/team-a-two/preview", specBody("a.example.com"), aDeployer, http.StatusTooManyRequests)
	if r.errorCode(t) != "quota_exceeded" || !strings.Contains(string(r.body), `at most 1 environments, and has 1: the preview of \"team-a-two\" would create another`) {
		t.Errorf("a preview of a new environment over the quota: %s", r.body)
	}
	f.expect(http.MethodPut, "/v1/environments/team-a-two", specBody("a.example.com"), aDeployer, http.StatusTooManyRequests)
	if got := f.names(aViewer); got != "team-a-one" {
		t.Errorf("team-a's environments: %q, want team-a-one alone", got)
	}
	f.startAs(http.MethodPost, "/v1/environments/team-a-one/preview", specBody("a2.example.com"), aDeployer)
	f.startAs(http.MethodPut, "/v1/environments/team-a-one", specBody("a2.example.com"), aDeployer)
}

// listGate is the manager with one List held, as a slow backend would hold it: once armed,
// the next List reads the backend's list, closes listed, and returns what it read only when
// proceed is closed.
type listGate struct {
	automation.Executor
	armed   atomic.Bool
	listed  chan struct{}
	proceed chan struct{}
}

func (g *listGate) wrap(m automation.Executor) { g.Executor = m }

func (g *listGate) List(ctx context.Context) ([]automation.StackInfo, error) {
	if !g.armed.CompareAndSwap(true, false) {
		return g.Executor.List(ctx)
	}
	infos, err := g.Executor.List(ctx)
	close(g.listed)
	select {
	case <-g.proceed:
	case <-ctx.Done():
	}
	return infos, err
}

// The environment quota counts what its list of the backend missed: an environment created by
// an operation that ended while the list was on its way is counted.
func TestEnvironmentQuotaCountsWhatItsListMissed(t *testing.T) {
	t.Parallel()
	g := &listGate{listed: make(chan struct{}), proceed: make(chan struct{})}
	f := newTenantFixture(t, t.TempDir(), func(p *AccessPolicy) { p.Tenants["team-a"].MaxEnvironments = 1 },
		func(_ *automation.ManagerOptions, o *Options) { o.Executor = g })
	g.armed.Store(true)
	late := make(chan response, 1)
	go func() {
		late <- f.do(http.MethodPut, "/v1/environments/team-a-two", specBody("a.example.com"), aDeployer)
	}()
	<-g.listed // team-a-two's count has read a list without team-a-one
	f.startAs(http.MethodPut, "/v1/environments/team-a-one", specBody("a.example.com"), aDeployer)
	close(g.proceed)
	if r := <-late; r.status != http.StatusTooManyRequests || r.errorCode(t) != "quota_exceeded" {
		t.Errorf("a create counted from a list that missed an environment created meanwhile: %d %s", r.status, r.body)
	}
	if got := f.names(aViewer); got != "team-a-one" {
		t.Errorf("team-a's environments: %q, want team-a-one alone", got)
	}
}
