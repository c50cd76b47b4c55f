package automation

import (
	"context"
	"errors"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// Executor runs the portal's operations on environments. The Manager runs them in this
// process through the Automation API; stacks/operator runs them as Stacks of the Pulumi
// Kubernetes Operator, each update in a workspace pod of its own. The HTTP service and its
// journal work the same over either.
//
// A spec reaches an executor validated (stacks.DecodeSpec, SpecFromMap or Spec.Validate):
// executors do not validate it again. Operations take the options of OpOption (events, the
// start hook, the message, the portal's operation ID).
type Executor interface {
	// Project is the Pulumi project the environments are stacks of.
	Project() string
	// MaxConcurrent is how many operations run at once; the others wait for a slot (the start
	// hook marks the end of the wait).
	MaxConcurrent() int
	// Locations are the executor's private places, each with the placeholder a client sees.
	Locations() []Location

	List(ctx context.Context) ([]StackInfo, error)
	// Status, Config and History return a *NotFoundError for an environment that does not exist.
	Status(ctx context.Context, name string) (*Status, error)
	Config(ctx context.Context, name string) (stacks.Config, error)
	History(ctx context.Context, name string, limit int) ([]Update, error)
	// Locks are the engine locks held on an environment's stack; ClearStaleLocks removes those
	// whose process is gone. An executor that cannot read them (a backend other than files, the
	// operator's workspace pods) returns ErrLocksUnsupported from both.
	Locks(name string) ([]LockInfo, error)
	ClearStaleLocks(name string) (int, error)

	Preview(ctx context.Context, spec stacks.Spec, opts ...OpOption) (*PreviewResult, error)
	Up(ctx context.Context, spec stacks.Spec, opts ...OpOption) (*UpResult, error)
	Refresh(ctx context.Context, name string, opts ...OpOption) (*RefreshResult, error)
	Destroy(ctx context.Context, name string, opts ...OpOption) (*DestroyResult, error)

	// Close refuses new operations and lets the running ones go: the Manager cancels them, an
	// executor whose operations outlive the process leaves them running.
	Close()
}

// Resumer is an Executor whose operations outlive the process that started them, and which
// this process cannot stop once they run. After a restart, Resume follows the operation ref
// describes until it ends, and returns what the operation's own call would have. It returns ErrNotStarted when the operation never reached
// the place it runs (the process stopped before it was handed over): it never ran.
type Resumer interface {
	Resume(ctx context.Context, ref OperationRef, opts ...OpOption) (any, error)
}

// OperationRef names a portal operation: its ID, kind and environment.
type OperationRef struct {
	ID          string
	Kind        Operation
	Environment string
}

// ErrNotStarted: the operation never began to run.
var ErrNotStarted = errors.New("the operation never started")

// WithID names the operation with the portal's ID, so that an executor whose operations
// outlive the process can find it again (Resume).
func WithID(id string) OpOption { return func(s *opSettings) { s.id = id } }

// OpSettings are an operation's options, for an executor outside this package.
type OpSettings struct {
	// OnEvent receives the operation's events (nil: none wanted).
	OnEvent EventHandler
	// Message is the update's message in the stack's history.
	Message string
	// OnStart is called once the operation has its slot, before anything of it runs (nil: none).
	OnStart func() error
	// ID is the portal's operation ID ("" if none).
	ID string
}

// Settings applies opts.
func Settings(opts []OpOption) OpSettings {
	s := settings(opts)
	return OpSettings{OnEvent: s.onEvent, Message: s.message, OnStart: s.onStart, ID: s.id}
}

var _ Executor = (*Manager)(nil)

// Slots bound how many operations run at once: an executor takes one per operation.
type Slots chan struct{}

// NewSlots makes n slots.
func NewSlots(n int) Slots { return make(Slots, n) }

// Take waits for a slot, then calls the operation's start hook (nil: none): the end of the wait.
// It returns the release of the slot; or, having kept nothing, ctx's cause if ctx ended first,
// or the hook's error.
func (s Slots) Take(ctx context.Context, onStart func() error) (func(), error) {
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	release := func() { <-s }
	if onStart != nil {
		if err := onStart(); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}
