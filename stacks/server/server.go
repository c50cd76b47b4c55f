// Package server is the portal's HTTP API over an executor (the in-process Manager, or the Pulumi
// Kubernetes Operator's): environments are created,
// updated, previewed and destroyed as asynchronous operations whose engine events stream as
// Server-Sent Events.
//
//	PUT    /v1/environments/{name}          spec → 202 operation (update)
//	POST   /v1/environments/{name}/preview  spec → 202 operation (preview)
//	DELETE /v1/environments/{name}               → 202 operation (destroy and remove)
//	GET    /v1/environments?limit=N&after=NAME   → a page of the environments, as summaries
//	GET    /v1/environments/{name}               → status, last operation, outputs (secrets redacted)
//	GET    /v1/operations/{id}                   → the operation
//	GET    /v1/operations/{id}/events            → its events, as Server-Sent Events
//	POST   /v1/operations/{id}/cancel            → interrupt it cleanly (409 if it is not running)
//	POST   /v1/environments/{name}/unlock        → clear a lock a killed process left (admin)
//	GET    /v1/audit?after=SEQ&limit=N           → the audit trail (admin)
//	GET    /healthz                              → 200 (no authentication)
//
// A spec is {"config": {<config key>: <value>, ...}}, optionally with "name" (which must match
// the path). Every /v1 request needs "Authorization: Bearer <token>": PORTAL_API_TOKEN (the
// operator: every environment, the admin role), or with an access policy a static API token or
// a JWT of the identity provider, which act for one tenant with one role. Unless the server
// runs without any credential (loopback only).
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// DefaultMaxBodyBytes is the largest request body accepted.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxQueued is how many operations may wait for a slot by default.
const DefaultMaxQueued = 64

// Options configures a Server.
type Options struct {
	// Executor runs the operations: the in-process *automation.Manager, or the Pulumi
	// Kubernetes Operator's (stacks/operator). Required.
	Executor automation.Executor
	// Token is the operator's bearer token (every environment, the admin role). With neither
	// Token nor Access, authentication is off: Command only allows that on a loopback address
	// with an explicit flag.
	Token string
	// Access, when set, admits the tenants' principals (static tokens, OIDC) and scopes them.
	Access *AccessPolicy
	// AuditLog, when set, is the audit trail's file (JSON lines, hash-chained); Command uses
	// <state-dir>/audit.jsonl.
	AuditLog string
	// Logger receives structured logs (no secrets, no request bodies); default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxOperations is how many finished operations are remembered; default 1000.
	MaxOperations int
	// MaxEventsPerOperation bounds the events kept per operation; default 10000.
	MaxEventsPerOperation int
	// MaxQueued is how many operations may wait for one of the manager's concurrency slots;
	// beyond it a new operation is refused with 429 queue_full. Default DefaultMaxQueued.
	MaxQueued int
	// OperationsDir, if set, is the operations journal: one JSON file per operation (the API's
	// view, secrets redacted, without its events), written when it is accepted and when it
	// finishes, so that operations survive a restart. New loads it: an operation still running
	// there was stopped with the service and is reported interrupted, with how to clear the
	// lock it may have left. Command uses <state-dir>/operations. Empty keeps operations in
	// memory only.
	OperationsDir string
}

// Server is the HTTP API. It is an http.Handler; Shutdown drains its operations.
type Server struct {
	m         automation.Executor
	tokenSum  [32]byte
	authn     bool
	policy    *AccessPolicy
	tokens    *tokenStore
	oidc      *oidcAuthenticator
	trail     *auditLog
	log       *slog.Logger
	maxBody   int64
	maxOps    int
	maxEvents int
	maxQueued int
	// private are the server's paths and URLs, replaced in every response by a placeholder.
	private    []automation.Location
	mux        *http.ServeMux
	baseCtx    context.Context
	cancelBase context.CancelCauseFunc

	mu      sync.Mutex
	ops     map[string]*operation
	order   []string              // operation IDs, oldest first
	active  map[string]*operation // queued or running operation per environment
	lastOp  map[string]*operation // newest operation per environment
	queued  int                   // accepted operations waiting for a slot
	running int                   // operations that have a slot
	cut     CutShortError         // what the shutdown cut short
	// unreadable holds, per environment, its newest journal record when that could not be
	// loaded (an older operation then shows as its last).
	unreadable map[string]unreadableRecord
	journal    *journal // nil without Options.OperationsDir
	draining   bool
	wg         sync.WaitGroup
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Executor == nil {
		return nil, errors.New("server: Options.Executor is required")
	}
	s := &Server{
		m:          opts.Executor,
		authn:      opts.Token != "",
		tokenSum:   sha256.Sum256([]byte(opts.Token)),
		policy:     opts.Access,
		log:        opts.Logger,
		maxBody:    opts.MaxBodyBytes,
		maxOps:     opts.MaxOperations,
		maxEvents:  opts.MaxEventsPerOperation,
		maxQueued:  opts.MaxQueued,
		ops:        map[string]*operation{},
		unreadable: map[string]unreadableRecord{},
		active:     map[string]*operation{},
		lastOp:     map[string]*operation{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxOps <= 0 {
		s.maxOps = 1000
	}
	if s.maxEvents <= 0 {
		s.maxEvents = 10000
	}
	if s.maxQueued <= 0 {
		s.maxQueued = DefaultMaxQueued
	}
	s.private = s.m.Locations()
	for _, l := range []automation.Location{{Value: opts.OperationsDir, Placeholder: "<operations-dir>"}, {Value: opts.AuditLog, Placeholder: "<audit-log>"}} {
		if l.Value != "" {
			s.private = append(s.private, l)
			if abs, err := filepath.Abs(l.Value); err == nil && abs != l.Value {
				s.private = append(s.private, automation.Location{Value: abs, Placeholder: l.Placeholder})
			}
		}
	}
	sort.SliceStable(s.private, func(i, j int) bool { return len(s.private[i].Value) > len(s.private[j].Value) })
	s.baseCtx, s.cancelBase = context.WithCancelCause(context.Background())
	if err := s.openAccess(opts); err != nil {
		return nil, err
	}
	if opts.OperationsDir != "" {
		if err := os.MkdirAll(opts.OperationsDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: operations journal: %w", err)
		}
		s.journal = &journal{dir: opts.OperationsDir, log: s.log}
		if err := s.loadJournal(); err != nil {
			return nil, fmt.Errorf("server: loading the operations journal: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		draining := s.draining
		s.mu.Unlock()
		if draining { // a load balancer stops sending new work here
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("PUT /v1/environments/{name}", s.route(ActionUpdate, s.putEnvironment))
	mux.Handle("POST /v1/environments/{name}/preview", s.route(ActionPreview, s.previewEnvironment))
	mux.Handle("DELETE /v1/environments/{name}", s.route(ActionDestroy, s.deleteEnvironment))
	mux.Handle("GET /v1/environments", s.route(ActionRead, s.listEnvironments))
	mux.Handle("GET /v1/environments/{name}", s.route(ActionRead, s.getEnvironment))
	mux.Handle("GET /v1/operations/{id}", s.route(ActionRead, s.getOperation))
	mux.Handle("GET /v1/operations/{id}/events", s.route(ActionRead, s.operationEvents))
	mux.Handle("POST /v1/operations/{id}/cancel", s.route(ActionCancel, s.cancelOperation))
	mux.Handle("POST /v1/environments/{name}/unlock", s.route(ActionUnlock, s.unlockEnvironment))
	mux.Handle("GET /v1/audit", s.route(ActionAudit, s.getAudit))
	s.mux = mux
	return s, nil
}

// ServeHTTP logs each request (method, path, status, duration: never bodies or headers).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, private: s.private}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.route(ActionRead, s.noRoute).ServeHTTP(rec, r)
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"duration", time.Since(start).Round(time.Microsecond).String(), "remote", r.RemoteAddr)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	// body, when set, is the request's body: answered before it was read to its end, the
	// connection is closed rather than drained (net/http would otherwise wait to read up to
	// 256 KiB of it before sending the answer, for as long as a slow client likes).
	body *trackedBody
	// private are replaced in everything written (engine output, error messages): a client
	// learns nothing of the server's paths and backend. Each response is written in whole
	// documents or events, so a value is never split between two writes.
	private []automation.Location
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	out := b
	for _, l := range r.private {
		if bytes.Contains(out, []byte(l.Value)) {
			out = bytes.ReplaceAll(out, []byte(l.Value), []byte(l.Placeholder))
		}
	}
	if _, err := r.ResponseWriter.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	if r.body != nil && !r.body.eof {
		r.Header().Set("Connection", "close")
	}
	r.ResponseWriter.WriteHeader(code)
}

// trackedBody is a request body that knows whether it was read to its end.
type trackedBody struct {
	io.ReadCloser
	eof bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// noRoute answers the requests no pattern matches with a JSON 404, or 405 with Allow when the
// path exists for other methods.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	cw := &captureWriter{header: http.Header{}, status: http.StatusOK}
	s.mux.ServeHTTP(cw, r)
	if cw.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", cw.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, &APIError{Code: "method_not_allowed", Message: r.Method + " is not allowed here"})
		return
	}
	writeError(w, http.StatusNotFound, &APIError{Code: "not_found", Message: "no such endpoint"})
}

type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }
func (c *captureWriter) WriteHeader(code int)        { c.status = code }

// APIError is the body of every error response, and an operation's error.
type APIError struct {
	// Code is stable: unauthorized, forbidden, quota_exceeded, queue_full,
	// unsupported_media_type, not_found, method_not_allowed, invalid_name, malformed_request,
	// unknown_field, body_too_large, invalid_spec, busy, lock_held, unsupported, not_running,
	// engine_failure, canceled, not_started (an operation that ended before it ran),
	// shutting_down, internal, interrupted (an operation that was running when the service
	// stopped).
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems lists every invalid value of an invalid spec.
	Problems []stacks.Problem `json:"problems,omitempty"`
	// OutputTail is the end of the engine's output, for engine failures.
	OutputTail string `json:"outputTail,omitempty"`
	// Locks are the engine locks on a busy environment.
	Locks []automation.LockInfo `json:"locks,omitempty"`
}

// classify maps a Manager error to a status and an APIError.
func classify(err error) (int, *APIError) {
	var (
		mbe *http.MaxBytesError
		de  *stacks.DecodeError
		ise *stacks.InvalidSpecError
		ee  *automation.EngineError
		re  *automation.RunnerError
		ce  *automation.CanceledError
		be  *automation.BusyError
	)
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, &APIError{Code: "body_too_large", Message: fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit)}
	case errors.As(err, &de):
		code := "malformed_request"
		if strings.Contains(de.Err.Error(), "unknown field") {
			code = "unknown_field"
		}
		return http.StatusBadRequest, &APIError{Code: code, Message: de.Error()}
	case errors.As(err, &ise):
		return http.StatusBadRequest, &APIError{Code: "invalid_spec", Message: "the environment spec is invalid", Problems: ise.Problems}
	case errors.As(err, &be) && be.Source == automation.BusyEngineLock:
		return http.StatusConflict, &APIError{Code: "busy", Message: fmt.Sprintf("environment %q is locked by another update: "+
			"if none is running, an admin can clear the lock with POST /v1/environments/%s/unlock", be.Stack, be.Stack)}
	case errors.Is(err, automation.ErrBusy):
		return http.StatusConflict, &APIError{Code: "busy", Message: err.Error()}
	case errors.Is(err, automation.ErrNotFound):
		return http.StatusNotFound, &APIError{Code: "not_found", Message: err.Error()}
	case errors.As(err, &ce):
		return http.StatusConflict, &APIError{Code: "canceled", Message: err.Error(), OutputTail: ce.Tail}
	case errors.As(err, &re):
		return http.StatusBadGateway, &APIError{Code: re.Code, Message: err.Error()}
	case errors.As(err, &ee):
		return http.StatusBadGateway, &APIError{Code: "engine_failure", Message: err.Error(), OutputTail: ee.Tail}
	case errors.Is(err, automation.ErrClosed), errors.Is(err, errDraining):
		return http.StatusServiceUnavailable, &APIError{Code: "shutting_down",
			Message: "the service is shutting down: it starts no new operations; reads work until its running operations end"}
	default:
		// The cause (paths, URLs) goes to the service's log, not to the client.
		return http.StatusInternalServerError, &APIError{Code: "internal", Message: "internal error: the service's log has the details"}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *APIError) {
	writeJSON(w, status, map[string]*APIError{"error": e})
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status, e := classify(err)
	if status >= 500 {
		s.log.Error("request failed", "code", e.Code, "error", err.Error())
	}
	writeError(w, status, e)
}

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
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	spec, err := stacks.DecodeSpec(r.Body, name)
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
