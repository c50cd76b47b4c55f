package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeRecords(t *testing.T, path string, n int) {
	t.Helper()
	l, err := openAuditLog(path, path+".head")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.close() }()
	for i := 0; i < n; i++ {
		if _, err := l.append(AuditRecord{Principal: "token:ci", Tenant: "team-a", Action: "update", Environment: "team-a-dev",
			Keys: []string{"kong-alb-eks:domain"}, Result: "accepted", Status: 202}); err != nil {
			t.Fatal(err)
		}
	}
}

// Records survive a reopen with the chain intact, are numbered from 1 and page in order.
func TestAuditTrailChainsAndPages(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRecords(t, path, 3)
	writeRecords(t, path, 2)
	l, err := openAuditLog(path, path+".head")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.close() }()
	if l.broken != "" {
		t.Fatalf("an intact trail is reported broken: %s", l.broken)
	}
	first, more, err := l.page(0, 2)
	if err != nil || !more || len(first) != 2 || first[0].Seq != 1 || first[1].Prev != first[0].Hash {
		t.Fatalf("first page: %+v more=%v err=%v", first, more, err)
	}
	rest, more, err := l.page(2, 10)
	if err != nil || more || len(rest) != 3 || rest[2].Seq != 5 || rest[0].Prev != first[1].Hash {
		t.Fatalf("second page: %+v more=%v err=%v", rest, more, err)
	}
	if empty, more, err := l.page(5, 10); err != nil || more || len(empty) != 0 {
		t.Fatalf("past the end: %v %v %v", empty, more, err)
	}
}

// Changing, removing or reordering a record, cutting records off the end of the trail,
// replacing its end with a validly chained record, and removing or changing its head file are
// found at open, naming the first problem. A problem found once is still reported at the next
// open, and numbering goes on after the last record written: a removed record's number is
// never used again.
func TestAuditTrailTamperingIsReported(t *testing.T) {
	t.Parallel()
	rechained := func(lines [][]byte) [][]byte {
		var rec AuditRecord
		if err := json.Unmarshal(lines[3], &rec); err != nil {
			t.Fatal(err)
		}
		rec.Result, rec.Status = "refused", 403
		rec.Hash, _ = rec.digest()
		lines[3], _ = json.Marshal(rec)
		return lines
	}
	for name, tc := range map[string]struct {
		tamper func(lines [][]byte) [][]byte
		head   func(path string)
		want   string
	}{
		"changed": {tamper: func(lines [][]byte) [][]byte {
			lines[1] = bytes.Replace(lines[1], []byte(`"accepted"`), []byte(`"refused"`), 1)
			return lines
		}, want: "record 2 does not match its hash"},
		"removed":            {tamper: func(lines [][]byte) [][]byte { return append(lines[:1], lines[2:]...) }, want: "record 2 carries sequence number 3"},
		"reordered":          {tamper: func(lines [][]byte) [][]byte { lines[1], lines[2] = lines[2], lines[1]; return lines }, want: "record 2 carries sequence number 3"},
		"garbage":            {tamper: func(lines [][]byte) [][]byte { lines[2] = []byte("not json"); return lines }, want: "record 3 is not a record"},
		"newest removed":     {tamper: func(l [][]byte) [][]byte { return l[:3] }, want: "ends at record 3, but its head file says record 4 was written: record 4 was removed"},
		"two newest removed": {tamper: func(l [][]byte) [][]byte { return l[:2] }, want: "records 3 to 4 were removed"},
		"all removed":        {tamper: func(l [][]byte) [][]byte { return nil }, want: "records 1 to 4 were removed"},
		"newest replaced":    {tamper: rechained, want: "record 4 does not match the head file's hash"},
		"head removed":       {head: func(p string) { _ = os.Remove(p) }, want: "no head file"},
		"head changed":       {head: func(p string) { _ = os.WriteFile(p, []byte("{"), 0o600) }, want: "not a head"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			writeRecords(t, path, 4)
			if tc.tamper != nil {
				rewriteLines(t, path, tc.tamper)
			}
			if tc.head != nil {
				tc.head(path + ".head")
			}
			for round := range 2 {
				l, err := openAuditLog(path, path+".head")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(l.broken, tc.want) {
					t.Errorf("open %d: broken = %q, want %q", round+1, l.broken, tc.want)
				}
				next, err := l.append(AuditRecord{Principal: "p", Action: "update", Result: "accepted", Status: 202})
				_ = l.close()
				if err != nil || next.Seq != int64(5+round) {
					t.Errorf("open %d: the next record is numbered %d (%v), want %d", round+1, next.Seq, err, 5+round)
				}
			}
		})
	}
}

// rewriteLines replaces the trail's lines with what tamper makes of them.
func rewriteLines(t *testing.T, path string, tamper func(lines [][]byte) [][]byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := tamper(bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n")))
	out := bytes.Join(lines, []byte("\n"))
	if len(lines) > 0 {
		out = append(out, '\n')
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The service may stop between writing a record and its head: a head one record behind the
// trail is no problem. Neither is a new trail, nor one emptied when its head was.
func TestAuditTrailHeadBehindByACrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRecords(t, path, 3)
	before, err := os.ReadFile(path + ".head")
	if err != nil {
		t.Fatal(err)
	}
	writeRecords(t, path, 1)
	if err := os.WriteFile(path+".head", before, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openAuditLog(path, path+".head")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.close() }()
	if l.broken != "" || l.last.Seq != 4 {
		t.Errorf("a head one record behind: broken %q, last record %d", l.broken, l.last.Seq)
	}
	fresh := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRecords(t, fresh, 0)
	if raw, err := os.ReadFile(fresh + ".head"); err != nil || !strings.Contains(string(raw), `"seq":0`) {
		t.Errorf("a new trail's head: %s %v", raw, err)
	}
}

// Concurrent appends each get their own sequence number and the chain stays whole.
func TestAuditTrailConcurrentAppends(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := openAuditLog(path, path+".head")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.append(AuditRecord{Principal: "p", Action: "update", Result: "accepted", Status: 202}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_ = l.close()
	again, err := openAuditLog(path, path+".head")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = again.close() }()
	if again.broken != "" || len(again.offsets) != 20 {
		t.Fatalf("after concurrent appends: %d records, broken %q", len(again.offsets), again.broken)
	}
}

// Through the service: records cut off the end of the trail while it was down are reported by
// GET /v1/audit after the restart, and still after the next one; the next record does not
// reuse a removed record's number.
func TestAuditTrailCutShortIsReported(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	f := newTenantFixture(t, state, nil)
	for i := 0; i < 3; i++ {
		f.expect(http.MethodDelete, "/v1/environments/team-b-dev", "", aAdmin, http.StatusForbidden)
	}
	if err := f.srv.shutdown(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	rewriteLines(t, filepath.Join(state, "audit.jsonl"), func(lines [][]byte) [][]byte { return lines[:2] })

	const want = "the trail ends at record 2, but its head file says record 3 was written: record 3 was removed"
	again := newTenantFixture(t, state, nil)
	if chain := again.auditAs(testToken)["chain"].(map[string]any); chain["intact"] != false || chain["problem"] != want {
		t.Errorf("after the newest record was removed: %v", chain)
	}
	again.expect(http.MethodDelete, "/v1/environments/team-b-dev", "", aAdmin, http.StatusForbidden)
	recs := records(again.auditAs(testToken))
	if last := recs[len(recs)-1]; len(recs) != 3 || last["seq"] != 4.0 {
		t.Errorf("the record after the removal: %v, want sequence number 4", recs)
	}
	if err := again.srv.shutdown(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	if chain := newTenantFixture(t, state, nil).auditAs(testToken)["chain"].(map[string]any); chain["intact"] != false || chain["problem"] != want {
		t.Errorf("a restart later: %v", chain)
	}
}
