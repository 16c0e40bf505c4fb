package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole file to w while the server
// keeps running (one read transaction; writers are not blocked, except that
// a write needing to grow the file waits for the copy to finish). It
// returns the number of bytes written.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup %s: %w", db.path, err)
	}
	return n, nil
}

// BackupFile writes a backup of db to path: to path.tmp first, fsync'd,
// then renamed, so path is always either the old or the complete new
// backup. It refuses to overwrite the live data file.
func BackupFile(db *DB, path string) error {
	if sameFile(path, db.path) {
		return fmt.Errorf("store: backup: %s is the live database file; choose another path", path)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	_, err = db.Backup(f)
	if err == nil {
		err = syncClose(f)
	} else {
		_ = f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}

// Restore replaces dataFile with the backup in backupFile. The server must
// be stopped: if dataFile is locked, Restore fails with ErrLocked. The
// backup is copied next to dataFile, checked there (a bbolt file whose
// pages are consistent, with an xmppd schema version this binary knows;
// older versions are migrated at the next Open) and then renamed over
// dataFile, so dataFile is untouched unless the whole restore succeeds.
func Restore(dataFile, backupFile string) error {
	if sameFile(dataFile, backupFile) {
		return fmt.Errorf("store: restore: %s and %s are the same file", backupFile, dataFile)
	}
	dir := filepath.Dir(dataFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: restore %s: %w", dataFile, err)
	}
	// Hold the data file's lock until the rename, so a server cannot start
	// on the old file halfway through (Open double-checks the inode too).
	unlock, err := lockPath(dataFile, DefaultLockTimeout)
	if err != nil {
		return err
	}
	defer unlock()

	src, err := os.Open(backupFile)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, filepath.Base(dataFile)+".restore-*")
	if err != nil {
		return fmt.Errorf("store: restore %s: %w", dataFile, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("store: restore: copying %s to %s: %w", backupFile, tmpName, err)
	}
	if err := syncClose(tmp); err != nil {
		return fmt.Errorf("store: restore: %s: %w", tmpName, err)
	}
	// Check the copy rather than the source: it is what goes live.
	if err := checkBackup(tmpName); err != nil {
		return fmt.Errorf("store: restore: %s is not a usable xmppd backup: %w", backupFile, err)
	}
	if err := os.Rename(tmpName, dataFile); err != nil {
		return fmt.Errorf("store: restore %s: %w", dataFile, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("store: restore %s: %w", dataFile, err)
	}
	return nil
}

// checkBackup opens path read-only and verifies the bbolt structure and
// the schema version.
func checkBackup(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return errors.New("file is empty")
	}
	if err := checkTruncated(path); err != nil {
		return err
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
	if err != nil {
		return err
	}
	defer bdb.Close()
	return bdb.View(func(tx *bolt.Tx) error {
		var corrupt error
		for err := range tx.Check() { // drain: the checker goroutine uses tx
			if corrupt == nil {
				corrupt = fmt.Errorf("corrupt: %w", err)
			}
		}
		if corrupt != nil {
			return corrupt
		}
		v, err := readVersion(tx)
		switch {
		case err != nil:
			return err
		case v == 0:
			return errors.New("empty bbolt file, not an xmppd database")
		case v > len(migrations):
			return fmt.Errorf("schema version %d is newer than this xmppd supports (%d)", v, len(migrations))
		}
		return nil
	})
}

// sameFile reports whether a and b name the same existing file, or the
// same path if either does not exist yet.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
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
