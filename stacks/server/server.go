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
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
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
	// AuditHead is the trail's head file (its newest record's sequence number and hash, which
	// show records cut off its end); default AuditLog + ".head".
	AuditHead string
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
	refusals  *refusalLimiter // with trail
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
	// counting is how many environment quota counts are open (see tenantCount); while any is,
	// ended maps each environment whose operation left active to endSeq at that moment.
	counting int
	endSeq   uint64
	ended    map[string]uint64
	draining bool
	wg       sync.WaitGroup
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
		ended:      map[string]uint64{},
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
	if opts.AuditLog != "" && opts.AuditHead == "" {
		opts.AuditHead = opts.AuditLog + ".head"
	}
	s.private = s.m.Locations()
	for _, l := range []automation.Location{{Value: opts.OperationsDir, Placeholder: "<operations-dir>"},
		{Value: opts.AuditLog, Placeholder: "<audit-log>"}, {Value: opts.AuditHead, Placeholder: "<audit-head>"}} {
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
	s.log.Info("request", "method", r.Method, "path", clip(r.URL.Path, maxLoggedPath), "status", rec.status,
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
		pe  *automation.ProtectedError
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
	case errors.As(err, &pe):
		return http.StatusConflict, &APIError{Code: "protected", Message: err.Error()}
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
