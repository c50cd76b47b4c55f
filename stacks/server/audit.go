package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// AuditRecord is one entry of the audit trail: who asked for what, on which environment, and
// what came of it. It never holds a configuration value, only the keys.
type AuditRecord struct {
	// Seq numbers the records from 1.
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Tenant    string    `json:"tenant,omitempty"`
	Role      string    `json:"role,omitempty"`
	// Action is update, preview, destroy, cancel, or what a refused request asked for.
	Action      string `json:"action"`
	Environment string `json:"environment,omitempty"`
	// Keys are the configuration keys the request changed (names only, never values).
	Keys []string `json:"keys,omitempty"`
	// Result is accepted or refused; Status the HTTP status answered, Reason why it was refused.
	Result      string `json:"result"`
	Status      int    `json:"status"`
	Reason      string `json:"reason,omitempty"`
	OperationID string `json:"operationId,omitempty"`
	// Prev is the previous record's Hash ("" for the first); Hash is the SHA-256 of this record
	// with Hash empty. Changing, removing or reordering a record breaks every hash after it.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// digest is the record's hash: SHA-256 over its JSON with Hash empty (the field order is the
// struct's, so the encoding is stable).
func (r AuditRecord) digest() (string, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// auditLog is the audit trail: an append-only file of JSON lines, each record chained to the one
// before by its hash, written and synced before the request is answered.
type auditLog struct {
	mu      sync.Mutex
	f       *os.File
	offsets []int64 // where each record starts, by Seq-1
	size    int64
	last    AuditRecord
	// broken is what the chain check at open found wrong ("" when intact).
	broken string
}

// openAuditLog opens (creating) the trail at path and checks its chain. A broken chain is not
// an error here: the log is reported broken (brokenAt) and new records chain on from the last
// line, so that what follows stays verifiable.
func openAuditLog(path string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	l := &auditLog{f: f}
	if err := l.verify(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit trail %s: %w", path, err)
	}
	return l, nil
}

func (l *auditLog) verify() error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rd := bufio.NewReader(l.f)
	var prev AuditRecord
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 {
			l.offsets = append(l.offsets, l.size)
			l.size += int64(len(line))
			seq := int64(len(l.offsets))
			var rec AuditRecord
			if jerr := json.Unmarshal(bytes.TrimSpace(line), &rec); jerr != nil {
				l.note(fmt.Sprintf("record %d is not a record: %v", seq, jerr))
				rec = AuditRecord{Seq: seq, Hash: prev.Hash}
			} else if problem := chainProblem(prev, rec, seq); problem != "" {
				l.note(problem)
			}
			prev = rec
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	l.last = prev
	return nil
}

// note keeps the first problem the chain check found.
func (l *auditLog) note(problem string) {
	if l.broken == "" {
		l.broken = problem
	}
}

// chainProblem says what is wrong with rec, the seq-th record, after prev ("" if nothing).
func chainProblem(prev, rec AuditRecord, seq int64) string {
	want, err := rec.digest()
	switch {
	case err != nil:
		return fmt.Sprintf("record %d cannot be hashed: %v", seq, err)
	case rec.Seq != seq:
		return fmt.Sprintf("record %d carries sequence number %d: a record was removed or reordered", seq, rec.Seq)
	case rec.Prev != prev.Hash:
		return fmt.Sprintf("record %d does not chain to record %d: a record was removed, reordered or changed", seq, seq-1)
	case rec.Hash != want:
		return fmt.Sprintf("record %d does not match its hash: it was changed", seq)
	}
	return ""
}

// append completes rec (sequence number, time if unset, chain) and writes it durably.
func (l *auditLog) append(rec AuditRecord) (AuditRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec.Seq = int64(len(l.offsets)) + 1
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	rec.Prev = l.last.Hash
	h, err := rec.digest()
	if err != nil {
		return rec, err
	}
	rec.Hash = h
	b, err := json.Marshal(rec)
	if err != nil {
		return rec, err
	}
	b = append(b, '\n')
	if _, err := l.f.Write(b); err != nil {
		return rec, fmt.Errorf("audit trail: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return rec, fmt.Errorf("audit trail: %w", err)
	}
	l.offsets = append(l.offsets, l.size)
	l.size += int64(len(b))
	l.last = rec
	return rec, nil
}

// page returns up to limit records after sequence number after, and whether more follow.
func (l *auditLog) page(after int64, limit int) ([]AuditRecord, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after < 0 {
		after = 0
	}
	n := int64(len(l.offsets))
	if after >= n {
		return []AuditRecord{}, false, nil
	}
	end := after + int64(limit)
	if end > n {
		end = n
	}
	start := l.offsets[after]
	stop := l.size
	if end < n {
		stop = l.offsets[end]
	}
	buf := make([]byte, stop-start)
	if _, err := l.f.ReadAt(buf, start); err != nil {
		return nil, false, fmt.Errorf("audit trail: %w", err)
	}
	out := make([]AuditRecord, 0, end-after)
	for _, line := range bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n")) {
		var rec AuditRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, false, fmt.Errorf("audit trail: record %d: %w", after+int64(len(out))+1, err)
		}
		out = append(out, rec)
	}
	return out, end < n, nil
}

func (l *auditLog) close() error { return l.f.Close() }
