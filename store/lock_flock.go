//go:build !windows && !plan9 && !solaris && !aix && !android

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockPath takes the same exclusive flock that bbolt takes on path (these
// build tags mirror bbolt's bolt_unix.go), failing with ErrLocked if it is
// still held after timeout. A missing file needs no lock.
func lockPath(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: restore %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the descriptor releases the lock.
			return func() { _ = f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			_ = f.Close()
			if err == syscall.EWOULDBLOCK {
				return nil, fmt.Errorf("%w: %s is in use by another process; the xmppd server seems to be running, stop it before restoring", ErrLocked, path)
			}
			return nil, fmt.Errorf("store: restore: locking %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
