package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/automation"
)

// journalFiles lists the journal's files.
func journalFiles(t *testing.T, state string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(state, "operations"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// writeRecord writes a journal record by hand, as an earlier process would have left it.
func writeRecord(t *testing.T, state string, v Operation) {
	t.Helper()
	dir := filepath.Join(state, "operations")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if err := os.WriteFile(filepath.Join(dir, v.ID+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readRecord(t *testing.T, state, id string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "operations", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// staleLock leaves the lock of a process killed mid-update on a stack of the file backend.
func staleLock(t *testing.T, state, stack string) string {
	t.Helper()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dir := filepath.Join(state, "backend", ".pulumi", "locks", "organization", stacks.Project, stack)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "0badc0de.json")
	lock := fmt.Sprintf(`{"pid":%d,"username":"ci","hostname":%q,"timestamp":"2026-01-02T03:04:05Z"}`, dead.Process.Pid, host)
	if err := os.WriteFile(path, []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOperationsSurviveRestart(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	f := newFixtureAt(t, testToken, state, 0)
	up := f.wait(f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com")))
	if up["state"] != StateSucceeded {
		t.Fatalf("update: %v", up)
	}
	pre := f.wait(f.start(http.MethodPost, "/v1/environments/dev/preview", specBody("dev.example.com")))
	if pre["state"] != StateSucceeded {
		t.Fatalf("preview: %v", pre)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Nothing secret reaches the disk; only finished records, no temporary files.
	files := journalFiles(t, state)
	want := []string{up["id"].(string) + ".json", pre["id"].(string) + ".json"}
	sort.Strings(want)
	if !reflect.DeepEqual(files, want) {
		t.Errorf("journal files %v, want %v", files, want)
	}
	for _, name := range files {
		b, _ := os.ReadFile(filepath.Join(state, "operations", name))
		if bytes.Contains(b, []byte(testPassword)) || bytes.Contains(b, []byte("server-test-passphrase")) {
			t.Errorf("journal record %s carries a secret: %s", name, b)
		}
		if fi, _ := os.Stat(filepath.Join(state, "operations", name)); fi.Mode().Perm() != 0o600 {
			t.Errorf("journal record %s mode %v", name, fi.Mode().Perm())
		}
	}

	// A second server on the same state directory serves them as they were.
	g := newFixtureAt(t, testToken, state, 0)
	for _, want := range []map[string]any{up, pre} {
		id := want["id"].(string)
		r := g.do(http.MethodGet, "/v1/operations/"+id, "")
		if r.status != http.StatusOK {
			t.Fatalf("operation %s after the restart: %d %s", id, r.status, r.body)
		}
		if got := r.json(t); !reflect.DeepEqual(got, want) {
			t.Errorf("operation after the restart:\n got %v\nwant %v", got, want)
		}
		// Its stream is the end event alone.
		evs := g.stream(id, "")
		if len(evs) != 1 || evs[0].name != "end" || evs[0].data["id"] != id || evs[0].data["state"] != StateSucceeded {
			t.Errorf("events of a loaded operation: %+v", evs)
		}
	}
	if res, _ := up["result"].(map[string]any); res["Outputs"] == nil || res["Changes"] == nil {
		t.Errorf("update result %v", up["result"])
	}
	r := g.do(http.MethodGet, "/v1/environments/dev", "")
	if last, _ := r.json(t)["lastOperation"].(map[string]any); r.status != http.StatusOK || last["id"] != pre["id"] {
		t.Errorf("environment after the restart: %d %s, want last operation %s", r.status, r.body, pre["id"])
	}
	r = g.do(http.MethodGet, "/v1/environments", "")
	if !strings.Contains(string(r.body), pre["id"].(string)) {
		t.Errorf("list after the restart: %s", r.body)
	}

	// New operations go on from there.
	next := g.wait(g.start(http.MethodPost, "/v1/environments/dev/preview", specBody("dev.example.com")))
	r = g.do(http.MethodGet, "/v1/environments/dev", "")
	if last, _ := r.json(t)["lastOperation"].(map[string]any); next["state"] != StateSucceeded || last["id"] != next["id"] {
		t.Errorf("last operation %v, want %v", last, next["id"])
	}
	if rec := readRecord(t, state, next["id"].(string)); rec["state"] != StateSucceeded || rec["finishedAt"] == nil {
		t.Errorf("record of the new operation %v", rec)
	}
}

func TestInterruptedOperation(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	created := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	// The process that ran these was killed: one left the stack locked, the other did not.
	writeRecord(t, state, Operation{ID: "op-0a", Kind: automation.OpUp, Environment: "dev", State: StateRunning, CreatedAt: created, Events: 7})
	writeRecord(t, state, Operation{ID: "op-0b", Kind: automation.OpPreview, Environment: "qa", State: StateRunning, CreatedAt: created})
	lock := staleLock(t, state, "dev")

	f := newFixtureAt(t, testToken, state, 0)
	r := f.do(http.MethodGet, "/v1/operations/op-0a", "")
	if r.status != http.StatusOK {
		t.Fatalf("interrupted operation: %d %s", r.status, r.body)
	}
	op := r.json(t)
	e, _ := op["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if op["state"] != StateInterrupted || op["id"] != "op-0a" || op["events"] != float64(7) || e["code"] != "interrupted" ||
		!strings.Contains(msg, "service stopped") || !strings.Contains(msg, "POST /v1/environments/dev/unlock") || strings.Contains(string(r.body), lock) {
		t.Errorf("interrupted operation %s", r.body)
	}
	if locks, _ := e["locks"].([]any); len(locks) != 1 || locks[0].(map[string]any)["stale"] != true {
		t.Errorf("interrupted operation's locks %v", e["locks"])
	}
	r = f.do(http.MethodGet, "/v1/operations/op-0b", "")
	op = r.json(t)
	e, _ = op["error"].(map[string]any)
	if msg, _ := e["message"].(string); op["state"] != StateInterrupted || !strings.Contains(msg, "no engine lock") {
		t.Errorf("interrupted operation without a lock %s", r.body)
	}
	// Rewritten as interrupted.
	for _, id := range []string{"op-0a", "op-0b"} {
		if rec := readRecord(t, state, id); rec["state"] != StateInterrupted || rec["error"] == nil {
			t.Errorf("record %s: %v", id, rec)
		}
	}
	if evs := f.stream("op-0a", ""); len(evs) != 1 || evs[0].name != "end" || evs[0].data["state"] != StateInterrupted {
		t.Errorf("events of an interrupted operation: %+v", evs)
	}
	// The environment's new operation is refused until the lock is cleared, with the same advice.
	r = f.do(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com"))
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "POST /v1/environments/dev/unlock") || strings.Contains(string(r.body), state) {
		t.Errorf("update of the locked environment: %d %s", r.status, r.body)
	}
	// Cancelling the interrupted operation is not the way: 409, pointing at unlock.
	if r := f.do(http.MethodPost, "/v1/operations/op-0a/cancel", ""); r.status != http.StatusConflict || r.errorCode(t) != "not_running" ||
		!strings.Contains(string(r.body), "unlock") {
		t.Errorf("cancel of an interrupted operation: %d %s", r.status, r.body)
	}
	// Unlock clears the dead process's lock; the operation's status says so; the update runs.
	if r := f.do(http.MethodPost, "/v1/environments/dev/unlock", ""); r.status != http.StatusOK || r.json(t)["cleared"] != 1.0 {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the lock file is still there: %v", err)
	}
	if r := f.do(http.MethodGet, "/v1/operations/op-0a", ""); !strings.Contains(string(r.body), "the lock it left was cleared") {
		t.Errorf("the interrupted operation after unlock: %s", r.body)
	}
	if rec := readRecord(t, state, "op-0a"); !strings.Contains(fmt.Sprint(rec["error"]), "was cleared") {
		t.Errorf("the journal still says locked: %v", rec["error"])
	}
	if r := f.do(http.MethodPost, "/v1/environments/dev/unlock", ""); r.status != http.StatusNotFound {
		t.Errorf("unlock with no lock: %d %s", r.status, r.body)
	}
	f.wait(f.start(http.MethodPut, "/v1/environments/dev", specBody("dev.example.com")))
}

// A lock a live process holds is never cleared.
func TestUnlockRefusesALiveLock(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	f := newFixtureAt(t, testToken, state, 0)
	host, _ := os.Hostname()
	dir := filepath.Join(state, "backend", ".pulumi", "locks", "organization", stacks.Project, "dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "live.json")
	body := fmt.Sprintf(`{"pid":%d,"username":"ci","hostname":%q,"timestamp":"2026-01-02T03:04:05Z"}`, os.Getpid(), host)
	if err := os.WriteFile(lock, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := f.do(http.MethodPost, "/v1/environments/dev/unlock", ""); r.status != http.StatusConflict || r.errorCode(t) != "lock_held" {
		t.Errorf("unlock of a live lock: %d %s", r.status, r.body)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("the live lock was removed: %v", err)
	}
}

func TestForgottenOperationsLeaveNoFiles(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	base := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	for i, id := range []string{"op-01", "op-02", "op-03"} {
		fin := base.Add(time.Duration(i)*time.Minute + time.Second)
		writeRecord(t, state, Operation{ID: id, Kind: automation.OpPreview, Environment: "dev", State: StateSucceeded,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), FinishedAt: &fin})
	}
	// Not records: ignored (a foreign file) or removed (an interrupted write's temporary file).
	_ = os.WriteFile(filepath.Join(state, "operations", "notes.txt"), []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(state, "operations", ".tmp-op-09-123"), []byte("{"), 0o600)

	f := newFixtureAt(t, testToken, state, 2)
	if got, want := journalFiles(t, state), []string{"notes.txt", "op-02.json", "op-03.json"}; !reflect.DeepEqual(got, want) {
		t.Errorf("journal after loading beyond the bound: %v, want %v", got, want)
	}
	if r := f.do(http.MethodGet, "/v1/operations/op-01", ""); r.status != http.StatusNotFound {
		t.Errorf("forgotten operation: %d %s", r.status, r.body)
	}
	id := f.wait(f.start(http.MethodPost, "/v1/environments/dev/preview", specBody("dev.example.com")))["id"].(string)
	want := []string{"notes.txt", "op-03.json", id + ".json"}
	sort.Strings(want)
	if got := journalFiles(t, state); !reflect.DeepEqual(got, want) {
		t.Errorf("journal after a new operation: %v, want %v", got, want)
	}
	if r := f.do(http.MethodGet, "/v1/operations/op-02", ""); r.status != http.StatusNotFound {
		t.Errorf("forgotten operation: %d %s", r.status, r.body)
	}
}

// Every loaded record is checked as strictly as a request: one that fails is skipped with the
// reason in the log; an environment whose newest record cannot be read says so; an operation
// still queued when the service stopped never ran, and says so.
func TestJournalRecordsAreValidated(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	// An environment with one good operation, made by an earlier service.
	first := newFixtureAt(t, testToken, state, 0)
	good := first.wait(first.start(http.MethodPut, "/v1/environments/qa", specBody("qa.example.com")))["id"].(string)
	if err := first.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	created := time.Now().UTC().Add(-time.Hour)
	fin := created.Add(time.Minute)
	writeRecord(t, state, Operation{ID: "op-1b", Kind: automation.OpUp, Environment: "dev", State: StateSucceeded, CreatedAt: created, FinishedAt: &fin})
	if err := os.Rename(filepath.Join(state, "operations", "op-1b.json"), filepath.Join(state, "operations", "op-1a.json")); err != nil {
		t.Fatal(err)
	}
	writeRecord(t, state, Operation{ID: "op-2a", Kind: automation.OpUp, Environment: "../../etc", State: StateSucceeded, CreatedAt: created, FinishedAt: &fin})
	writeRecord(t, state, Operation{ID: "op-2b", Kind: "explode", Environment: "dev", State: "exploded", CreatedAt: created})
	writeRecord(t, state, Operation{ID: "op-4a", Kind: automation.OpUp, Environment: "stg", State: StateQueued, CreatedAt: created})
	// The newest record of qa, cut off mid-write (a disk fault: the journal itself writes by rename).
	if err := os.WriteFile(filepath.Join(state, "operations", "op-3b.json"), []byte(`{"id":"op-3b","kind":"up","environment":"qa","state":"runn`), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	f := newFixtureAt(t, testToken, state, 0, func(_ *automation.ManagerOptions, o *Options) { o.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	for _, id := range []string{"op-1a", "op-1b", "op-2a", "op-2b", "op-3b"} {
		if r := f.do(http.MethodGet, "/v1/operations/"+id, ""); r.status != http.StatusNotFound {
			t.Errorf("invalid record %s was loaded: %d %s", id, r.status, r.body)
		}
	}
	for _, want := range []string{`its id \"op-1b\" is not its file's name \"op-1a\"`, `its environment \"../../etc\" is not a valid environment name`,
		`its kind \"explode\" is not an operation`, `its state \"exploded\" is not an operation state`, `"file":"op-3b.json"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "<nil>") {
		t.Errorf("the log has an empty reason:\n%s", logs.String())
	}

	r := f.do(http.MethodGet, "/v1/environments/qa", "")
	env := r.json(t)
	warning, _ := env["journalWarning"].(string)
	if last, _ := env["lastOperation"].(map[string]any); last["id"] != good || !strings.Contains(warning, "op-3b") || !strings.Contains(warning, "could not be read") {
		t.Errorf("an environment whose newest record is unreadable: %s", r.body)
	}
	if r := f.do(http.MethodGet, "/v1/environments", ""); !strings.Contains(string(r.body), `"journalWarning"`) {
		t.Errorf("the list does not carry the warning: %s", r.body)
	}

	op := f.do(http.MethodGet, "/v1/operations/op-4a", "").json(t)
	if e, _ := op["error"].(map[string]any); op["state"] != StateCanceled || e["code"] != "not_started" || strings.Contains(fmt.Sprint(e["message"]), "unknown") {
		t.Errorf("an operation queued when the service stopped: %v", op)
	}
	if rec := readRecord(t, state, "op-4a"); rec["state"] != StateCanceled {
		t.Errorf("its record was not rewritten: %v", rec)
	}

	// A new operation on qa supersedes the unreadable record.
	f.wait(f.start(http.MethodPut, "/v1/environments/qa", specBody("qa.example.com")))
	if r := f.do(http.MethodGet, "/v1/environments/qa", ""); strings.Contains(string(r.body), "journalWarning") {
		t.Errorf("the warning outlived a new operation: %s", r.body)
	}
}
