package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// call is what the service knows of one API request: who asks, for what, on which environment,
// and what came of it. It is the request's audit record in the making.
type call struct {
	principal *Principal
	tenant    *Tenant
	action    Action
	env       string
	keys      []string
	opID      string
	reason    string
	// client is the request's client address, for the audit trail's rate limit (clientOf).
	client string
}

type callKey struct{}

var errNoCredentials = errors.New("a valid bearer token is required")

func callOf(r *http.Request) *call {
	c, _ := r.Context().Value(callKey{}).(*call)
	return c
}

// changes reports whether an action changes something (and is audited whatever its outcome).
func (a Action) changes() bool { return a != ActionRead && a != ActionAudit }

// route authenticates a request, runs h with its call, and appends the audit record of a
// request that changes something or was refused.
func (s *Server) route(action Action, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{action: action, env: r.PathValue("name"), client: clientOf(r.RemoteAddr)}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if r.Body != nil && r.Body != http.NoBody {
			rec.body = &trackedBody{ReadCloser: r.Body}
			r.Body = rec.body
		}
		if r.ContentLength > s.maxBody {
			writeError(rec, http.StatusRequestEntityTooLarge, &APIError{Code: "body_too_large",
				Message: fmt.Sprintf("the request body exceeds %d bytes", s.maxBody)})
			return
		}
		if p, why := s.authenticate(r); p == nil {
			c.reason = why
			rec.Header().Set("WWW-Authenticate", `Bearer realm="kong-alb-eks"`)
			writeError(rec, http.StatusUnauthorized, &APIError{Code: "unauthorized", Message: errNoCredentials.Error() + ": " + why})
		} else {
			c.principal, c.tenant = p, s.policy.tenantOf(p)
			h(rec, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
		}
		if refused := rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden ||
			rec.status == http.StatusTooManyRequests; action.changes() || refused {
			s.audit(c, rec.status)
		}
	})
}

// openAccess loads what the options name: the tenants' token store and identity provider, and
// the audit trail, whose chain is checked now (a broken one is logged, and shown by GET
// /v1/audit). A bad token file or an unreachable provider is an error: the service does not start.
func (s *Server) openAccess(opts Options) error {
	if p := opts.Access; p != nil {
		if p.Tokens != "" {
			ts, err := newTokenStore(p.Tokens, p.Tenants, s.log)
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			s.tokens = ts
		}
		if p.OIDC != nil {
			a, err := newOIDCAuthenticator(s.baseCtx, p.OIDC, p.Tenants)
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			s.oidc = a
		}
	}
	if opts.AuditLog != "" {
		trail, err := openAuditLog(opts.AuditLog, opts.AuditHead)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if trail.broken != "" {
			s.log.Error("the audit trail's chain is broken", "path", opts.AuditLog, "problem", trail.broken)
		}
		s.log.Info("audit trail opened", "path", opts.AuditLog, "head", opts.AuditHead, "seq", trail.last.Seq, "hash", trail.last.Hash)
		s.trail = trail
		s.refusals = newRefusalLimiter()
	}
	return nil
}

// authenticate finds the request's principal, or says why there is none. Without any
// credential configured (loopback only, by Command's rule) every request is the operator.
func (s *Server) authenticate(r *http.Request) (*Principal, string) {
	if !s.authn && s.tokens == nil && s.oidc == nil {
		return operator, ""
	}
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		return nil, "more than one Authorization header"
	}
	scheme, token, _ := strings.Cut(strings.Join(values, ""), " ")
	// The scheme is case-insensitive (RFC 7235 section 2.1).
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, "no bearer token"
	}
	if s.authn {
		// Digests of equal length are compared, so not even the token's length leaks.
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1 {
			return operator, ""
		}
	}
	if s.oidc != nil && strings.Count(token, ".") == 2 {
		return s.oidc.authenticate(r.Context(), token)
	}
	if s.tokens != nil {
		return s.tokens.authenticate(token)
	}
	return nil, "unknown token"
}

// forbid answers 403 with the reason, keeping it for the audit trail.
func (s *Server) forbid(w http.ResponseWriter, c *call, reason string) {
	c.reason = reason
	writeError(w, http.StatusForbidden, &APIError{Code: "forbidden", Message: reason})
}

// allowed checks that the request's principal may perform its action on env; otherwise it
// has answered 403.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, env string) bool {
	c := callOf(r)
	c.env = env
	if !c.principal.Role.Allows(c.action) {
		s.forbid(w, c, fmt.Sprintf("%s has the %s role, which may not %s", c.principal.ID, c.principal.Role, c.action))
		return false
	}
	if c.tenant != nil && env != "" && !c.tenant.Owns(env) {
		s.forbid(w, c, fmt.Sprintf("environment %q is not tenant %s's (it owns %s)", env, c.tenant.Name, strings.Join(c.tenant.Environments, ", ")))
		return false
	}
	return true
}

// visible reports whether the request's principal may see environment env.
func visible(r *http.Request, env string) bool {
	c := callOf(r)
	return c.tenant == nil || c.tenant.Owns(env)
}

// audit appends the request's record, every value a request supplied bounded (see bounded).
// A refused request's record is subject to the rate limit (refusalLimiter). A trail that cannot
// be written is logged as an error (the request has been answered by then); a record written
// is logged with its sequence number and hash, so that the log, kept elsewhere, vouches for
// the trail's end too.
func (s *Server) audit(c *call, status int) {
	if s.trail == nil {
		return
	}
	if status >= 400 && status < 500 {
		if ok, first := s.refusals.allow(c.client); !ok {
			if first {
				s.log.Warn("refused requests over the audit trail's rate limit are counted, not recorded", "client", c.client)
			}
			return
		}
	}
	rec := AuditRecord{Action: string(c.action), Environment: c.env, Keys: c.keys, Status: status,
		Reason: c.reason, OperationID: c.opID, Principal: "anonymous", Result: "accepted", Unrecorded: s.refusals.takeUnrecorded()}
	if c.principal != nil {
		rec.Principal, rec.Tenant, rec.Role = c.principal.ID, c.principal.Tenant, string(c.principal.Role)
	}
	switch {
	case status >= 500:
		rec.Result = "failed"
	case status >= 400:
		rec.Result = "refused"
	}
	written, err := s.trail.append(rec.bounded())
	if err != nil {
		s.log.Error("cannot write the audit trail", "error", err, "action", written.Action, "environment", written.Environment)
		return
	}
	s.log.Info("audit record", "seq", written.Seq, "hash", written.Hash, "action", written.Action, "result", written.Result)
}

// getAudit pages through the audit trail: ?after=SEQ&limit=N (default 100, at most 1000). A
// tenant's admin sees its principals' records and every attempt on its environments; the
// operator sees all. The chain's state at start
// comes with every page.
func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, "") {
		return
	}
	if s.trail == nil {
		writeError(w, http.StatusNotFound, &APIError{Code: "not_found", Message: "this service keeps no audit trail"})
		return
	}
	after, err1 := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit, err2 := strconv.Atoi(r.URL.Query().Get("limit"))
	if r.URL.Query().Get("after") == "" {
		after, err1 = 0, nil
	}
	if r.URL.Query().Get("limit") == "" {
		limit, err2 = 100, nil
	}
	if err1 != nil || err2 != nil || after < 0 || limit < 1 || limit > 1000 {
		writeError(w, http.StatusBadRequest, &APIError{Code: "malformed_request", Message: "after is a sequence number (0 or more), limit from 1 to 1000"})
		return
	}
	c := callOf(r)
	out := []AuditRecord{}
	more := true
	for more && len(out) < limit {
		var page []AuditRecord
		var err error
		page, more, err = s.trail.page(after, limit)
		if err != nil {
			s.fail(w, err)
			return
		}
		for i, rec := range page {
			after = rec.Seq
			if c.tenant == nil || rec.Tenant == c.tenant.Name || rec.Environment != "" && c.tenant.Owns(rec.Environment) {
				out = append(out, rec)
			}
			if len(out) == limit {
				more = more || i < len(page)-1
				break
			}
		}
	}
	body := map[string]any{"records": out, "chain": map[string]any{"intact": s.trail.broken == "", "problem": s.trail.broken}}
	if more {
		body["next"] = after
	}
	writeJSON(w, http.StatusOK, body)
}
