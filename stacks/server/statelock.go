package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// stateLock is a service's exclusive hold on its state directory: two services on one directory
// would mark each other's operations interrupted and write the same stack files. The lock is
// an flock on <state-dir>/serve.lock, so it goes with the process however it ends; the file
// says which process holds it.
type stateLock struct{ f *os.File }

// lockStateDir takes the lock, or says which process holds it.
func lockStateDir(dir string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		raw, _ := os.ReadFile(path)
		_ = f.Close()
		holder := "another process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
			holder = fmt.Sprintf("process %d", pid)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the state directory %s is in use by %s (another serve): one service per state directory", dir, holder)
		}
		return nil, fmt.Errorf("locking the state directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &stateLock{f: f}, nil
}

// release gives the directory up.
func (l *stateLock) release() { _ = l.f.Close() }
