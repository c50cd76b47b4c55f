package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// Operation states.
const (
	// StateQueued: accepted, waiting for one of the manager's concurrency slots; nothing of it
	// has run yet.
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
	// StateInterrupted: the operation was running when the service stopped (killed, crashed),
	// as its journal record shows on the next start; its outcome is unknown.
	StateInterrupted = "interrupted"
)

// Operation is an operation as the API shows it.
type Operation struct {
	ID          string               `json:"id"`
	Kind        automation.Operation `json:"kind"`
	Environment string               `json:"environment"`
	State       string               `json:"state"`
	CreatedAt   time.Time            `json:"createdAt"`
	// StartedAt is when it left the queue and began to run; absent while queued, and on an
	// operation that ended without ever running.
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Events     int        `json:"events"`
	// Result is the manager's result: changes, and the diff (preview) or outputs with secrets
	// redacted (update).
	Result any       `json:"result,omitempty"`
	Error  *APIError `json:"error,omitempty"`
}

type operation struct {
	mu       sync.Mutex
	view     Operation
	events   []automation.Event
	dropped  int
	changed  chan struct{} // closed and replaced whenever something changes
	done     chan struct{}
	cancelFn context.CancelCauseFunc
}

func (o *operation) snapshot() *Operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.view
	return &v
}

func (o *operation) cancel(cause error) { o.cancelFn(cause) }

// notifyLocked wakes the event streams. o.mu is held.
func (o *operation) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// errDraining is the cause of every operation the shutdown cuts short, and the refusal of new
// ones while the service drains.
var errDraining = errors.New("the service is shutting down")

// errHandedOff is the cause of the operations a stopping service stops following because its
// executor runs them on (an automation.Resumer): the next start resumes them.
var errHandedOff = errors.New("the service stopped following the operation; the executor runs it on")

// runFunc runs an operation on the manager, passing opts (its events and start hook) on.
type runFunc func(ctx context.Context, opts ...automation.OpOption) (any, error)

// startOperation registers an operation on an environment and runs it in the background: 202
// with the operation (queued until the manager has a slot for it), 409 if the environment is
// busy (in this server or locked in the backend), 429 if the tenant's quota or the queue is
// full, 503 while shutting down.
func (s *Server) startOperation(w http.ResponseWriter, r *http.Request, name string, kind automation.Operation, fn runFunc) {
	// An engine lock another process holds (or a killed one left) refuses at once, with the locks.
	if locks, err := s.m.Locks(name); err == nil && len(locks) > 0 {
		s.log.Warn("update refused: the environment is locked", "environment", name, "clear", locks[0].Clear)
		msg := fmt.Sprintf("environment %q is locked by another update since %s", name, locks[0].Timestamp.UTC().Format(time.RFC3339))
		if locks[0].Stale {
			msg += fmt.Sprintf("; the process that took the lock is gone: an admin can clear it with POST /v1/environments/%s/unlock", name)
		}
		writeError(w, http.StatusConflict, &APIError{Code: "busy", Message: msg, Locks: locks})
		return
	}
	c := callOf(r)
	count, err := s.tenantEnvironments(r.Context(), c, kind)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.mu.Lock()
	why := s.quotaLocked(c, name, count)
	if s.draining {
		s.mu.Unlock()
		s.fail(w, errDraining)
		return
	}
	if why != "" {
		s.mu.Unlock()
		c.reason = why
		writeError(w, http.StatusTooManyRequests, &APIError{Code: "quota_exceeded", Message: why})
		return
	}
	if cur, busy := s.active[name]; busy {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, &APIError{Code: "busy",
			Message: fmt.Sprintf("environment %q is busy: operation %s (%s) is %s", name, cur.view.ID, cur.view.Kind, cur.snapshot().State)})
		return
	}
	if waiting := s.queued - max(0, s.m.MaxConcurrent()-s.running); waiting >= s.maxQueued {
		s.mu.Unlock()
		c.reason = "queue full"
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusTooManyRequests, &APIError{Code: "queue_full",
			Message: fmt.Sprintf("%d operations are already waiting for one of the %d slots: try again later", waiting, s.m.MaxConcurrent())})
		return
	}
	ctx, cancel := context.WithCancelCause(s.baseCtx)
	op := &operation{
		view:     Operation{ID: newID(), Kind: kind, Environment: name, State: StateQueued, CreatedAt: time.Now().UTC()},
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
		cancelFn: cancel,
	}
	s.ops[op.view.ID] = op
	s.order = append(s.order, op.view.ID)
	s.active[name] = op
	s.lastOp[name] = op
	delete(s.unreadable, name)
	s.queued++
	forgotten := s.forgetLocked()
	s.wg.Add(1)
	s.mu.Unlock()

	for _, id := range forgotten {
		s.journal.remove(id)
	}
	// Recorded before it runs, so that its final record is written after this one.
	accepted := op.snapshot()
	c.opID = accepted.ID
	s.journal.write(*accepted)
	s.log.Info("operation accepted", "operation", op.view.ID, "kind", string(kind), "environment", name)
	go s.run(ctx, op, fn)
	w.Header().Set("Location", "/v1/operations/"+op.view.ID)
	writeJSON(w, http.StatusAccepted, accepted)
}

// start moves a queued operation to running, once the manager has given it a slot: never
// while the service drains (the operation then ends without having run).
func (s *Server) start(op *operation) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errDraining
	}
	s.queued--
	s.running++
	now := time.Now().UTC()
	op.mu.Lock()
	op.view.State, op.view.StartedAt = StateRunning, &now
	view := op.view
	op.notifyLocked()
	op.mu.Unlock()
	s.mu.Unlock()
	s.journal.write(view)
	s.log.Info("operation started", "operation", view.ID, "kind", string(view.Kind), "environment", view.Environment,
		"queuedFor", now.Sub(view.CreatedAt).Round(time.Millisecond).String())
	return nil
}

func (s *Server) run(ctx context.Context, op *operation, fn runFunc) {
	defer s.wg.Done()
	res, err := fn(ctx, automation.WithID(op.view.ID), automation.WithStart(func() error { return s.start(op) }), automation.WithEvents(func(e automation.Event) {
		op.mu.Lock()
		if len(op.events) < s.maxEvents {
			op.events = append(op.events, e)
			op.view.Events = len(op.events)
		} else {
			op.dropped++
		}
		op.notifyLocked()
		op.mu.Unlock()
	}))
	op.mu.Lock()
	view := op.view
	op.mu.Unlock()
	now := time.Now().UTC()
	view.FinishedAt = &now
	started := view.StartedAt != nil
	handedOff := errors.Is(err, errHandedOff)
	switch {
	case handedOff:
		// The executor runs it on; its record stays "running" for the next start to resume.
		view.FinishedAt = nil
	case err == nil:
		view.State, view.Result = StateSucceeded, res
	case errors.Is(err, automation.ErrNotStarted):
		view.State, view.Error = StateCanceled, &APIError{Code: "not_started",
			Message: "the service stopped before the operation reached the executor: nothing of it ran; start it again"}
	case !started && errors.Is(err, automation.ErrCanceled):
		view.State, view.Error = StateCanceled, notStarted(err)
	case errors.Is(err, automation.ErrCanceled):
		_, view.Error = classify(err)
		view.State = StateCanceled
	default:
		_, view.Error = classify(err)
		view.State = StateFailed
	}
	// The final record is written before the final state is published: only then can the
	// operation be forgotten (and its record removed), so a late write cannot resurrect it.
	if !handedOff {
		s.journal.write(view)
	}
	// The environment is free by the time anyone sees the final state (an event stream's end
	// event included), so that a client may start its next operation at once.
	s.mu.Lock()
	if s.active[view.Environment] == op {
		delete(s.active, view.Environment)
		s.endedLocked(view.Environment)
	}
	if started {
		s.running--
	} else {
		s.queued--
	}
	if handedOff {
		s.cut.HandedOff++
	}
	if errors.Is(err, errDraining) {
		if started {
			s.cut.Canceled++
		} else {
			s.cut.NotStarted++
		}
	}
	op.mu.Lock()
	op.view = view
	close(op.done)
	op.notifyLocked()
	op.mu.Unlock()
	s.mu.Unlock()
	op.cancelFn(nil)

	attrs := []any{"operation", view.ID, "kind", string(view.Kind), "environment", view.Environment, "state", view.State, "events", view.Events}
	if view.Error != nil {
		attrs = append(attrs, "code", view.Error.Code, "error", view.Error.Message)
	}
	s.log.Info("operation finished", attrs...)
}

// notStarted is the error of an operation that ended before it ran: nothing of it happened.
func notStarted(err error) *APIError {
	if errors.Is(err, errDraining) {
		return notStartedBecause("the service began shutting down")
	}
	return notStartedBecause("it was canceled")
}

// notStartedBecause says why an operation ended while it waited for a slot.
func notStartedBecause(why string) *APIError {
	return &APIError{Code: "not_started", Message: why + " while the operation waited for a slot: nothing of it ran; start it again"}
}

// forgetLocked drops the oldest finished operations beyond maxOps and returns their IDs, whose
// journal records the caller removes once s.mu is released. s.mu is held.
func (s *Server) forgetLocked() (forgotten []string) {
	for len(s.order) > s.maxOps {
		i := -1
		for j, id := range s.order {
			if finishedView(s.ops[id].snapshot()) {
				i = j
				break
			}
		}
		if i < 0 {
			return forgotten
		}
		id := s.order[i]
		op := s.ops[id]
		delete(s.ops, id)
		s.order = append(s.order[:i], s.order[i+1:]...)
		if s.lastOp[op.view.Environment] == op {
			delete(s.lastOp, op.view.Environment)
		}
		forgotten = append(forgotten, id)
	}
	return forgotten
}

func (s *Server) operation(id string) *operation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[id]
}

func (s *Server) lastOperation(name string) *Operation {
	s.mu.Lock()
	op := s.lastOp[name]
	s.mu.Unlock()
	if op == nil {
		return nil
	}
	return op.snapshot()
}

// operationEvents streams an operation's events as Server-Sent Events: every event so far
// (after Last-Event-ID, when the client resumes), then new ones as they come, then an "end"
// event carrying the finished operation, after which the stream closes. An operation loaded
// from the journal has no events kept: its stream is the end event alone.
func (s *Server) operationEvents(w http.ResponseWriter, r *http.Request) {
	op := s.allowedOperation(w, r)
	if op == nil {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, &APIError{Code: "internal", Message: "streaming unsupported"})
		return
	}
	next := 0
	if last, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && last > 0 {
		next = last
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		op.mu.Lock()
		var batch []automation.Event
		if next < len(op.events) {
			batch = append(batch, op.events[next:]...)
		}
		changed, finished := op.changed, finishedView(&op.view)
		view := op.view
		op.mu.Unlock()

		for _, e := range batch {
			data, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Sequence, e.Kind, data); err != nil {
				return
			}
			next++
		}
		if finished {
			data, _ := json.Marshal(view)
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
			flusher.Flush()
			return
		}
		flusher.Flush()
		select {
		case <-changed:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// CutShortError is a shutdown that did not let every accepted operation run to its end.
type CutShortError struct {
	// NotStarted operations were queued when the drain began, and ended without running.
	NotStarted int
	// Canceled operations were running at the deadline, and were interrupted.
	Canceled int
	// HandedOff operations go on in the executor (an automation.Resumer) after the service
	// stops: the next start resumes them. They are not cut short.
	HandedOff int
}

func (e *CutShortError) Error() string {
	return fmt.Sprintf("shutdown cut %d operations short: %d never started, %d canceled while running", e.NotStarted+e.Canceled, e.NotStarted, e.Canceled)
}

// Drain stops the server starting operations: a request for a new one gets 503, a queued one
// ends without running (canceled, not_started), /healthz answers 503. Running operations go on,
// and every read keeps working. It returns how many queued operations it ended.
func (s *Server) Drain() int {
	s.mu.Lock()
	s.draining = true
	var queued []*operation
	for _, op := range s.active {
		if op.snapshot().State == StateQueued {
			queued = append(queued, op)
		}
	}
	s.mu.Unlock()
	for _, op := range queued {
		op.cancel(errDraining)
	}
	return len(queued)
}

// Shutdown drains the server and waits for the running operations until ctx ends; then it
// cancels them (each interrupts its engine cleanly, which releases the stack's lock) and waits
// for them to stop, at most 30 s. It returns a *CutShortError if any accepted operation did
// not run to its end.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.shutdown(ctx, 30*time.Second)
}

func (s *Server) shutdown(ctx context.Context, cancelWait time.Duration) error {
	abandoned := s.Drain()
	s.mu.Lock()
	n := s.running
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	if _, resumes := s.m.(automation.Resumer); resumes {
		// The executor runs the operations where they outlive this process: stop following
		// them now; the next start resumes each from its journal record.
		if n > 0 {
			s.log.Info("stopping: the running operations go on in the executor, and the next start resumes them", "running", n, "notStarted", abandoned)
		}
		s.stopAll(errHandedOff, done, cancelWait)
		return s.cutShort()
	}
	if n > 0 || abandoned > 0 {
		s.log.Info("draining: waiting for the running operations; the queued ones will not start", "running", n, "notStarted", abandoned)
	}
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("shutdown deadline reached: canceling running operations", "reason", context.Cause(ctx).Error())
		s.stopAll(errDraining, done, cancelWait)
	}
	return s.cutShort()
}

// stopAll cancels every operation with cause and waits, at most wait, until done closes.
func (s *Server) stopAll(cause error, done <-chan struct{}, wait time.Duration) {
	s.cancelBase(cause)
	select {
	case <-done:
	case <-time.After(wait):
		s.log.Error("operations did not stop after cancellation", "cause", cause.Error(), "waited", wait.String())
	}
}

// cutShort is the shutdown's outcome: a *CutShortError if an accepted operation did not run to
// its end (one handed off to an executor that runs it on is not cut short).
func (s *Server) cutShort() error {
	s.mu.Lock()
	cut := s.cut
	cut.Canceled += s.running + s.queued // those that did not even stop
	s.mu.Unlock()
	if cut.NotStarted+cut.Canceled > 0 {
		return &cut
	}
	return nil
}
