package operator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/outputs"
)

// How the operator tells the outcome of a run (operator/internal/controller/pulumi/
// stack_controller.go, at v2.9.0):
//
//   - a run starts when the Stack's generation, or its reconcile-request annotation, differs
//     from status.lastUpdate's; status.currentUpdate names it while it runs;
//   - when it ends, status.lastUpdate records the generation and reconcile request it ran for,
//     its type and state (succeeded or failed) and the engine's message; a failed run is
//     retried after 10s, 30s and 90s, and after three failures the Stack is Stalled
//     (UpdateFailed) until its spec or request changes;
//   - a spec the operator cannot run marks it Stalled (SpecInvalid, SourceUnavailable,
//     WorkspaceFailed, ...) at that generation, with no run;
//   - deleting a Stack with destroyOnFinalize runs a destroy first; the operator removes its
//     finalizer once the destroy succeeded, and keeps it (retrying) while it fails.
//
// An operation is therefore the Stack write it made (the generation that write produced and
// the operation's ID as the reconcile request) and the first status that answers it.

// newID names an operation that came without one.
func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "op-" + hex.EncodeToString(b)
}

// Up writes the environment's Stack (creating it) with the spec's configuration and waits
// for the run it asks for.
func (e *Executor) Up(ctx context.Context, spec stacks.Spec, opts ...automation.OpOption) (*automation.UpResult, error) {
	st, err := e.runSpec(ctx, spec, automation.OpUp, settings(opts))
	if err != nil {
		return nil, err
	}
	return upResult(st), nil
}

// Preview writes a preview Stack for the spec (the environment's own Stack would run an update
// for a new spec), waits for its run and deletes it: a preview Stack is never destroyed
// (the operator skips the destroy of a Stack with spec.preview). The operator reports no diff,
// only the engine's message.
func (e *Executor) Preview(ctx context.Context, spec stacks.Spec, opts ...automation.OpOption) (*automation.PreviewResult, error) {
	st, err := e.runSpec(ctx, spec, automation.OpPreview, settings(opts))
	if err != nil {
		return nil, err
	}
	return previewResult(st), nil
}

// stackOf names the Stack an operation on an environment runs on (a preview's own, else the
// environment's), and its role.
func stackOf(env string, op automation.Operation) (name, role string) {
	if op == automation.OpPreview {
		return stackName(env, "-preview"), RolePreview
	}
	return stackName(env, ""), RoleEnvironment
}

// runSpec is the frame of Up and Preview: a slot, the Stack write for the spec, and its run
// followed to the end.
func (e *Executor) runSpec(ctx context.Context, spec stacks.Spec, op automation.Operation, set automation.OpSettings) (*Stack, error) {
	release, err := e.acquire(ctx, set)
	if err != nil {
		return nil, e.opErr(ctx, spec.Name, op, err)
	}
	defer release()
	if err := e.checkKongUpgrade(ctx, spec); err != nil {
		return nil, e.opErr(ctx, spec.Name, op, err)
	}
	name, role := stackOf(spec.Name, op)
	gen, err := e.apply(ctx, name, spec, role, op, set.ID, op == automation.OpPreview)
	if err != nil {
		return nil, e.opErr(ctx, spec.Name, op, err)
	}
	return e.followRun(ctx, spec.Name, op, set, gen)
}

// checkKongUpgrade refuses a spec whose Kong data planes would be newer than the control
// plane the environment runs now (its Stack's kongVersion output), as the in-process manager
// does (stacks.KongConfig.KongUpgradeProblems).
func (e *Executor) checkKongUpgrade(ctx context.Context, spec stacks.Spec) error {
	st, err := e.get(ctx, stackName(spec.Name, ""))
	if err != nil || st == nil || e.owns(st, spec.Name, RoleEnvironment) != nil {
		return err // a new environment, or one the write below refuses
	}
	var running string
	if raw, ok := st.Status.Outputs[outputs.KongVersion]; ok {
		_ = json.Unmarshal(raw, &running)
	}
	if problems := spec.Config.Kong.KongUpgradeProblems(running); len(problems) > 0 {
		return &stacks.InvalidSpecError{Name: spec.Name, Problems: problems}
	}
	return nil
}

// followRun follows an update's or preview's run (gen: the generation its write produced, 0
// when not known) to its end. Then an update's earlier config objects go, and so does a
// preview's Stack; a run the service stopped following keeps both, for the next start.
func (e *Executor) followRun(ctx context.Context, env string, op automation.Operation, set automation.OpSettings, gen int64) (*Stack, error) {
	name, role := stackOf(env, op)
	st, err := e.follow(ctx, env, name, op, set, runAnswers(set.ID, gen))
	switch {
	case errors.Is(err, automation.ErrCanceled):
	case op == automation.OpPreview:
		e.deletePreview(name)
	case err == nil:
		e.pruneConfig(ctx, env, role, name, set.ID)
	}
	return st, err
}

// upResult is a successful update's result.
func upResult(st *Stack) *automation.UpResult {
	return &automation.UpResult{Changes: automation.Changes{}, Outputs: outputsOf(st.Status.Outputs)}
}

// deletePreview deletes a preview Stack once its preview ended; the operator removes its
// finalizer without a destroy, and the garbage collector its workspace and config objects.
func (e *Executor) deletePreview(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = e.stacks.Delete(ctx, name, metav1.DeleteOptions{})
}

// Destroy deletes the environment's Stack, which the operator destroys before it lets the
// Stack go (destroyOnFinalize is set from the Stack's creation: setting it now would be a spec
// change, and an update first), and waits for the Stack to be gone.
func (e *Executor) Destroy(ctx context.Context, name string, opts ...automation.OpOption) (*automation.DestroyResult, error) {
	set := settings(opts)
	release, err := e.acquire(ctx, set)
	if err != nil {
		return nil, e.opErr(ctx, name, automation.OpDestroy, err)
	}
	defer release()
	st, err := e.environmentStack(ctx, name)
	if err != nil {
		return nil, e.opErr(ctx, name, automation.OpDestroy, err)
	}
	// The operator would destroy everything that does not depend on a protected resource
	// before the engine refused to delete it: refuse first, from the environment's
	// configuration (the Stack's, which its last update applied).
	cfg, err := e.Config(ctx, name)
	if err != nil {
		return nil, e.opErr(ctx, name, automation.OpDestroy, err)
	}
	if protected := cfg.ProtectedResources(name); len(protected) > 0 {
		return nil, &automation.ProtectedError{Stack: name, URNs: protected}
	}
	// The operation's ID goes on the Stack first: a service restarted before the delete
	// finds it there, and after it, too. A Stack already being deleted gets a new reconcile
	// request instead: the operator then retries the destroy at once.
	byRequest := st.DeletionTimestamp != nil
	patch := map[string]any{AnnotationOperation: set.ID, AnnotationOperationKind: string(automation.OpDestroy)}
	if byRequest {
		patch[ReconcileRequestAnnotation] = set.ID
	}
	if err := e.annotate(ctx, st.Name, patch); err != nil {
		return nil, e.opErr(ctx, name, automation.OpDestroy, err)
	}
	if err := e.followDestroy(ctx, name, st, set, byRequest); err != nil {
		return nil, err
	}
	return &automation.DestroyResult{Changes: automation.Changes{}}, nil
}

// followDestroy deletes the Stack unless it is being deleted already, and follows the destroy
// to the Stack's end: by the deletion's generation, or (byRequest) by the operation's reconcile
// request.
func (e *Executor) followDestroy(ctx context.Context, env string, st *Stack, set automation.OpSettings, byRequest bool) error {
	gen := st.Generation
	if st.DeletionTimestamp == nil {
		var err error
		if gen, err = e.delete(ctx, st.Name); err != nil {
			return e.opErr(ctx, env, automation.OpDestroy, err)
		}
	}
	_, err := e.follow(ctx, env, st.Name, automation.OpDestroy, set, destroyAnswers(set.ID, gen, byRequest))
	return err
}

// Refresh is not a run the operator's Stack has: its spec.refresh refreshes before every
// update. A refresh would be an Update the executor writes for the Stack's workspace; until
// then it is refused.
func (e *Executor) Refresh(_ context.Context, name string, _ ...automation.OpOption) (*automation.RefreshResult, error) {
	return nil, &automation.RunnerError{Stack: name, Operation: automation.OpRefresh, Code: "unsupported",
		Message: "the operator executor does not run refreshes: the operator's Stacks have no refresh-only run"}
}

// settings are an operation's options, with an ID.
func settings(opts []automation.OpOption) automation.OpSettings {
	set := automation.Settings(opts)
	if set.ID == "" {
		set.ID = newID()
	}
	return set
}

// opErr gives an error before the run the environment and operation it belongs to. A request
// cut short because ctx ended is the operation canceled, with ctx's cause (a stopping service
// then resumes it: the write may have landed).
func (e *Executor) opErr(ctx context.Context, env string, op automation.Operation, err error) error {
	if ctx.Err() != nil && !errors.Is(err, automation.ErrCanceled) {
		return &automation.CanceledError{Stack: env, Operation: op, Err: fmt.Errorf("%w: %v", context.Cause(ctx), err)}
	}
	var ce *automation.CanceledError
	if errors.As(err, &ce) {
		ce.Stack, ce.Operation = env, op
		return ce
	}
	if errors.Is(err, automation.ErrNotFound) || errors.Is(err, automation.ErrClosed) || errors.Is(err, automation.ErrBusy) {
		return err
	}
	return fmt.Errorf("%s of environment %q: %w", op, env, err)
}

// apply writes the config objects and the Stack for one operation, in that order (the Stack
// refers to them), and returns the generation the Stack write produced.
func (e *Executor) apply(ctx context.Context, name string, spec stacks.Spec, role string, op automation.Operation, id string, preview bool) (int64, error) {
	if err := e.checkEnv(ctx); err != nil {
		return 0, err
	}
	cm, secret, configRef, secretsRef := configObjects(id, spec.Name, role, spec.Config)
	if _, err := e.core.CoreV1().ConfigMaps(e.opts.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("writing ConfigMap %s: %w", cm.Name, err)
	}
	if _, err := e.core.CoreV1().Secrets(e.opts.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("writing Secret %s: %w", secret.Name, err)
	}
	desired := e.stackSpec(spec.Name, configRef, secretsRef, preview)
	annotations := map[string]string{ReconcileRequestAnnotation: id, AnnotationOperation: id, AnnotationOperationKind: string(op)}
	var written *Stack
	// The operator writes the Stack's status often, and each write changes its resource
	// version: a write of ours that raced one is read again and retried.
	for attempt := 0; ; attempt++ {
		current, err := e.get(ctx, name)
		if err != nil {
			return 0, err
		}
		if current == nil {
			st := &Stack{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.opts.Namespace, Labels: labels(spec.Name, role), Annotations: annotations}, Spec: desired}
			written, err = e.write(ctx, st, true)
		} else {
			if err := e.owns(current, spec.Name, role); err != nil {
				return 0, err
			}
			if current.DeletionTimestamp != nil {
				return 0, &automation.BusyError{Stack: spec.Name, Source: automation.BusyManager,
					Err: fmt.Errorf("environment %q is being destroyed", spec.Name)}
			}
			if current.Annotations == nil {
				current.Annotations = map[string]string{}
			}
			for k, v := range annotations {
				current.Annotations[k] = v
			}
			current.Spec = desired
			written, err = e.write(ctx, current, false)
		}
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) || attempt == 4 {
			return 0, err
		}
	}
	e.own(ctx, written, cm.Name)
	return written.Generation, nil
}

// stackSpec is the Stack's spec for a configuration.
func (e *Executor) stackSpec(env string, configRef map[string]ConfigMapRef, secretsRef map[string]ResourceRef, preview bool) StackSpec {
	envRefs := map[string]ResourceRef{}
	for name, ref := range e.opts.Env {
		envRefs[name] = SecretResourceRef(ref.Name, ref.Key)
	}
	return StackSpec{
		Stack: env, ProjectRepo: e.opts.Repository, Commit: e.opts.Commit, RepoDir: e.opts.RepoDir,
		Backend: e.opts.Backend, SecretsProvider: e.opts.SecretsProvider, ServiceAccountName: e.opts.ServiceAccount,
		ConfigRef: configRef, SecretsRef: secretsRef, EnvRefs: envRefs,
		DestroyOnFinalize: !preview, RunProgram: !preview, Preview: preview,
		WorkspaceTemplate: &WorkspaceTemplate{Spec: WorkspaceTemplateSpec{Image: e.opts.Image}},
		// Each Update and its outputs Secret are kept a week: the history and the outputs'
		// secrets are read from them.
		UpdateTemplate: &UpdateTemplate{Spec: UpdateTemplateSpec{TtlAfterCompleted: "168h"}},
	}
}

// write creates the Stack or updates it, and returns it as written.
func (e *Executor) write(ctx context.Context, st *Stack, create bool) (*Stack, error) {
	u, err := toUnstructured(st)
	if err != nil {
		return nil, err
	}
	var out *unstructured.Unstructured
	if create {
		out, err = e.stacks.Create(ctx, u, metav1.CreateOptions{})
	} else {
		out, err = e.stacks.Update(ctx, u, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("writing Stack %s/%s: %w", e.opts.Namespace, st.Name, err)
	}
	return fromUnstructured(out)
}

// own makes the Stack the owner of an operation's config objects, so that they go with it.
func (e *Executor) own(ctx context.Context, st *Stack, objName string) {
	ref := metav1.OwnerReference{APIVersion: StackResource.GroupVersion().String(), Kind: "Stack", Name: st.Name, UID: st.UID}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{ref}}})
	_, _ = e.core.CoreV1().ConfigMaps(e.opts.Namespace).Patch(ctx, objName, types.MergePatchType, patch, metav1.PatchOptions{})
	_, _ = e.core.CoreV1().Secrets(e.opts.Namespace).Patch(ctx, objName, types.MergePatchType, patch, metav1.PatchOptions{})
}

// pruneConfig deletes an environment's config objects of earlier operations, once a run read
// the current ones.
func (e *Executor) pruneConfig(ctx context.Context, env, role, stack, id string) {
	keep := configName(env, role, id)
	sel := metav1.ListOptions{LabelSelector: LabelEnvironment + "=" + env + "," + LabelRole + "=" + role}
	if cms, err := e.core.CoreV1().ConfigMaps(e.opts.Namespace).List(ctx, sel); err == nil {
		for _, cm := range cms.Items {
			if cm.Name != keep {
				_ = e.core.CoreV1().ConfigMaps(e.opts.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
			}
		}
	}
	if ss, err := e.core.CoreV1().Secrets(e.opts.Namespace).List(ctx, sel); err == nil {
		for _, s := range ss.Items {
			if s.Name != keep && s.Type == corev1.SecretTypeOpaque {
				_ = e.core.CoreV1().Secrets(e.opts.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
			}
		}
	}
}

// annotate merges annotations into a Stack's (which changes no generation).
func (e *Executor) annotate(ctx context.Context, name string, annotations map[string]any) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if _, err := e.stacks.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating Stack %s/%s: %w", e.opts.Namespace, name, err)
	}
	return nil
}

// delete deletes a Stack and returns the generation the deletion gave it (the API server
// counts a deletion that a finalizer holds as a change of the object).
func (e *Executor) delete(ctx context.Context, name string) (int64, error) {
	if err := e.stacks.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return 0, fmt.Errorf("deleting Stack %s/%s: %w", e.opts.Namespace, name, err)
	}
	st, err := e.get(ctx, name)
	if err != nil || st == nil {
		return 0, err
	}
	return st.Generation, nil
}
