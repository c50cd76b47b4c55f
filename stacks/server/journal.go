package server

import (
	"context"
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

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
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
	return writeFileAtomic(j.path(v.ID), append(b, '\n'))
}

// writeFileAtomic replaces path with data (0600): it writes and syncs a temporary file beside
// it, .tmp-<name>-*, renames that over path and syncs the directory, so that a crash leaves
// the old content or the new, never a part, and the new content survives once it returns.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // 0600
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
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

// unreadableRecord is a journal record that could not be loaded.
type unreadableRecord struct {
	ID       string
	Problem  string
	Modified time.Time
}

// loaded is what the journal holds: the valid records, oldest first, and per environment the
// newest record that could not be loaded, when its environment can be told.
type loaded struct {
	ops        []Operation
	unreadable map[string]unreadableRecord
	// unknown counts unreadable records whose environment cannot be told.
	unknown int
}

var environmentField = regexp.MustCompile(`"environment"\s*:\s*"([^"\\]{1,63})"`)

// load reads every record, oldest first, and checks each as strictly as a request: a record
// that fails is logged with the reason, skipped and left in place for inspection. Left-over
// temporary files of an interrupted write are removed.
func (j *journal) load() (loaded, error) {
	out := loaded{unreadable: map[string]unreadableRecord{}}
	entries, err := os.ReadDir(j.dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
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
		var so storedOperation
		if err == nil {
			err = json.Unmarshal(b, &so)
		}
		if err == nil {
			err = validRecord(so.Operation, id)
		}
		if err != nil {
			j.log.Error("skipping an operation journal record that cannot be loaded", "file", name, "problem", err.Error())
			rec := unreadableRecord{ID: id, Problem: err.Error()}
			if info, ierr := e.Info(); ierr == nil {
				rec.Modified = info.ModTime().UTC()
			}
			env := so.Environment
			if m := environmentField.FindSubmatch(b); env == "" && m != nil {
				env = string(m[1])
			}
			if stacks.ValidateStackName(env) != nil {
				out.unknown++
				continue
			}
			if prev, ok := out.unreadable[env]; !ok || rec.Modified.After(prev.Modified) {
				out.unreadable[env] = rec
			}
			continue
		}
		v := so.Operation
		if len(so.Result) > 0 && string(so.Result) != "null" {
			v.Result = so.Result
		}
		out.ops = append(out.ops, v)
	}
	sort.SliceStable(out.ops, func(a, b int) bool {
		if !out.ops[a].CreatedAt.Equal(out.ops[b].CreatedAt) {
			return out.ops[a].CreatedAt.Before(out.ops[b].CreatedAt)
		}
		return out.ops[a].ID < out.ops[b].ID
	})
	return out, nil
}

// validRecord checks a record as the server would have written it.
func validRecord(v Operation, file string) error {
	var problems []string
	if v.ID != file {
		problems = append(problems, fmt.Sprintf("its id %q is not its file's name %q", v.ID, file))
	}
	if err := stacks.ValidateStackName(v.Environment); err != nil {
		problems = append(problems, fmt.Sprintf("its environment %q is not a valid environment name", v.Environment))
	}
	switch v.Kind {
	case automation.OpUp, automation.OpPreview, automation.OpRefresh, automation.OpDestroy:
	default:
		problems = append(problems, fmt.Sprintf("its kind %q is not an operation", v.Kind))
	}
	switch v.State {
	case StateQueued, StateRunning, StateSucceeded, StateFailed, StateCanceled, StateInterrupted:
	default:
		problems = append(problems, fmt.Sprintf("its state %q is not an operation state", v.State))
	}
	if v.CreatedAt.IsZero() {
		problems = append(problems, "it has no createdAt")
	}
	if v.Events < 0 {
		problems = append(problems, "its event count is negative")
	}
	if (v.State == StateSucceeded || v.State == StateFailed) && v.FinishedAt == nil {
		problems = append(problems, fmt.Sprintf("it is %s but has no finishedAt", v.State))
	}
	if (v.State == StateFailed || v.State == StateCanceled || v.State == StateInterrupted) && (v.Error == nil || v.Error.Code == "") {
		problems = append(problems, fmt.Sprintf("it is %s but has no error", v.State))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
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
// (their process died) as interrupted, queued ones (they never ran) as not started; each is
// rewritten so. Beyond MaxOperations the oldest are forgotten, and their records removed. An
// environment whose newest record could not be loaded says so.
func (s *Server) loadJournal() error {
	l, err := s.journal.load()
	if err != nil {
		return err
	}
	interrupted, notRun, resumed := 0, 0, 0
	resumer, resumes := s.m.(automation.Resumer)
	for _, v := range l.ops {
		switch {
		case v.State == StateRunning && resumes:
			// The executor ran it on while the service was down: follow it again.
			s.resume(resumer, v)
			resumed++
			continue
		case v.State == StateRunning:
			v.State = StateInterrupted
			v.Error = s.interruptedError(v.Environment)
			interrupted++
			s.log.Warn("operation interrupted: the service stopped while it ran", "operation", v.ID, "kind", string(v.Kind),
				"environment", v.Environment, "since", v.CreatedAt.Format(time.RFC3339), "advice", v.Error.Message)
			s.journal.write(v)
		case v.State == StateQueued:
			v.State = StateCanceled
			v.Error = notStartedBecause("the service stopped")
			notRun++
			s.log.Warn("operation never started: the service stopped while it was queued", "operation", v.ID, "kind", string(v.Kind), "environment", v.Environment)
			s.journal.write(v)
		}
		op := &operation{view: v, changed: make(chan struct{}), done: make(chan struct{}), cancelFn: func(error) {}}
		close(op.done)
		s.ops[v.ID] = op
		s.order = append(s.order, v.ID)
		s.lastOp[v.Environment] = op // oldest first: the newest wins
	}
	for env, rec := range l.unreadable {
		// Only a record newer than the environment's last loaded operation hides something.
		if last := s.lastOp[env]; last == nil || rec.Modified.After(lastWrite(&last.view)) {
			s.unreadable[env] = rec
		}
	}
	for _, id := range s.forgetLocked() {
		s.journal.remove(id)
	}
	s.log.Info("operations journal loaded", "dir", s.journal.dir, "operations", len(s.ops), "interrupted", interrupted, "notStarted", notRun, "resumed", resumed,
		"unreadable", len(l.unreadable)+l.unknown)
	return nil
}

// resume follows again an operation that was running when the service stopped, on an
// executor that ran it on: it is active on its environment, as it was, until the executor
// says how it ended.
func (s *Server) resume(r automation.Resumer, v Operation) {
	op := &operation{view: v, changed: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancelCause(s.baseCtx)
	op.cancelFn = cancel
	s.ops[v.ID] = op
	s.order = append(s.order, v.ID)
	s.active[v.Environment] = op
	s.lastOp[v.Environment] = op
	s.running++
	s.wg.Add(1)
	// Its events before the restart were in the old process's memory only: the count starts again.
	op.view.Events = 0
	s.log.Info("operation resumed: the executor ran it on while the service was down", "operation", v.ID, "kind", string(v.Kind), "environment", v.Environment)
	ref := automation.OperationRef{ID: v.ID, Kind: v.Kind, Environment: v.Environment}
	go s.run(ctx, op, func(ctx context.Context, opts ...automation.OpOption) (any, error) {
		return r.Resume(ctx, ref, opts...)
	})
}

// lastWrite is when an operation's record was last written, as far as its view tells.
func lastWrite(v *Operation) time.Time {
	switch {
	case v.FinishedAt != nil:
		return *v.FinishedAt
	case v.StartedAt != nil:
		return *v.StartedAt
	}
	return v.CreatedAt
}

// journalWarning says that an environment's newest journal record could not be loaded, if so.
func (s *Server) journalWarning(name string) string {
	s.mu.Lock()
	rec, ok := s.unreadable[name]
	s.mu.Unlock()
	if !ok {
		return ""
	}
	return fmt.Sprintf("the newest operation record of this environment (%s) could not be read (%s): the last operation shown is an older one", rec.ID, rec.Problem)
}

// finishedView reports whether an operation's view is final.
func finishedView(v *Operation) bool { return v.State != StateRunning && v.State != StateQueued }
