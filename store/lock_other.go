//go:build windows || plan9 || solaris || aix || android

package store

import "time"

// lockPath does not check the lock on these systems (bbolt uses fcntl or
// LockFileEx there). On Windows the rename over an open file fails anyway.
func lockPath(path string, timeout time.Duration) (unlock func(), err error) {
	return func() {}, nil
}
