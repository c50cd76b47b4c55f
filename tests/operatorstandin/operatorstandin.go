// Package operatorstandin stands in for the Pulumi Kubernetes Operator's Stack reconciler
// (v2.9.0), whose pods cannot run on the local control plane (kwok starts no container). It
// watches the Stacks of one namespace on a real API server and sets their finalizer and status
// the way the operator's stack controller does, in the same order
// (operator/internal/controller/pulumi/stack_controller.go at commit b713fae, "SC" below). A
// test script decides how each run ends (succeeded, failed, stalled) and may hold it, in place
// of the workspace pod that would run the engine. Its Workspaces carry only what the Stack's
// status depends on (a Stalled condition and the generation it was set at, which the stack
// controller copies without checking); it makes no Update objects (the status records the
// run's name as the operator would), no pods, no git, no engine.
package operatorstandin

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/operator"
)

// Outcome is how a run ends, as the workspace pod would report it.
type Outcome struct {
	// Fail ends the run failed with Message (the engine's summary); else it succeeds (and the
	// operator records no message).
	Fail    bool
	Message string
	// Outputs are the stack outputs of a successful up; a value "[secret]" is a secret one.
	Outputs map[string]any
	// Stall stalls the Stack with this reason (WorkspaceFailed, SourceUnavailable, ...) and
	// Message before any run, as the operator does when the workspace cannot be made ready.
	Stall string
	// Hold keeps the run in flight until it is closed.
	Hold <-chan struct{}
	// NeverReady keeps the Stack "waiting for workspace readiness" and starts no run, as the
	// operator does while the workspace pod cannot start (an image it cannot pull, a Secret
	// that is missing): it reports no stall for that (SC 1017-1019).
	NeverReady bool
}

// Script decides each run's outcome: the Stack and the run's type (up, preview, destroy).
type Script func(st *operator.Stack, runType string) Outcome

// Operator is a running stand-in.
type Operator struct {
	client     dynamic.ResourceInterface
	workspaces dynamic.ResourceInterface
	script     Script
	// Cooldown is the first retry's wait after a failed run; the operator's is 10s, tripled
	// after each further failure (SC, cooldown).
	cooldown time.Duration

	mu   sync.Mutex
	runs map[string]*run // by run name
	errs []string
}

type run struct {
	typ     string
	outcome Outcome
}

// maxUpdateFailures is the operator's: after three failed runs the Stack is Stalled (SC).
const maxUpdateFailures = 3

// Start runs a stand-in over namespace until ctx ends. cooldown replaces the operator's 10s.
func Start(ctx context.Context, cfg *rest.Config, namespace string, cooldown time.Duration, script Script) (*Operator, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{} // the API server's advice on the operator's finalizer name
	cfg.QPS, cfg.Burst = 500, 1000         // it polls every 20ms: client-go's default rate (5/s) would slow it
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	o := &Operator{client: dyn.Resource(operator.StackResource).Namespace(namespace), workspaces: dyn.Resource(operator.WorkspaceResource).Namespace(namespace),
		script: script, cooldown: cooldown, runs: map[string]*run{}}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			list, err := o.client.List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range list.Items {
				if err := o.reconcile(ctx, list.Items[i].GetName()); err != nil && ctx.Err() == nil {
					o.mu.Lock()
					o.errs = append(o.errs, err.Error())
					o.mu.Unlock()
				}
			}
		}
	}()
	return o, nil
}

// Errors are the stand-in's own failures (a status write the API server refused, ...).
func (o *Operator) Errors() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.errs...)
}

func (o *Operator) get(ctx context.Context, name string) (*operator.Stack, *unstructured.Unstructured, error) {
	u, err := o.client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	var st operator.Stack
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &st); err != nil {
		return nil, nil, err
	}
	return &st, u, nil
}

// saveStatus writes the whole status on the status subresource, as the operator's
// server-side apply of it does (fields it leaves out, such as currentUpdate, go).
func (o *Operator) saveStatus(ctx context.Context, u *unstructured.Unstructured, status operator.StackStatus) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return err
	}
	u.Object["status"] = obj
	if _, err := o.client.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil && !strings.Contains(err.Error(), "the object has been modified") {
		return fmt.Errorf("status of %s: %w", u.GetName(), err)
	}
	return nil
}

// The condition helpers of operator/api/pulumi/v1/stack_types.go.
func markReconciling(s *operator.StackStatus, reason, msg string) {
	meta.RemoveStatusCondition(&s.Conditions, operator.ConditionStalled)
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: operator.ConditionReady, Status: metav1.ConditionFalse, Reason: "NotReadyInProgress", Message: "reconciliation is in progress"})
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: operator.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: msg})
}

func markStalled(s *operator.StackStatus, reason, msg string) {
	meta.RemoveStatusCondition(&s.Conditions, operator.ConditionReconciling)
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: operator.ConditionReady, Status: metav1.ConditionFalse, Reason: "NotReadyStalled", Message: "reconciliation is stalled"})
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: operator.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg})
}

func markReady(s *operator.StackStatus) {
	meta.RemoveStatusCondition(&s.Conditions, operator.ConditionReconciling)
	meta.RemoveStatusCondition(&s.Conditions, operator.ConditionStalled)
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: operator.ConditionReady, Status: metav1.ConditionTrue, Reason: "ProcessingCompleted", Message: "the stack has been processed and is up to date"})
}

// markResult sets the conditions a finished run leaves (SC, markStackResult).
func markResult(s *operator.StackStatus, preview bool) {
	lu := s.LastUpdate
	switch {
	case lu == nil || lu.State == operator.UpdateSucceeded:
		markReady(s)
	case lu.Failures >= maxUpdateFailures:
		markStalled(s, "UpdateFailed", fmt.Sprintf("%s failed %d times; not retrying until the spec or source changes", lu.Type, lu.Failures))
	case preview:
		markReconciling(s, "PreviewFailed", fmt.Sprintf("preview failed (%d attempt(s))", lu.Failures))
	default:
		markReconciling(s, "RetryingAfterFailure", fmt.Sprintf("%d update failure(s)", lu.Failures))
	}
}

func hasFinalizer(st *operator.Stack) bool { return slices.Contains(st.Finalizers, operator.Finalizer) }

func (o *Operator) setFinalizers(ctx context.Context, name string, finalizers []string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers}})
	_, err := o.client.Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{})
	return err
}

// reconcile is one pass of the stack controller over a Stack (SC, Reconcile).
func (o *Operator) reconcile(ctx context.Context, name string) error {
	st, u, err := o.get(ctx, name)
	if err != nil {
		return nil // gone
	}
	deleting := st.DeletionTimestamp != nil
	if deleting && !hasFinalizer(st) {
		return nil
	}
	if !deleting && !hasFinalizer(st) {
		return o.setFinalizers(ctx, name, append(st.Finalizers, operator.Finalizer))
	}
	status := st.Status
	request := st.Annotations[operator.ReconcileRequestAnnotation]
	status.ObservedGeneration, status.ObservedReconcileRequest = st.Generation, request

	if cu := status.CurrentUpdate; cu != nil {
		o.mu.Lock()
		r := o.runs[cu.Name]
		o.mu.Unlock()
		if r != nil && r.outcome.Hold != nil {
			select {
			case <-r.outcome.Hold:
			default:
				markReconciling(&status, "StackProcessing", "stack is being processed")
				return o.saveStatus(ctx, u, status)
			}
		}
		o.finish(&status, st, cu, r)
		markResult(&status, st.Spec.Preview)
		if err := o.saveStatus(ctx, u, status); err != nil {
			return err
		}
		if deleting && status.LastUpdate.Type == "destroy" && status.LastUpdate.State == operator.UpdateSucceeded {
			return o.letGo(ctx, st)
		}
		return nil
	}
	// A Stack deleted without destroyOnFinalize, or a preview Stack, lets go at once (SC 654-665).
	if deleting && (!st.Spec.DestroyOnFinalize || st.Spec.Preview) {
		markReady(&status)
		if err := o.saveStatus(ctx, u, status); err != nil {
			return err
		}
		return o.letGo(ctx, st)
	}
	// The git source needs a repository and a commit or branch (git.go, NewGitSource).
	if st.Spec.ProjectRepo == "" || st.Spec.Commit == "" {
		markStalled(&status, "SpecInvalid", `missing "commit" or "branch"`)
		return o.saveStatus(ctx, u, status)
	}
	if o.synced(st, status, request, deleting) {
		markResult(&status, st.Spec.Preview)
		if err := o.saveStatus(ctx, u, status); err != nil {
			return err
		}
		// A deleted Stack whose destroy succeeded lets go (SC 810-825).
		if deleting && status.LastUpdate.State == operator.UpdateSucceeded {
			return o.letGo(ctx, st)
		}
		return nil
	}
	typ := "up"
	switch {
	case deleting:
		typ = "destroy"
	case st.Spec.Preview:
		typ = "preview"
	}
	outcome := o.script(st, typ)
	if outcome.Stall != "" {
		// A Workspace that cannot be made ready stalls the Stack with its own condition
		// (SC 992-1016); a deleted Stack that never ran lets go instead (SC 997-1004).
		if deleting && status.LastUpdate == nil {
			return o.letGo(ctx, st)
		}
		if err := o.stallWorkspace(ctx, st, outcome); err != nil {
			return err
		}
		markStalled(&status, outcome.Stall, outcome.Message)
		return o.saveStatus(ctx, u, status)
	}
	if outcome.NeverReady {
		markReconciling(&status, "StackProcessing", "waiting for workspace readiness")
		return o.saveStatus(ctx, u, status)
	}
	runName := fmt.Sprintf("%s-%x", name, time.Now().UnixMilli())
	o.mu.Lock()
	o.runs[runName] = &run{typ: typ, outcome: outcome}
	o.mu.Unlock()
	// currentUpdate is saved before the Update is made (SC 1022-1076).
	markReconciling(&status, "StackProcessing", "stack is being processed")
	status.CurrentUpdate = &operator.CurrentStackUpdate{Generation: st.Generation, ReconcileRequest: request, Name: runName, Commit: st.Spec.Commit}
	return o.saveStatus(ctx, u, status)
}

// synced is the operator's isSynced (SC 1223-1303): nothing to run when the last run was for
// this generation and request, and (if it failed) its retry is not due or retries are spent.
func (o *Operator) synced(st *operator.Stack, s operator.StackStatus, request string, deleting bool) bool {
	lu := s.LastUpdate
	if lu == nil || lu.Generation != st.Generation || lu.ReconcileRequest != request {
		return false
	}
	if deleting && lu.Type != "destroy" {
		return false
	}
	if lu.State == operator.UpdateSucceeded || lu.Failures >= maxUpdateFailures {
		return true
	}
	cooldown := time.Duration(float64(o.cooldown) * math.Pow(3, float64(lu.Failures)))
	return lu.LastResyncTime != nil && time.Since(lu.LastResyncTime.Time) < cooldown
}

// finish records the run's end in lastUpdate (SC, markStackSucceeded and markStackFailed).
func (o *Operator) finish(s *operator.StackStatus, st *operator.Stack, cu *operator.CurrentStackUpdate, r *run) {
	now := metav1.Now()
	typ := "up"
	var outcome Outcome
	if r != nil {
		typ, outcome = r.typ, r.outcome
	}
	lu := &operator.StackUpdateState{Generation: cu.Generation, ReconcileRequest: cu.ReconcileRequest, Name: cu.Name, Type: typ, LastResyncTime: &now}
	if outcome.Fail {
		lu.State, lu.Message = operator.UpdateFailed, outcome.Message
		// The count goes on only for the same generation and request (SC, markStackFailed).
		if prev := s.LastUpdate; prev != nil && prev.Generation == cu.Generation && prev.ReconcileRequest == cu.ReconcileRequest {
			lu.Failures = prev.Failures + 1
		}
	} else {
		// A run that succeeded leaves no message (SC 1165-1176); its outputs replace the
		// Stack's only when it produced some (SC 1141-1163).
		lu.State = operator.UpdateSucceeded
		if typ == "up" && len(outcome.Outputs) > 0 {
			s.Outputs = map[string]json.RawMessage{}
			for k, v := range outcome.Outputs {
				b, _ := json.Marshal(v)
				s.Outputs[k] = b
			}
		}
	}
	s.LastUpdate, s.CurrentUpdate = lu, nil
}

// stallWorkspace writes the Workspace of a Stack (same name) with the Stalled condition the
// workspace controller sets when it cannot start the pod, at the Workspace's generation.
func (o *Operator) stallWorkspace(ctx context.Context, st *operator.Stack, outcome Outcome) error {
	ws, err := o.workspaces.Get(ctx, st.Name, metav1.GetOptions{})
	if err != nil {
		ws = &unstructured.Unstructured{Object: map[string]any{"apiVersion": operator.WorkspaceResource.GroupVersion().String(), "kind": "Workspace",
			"metadata": map[string]any{"name": st.Name, "namespace": st.Namespace}, "spec": map[string]any{}}}
		if ws, err = o.workspaces.Create(ctx, ws, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("workspace %s: %w", st.Name, err)
		}
	}
	gen := ws.GetGeneration()
	ws.Object["status"] = map[string]any{"observedGeneration": gen, "conditions": []any{map[string]any{
		"type": operator.ConditionStalled, "status": "True", "reason": "InstallationFailed", "message": outcome.Message,
		"observedGeneration": gen, "lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339)}}}
	if _, err := o.workspaces.UpdateStatus(ctx, ws, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("workspace %s status: %w", st.Name, err)
	}
	return nil
}

// letGo removes the operator's finalizer: the Stack may go.
func (o *Operator) letGo(ctx context.Context, st *operator.Stack) error {
	rest := slices.DeleteFunc(slices.Clone(st.Finalizers), func(f string) bool { return f == operator.Finalizer })
	if rest == nil {
		rest = []string{}
	}
	return o.setFinalizers(ctx, st.Name, rest)
}
