package server

// The handlers of the environments and operations endpoints.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

func (s *Server) name(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if err := stacks.ValidateStackName(name); err != nil {
		var ise *stacks.InvalidSpecError
		errors.As(err, &ise)
		writeError(w, http.StatusBadRequest, &APIError{Code: "invalid_name", Message: "invalid environment name", Problems: ise.Problems})
		return "", false
	}
	return name, true
}

// specRequest reads the environment name from the path, checks that the principal may act on
// it, and reads its spec from the body, bounded and strict; then it checks the spec against the
// tenant's limits and notes the keys it changes. On failure it has answered.
func (s *Server) specRequest(w http.ResponseWriter, r *http.Request) (stacks.Spec, bool) {
	name, ok := s.name(w, r)
	if !ok || !s.allowed(w, r, name) {
		return stacks.Spec{}, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); r.ContentLength != 0 && (err != nil || mt != "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, &APIError{Code: "unsupported_media_type",
			Message: "the body must be JSON, sent as Content-Type: application/json"})
		return stacks.Spec{}, false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		s.fail(w, &stacks.DecodeError{Err: err})
		return stacks.Spec{}, false
	}
	spec, err := stacks.DecodeSpec(bytes.NewReader(raw), name)
	if err != nil {
		s.fail(w, err)
		return stacks.Spec{}, false
	}
	c := callOf(r)
	if c.tenant != nil {
		if why := c.tenant.refuseConfig(spec.Config); why != "" {
			s.forbid(w, c, why)
			return stacks.Spec{}, false
		}
	}
	current, err := s.m.Config(r.Context(), name)
	if errors.Is(err, automation.ErrNotFound) {
		current, err = stacks.DefaultConfig(), nil
	}
	if err != nil {
		s.fail(w, err)
		return stacks.Spec{}, false
	}
	c.keys = stacks.ChangedKeys(current, spec.Config)
	return spec, true
}

// result keeps a failed operation's nil result from becoming a non-nil interface.
func result[T any](res *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Server) putEnvironment(w http.ResponseWriter, r *http.Request) {
	spec, ok := s.specRequest(w, r)
	if !ok {
		return
	}
	s.startOperation(w, r, spec.Name, automation.OpUp, func(ctx context.Context, opts ...automation.OpOption) (any, error) {
		return result(s.m.Up(ctx, spec, append(opts, automation.WithMessage("portal update"))...))
	})
}

func (s *Server) previewEnvironment(w http.ResponseWriter, r *http.Request) {
	spec, ok := s.specRequest(w, r)
	if !ok {
		return
	}
	s.startOperation(w, r, spec.Name, automation.OpPreview, func(ctx context.Context, opts ...automation.OpOption) (any, error) {
		return result(s.m.Preview(ctx, spec, opts...))
	})
}

func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) {
	name, ok := s.name(w, r)
	if !ok || !s.allowed(w, r, name) {
		return
	}
	// Answer 404 now rather than from the operation.
	if _, err := s.m.History(r.Context(), name, 1); errors.Is(err, automation.ErrNotFound) {
		s.fail(w, err)
		return
	}
	s.startOperation(w, r, name, automation.OpDestroy, func(ctx context.Context, opts ...automation.OpOption) (any, error) {
		return result(s.m.Destroy(ctx, name, opts...))
	})
}

// OperationSummary is an operation as a list shows it: no result, no engine output.
type OperationSummary struct {
	ID         string               `json:"id"`
	Kind       automation.Operation `json:"kind"`
	State      string               `json:"state"`
	CreatedAt  time.Time            `json:"createdAt"`
	StartedAt  *time.Time           `json:"startedAt,omitempty"`
	FinishedAt *time.Time           `json:"finishedAt,omitempty"`
	// ErrorCode is the error's code; GET /v1/operations/{id} has the whole error.
	ErrorCode string `json:"errorCode,omitempty"`
}

func summary(v *Operation) *OperationSummary {
	if v == nil {
		return nil
	}
	sum := &OperationSummary{ID: v.ID, Kind: v.Kind, State: v.State, CreatedAt: v.CreatedAt, StartedAt: v.StartedAt, FinishedAt: v.FinishedAt}
	if v.Error != nil {
		sum.ErrorCode = v.Error.Code
	}
	return sum
}

// environmentSummary is an environment as the list shows it; GET /v1/environments/{name}
// has its outputs and its whole last operation.
type environmentSummary struct {
	Name             string                `json:"name"`
	State            string                `json:"state"`
	LastUpdate       time.Time             `json:"lastUpdate,omitzero"`
	UpdateInProgress bool                  `json:"updateInProgress,omitempty"`
	ResourceCount    *int                  `json:"resourceCount,omitempty"`
	URL              string                `json:"url,omitempty"`
	Locks            []automation.LockInfo `json:"locks,omitempty"`
	LastOperation    *OperationSummary     `json:"lastOperation,omitempty"`
	JournalWarning   string                `json:"journalWarning,omitempty"`
}

// List paging: at most maxPage environments a page, defaultPage unless ?limit= says.
const (
	defaultPage = 100
	maxPage     = 500
)

// listEnvironments lists the environments the principal may see, by name, a page at a time:
// ?limit=N (1..500, default 100) and ?after=NAME (the previous page's "next").
func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "") {
		return
	}
	limit, after, problem := pageOf(r)
	if problem != "" {
		writeError(w, http.StatusBadRequest, &APIError{Code: "malformed_request", Message: problem})
		return
	}
	infos, err := s.m.List(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]environmentSummary, 0, min(limit, len(infos)))
	next := ""
	for _, info := range infos { // List sorts by name
		if info.Name <= after || !visible(r, info.Name) {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1].Name
			break
		}
		last := s.lastOperation(info.Name)
		out = append(out, environmentSummary{Name: info.Name, State: s.envState(info.Name, info.Running, info.Locks),
			LastUpdate: info.LastUpdate, UpdateInProgress: info.UpdateInProgress, ResourceCount: info.ResourceCount, URL: info.URL,
			Locks: info.Locks, LastOperation: summary(last), JournalWarning: s.journalWarning(info.Name)})
	}
	body := map[string]any{"environments": out}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// pageOf reads ?limit= and ?after=; problem is what is wrong with them.
func pageOf(r *http.Request) (limit int, after, problem string) {
	q := r.URL.Query()
	limit = defaultPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return 0, "", fmt.Sprintf("limit must be a whole number from 1 to %d", maxPage)
		}
		limit = n
	}
	after = q.Get("after")
	if after != "" && stacks.ValidateStackName(after) != nil {
		return 0, "", "after must be an environment name, as the previous page's next gives it"
	}
	return limit, after, ""
}

// envState is an environment's state: its operation in this service (queued, running), else
// what the manager and the backend's locks say.
func (s *Server) envState(name string, running automation.Operation, locks []automation.LockInfo) string {
	s.mu.Lock()
	op := s.active[name]
	s.mu.Unlock()
	if op != nil {
		return op.snapshot().State
	}
	return state(running, locks)
}

func state(running automation.Operation, locks []automation.LockInfo) string {
	switch {
	case running != "":
		return "running"
	case len(locks) > 0:
		for _, l := range locks {
			if l.Stale {
				return "stale-lock"
			}
		}
		return "locked"
	default:
		return "ready"
	}
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) {
	name, ok := s.name(w, r)
	if !ok || !s.allowed(w, r, name) {
		return
	}
	st, err := s.m.Status(r.Context(), name)
	if err != nil {
		// A stack being created by its first update is not in the backend yet.
		if op := s.lastOperation(name); errors.Is(err, automation.ErrNotFound) && op != nil && !finishedView(op) {
			writeJSON(w, http.StatusOK, map[string]any{"name": name, "state": op.State, "lastOperation": op, "outputs": automation.Outputs{}})
			return
		}
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		*automation.Status
		State          string     `json:"state"`
		LastOperation  *Operation `json:"lastOperation,omitempty"`
		JournalWarning string     `json:"journalWarning,omitempty"`
	}{st, s.envState(name, st.Running, st.Locks), s.lastOperation(name), s.journalWarning(name)})
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	op := s.allowedOperation(w, r)
	if op == nil {
		return
	}
	writeJSON(w, http.StatusOK, op.snapshot())
}

func (s *Server) cancelOperation(w http.ResponseWriter, r *http.Request) {
	op := s.allowedOperation(w, r)
	if op == nil {
		return
	}
	callOf(r).opID = op.view.ID
	if v := op.snapshot(); finishedView(v) {
		msg := fmt.Sprintf("operation %s is not running (it is %s): there is nothing to cancel", v.ID, v.State)
		if v.State == StateInterrupted {
			msg += fmt.Sprintf("; to clear a lock it left, POST /v1/environments/%s/unlock", v.Environment)
		}
		writeError(w, http.StatusConflict, &APIError{Code: "not_running", Message: msg})
		return
	}
	if _, outlives := s.m.(automation.Resumer); outlives && op.snapshot().State == StateRunning {
		writeError(w, http.StatusConflict, &APIError{Code: "cancel_unsupported", Message: fmt.Sprintf(
			"operation %s runs in the executor, which offers no way to stop a run once it started (the Pulumi Kubernetes Operator has none): it ends on its own; a queued operation can be canceled", op.view.ID)})
		return
	}
	op.cancel(errors.New("canceled through the API"))
	writeJSON(w, http.StatusAccepted, op.snapshot())
}

// unlockEnvironment clears the engine locks a killed process left on an environment (never a
// live one's), and records on its interrupted last operation that the lock is gone.
func (s *Server) unlockEnvironment(w http.ResponseWriter, r *http.Request) {
	name, ok := s.name(w, r)
	if !ok || !s.allowed(w, r, name) {
		return
	}
	n, err := s.m.ClearStaleLocks(name)
	switch {
	case errors.Is(err, automation.ErrLockHeld):
		s.log.Warn("unlock refused: a live process holds the lock", "environment", name, "error", err.Error())
		writeError(w, http.StatusConflict, &APIError{Code: "lock_held",
			Message: fmt.Sprintf("environment %q is locked by a process that is still running (or runs on another host): wait for it, or cancel its operation", name)})
		return
	case errors.Is(err, automation.ErrLocksUnsupported):
		writeError(w, http.StatusConflict, &APIError{Code: "unsupported", Message: "this service keeps no lock files it can clear (the backend is not a file backend, or the operator's workspaces hold the locks)"})
		return
	case err != nil:
		s.fail(w, err)
		return
	case n == 0:
		writeError(w, http.StatusNotFound, &APIError{Code: "not_found", Message: fmt.Sprintf("environment %q has no engine lock", name)})
		return
	}
	s.mu.Lock()
	op := s.lastOp[name]
	s.mu.Unlock()
	if op != nil {
		op.mu.Lock()
		if op.view.State == StateInterrupted && op.view.Error != nil {
			op.view.Error = &APIError{Code: StateInterrupted, Message: interruptedStopped +
				fmt.Sprintf("; the lock it left was cleared at %s: check the environment's state and outputs, and run the operation again if needed",
					time.Now().UTC().Format(time.RFC3339))}
		}
		view := op.view
		op.mu.Unlock()
		s.journal.write(view)
	}
	writeJSON(w, http.StatusOK, map[string]any{"environment": name, "cleared": n})
}

// allowedOperation is the operation of the path, if the principal may act on its environment;
// otherwise it has answered (404, 403) and returns nil.
func (s *Server) allowedOperation(w http.ResponseWriter, r *http.Request) *operation {
	op := s.operation(r.PathValue("id"))
	if op == nil {
		writeError(w, http.StatusNotFound, &APIError{Code: "not_found", Message: "no such operation"})
		return nil
	}
	callOf(r).opID = op.view.ID
	if !s.allowed(w, r, op.view.Environment) {
		return nil
	}
	return op
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "op-" + hex.EncodeToString(b[:])
}
