package server

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// Bounds of what an audit record or a log line takes from a request.
const (
	maxAuditText   = 200 // principal, tenant, role, action, operation ID, each configuration key
	maxAuditReason = 300
	// maxInvalidName is how much of an invalid environment name is kept, escaped.
	maxInvalidName = 24
	maxLoggedPath  = 256
)

// clip bounds a value a request supplied: control and format characters and invalid UTF-8
// are escaped (\x.., \u....), and a value longer than max bytes is cut there and says how
// long it was.
func clip(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= max {
			fmt.Fprintf(&b, "…(%d bytes)", len(s))
			break
		}
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// invalidNamePrefix starts what the audit trail records for an environment name that is not
// one; a valid name never holds ':'.
const invalidNamePrefix = "invalid:"

// auditEnvironment is what the audit trail records for an environment name taken from a
// request: the name, or for one that is not valid, invalidNamePrefix and its escaped beginning.
func auditEnvironment(name string) string {
	if name == "" || stacks.ValidateStackName(name) == nil {
		return name
	}
	return invalidNamePrefix + clip(name, maxInvalidName)
}

// bounded is rec with every value taken from a request bounded and escaped.
func (rec AuditRecord) bounded() AuditRecord {
	rec.Environment = auditEnvironment(rec.Environment)
	rec.Reason = clip(rec.Reason, maxAuditReason)
	for _, f := range []*string{&rec.Principal, &rec.Tenant, &rec.Role, &rec.Action, &rec.OperationID} {
		*f = clip(*f, maxAuditText)
	}
	keys := make([]string, len(rec.Keys))
	for i, k := range rec.Keys {
		keys[i] = clip(k, maxAuditText)
	}
	if rec.Keys != nil {
		rec.Keys = keys
	}
	return rec
}

// The audit trail's rate limit on records of refused requests (4xx): a token bucket per
// client address, and one for all clients together. Over either, the record is left out and
// counted; the next record written carries the count (AuditRecord.Unrecorded).
const (
	refusalBurst        = 10  // records a client's refused requests may write at once
	refusalPerSecond    = 0.2 // and then, per second
	refusalBurstAll     = 60
	refusalPerSecondAll = 2
	// maxRefusalClients bounds the addresses tracked; past it the full buckets (clients quiet
	// long enough to have their whole burst back) are forgotten, or else all of them.
	maxRefusalClients = 4096
)

type bucket struct {
	tokens float64
	at     time.Time
}

// take refills the bucket for the time since it was last used and takes a token if it has one.
func (b *bucket) take(now time.Time, burst, perSecond float64) bool {
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*perSecond)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refusalLimiter decides which refused requests the audit trail records.
type refusalLimiter struct {
	now func() time.Time

	mu         sync.Mutex
	all        bucket
	clients    map[string]*bucket
	unrecorded int64
}

func newRefusalLimiter() *refusalLimiter {
	return &refusalLimiter{now: time.Now, all: bucket{tokens: refusalBurstAll}, clients: map[string]*bucket{}}
}

// allow reports whether a refused request of client may be recorded; a refusal that may not is
// counted, and first reports whether it is the first since the last record.
func (l *refusalLimiter) allow(client string) (ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= maxRefusalClients {
			l.forgetFull(now)
		}
		b = &bucket{tokens: refusalBurst, at: now}
		l.clients[client] = b
	}
	// The client's token is taken only when the service-wide bucket has one too.
	if b.take(now, refusalBurst, refusalPerSecond) {
		if l.all.take(now, refusalBurstAll, refusalPerSecondAll) {
			return true, false
		}
		b.tokens++
	}
	l.unrecorded++
	return false, l.unrecorded == 1
}

// forgetFull drops the clients whose bucket is full again; if none is, every client.
func (l *refusalLimiter) forgetFull(now time.Time) {
	for k, b := range l.clients {
		if b.tokens+now.Sub(b.at).Seconds()*refusalPerSecond >= refusalBurst {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxRefusalClients {
		clear(l.clients)
	}
}

// takeUnrecorded returns how many refusals were left out since it was last called, and resets it.
func (l *refusalLimiter) takeUnrecorded() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.unrecorded
	l.unrecorded = 0
	return n
}

// clientOf is the client a request's remote address names, for the rate limit: its IP, or for
// IPv6 its /64 (what one subscriber usually has).
func clientOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return clip(host, maxAuditText)
	}
	if addr = addr.Unmap(); addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
