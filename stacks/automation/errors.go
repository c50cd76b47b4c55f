package automation

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors a portal branches on with errors.Is. Every error the Manager returns for one
// of these conditions is a struct error below that matches its sentinel and carries the details.
var (
	// ErrBusy: another operation holds the stack (this manager's, or another process's engine lock).
	ErrBusy = errors.New("environment busy")
	// ErrNotFound: the backend holds no stack of that name.
	ErrNotFound = errors.New("environment not found")
	// ErrEngine: the Pulumi engine ran and failed.
	ErrEngine = errors.New("engine failure")
	// ErrCanceled: the operation's context was canceled; the engine was interrupted cleanly.
	ErrCanceled = errors.New("operation canceled")
	// ErrClosed: the manager is closed and starts no more operations.
	ErrClosed = errors.New("manager closed")
)

// BusySource says who holds a busy stack.
type BusySource string

// Holders of a busy stack.
const (
	// BusyManager: an operation this manager runs.
	BusyManager BusySource = "manager"
	// BusyEngineLock: the engine's lock on the stack, held by another process, or left behind
	// by one that was killed (see Manager.Locks and Manager.Cancel).
	BusyEngineLock BusySource = "engine-lock"
)

// BusyError is an operation refused because another one holds the stack. It matches ErrBusy.
type BusyError struct {
	Stack  string
	Source BusySource
	// Running is the operation this manager runs on the stack (BusyManager only).
	Running Operation
	// Err is the engine's error (BusyEngineLock only).
	Err error
}

func (e *BusyError) Error() string {
	if e.Source == BusyManager {
		return fmt.Sprintf("environment %q is busy: a %s is running", e.Stack, e.Running)
	}
	return fmt.Sprintf("environment %q is busy: the stack is locked by another update "+
		"(if no update is running, a killed process left the lock behind: clear it with `pulumi cancel`)", e.Stack)
}

func (e *BusyError) Unwrap() error        { return e.Err }
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// NotFoundError is an operation on a stack the backend does not hold. It matches ErrNotFound.
type NotFoundError struct {
	Stack string
	Err   error
}

func (e *NotFoundError) Error() string        { return fmt.Sprintf("environment %q not found", e.Stack) }
func (e *NotFoundError) Unwrap() error        { return e.Err }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// EngineError is an operation the engine ran and failed. It matches ErrEngine; the Automation
// API's own error is reachable with Unwrap (so auto.IsRuntimeError and friends work).
type EngineError struct {
	Stack     string
	Operation Operation
	// Tail is the end of the engine's output (at most tailLines lines), which names the failure.
	Tail string
	Err  error
}

func (e *EngineError) Error() string {
	msg := fmt.Sprintf("%s of environment %q failed", e.Operation, e.Stack)
	if line := lastMeaningfulLine(e.Tail); line != "" {
		msg += ": " + line
	}
	return msg
}

func (e *EngineError) Unwrap() error        { return e.Err }
func (e *EngineError) Is(target error) bool { return target == ErrEngine }

// RunnerError is an operation that failed where an executor ran it outside this process (the
// Pulumi Kubernetes Operator's workspace pods). Code says how ("update_failed": the update ran
// and failed; "stalled": the runner will not run it until something changes), Reason is the
// runner's own word for it and Message the runner's message. It matches ErrEngine.
type RunnerError struct {
	Stack     string
	Operation Operation
	Code      string
	Reason    string
	Message   string
}

func (e *RunnerError) Error() string {
	msg := fmt.Sprintf("%s of environment %q failed", e.Operation, e.Stack)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Message != "" {
		msg += ": " + truncate(e.Message, 2000)
	}
	return msg
}

func (e *RunnerError) Is(target error) bool { return target == ErrEngine }

// CanceledError is an operation interrupted because its context ended. It matches ErrCanceled
// and the context's error.
type CanceledError struct {
	Stack     string
	Operation Operation
	Tail      string
	Err       error
}

func (e *CanceledError) Error() string {
	return fmt.Sprintf("%s of environment %q canceled: %v", e.Operation, e.Stack, e.Err)
}
func (e *CanceledError) Unwrap() error        { return e.Err }
func (e *CanceledError) Is(target error) bool { return target == ErrCanceled }

// lastMeaningfulLine picks the line of the engine's output most likely to name the failure:
// the last line that starts with "error:", else the last non-empty line.
func lastMeaningfulLine(tail string) string {
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "error:") {
			return truncate(l, 300)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return truncate(l, 300)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
