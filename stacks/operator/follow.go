package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// answer reads a Stack (nil: it is gone) for the end of an operation: done, and how it ended
// (nil, or a *RunnerError).
type answer func(st *Stack) (done bool, err *automation.RunnerError)

// runAnswers answers an update or preview: the write produced generation gen with the
// operation's ID as its reconcile request.
func runAnswers(id string, gen int64) answer {
	return func(st *Stack) (bool, *automation.RunnerError) {
		if st == nil {
			return true, &automation.RunnerError{Code: "deleted", Message: "the Stack was deleted before its run ended"}
		}
		s := st.Status
		if lu := s.LastUpdate; lu != nil && lu.ReconcileRequest == id && lu.Generation >= gen {
			if lu.State == UpdateSucceeded {
				return true, nil
			}
			return true, &automation.RunnerError{Code: "update_failed", Reason: lu.Type + " failed", Message: lu.Message}
		}
		if stalled, err := stalledAt(s, gen, id); stalled {
			return true, err
		}
		if st.Annotations[AnnotationOperation] != id {
			return true, &automation.RunnerError{Code: "superseded", Message: "another operation changed the Stack before this one's run ended"}
		}
		return false, nil
	}
}

// destroyAnswers answers a destroy: the deletion produced generation gen, or (byRequest: a
// Stack already being deleted, whose generation no longer moves) the operation's ID is its
// reconcile request. The Stack is gone once the operator destroyed the stack and removed its
// finalizer.
func destroyAnswers(id string, gen int64, byRequest bool) answer {
	return func(st *Stack) (bool, *automation.RunnerError) {
		if st == nil {
			return true, nil
		}
		s := st.Status
		lu := s.LastUpdate
		ours := lu != nil && (byRequest && lu.ReconcileRequest == id || !byRequest && lu.Generation >= gen)
		if ours && lu.Type == "destroy" && lu.State == UpdateFailed {
			return true, &automation.RunnerError{Code: "update_failed", Reason: "destroy failed", Message: lu.Message}
		}
		// A first destroy asks for no new reconcile request (that would run an update first):
		// the deletion's generation alone is this operation's.
		request := ""
		if byRequest {
			request = id
		}
		if stalled, err := stalledAt(s, gen, request); stalled {
			return true, err
		}
		return false, nil
	}
}

// stalledAt reports a Stack the operator stalled on at or after the operation's write (its
// generation, and its reconcile request unless request is ""), with no run in flight.
func stalledAt(s StackStatus, gen int64, request string) (bool, *automation.RunnerError) {
	if s.CurrentUpdate != nil || s.ObservedGeneration < gen || request != "" && s.ObservedReconcileRequest != request {
		return false, nil
	}
	c, ok := s.condition(ConditionStalled)
	if !ok || c.Status != metav1.ConditionTrue {
		return false, nil
	}
	return true, &automation.RunnerError{Code: "stalled", Reason: c.Reason, Message: c.Message}
}

// follow reads the Stack every Poll until ans says the operation ended, reporting each change
// of what the operator says as a diagnostic event. If ctx ends first, the operation is
// canceled here only: the operator's run goes on. A run that never starts within
// WorkspaceTimeout (the operator waits for ever on a workspace pod that cannot start: an image
// it cannot pull, a commit it cannot fetch) or never ends within RunTimeout fails here, and
// the operator keeps trying.
func (e *Executor) follow(ctx context.Context, env, name string, op automation.Operation, set automation.OpSettings, ans answer) (*Stack, error) {
	ev := &eventSink{set: set, env: env, op: op}
	ticker := time.NewTicker(e.opts.Poll)
	defer ticker.Stop()
	begin, started := time.Now(), false
	for {
		st, err := e.get(ctx, name)
		switch {
		case err != nil && ctx.Err() == nil:
			ev.diagnostic("warning", fmt.Sprintf("reading the Stack failed (retrying): %v", err))
		case err == nil:
			if st != nil {
				ev.observe(st)
				started = started || st.Status.CurrentUpdate != nil
			}
			done, err := ans(st)
			if done && e.staleWorkspaceStall(ctx, name, err) {
				done = false
			}
			if done {
				ev.summary()
				return st, runnerErr(env, op, err)
			}
			if why := e.overdue(begin, started); why != "" {
				ev.summary()
				return st, &automation.RunnerError{Stack: env, Operation: op, Code: "timeout", Message: why + describe(st)}
			}
		}
		select {
		case <-ctx.Done():
			return nil, &automation.CanceledError{Stack: env, Operation: op,
				Err: fmt.Errorf("%w (the portal stopped following it: the operator's run goes on)", context.Cause(ctx))}
		case <-ticker.C:
		}
	}
}

// runnerErr gives an answer's error the operation it belongs to.
func runnerErr(env string, op automation.Operation, re *automation.RunnerError) error {
	if re == nil {
		return nil
	}
	re.Stack, re.Operation = env, op
	if re.Code == "update_failed" {
		re.Message += " (the operator retries it after 10s, 30s and 90s, then stalls: the environment's status shows how it goes)"
	}
	return re
}

// overdue says why a run is overdue, or "".
func (e *Executor) overdue(begin time.Time, started bool) string {
	switch waited := time.Since(begin); {
	case !started && waited > e.opts.WorkspaceTimeout:
		return fmt.Sprintf("the operator has not started the run in %s: its workspace pod does not become ready (check the pod's image, its Secrets and the repository; the operator keeps trying)", e.opts.WorkspaceTimeout)
	case waited > e.opts.RunTimeout:
		return fmt.Sprintf("the run has not ended in %s (the operator's run goes on)", e.opts.RunTimeout)
	}
	return ""
}

// describe is what the Stack's conditions say, for a message.
func describe(st *Stack) string {
	if st == nil {
		return ""
	}
	for _, typ := range []string{ConditionStalled, ConditionReconciling} {
		if c, ok := st.Status.condition(typ); ok && c.Status == metav1.ConditionTrue {
			return fmt.Sprintf("; the Stack says %s (%s): %s", typ, c.Reason, c.Message)
		}
	}
	return ""
}

// staleWorkspaceStall reports a stall the operator copied from its Workspace's condition of an
// earlier generation: the stack controller copies the Workspace's Stalled condition whenever
// the Workspace is not ready, without looking at whose generation it is, and the Workspace
// keeps it until it starts a new pod (stack_controller.go, the workspace readiness check;
// workspace_controller.go). Such a stall is no answer yet.
func (e *Executor) staleWorkspaceStall(ctx context.Context, name string, re *automation.RunnerError) bool {
	if re == nil || re.Code != "stalled" || re.Reason != "WorkspaceFailed" && re.Reason != "PulumiVersionTooLow" {
		return false
	}
	ws, werr := e.workspaces.Get(ctx, name, metav1.GetOptions{})
	if werr != nil {
		return false // no Workspace to tell otherwise: take the operator's word
	}
	var w struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Status   struct {
			ObservedGeneration int64              `json:"observedGeneration"`
			Conditions         []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	if runtime.DefaultUnstructuredConverter.FromUnstructured(ws.Object, &w) != nil {
		return false
	}
	if w.Status.ObservedGeneration != w.Metadata.Generation {
		return true
	}
	for _, c := range w.Status.Conditions {
		if c.Type == ConditionStalled {
			return c.ObservedGeneration != w.Metadata.Generation
		}
	}
	return true
}

// eventSink turns what the operator says of a Stack into the operation's events.
type eventSink struct {
	set  automation.OpSettings
	env  string
	op   automation.Operation
	seq  int
	last string
}

func (s *eventSink) emit(e automation.Event) {
	if s.set.OnEvent == nil {
		return
	}
	s.seq++
	e.Sequence, e.Time, e.Stack, e.Operation = s.seq, time.Now().UTC(), s.env, s.op
	e.Planning = s.op == automation.OpPreview
	s.set.OnEvent(e)
}

func (s *eventSink) diagnostic(severity, msg string) {
	s.emit(automation.Event{Kind: automation.EventDiagnostic, Severity: severity, Message: msg})
}

// observe reports the Stack's conditions and its run in flight when they changed.
func (s *eventSink) observe(st *Stack) {
	say := ""
	for _, typ := range []string{ConditionReconciling, ConditionStalled, ConditionReady} {
		if c, ok := st.Status.condition(typ); ok && c.Status == metav1.ConditionTrue {
			say = fmt.Sprintf("operator: %s (%s): %s", typ, c.Reason, c.Message)
			break
		}
	}
	if cu := st.Status.CurrentUpdate; cu != nil {
		say += fmt.Sprintf("; update %s running", cu.Name)
	}
	if say != "" && say != s.last {
		s.last = say
		s.diagnostic("info", say)
	}
}

func (s *eventSink) summary() {
	s.emit(automation.Event{Kind: automation.EventSummary, Changes: map[string]int{}})
}

// previewResult is what the operator tells of a preview that succeeded: no diff and no change
// counts (its Update carries none), only where to see it.
func previewResult(st *Stack) *automation.PreviewResult {
	diff := "the Pulumi Kubernetes Operator reports no diff of a preview"
	if lu := st.Status.LastUpdate; lu != nil && lu.Permalink != "" {
		diff += ": see " + lu.Permalink
	}
	return &automation.PreviewResult{Changes: automation.Changes{}, Diff: diff}
}

// outputsOf are a Stack's outputs as the portal shows them: the operator writes each as JSON,
// and a secret one as "[secret]".
func outputsOf(raw map[string]json.RawMessage) automation.Outputs {
	out := automation.Outputs{}
	for k, v := range raw {
		var value any
		if json.Unmarshal(v, &value) != nil {
			continue
		}
		if value == "[secret]" {
			out[k] = automation.OutputValue{Value: automation.Redacted, Secret: true}
			continue
		}
		out[k] = automation.OutputValue{Value: value}
	}
	return out
}

// Resume follows an operation this executor started before the service restarted: its ID is
// on the environment's Stack (or preview Stack) when its write reached the cluster, and then
// the Stack's status answers it as it would have the operation's own call. An ID not there
// never reached the cluster: ErrNotStarted.
func (e *Executor) Resume(ctx context.Context, ref automation.OperationRef, opts ...automation.OpOption) (any, error) {
	set := settings(append(opts, automation.WithID(ref.ID)))
	release, err := e.acquire(ctx, automation.OpSettings{})
	if err != nil {
		return nil, e.opErr(ctx, ref.Environment, ref.Kind, err)
	}
	defer release()
	// The operation's ID is unique, so its reconcile request alone tells its run (the
	// generation its write produced was not kept).
	name, role := stackOf(ref.Environment, ref.Kind)
	st, err := e.get(ctx, name)
	if err != nil {
		return nil, e.opErr(ctx, ref.Environment, ref.Kind, err)
	}
	switch {
	case st == nil && ref.Kind == automation.OpDestroy:
		// Gone while the service was down: the destroy ended as it was meant to.
		return &automation.DestroyResult{Changes: automation.Changes{}}, nil
	case st == nil || st.Annotations[AnnotationOperation] != ref.ID:
		return nil, automation.ErrNotStarted
	}
	if err := e.owns(st, ref.Environment, role); err != nil {
		return nil, err
	}
	switch ref.Kind {
	case automation.OpDestroy:
		if err := e.followDestroy(ctx, ref.Environment, st, set, st.Annotations[ReconcileRequestAnnotation] == ref.ID); err != nil {
			return nil, err
		}
		return &automation.DestroyResult{Changes: automation.Changes{}}, nil
	case automation.OpPreview:
		st, err := e.followRun(ctx, ref.Environment, ref.Kind, set, 0)
		if err != nil {
			return nil, err
		}
		return previewResult(st), nil
	default:
		st, err := e.followRun(ctx, ref.Environment, ref.Kind, set, 0)
		if err != nil {
			return nil, err
		}
		return upResult(st), nil
	}
}
