package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeRecords(t *testing.T, path string, n int) {
	t.Helper()
	l, err := openAuditLog(path)
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
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRecords(t, path, 3)
	writeRecords(t, path, 2)
	l, err := openAuditLog(path)
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

// Changing, removing or reordering a record is found at open, naming the first bad record.
func TestAuditTrailTamperingIsReported(t *testing.T) {
	for name, tc := range map[string]struct {
		tamper func(lines [][]byte) [][]byte
		want   string
	}{
		"changed": {func(lines [][]byte) [][]byte {
			lines[1] = bytes.Replace(lines[1], []byte(`"accepted"`), []byte(`"refused"`), 1)
			return lines
		}, "record 2 does not match its hash"},
		"removed":   {func(lines [][]byte) [][]byte { return append(lines[:1], lines[2:]...) }, "record 2 carries sequence number 3"},
		"reordered": {func(lines [][]byte) [][]byte { lines[1], lines[2] = lines[2], lines[1]; return lines }, "record 2 carries sequence number 3"},
		"garbage":   {func(lines [][]byte) [][]byte { lines[2] = []byte("not json"); return lines }, "record 3 is not a record"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			writeRecords(t, path, 4)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := tc.tamper(bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n")))
			if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := openAuditLog(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.close() }()
			if !strings.Contains(l.broken, tc.want) {
				t.Errorf("broken = %q, want %q", l.broken, tc.want)
			}
		})
	}
}

// Concurrent appends each get their own sequence number and the chain stays whole.
func TestAuditTrailConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := openAuditLog(path)
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
	again, err := openAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = again.close() }()
	if again.broken != "" || len(again.offsets) != 20 {
		t.Fatalf("after concurrent appends: %d records, broken %q", len(again.offsets), again.broken)
	}
}
