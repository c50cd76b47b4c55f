package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// StackInfo is what the backend holds about one stack.
type StackInfo struct {
	Name string `json:"name"`
	// LastUpdate is when the last update ended (zero if none, or one is in progress).
	LastUpdate time.Time `json:"lastUpdate,omitzero"`
	// UpdateInProgress is reported by backends that track it (Pulumi Cloud).
	UpdateInProgress bool   `json:"updateInProgress,omitempty"`
	ResourceCount    *int   `json:"resourceCount,omitempty"`
	URL              string `json:"url,omitempty"`
	// Locks are the engine locks on the stack (file backends only).
	Locks []LockInfo `json:"locks,omitempty"`
	// Running is the operation this manager runs on it, if any.
	Running Operation `json:"running,omitempty"`
}

// LockInfo is an engine lock on a stack in a file backend.
type LockInfo struct {
	// Path is the lock file: for the service's log, never for its clients.
	Path      string    `json:"-"`
	PID       int       `json:"pid"`
	Username  string    `json:"username"`
	Hostname  string    `json:"hostname"`
	Timestamp time.Time `json:"timestamp"`
	// Stale is set when the process that took the lock ran on this host and is gone: a killed
	// update left it behind, and no update can run until it is cleared.
	Stale bool `json:"stale"`
	// Clear says how to clear the lock from a shell on the backend's machine (a command that works
	// when pasted): for operators and the service's log, not for the portal's clients.
	Clear string `json:"-"`
}

// List returns the stacks of the project the backend holds, by name, with their locks.
func (m *Manager) List(ctx context.Context) ([]StackInfo, error) {
	ws, err := m.workspace(ctx, filepath.Join(m.workDir, "project"))
	if err != nil {
		return nil, err
	}
	summaries, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, m.cliError("*", "listing", err)
	}
	out := make([]StackInfo, 0, len(summaries))
	for _, s := range summaries {
		name := s.Name
		if i := strings.LastIndex(name, "/"); i >= 0 { // organization/project/stack
			name = name[i+1:]
		}
		info := StackInfo{Name: name, UpdateInProgress: s.UpdateInProgress, ResourceCount: s.ResourceCount, URL: s.URL}
		if s.LastUpdate != "" {
			info.LastUpdate, _ = time.Parse(time.RFC3339, s.LastUpdate)
		}
		if locks, err := m.Locks(name); err == nil {
			info.Locks = locks
		}
		if op, ok := m.Running(name); ok {
			info.Running = op
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrLocksUnsupported: the locks cannot be inspected: only a file backend's can, and only by the
// Manager.
var ErrLocksUnsupported = errors.New("stacks: locks can only be inspected in a file backend, by the in-process executor")

// Locks returns the engine locks on a stack of a file backend (ErrLocksUnsupported for other
// backends). A lock whose process ran on this host and is gone is Stale.
func (m *Manager) Locks(name string) ([]LockInfo, error) {
	if err := stacks.ValidateStackName(name); err != nil {
		return nil, err
	}
	root, ok := fileBackendPath(m.backendURL)
	if !ok {
		return nil, ErrLocksUnsupported
	}
	// Project-scoped file backends lock .pulumi/locks/organization/<project>/<stack>/<id>.json;
	// legacy ones .pulumi/locks/<stack>/<id>.json.
	dirs := []string{
		filepath.Join(root, ".pulumi", "locks", "organization", m.project, name),
		filepath.Join(root, ".pulumi", "locks", name),
	}
	host, _ := os.Hostname()
	var out []LockInfo
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				continue // released meanwhile
			}
			var lc struct {
				Pid       int       `json:"pid"`
				Username  string    `json:"username"`
				Hostname  string    `json:"hostname"`
				Timestamp time.Time `json:"timestamp"`
			}
			_ = json.Unmarshal(b, &lc)
			li := LockInfo{Path: path, PID: lc.Pid, Username: lc.Username, Hostname: lc.Hostname, Timestamp: lc.Timestamp}
			li.Stale = lc.Hostname == host && lc.Pid > 0 && !processAlive(lc.Pid)
			li.Clear = fmt.Sprintf("if no update of %q is running, clear the lock with "+
				"`PULUMI_BACKEND_URL=%s pulumi cancel --stack organization/%s/%s --yes`, or by deleting %s",
				name, RedactURL(m.backendURL), m.project, name, path)
			out = append(out, li)
		}
	}
	return out, nil
}

func fileBackendPath(u string) (string, bool) {
	if !strings.HasPrefix(u, "file://") {
		return "", false
	}
	p, err := url.Parse(u)
	if err != nil || p.Path == "" {
		return strings.TrimPrefix(u, "file://"), true
	}
	if p.Host == "~" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, filepath.FromSlash(p.Path)), true
		}
	}
	return filepath.FromSlash(p.Path), true
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Status is one environment as a portal shows it.
type Status struct {
	Name string `json:"name"`
	// LastUpdate is the newest entry of the stack's history, if any.
	LastUpdate *Update `json:"lastUpdate,omitempty"`
	// Outputs are the stack's outputs, secrets redacted.
	Outputs Outputs    `json:"outputs"`
	Locks   []LockInfo `json:"locks,omitempty"`
	Running Operation  `json:"running,omitempty"`
}

// Status describes an environment: a *NotFoundError if the backend holds no such stack.
func (m *Manager) Status(ctx context.Context, name string) (*Status, error) {
	hist, err := m.History(ctx, name, 1)
	if err != nil {
		return nil, err
	}
	outs, err := m.Outputs(ctx, name)
	if err != nil {
		return nil, err
	}
	st := &Status{Name: name, Outputs: outs}
	if len(hist) > 0 {
		st.LastUpdate = &hist[0]
	}
	if locks, err := m.Locks(name); err == nil {
		st.Locks = locks
	}
	if op, ok := m.Running(name); ok {
		st.Running = op
	}
	return st, nil
}

// stacks.Config is an environment's configuration as its stack holds it (secrets decrypted in memory
// only), not validated: a *NotFoundError if the backend holds no such stack.
func (m *Manager) Config(ctx context.Context, name string) (stacks.Config, error) {
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return stacks.Config{}, err
	}
	values, err := s.GetAllConfig(ctx)
	if err != nil {
		return stacks.Config{}, m.cliError(name, "reading the config of", err)
	}
	cfg, err := stacks.LoadConfig(func(k string) (string, bool) { v, ok := values[k]; return v.Value, ok })
	var ve *stacks.ValidationError
	if errors.As(err, &ve) {
		err = nil // what was written; the update's own spec is validated
	}
	return cfg, err
}

// ErrLockHeld is ClearStaleLocks refusing: a live process (or one on another host, whose
// liveness cannot be seen from here) holds the lock.
var ErrLockHeld = errors.New("the lock is held by a live process")

// ClearStaleLocks deletes the engine locks on a stack that a process killed on this host left
// behind, and reports how many it deleted. It deletes nothing if any lock is not stale: an
// update may still be running. A stack this manager is running an operation on is busy.
func (m *Manager) ClearStaleLocks(name string) (int, error) {
	if op, ok := m.Running(name); ok {
		return 0, &BusyError{Stack: name, Source: BusyManager, Running: op}
	}
	locks, err := m.Locks(name)
	if err != nil {
		return 0, err
	}
	for _, l := range locks {
		if !l.Stale {
			return 0, fmt.Errorf("stack %q: %w (pid %d on %s since %s)", name, ErrLockHeld, l.PID, l.Hostname, l.Timestamp.UTC().Format(time.RFC3339))
		}
	}
	for _, l := range locks {
		if err := os.Remove(l.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("stack %q: removing a stale lock: %w", name, err)
		}
		m.log.Warn("stale engine lock cleared", "stack", name, "lockFile", l.Path, "pid", l.PID, "since", l.Timestamp)
	}
	return len(locks), nil
}
