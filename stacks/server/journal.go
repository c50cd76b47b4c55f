package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// journal keeps one JSON file per operation, <dir>/<id>.json, holding the Operation view (the
// API's view: secrets already redacted; events are counted, not kept). Files are replaced
// atomically (a temporary file renamed over the old one).
//
// Each operation's writes are ordered by the server: the record is written when the operation
// is accepted, before it runs; again when it finishes, before its final state is published;
// and removed only once it is forgotten, which needs the published final state.
type journal struct {
	dir string
	log *slog.Logger
}

var journalID = regexp.MustCompile(`^op-[0-9a-f]{1,64}$`)

func (j *journal) path(id string) string { return filepath.Join(j.dir, id+".json") }

// write stores an operation's record; failures are logged, never returned: the journal must
// not fail an operation.
func (j *journal) write(v Operation) {
	if j == nil {
		return
	}
	if err := j.writeFile(v); err != nil {
		j.log.Error("cannot write the operation's journal record", "operation", v.ID, "dir", j.dir, "error", err.Error())
	}
}

func (j *journal) writeFile(v Operation) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(j.dir, ".tmp-"+v.ID+"-*") // 0600
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path(v.ID))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// remove deletes a forgotten operation's record.
func (j *journal) remove(id string) {
	if j == nil {
		return
	}
	if err := os.Remove(j.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.log.Error("cannot remove the operation's journal record", "operation", id, "dir", j.dir, "error", err.Error())
	}
}

// storedOperation is a record as read back: the result is kept as the JSON it was.
type storedOperation struct {
	Operation
	Result json.RawMessage `json:"result,omitempty"`
}

// load reads every record, oldest first. Unreadable records are logged and skipped (left in
// place for inspection); left-over temporary files of an interrupted write are removed.
func (j *journal) load() ([]Operation, error) {
	entries, err := os.ReadDir(j.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Operation
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(j.dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !journalID.MatchString(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(j.dir, name))
		if err != nil {
			j.log.Error("cannot read an operation's journal record", "file", name, "error", err.Error())
			continue
		}
		var so storedOperation
		if err := json.Unmarshal(b, &so); err != nil || so.ID != id || so.Environment == "" || so.State == "" {
			j.log.Error("skipping an invalid operation journal record", "file", name, "error", fmt.Sprint(err))
			continue
		}
		v := so.Operation
		if len(so.Result) > 0 && string(so.Result) != "null" {
			v.Result = so.Result
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].CreatedAt.Equal(out[b].CreatedAt) {
			return out[a].CreatedAt.Before(out[b].CreatedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

// interruptedStopped is how an interrupted operation's error begins.
const interruptedStopped = "the service stopped while this operation ran (killed or crashed), so its outcome is unknown"

// interruptedError explains an operation that was running when the service stopped, with how
// to clear the engine lock it may have left (the manager's own advice, when it can see locks).
func (s *Server) interruptedError(name string) *APIError {
	locks, err := s.m.Locks(name)
	switch {
	case err == nil && len(locks) > 0:
		state := "locked"
		for _, l := range locks {
			if l.Stale {
				state = "left locked by the killed process"
				break
			}
		}
		s.log.Warn("interrupted operation left a lock", "environment", name, "clear", locks[0].Clear)
		return &APIError{Code: StateInterrupted, Locks: locks,
			Message: fmt.Sprintf("%s; environment %q is %s, and no update can run until the lock is cleared: "+
				"an admin can clear it with POST /v1/environments/%s/unlock once no process holds it", interruptedStopped, name, state, name)}
	case err == nil:
		return &APIError{Code: StateInterrupted,
			Message: fmt.Sprintf("%s; no engine lock is left on environment %q: check its state and outputs, and run the operation again if needed", interruptedStopped, name)}
	default:
		return &APIError{Code: StateInterrupted,
			Message: fmt.Sprintf("%s; if the backend still reports an update of %q in progress and none is running, an operator "+
				"can clear it with `pulumi cancel --stack organization/%s/%s --yes` against the service's backend", interruptedStopped, name, s.m.Project(), name)}
	}
}

// loadJournal restores the journal's operations: finished ones as they were, running ones
// (their process died) as interrupted, rewritten so. Beyond MaxOperations the oldest are
// forgotten, and their records removed.
func (s *Server) loadJournal() error {
	views, err := s.journal.load()
	if err != nil {
		return err
	}
	interrupted := 0
	for _, v := range views {
		if v.State == StateRunning {
			v.State = StateInterrupted
			v.Error = s.interruptedError(v.Environment)
			s.journal.write(v)
			interrupted++
			s.log.Warn("operation interrupted: the service stopped while it ran", "operation", v.ID, "kind", string(v.Kind),
				"environment", v.Environment, "since", v.CreatedAt.Format(time.RFC3339), "advice", v.Error.Message)
		}
		op := &operation{view: v, changed: make(chan struct{}), done: make(chan struct{}), cancelFn: func(error) {}}
		close(op.done)
		s.ops[v.ID] = op
		s.order = append(s.order, v.ID)
		s.lastOp[v.Environment] = op // oldest first: the newest wins
	}
	for _, id := range s.forgetLocked() {
		s.journal.remove(id)
	}
	s.log.Info("operations journal loaded", "dir", s.journal.dir, "operations", len(s.ops), "interrupted", interrupted)
	return nil
}

// finishedView reports whether an operation's view is final.
func finishedView(v *Operation) bool { return v.State != StateRunning }
