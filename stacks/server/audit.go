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
	"path/filepath"
	"sort"
	"strings"
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
	// Unrecorded counts the refused requests left out of the trail, over its rate limit, since
	// the record before this one.
	Unrecorded int64 `json:"unrecorded,omitempty"`
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
// before by its hash, written and synced before the request is answered. The chain shows a
// record changed, removed or reordered, but not the newest records cut off: the head file,
// replaced atomically after each record, keeps the newest record's sequence number and hash
// apart from the trail, and is checked against it at open.
type auditLog struct {
	mu       sync.Mutex
	f        *os.File
	headPath string
	offsets  []int64 // where each record starts, by position
	seqs     []int64 // each record's sequence number, by position
	size     int64
	last     AuditRecord
	// broken is the first problem a check of the trail found ("" when intact): at this open,
	// or at an earlier one (the head file keeps it).
	broken string
}

// auditHead is what the head file holds: the newest record's sequence number and hash, and
// the first problem a check of the trail found, so that it stays reported after a restart.
type auditHead struct {
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"`
	Problem string `json:"problem,omitempty"`
}

// openAuditLog opens (creating) the trail at path and its head file at headPath, and checks
// them. A broken chain or a cut-off end is not an error here: the log is reported broken and
// new records chain on from the last line (or, when the end was cut off, from the head, so
// that the removed sequence numbers are never used again), so that what follows stays
// verifiable. A head file that cannot be read or written is an error.
func openAuditLog(path, headPath string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	l := &auditLog{f: f, headPath: headPath}
	removeLeftovers(headPath)
	err = l.verify()
	if err == nil {
		err = l.writeHead()
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit trail %s: %w", path, err)
	}
	return l, nil
}

func (l *auditLog) verify() error {
	head, err := l.readHead()
	if err != nil {
		return err
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rd := bufio.NewReader(l.f)
	var prev AuditRecord
	headHash := ""
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
			if head != nil && rec.Seq == head.Seq {
				headHash = rec.Hash
			}
			l.seqs = append(l.seqs, rec.Seq)
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
	l.checkHead(head, headHash)
	return nil
}

// readHead reads the head file: nil when there is none, or when it is not a head (noted).
func (l *auditLog) readHead() (*auditHead, error) {
	raw, err := os.ReadFile(l.headPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("head file: %w", err)
	}
	var h auditHead
	if err := json.Unmarshal(raw, &h); err != nil || h.Seq < 0 {
		l.note("the head file is not a head (it was changed): records removed from the end of the trail cannot be ruled out")
		return nil, nil
	}
	// A problem found before was found first.
	if h.Problem != "" {
		l.broken = h.Problem
	}
	return &h, nil
}

// checkHead compares the end of the trail with its head (nil when missing or unreadable);
// headHash is the hash of the trail's record numbered as the head says ("" if none is).
// Records after the head's are not a problem: the service stopped between writing a record
// and its head.
func (l *auditLog) checkHead(head *auditHead, headHash string) {
	n := len(l.offsets)
	switch {
	case head == nil && n > 0:
		l.note(fmt.Sprintf("the trail holds %d records but no head file: records removed from its end cannot be ruled out", n))
	case head == nil || head.Seq == 0:
	case l.last.Seq < head.Seq:
		removed := fmt.Sprintf("records %d to %d were", l.last.Seq+1, head.Seq)
		if l.last.Seq+1 == head.Seq {
			removed = fmt.Sprintf("record %d was", head.Seq)
		}
		l.note(fmt.Sprintf("the trail ends at record %d, but its head file says record %d was written: %s removed", l.last.Seq, head.Seq, removed))
		// Numbering goes on after the head: a removed record's number is never used again.
		l.last = AuditRecord{Seq: head.Seq, Hash: head.Hash}
	case headHash == "":
		l.note(fmt.Sprintf("record %d, the newest when the head file was written, is not in the trail", head.Seq))
	case headHash != head.Hash:
		l.note(fmt.Sprintf("record %d does not match the head file's hash: the end of the trail was replaced", head.Seq))
	}
}

// removeLeftovers removes the temporary files an interrupted writeFileAtomic of path left.
func removeLeftovers(path string) {
	dir, prefix := filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writeHead replaces the head file with the trail's newest record and its first problem.
func (l *auditLog) writeHead() error {
	b, err := json.Marshal(auditHead{Seq: l.last.Seq, Hash: l.last.Hash, Problem: l.broken})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.headPath, append(b, '\n')); err != nil {
		return fmt.Errorf("head file: %w", err)
	}
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
	rec.Seq = l.last.Seq + 1
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
	l.seqs = append(l.seqs, rec.Seq)
	l.size += int64(len(b))
	l.last = rec
	if err := l.writeHead(); err != nil {
		return rec, fmt.Errorf("audit trail: record %d written, but not its head: %w", rec.Seq, err)
	}
	return rec, nil
}

// page returns the records after sequence number after, up to limit positions of the trail,
// and whether more follow. Sequence numbers rise along the trail (a gap is a removal); in a
// trail reordered by hand, a record numbered at or below after is left out, so that paging
// always moves on.
func (l *auditLog) page(after int64, limit int) ([]AuditRecord, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.offsets)
	first := sort.Search(n, func(i int) bool { return l.seqs[i] > after })
	if first >= n {
		return []AuditRecord{}, false, nil
	}
	end := min(first+limit, n)
	start, stop := l.offsets[first], l.size
	if end < n {
		stop = l.offsets[end]
	}
	buf := make([]byte, stop-start)
	if _, err := l.f.ReadAt(buf, start); err != nil {
		return nil, false, fmt.Errorf("audit trail: %w", err)
	}
	out := make([]AuditRecord, 0, end-first)
	for i, line := range bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n")) {
		var rec AuditRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, false, fmt.Errorf("audit trail: record %d: %w", first+i+1, err)
		}
		if rec.Seq > after {
			out = append(out, rec)
		}
	}
	return out, end < n, nil
}

func (l *auditLog) close() error { return l.f.Close() }
