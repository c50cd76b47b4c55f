// Package operator runs the portal's operations on the Pulumi Kubernetes Operator (v2): each
// environment is a pulumi.com/v1 Stack in one namespace, and the operator runs each of its
// updates in a workspace pod of its own, from this repository at a pinned commit, so that it
// runs the very program `pulumi up` runs. The executor writes Stacks and follows their status;
// it never runs the engine itself.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// Options configure an Executor.
type Options struct {
	// REST reaches the cluster the operator runs in (a kubeconfig's, or the pod's own).
	REST *rest.Config
	// Namespace holds the environments' Stacks and everything the executor writes for them.
	Namespace string
	// Repository and Commit are the program's source: a git URL and a full commit SHA.
	// RepoDir is the directory of Pulumi.yaml in it ("" for the root).
	Repository, Commit, RepoDir string
	// Backend is the state backend's URL (s3://, gs://, azblob:// or https://): the workspace
	// pods are temporary, so a file:// backend would lose the state.
	Backend string
	// SecretsProvider encrypts the stacks' secrets ("" for the backend's default, a passphrase
	// in PULUMI_CONFIG_PASSPHRASE on a DIY backend).
	SecretsProvider string
	// ServiceAccount is the workspace pods' identity (it needs system:auth-delegator, and the
	// cloud credentials, for example through IRSA).
	ServiceAccount string
	// Env names the workspace pods' environment variables and the keys of Secrets in Namespace
	// that hold them (PULUMI_CONFIG_PASSPHRASE, AWS_ACCESS_KEY_ID, PULUMI_ACCESS_TOKEN, ...).
	Env map[string]SecretRef
	// Image is the workspace image, pinned (it must carry the pulumi CLI and Go).
	Image string
	// MaxConcurrent is how many operations the executor follows at once (default 25, the
	// operator's own default of concurrent reconciles).
	MaxConcurrent int
	// Poll is how often a running operation's Stack is read (default 2s).
	Poll time.Duration
	// WorkspaceTimeout is how long an operation waits for the operator to start its run (the
	// workspace pod to become ready; default 30m); RunTimeout how long it waits for the run to
	// end (default 4h). Past either the operation fails, and the operator goes on.
	WorkspaceTimeout, RunTimeout time.Duration
	// Project is the Pulumi project (default stacks.Project).
	Project string
}

// Executor runs operations as Stacks; it implements automation.Executor and Resumer.
type Executor struct {
	opts       Options
	stacks     dynamic.ResourceInterface
	workspaces dynamic.ResourceInterface
	core       kubernetes.Interface
	sem        automation.Slots
	closed     chan struct{}
}

var (
	_ automation.Executor = (*Executor)(nil)
	_ automation.Resumer  = (*Executor)(nil)
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// New checks opts and connects to the cluster (nothing is written until an operation runs).
func New(opts Options) (*Executor, error) {
	var problems []string
	if opts.REST == nil {
		problems = append(problems, "no cluster to reach (a kubeconfig, or the pod's service account)")
	}
	if opts.Namespace == "" {
		problems = append(problems, "no namespace for the Stacks")
	}
	if opts.Repository == "" {
		problems = append(problems, "no program repository")
	}
	if !fullSHA.MatchString(opts.Commit) {
		problems = append(problems, fmt.Sprintf("the program's commit must be a full 40-character SHA (a branch moves), got %q", opts.Commit))
	}
	if u, err := url.Parse(opts.Backend); opts.Backend == "" || err != nil || u.Scheme == "file" || u.Scheme == "" {
		problems = append(problems, fmt.Sprintf("the backend must be a shared one (s3://, gs://, azblob:// or https://): the workspace pods come and go, so a file:// backend would lose the state; got %q", automation.RedactURL(opts.Backend)))
	}
	if !stacks.PinnedImage(opts.Image) {
		problems = append(problems, fmt.Sprintf("the workspace image must be pinned by tag or digest, got %q", opts.Image))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("operator executor: %s", strings.Join(problems, "; "))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 25
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.WorkspaceTimeout <= 0 {
		opts.WorkspaceTimeout = 30 * time.Minute
	}
	if opts.RunTimeout <= 0 {
		opts.RunTimeout = 4 * time.Hour
	}
	if opts.Project == "" {
		opts.Project = stacks.Project
	}
	dyn, err := dynamic.NewForConfig(opts.REST)
	if err != nil {
		return nil, fmt.Errorf("operator executor: %w", err)
	}
	core, err := kubernetes.NewForConfig(opts.REST)
	if err != nil {
		return nil, fmt.Errorf("operator executor: %w", err)
	}
	return &Executor{opts: opts, stacks: dyn.Resource(StackResource).Namespace(opts.Namespace),
		workspaces: dyn.Resource(WorkspaceResource).Namespace(opts.Namespace), core: core,
		sem: automation.NewSlots(opts.MaxConcurrent), closed: make(chan struct{})}, nil
}

// Project is the Pulumi project.
func (e *Executor) Project() string { return e.opts.Project }

// MaxConcurrent is how many operations the executor follows at once.
func (e *Executor) MaxConcurrent() int { return cap(e.sem) }

// Locations: the executor keeps nothing on this machine; the backend's URL is private.
func (e *Executor) Locations() []automation.Location {
	return []automation.Location{{Value: e.opts.Backend, Placeholder: "<backend>"}}
}

// Close refuses new operations. The running ones go on in the cluster; a restarted service
// resumes following them.
func (e *Executor) Close() {
	select {
	case <-e.closed:
	default:
		close(e.closed)
	}
}

// Locks: the engine's locks are the workspace pods' business (the operator retries past them).
func (e *Executor) Locks(string) ([]automation.LockInfo, error) {
	return nil, automation.ErrLocksUnsupported
}

// ClearStaleLocks: see Locks.
func (e *Executor) ClearStaleLocks(string) (int, error) { return 0, automation.ErrLocksUnsupported }

// get reads a Stack; a missing one is (nil, nil).
func (e *Executor) get(ctx context.Context, name string) (*Stack, error) {
	u, err := e.stacks.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Stack %s/%s: %w", e.opts.Namespace, name, err)
	}
	return fromUnstructured(u)
}

// environmentStack is an environment's Stack: a *NotFoundError if there is none, an error if
// the Stack of that name belongs to another environment.
func (e *Executor) environmentStack(ctx context.Context, env string) (*Stack, error) {
	st, err := e.get(ctx, stackName(env, ""))
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return nil, &automation.NotFoundError{Stack: env}
	}
	return st, e.owns(st, env, RoleEnvironment)
}

// owns refuses a Stack whose labels name another environment or role.
func (e *Executor) owns(st *Stack, env, role string) error {
	if st.Labels[LabelEnvironment] != env || st.Labels[LabelRole] != role || st.Labels[LabelManagedBy] != ManagedBy {
		return fmt.Errorf("Stack %s/%s is not the %s Stack of environment %q (its labels say %s=%q, %s=%q): the portal leaves it alone",
			e.opts.Namespace, st.Name, role, env, LabelEnvironment, st.Labels[LabelEnvironment], LabelRole, st.Labels[LabelRole])
	}
	return nil
}

func fromUnstructured(u *unstructured.Unstructured) (*Stack, error) {
	var st Stack
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &st); err != nil {
		return nil, fmt.Errorf("reading Stack %s: %w", u.GetName(), err)
	}
	return &st, nil
}

func toUnstructured(st *Stack) (*unstructured.Unstructured, error) {
	st.APIVersion, st.Kind = StackResource.GroupVersion().String(), "Stack"
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	// The executor never writes status: the operator does.
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// List lists the environments: their Stacks, by label.
func (e *Executor) List(ctx context.Context) ([]automation.StackInfo, error) {
	list, err := e.stacks.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelRole + "=" + RoleEnvironment})
	if err != nil {
		return nil, fmt.Errorf("listing Stacks in %s: %w", e.opts.Namespace, err)
	}
	out := make([]automation.StackInfo, 0, len(list.Items))
	for i := range list.Items {
		st, err := fromUnstructured(&list.Items[i])
		if err != nil {
			return nil, err
		}
		info := automation.StackInfo{Name: st.Labels[LabelEnvironment], UpdateInProgress: st.Status.CurrentUpdate != nil}
		if lu := st.Status.LastUpdate; lu != nil && lu.LastResyncTime != nil && st.Status.CurrentUpdate == nil {
			info.LastUpdate = lu.LastResyncTime.UTC()
		}
		out = append(out, info)
	}
	return out, nil
}

// Status is an environment as its Stack's status reports it.
func (e *Executor) Status(ctx context.Context, name string) (*automation.Status, error) {
	st, err := e.environmentStack(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &automation.Status{Name: name, Outputs: outputsOf(st.Status.Outputs)}
	if lu := lastUpdate(st); lu != nil {
		out.LastUpdate = lu
	}
	if st.Status.CurrentUpdate != nil {
		out.Running = automation.Operation(st.Annotations[AnnotationOperationKind])
	}
	return out, nil
}

// History is the environment's last finished run: the Stack keeps only that one.
func (e *Executor) History(ctx context.Context, name string, limit int) ([]automation.Update, error) {
	st, err := e.environmentStack(ctx, name)
	if err != nil {
		return nil, err
	}
	if lu := lastUpdate(st); lu != nil && limit != 0 {
		return []automation.Update{*lu}, nil
	}
	return []automation.Update{}, nil
}

// lastUpdate is a Stack's last finished run as the history shows it.
func lastUpdate(st *Stack) *automation.Update {
	lu := st.Status.LastUpdate
	if lu == nil {
		return nil
	}
	up := &automation.Update{Kind: lu.Type, Result: lu.State, Message: lu.Message}
	if lu.LastResyncTime != nil {
		up.EndTime = lu.LastResyncTime.UTC()
	}
	return up
}

// Config is the environment's configuration as its Stack's config objects hold it.
func (e *Executor) Config(ctx context.Context, name string) (stacks.Config, error) {
	st, err := e.environmentStack(ctx, name)
	if err != nil {
		return stacks.Config{}, err
	}
	values := map[string]string{}
	maps := map[string]*corev1.ConfigMap{}
	for key, ref := range st.Spec.ConfigRef {
		cm, ok := maps[ref.Name]
		if !ok {
			if cm, err = e.core.CoreV1().ConfigMaps(e.opts.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err != nil {
				return stacks.Config{}, fmt.Errorf("reading the configuration of environment %q: %w", name, err)
			}
			maps[ref.Name] = cm
		}
		values[key] = cm.Data[ref.Key]
	}
	secrets := map[string]*corev1.Secret{}
	for key, ref := range st.Spec.SecretsRef {
		if ref.Secret == nil {
			continue
		}
		s, ok := secrets[ref.Secret.Name]
		if !ok {
			if s, err = e.core.CoreV1().Secrets(e.opts.Namespace).Get(ctx, ref.Secret.Name, metav1.GetOptions{}); err != nil {
				return stacks.Config{}, fmt.Errorf("reading the secrets of environment %q: %w", name, err)
			}
			secrets[ref.Secret.Name] = s
		}
		values[key] = string(s.Data[ref.Secret.Key])
	}
	cfg, err := stacks.LoadConfig(func(k string) (string, bool) { v, ok := values[k]; return v, ok })
	var verr *stacks.ValidationError
	if errors.As(err, &verr) {
		err = nil // as the Manager's: the configuration as stored, not validated
	}
	return cfg, err
}

// acquire waits for one of the executor's slots, then calls the start hook.
func (e *Executor) acquire(ctx context.Context, set automation.OpSettings) (func(), error) {
	select {
	case <-e.closed:
		return nil, automation.ErrClosed
	default:
	}
	release, err := e.sem.Take(ctx, set.OnStart)
	if err != nil {
		return nil, &automation.CanceledError{Err: err}
	}
	return release, nil
}

// checkEnv checks that every Secret key the workspace pods take an environment variable from
// exists: a missing one leaves the pod waiting for ever (CreateContainerConfigError), and the
// operator reports no stall for it, only "waiting for workspace readiness".
func (e *Executor) checkEnv(ctx context.Context) error {
	var missing []string
	for name, ref := range e.opts.Env {
		s, err := e.core.CoreV1().Secrets(e.opts.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("%s (Secret %s does not exist)", name, ref.Name))
		case err != nil:
			return fmt.Errorf("reading Secret %s for %s: %w", ref.Name, name, err)
		case s.Data[ref.Key] == nil:
			missing = append(missing, fmt.Sprintf("%s (Secret %s has no key %s)", name, ref.Name, ref.Key))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the workspace pods could never start: %s in namespace %s", strings.Join(missing, ", "), e.opts.Namespace)
	}
	return nil
}
