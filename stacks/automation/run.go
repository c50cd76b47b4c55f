package automation

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
)

// OpOption adjusts one operation.
type OpOption func(*opSettings)

type opSettings struct {
	onEvent EventHandler
	message string
	onStart func() error
	id      string
}

// WithEvents streams the operation's events to h.
func WithEvents(h EventHandler) OpOption { return func(s *opSettings) { s.onEvent = h } }

// WithMessage sets the update's message in the stack's history.
func WithMessage(msg string) OpOption { return func(s *opSettings) { s.message = msg } }

// WithStart calls f once the operation has its concurrency slot, before anything of it runs.
// An operation waits for a slot while MaxConcurrent others run; f marks the end of that wait.
// If f returns an error the operation gives up its slot and fails with a *CanceledError
// wrapping it, having run nothing.
func WithStart(f func() error) OpOption { return func(s *opSettings) { s.onStart = f } }

func settings(opts []OpOption) opSettings {
	var s opSettings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// run is the frame of every engine operation: it translates events, keeps the tail of the
// engine's output, and classifies the error.
type run struct {
	m      *Manager
	name   string
	op     Operation
	ch     chan events.EngineEvent
	done   chan struct{}
	stop   chan struct{}
	tail   *tailBuffer
	set    opSettings
	start  time.Time
	events int
}

func (m *Manager) newRun(name string, op Operation, set opSettings) *run {
	r := &run{m: m, name: name, op: op, ch: make(chan events.EngineEvent, 64), done: make(chan struct{}), stop: make(chan struct{}),
		tail: newTailBuffer(32 << 10), set: set, start: time.Now()}
	tr := newEventTranslator(name, op)
	go func() {
		defer close(r.done)
		for {
			var e events.EngineEvent
			select {
			case ev, open := <-r.ch:
				if !open {
					return
				}
				e = ev
			case <-r.stop:
				return
			}
			ev, ok := tr.translate(e)
			if !ok {
				continue
			}
			r.events++
			if r.set.onEvent != nil {
				r.set.onEvent(ev)
			}
		}
	}()
	m.log.Info("operation started", "stack", name, "operation", string(op))
	return r
}

// abandon closes the event channel of a run whose engine never started, and returns err.
func (r *run) abandon(err error) error {
	close(r.ch)
	return err
}

// finish waits for the last events (the Automation API closes the channel when the engine's
// event stream ends; if the engine never connected it is never closed) and classifies err.
func (r *run) finish(ctx context.Context, err error) error {
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		// The engine never connected its event stream (it failed first): stop waiting.
		close(r.stop)
		<-r.done
	}
	err = r.classify(ctx, err)
	attrs := []any{"stack", r.name, "operation", string(r.op), "duration", time.Since(r.start).Round(time.Millisecond).String(), "events", r.events}
	if err != nil {
		r.m.log.Warn("operation failed", append(attrs, "error", err.Error())...)
	} else {
		r.m.log.Info("operation succeeded", attrs...)
	}
	return err
}

func (r *run) classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &CanceledError{Stack: r.name, Operation: r.op, Tail: r.tail.Tail(tailLines), Err: context.Cause(ctx)}
	case auto.IsConcurrentUpdateError(err):
		return &BusyError{Stack: r.name, Source: BusyEngineLock, Err: err}
	case auto.IsSelectStack404Error(err):
		return &NotFoundError{Stack: r.name, Err: err}
	case errors.Is(err, ErrBusy) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCanceled) || errors.As(err, new(*cliError)) ||
		errors.As(err, new(*ProtectedError)):
		return err // classified already, or a CLI step that is not the engine's
	default:
		return &EngineError{Stack: r.name, Operation: r.op, Tail: r.tail.Tail(tailLines), Err: err}
	}
}

const tailLines = 40

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

var _ io.Writer = (*tailBuffer)(nil)

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// Tail returns the last n lines.
func (t *tailBuffer) Tail(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.buf), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
