package automation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
)

// Changes counts an operation's steps by kind ("create", "update", "same", "delete", ...).
type Changes map[string]int

// PreviewResult is what a preview would do.
type PreviewResult struct {
	Changes Changes
	// Diff is the engine's full diff of the planned changes, as `pulumi preview --diff` prints
	// it (secrets masked by the engine).
	Diff string
}

// UpResult is what an update did.
type UpResult struct {
	Changes Changes
	// Outputs are the stack's outputs after the update, secrets redacted.
	Outputs Outputs
}

// RefreshResult is what a refresh found.
type RefreshResult struct{ Changes Changes }

// DestroyResult is what a destroy did.
type DestroyResult struct {
	Changes Changes
	// Removed is set when the stack itself was removed from the backend.
	Removed bool
}

// operate is the frame of every engine operation: it takes the stack's lock and a slot (the
// start hook runs then), runs body with the run (its event channel and output tail), and
// classifies body's error. body closes the run's event channel with r.abandon when it fails
// before the engine starts; otherwise the Automation API closes it.
func operate[T any](ctx context.Context, m *Manager, name string, op Operation, opts []OpOption,
	body func(ctx context.Context, r *run) (T, error)) (T, error) {
	var zero T
	set := settings(opts)
	opCtx, release, err := m.acquire(ctx, name, op, set)
	if err != nil {
		return zero, err
	}
	defer release()
	r := m.newRun(name, op, set)
	res, err := body(opCtx, r)
	if err := r.finish(opCtx, err); err != nil {
		return zero, err
	}
	return res, nil
}

// Preview writes the spec into the stack's config (creating the stack if needed) and previews
// the update.
func (m *Manager) Preview(ctx context.Context, spec stacks.Spec, opts ...OpOption) (*PreviewResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return operate(ctx, m, spec.Name, OpPreview, opts, func(ctx context.Context, r *run) (*PreviewResult, error) {
		s, err := m.prepare(ctx, spec)
		if err != nil {
			return nil, r.abandon(err)
		}
		po := []optpreview.Option{optpreview.Diff(), optpreview.Color("never"), optpreview.EventStreams(r.ch),
			optpreview.ProgressStreams(r.tail), optpreview.ErrorProgressStreams(r.tail)}
		if r.set.message != "" {
			po = append(po, optpreview.Message(r.set.message))
		}
		res, err := s.Preview(ctx, po...)
		if err != nil {
			return nil, err
		}
		changes := Changes{}
		for op, n := range res.ChangeSummary {
			changes[string(op)] = n
		}
		return &PreviewResult{Changes: changes, Diff: res.StdOut}, nil
	})
}

// Up writes the spec into the stack's config (creating the stack if needed) and updates it.
func (m *Manager) Up(ctx context.Context, spec stacks.Spec, opts ...OpOption) (*UpResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return operate(ctx, m, spec.Name, OpUp, opts, func(ctx context.Context, r *run) (*UpResult, error) {
		s, err := m.prepare(ctx, spec)
		if err != nil {
			return nil, r.abandon(err)
		}
		uo := []optup.Option{optup.Color("never"), optup.ShowSecrets(false), optup.EventStreams(r.ch),
			optup.ProgressStreams(r.tail), optup.ErrorProgressStreams(r.tail)}
		if r.set.message != "" {
			uo = append(uo, optup.Message(r.set.message))
		}
		res, err := s.Up(ctx, uo...)
		if err != nil {
			return nil, err
		}
		return &UpResult{Changes: changesOf(res.Summary), Outputs: redact(res.Outputs)}, nil
	})
}

// prepare opens the stack and writes the spec's config.
// It refuses a spec whose Kong data planes would overtake the control plane running now.
func (m *Manager) prepare(ctx context.Context, spec stacks.Spec) (auto.Stack, error) {
	s, err := m.upsertStack(ctx, spec.Name)
	if err != nil {
		return s, err
	}
	out, err := s.Outputs(ctx)
	if err != nil {
		return s, m.cliError(spec.Name, "reading the outputs of", err)
	}
	running, _ := out[outputs.KongVersion].Value.(string)
	if problems := spec.Config.Kong.KongUpgradeProblems(running); len(problems) > 0 {
		return s, &stacks.InvalidSpecError{Name: spec.Name, Problems: problems}
	}
	return s, m.writeConfig(ctx, s, spec.Config)
}

// Refresh reconciles the stack's state with the cloud (the program does not run).
func (m *Manager) Refresh(ctx context.Context, name string, opts ...OpOption) (*RefreshResult, error) {
	if err := stacks.ValidateStackName(name); err != nil {
		return nil, err
	}
	return operate(ctx, m, name, OpRefresh, opts, func(ctx context.Context, r *run) (*RefreshResult, error) {
		s, err := m.selectStack(ctx, name)
		if err != nil {
			return nil, r.abandon(err)
		}
		ro := []optrefresh.Option{optrefresh.Color("never"), optrefresh.ShowSecrets(false), optrefresh.EventStreams(r.ch),
			optrefresh.ProgressStreams(r.tail), optrefresh.ErrorProgressStreams(r.tail)}
		if r.set.message != "" {
			ro = append(ro, optrefresh.Message(r.set.message))
		}
		res, err := s.Refresh(ctx, ro...)
		if err != nil {
			return nil, err
		}
		return &RefreshResult{Changes: changesOf(res.Summary)}, nil
	})
}

// Destroy deletes every resource of the stack, then removes the stack from the backend and its
// directory from the work directory.
func (m *Manager) Destroy(ctx context.Context, name string, opts ...OpOption) (*DestroyResult, error) {
	if err := stacks.ValidateStackName(name); err != nil {
		return nil, err
	}
	return operate(ctx, m, name, OpDestroy, opts, func(ctx context.Context, r *run) (*DestroyResult, error) {
		s, err := m.selectStack(ctx, name)
		if err != nil {
			return nil, r.abandon(err)
		}
		if err := m.refuseProtected(ctx, s, name); err != nil {
			return nil, r.abandon(err)
		}
		do := []optdestroy.Option{optdestroy.Color("never"), optdestroy.ShowSecrets(false), optdestroy.EventStreams(r.ch),
			optdestroy.ProgressStreams(r.tail), optdestroy.ErrorProgressStreams(r.tail),
			// The program's delete hooks (the EBS CSI driver waits for its volumes) run only
			// with the program; without it the engine refuses the destroy.
			optdestroy.RunProgram(true)}
		if r.set.message != "" {
			do = append(do, optdestroy.Message(r.set.message))
		}
		res, err := s.Destroy(ctx, do...)
		if err != nil {
			return nil, err
		}
		out := &DestroyResult{Changes: changesOf(res.Summary)}
		// The stack is gone from the backend only once its resources are: still inside the frame,
		// so that nothing else runs on the stack in between.
		if err := s.Workspace().RemoveStack(ctx, name); err != nil {
			return nil, m.cliError(name, "removing", err)
		}
		out.Removed = true
		m.forget(name)
		return out, nil
	})
}

// ProtectedError is a destroy refused before it deleted anything: the stack holds resources
// protected from deletion (the production database).
type ProtectedError struct {
	Stack string
	URNs  []string
}

func (e *ProtectedError) Error() string {
	return fmt.Sprintf("stack %q holds resources protected from deletion (%s): nothing was destroyed; "+
		"set %s:databaseDeletionProtection to false and run an update first (README, \"Tearing down production\")",
		e.Stack, strings.Join(e.URNs, ", "), stacks.Project)
}

// refuseProtected refuses to destroy a stack whose state holds protected resources. The engine
// would refuse to delete them only when it reached them, having deleted everything that does
// not depend on them: the cluster, the load balancer, the DNS records.
func (m *Manager) refuseProtected(ctx context.Context, s auto.Stack, name string) error {
	state, err := s.Export(ctx)
	if err != nil {
		return m.cliError(name, "exporting the state of", err)
	}
	var deployment struct {
		Resources []struct {
			URN     string `json:"urn"`
			Protect bool   `json:"protect"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state.Deployment, &deployment); err != nil {
		return fmt.Errorf("stack %q: reading its state: %w", name, err)
	}
	var protected []string
	for _, r := range deployment.Resources {
		if r.Protect {
			protected = append(protected, r.URN)
		}
	}
	if len(protected) > 0 {
		return &ProtectedError{Stack: name, URNs: protected}
	}
	return nil
}

// forget drops what the manager keeps of a removed stack: its work directory and what it wrote.
func (m *Manager) forget(name string) {
	if err := os.RemoveAll(m.stackDir(name)); err != nil {
		m.log.Warn("removing the stack's work directory", "stack", name, "error", err.Error())
	}
	m.mu.Lock()
	delete(m.prepared, m.stackDir(name))
	delete(m.written, name)
	m.mu.Unlock()
}

// Cancel interrupts the stack's operation. If this manager runs it, its context is canceled:
// the engine stops cleanly and releases its lock, and the operation returns a *CanceledError.
// Otherwise the backend's current update is canceled (`pulumi cancel`: on a file or cloud
// backend this clears the lock of an update whose process was killed; never use it while
// another process is still running the update).
func (m *Manager) Cancel(ctx context.Context, name string) error {
	if err := stacks.ValidateStackName(name); err != nil {
		return err
	}
	m.mu.Lock()
	r, ok := m.running[name]
	m.mu.Unlock()
	if ok {
		m.log.Info("canceling operation", "stack", name, "operation", string(r.op))
		r.cancel()
		return nil
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return err
	}
	if err := s.Cancel(ctx); err != nil {
		return m.cliError(name, "canceling the update of", err)
	}
	m.log.Info("canceled the backend's current update", "stack", name)
	return nil
}

func changesOf(u auto.UpdateSummary) Changes {
	c := Changes{}
	if u.ResourceChanges != nil {
		for k, v := range *u.ResourceChanges {
			c[k] = v
		}
	}
	return c
}
