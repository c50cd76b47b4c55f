package automation

import (
	"regexp"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
)

// Operation is a kind of engine operation.
type Operation string

// The operations the Manager runs.
const (
	OpPreview Operation = "preview"
	OpUp      Operation = "up"
	OpRefresh Operation = "refresh"
	OpDestroy Operation = "destroy"
)

// EventKind is the kind of an Event.
type EventKind string

// Event kinds.
const (
	// EventResourceStarted: the engine began a step on a resource (in a preview: planned it).
	EventResourceStarted EventKind = "resource-started"
	// EventResourceFinished: the step completed; Duration says how long it took.
	EventResourceFinished EventKind = "resource-finished"
	// EventResourceFailed: the step failed; Duration says after how long. A diagnostic with the
	// cause usually precedes it.
	EventResourceFailed EventKind = "resource-failed"
	// EventDiagnostic: a message from the engine, a provider or the program (Severity, Message).
	EventDiagnostic EventKind = "diagnostic"
	// EventSummary: the operation ended; Changes counts the steps by kind.
	EventSummary EventKind = "summary"
)

// Event is one engine event, reduced to what a portal shows. It never carries resource inputs
// or outputs, so it never carries a secret the engine did not mask itself.
type Event struct {
	// Sequence numbers the events of one operation from 1, in the order delivered.
	Sequence  int       `json:"sequence"`
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	Stack     string    `json:"stack"`
	Operation Operation `json:"operation"`

	// Resource events.
	URN  string `json:"urn,omitempty"`
	Type string `json:"type,omitempty"`
	// Op is the step: create, update, delete, replace, same, read, refresh, ...
	Op string `json:"op,omitempty"`
	// Planning is set on a preview's events: nothing was changed.
	Planning bool `json:"planning,omitempty"`
	// Duration is the step's duration (finished and failed events).
	Duration       time.Duration `json:"-"`
	DurationMillis int64         `json:"durationMs,omitempty"`

	// Diagnostic events.
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message,omitempty"`

	// Summary events.
	Changes map[string]int `json:"changes,omitempty"`
}

// EventHandler receives an operation's events, one at a time, in order, from one goroutine.
// It must not block for long: the engine waits for it.
type EventHandler func(Event)

var colorTag = regexp.MustCompile(`<\{%[^%]*%\}>`)

// eventTranslator turns the Automation API's engine events into Events, timing each step.
type eventTranslator struct {
	stack   string
	op      Operation
	seq     int
	started map[string]time.Time
	now     func() time.Time
}

func newEventTranslator(stack string, op Operation) *eventTranslator {
	return &eventTranslator{stack: stack, op: op, started: map[string]time.Time{}, now: time.Now}
}

func (t *eventTranslator) translate(e events.EngineEvent) (Event, bool) {
	now := t.now()
	ev := Event{Time: now, Stack: t.stack, Operation: t.op}
	switch {
	case e.Error != nil:
		return Event{}, false
	case e.ResourcePreEvent != nil:
		md := e.ResourcePreEvent.Metadata
		t.started[stepKey(md.URN, string(md.Op))] = now
		ev.Kind, ev.URN, ev.Type, ev.Op, ev.Planning = EventResourceStarted, md.URN, md.Type, string(md.Op), e.ResourcePreEvent.Planning
	case e.ResOutputsEvent != nil:
		md := e.ResOutputsEvent.Metadata
		ev.Kind, ev.URN, ev.Type, ev.Op, ev.Planning = EventResourceFinished, md.URN, md.Type, string(md.Op), e.ResOutputsEvent.Planning
		ev.Duration = t.elapsed(md.URN, string(md.Op), now)
	case e.ResOpFailedEvent != nil:
		md := e.ResOpFailedEvent.Metadata
		ev.Kind, ev.URN, ev.Type, ev.Op = EventResourceFailed, md.URN, md.Type, string(md.Op)
		ev.Duration = t.elapsed(md.URN, string(md.Op), now)
	case e.DiagnosticEvent != nil:
		d := e.DiagnosticEvent
		if d.Ephemeral || d.Severity == "debug" {
			return Event{}, false
		}
		msg := strings.TrimSpace(colorTag.ReplaceAllString(d.Message, ""))
		if msg == "" {
			return Event{}, false
		}
		ev.Kind, ev.URN, ev.Severity, ev.Message = EventDiagnostic, d.URN, d.Severity, msg
	case e.SummaryEvent != nil:
		ev.Kind = EventSummary
		ev.Planning = e.SummaryEvent.IsPreview
		ev.Changes = make(map[string]int, len(e.SummaryEvent.ResourceChanges))
		for op, n := range e.SummaryEvent.ResourceChanges {
			ev.Changes[string(op)] = n
		}
		ev.Duration = time.Duration(e.SummaryEvent.DurationSeconds) * time.Second
	default:
		return Event{}, false
	}
	ev.DurationMillis = ev.Duration.Milliseconds()
	t.seq++
	ev.Sequence = t.seq
	return ev, true
}

func (t *eventTranslator) elapsed(urn, op string, now time.Time) time.Duration {
	k := stepKey(urn, op)
	start, ok := t.started[k]
	if !ok {
		return 0
	}
	delete(t.started, k)
	return now.Sub(start)
}

func stepKey(urn, op string) string { return op + " " + urn }
