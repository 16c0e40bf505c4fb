// Package store is xmppd's persistent storage: four generic kinds of store
// (KV, Map, Queue and Archive) kept in one bbolt file (go.etcd.io/bbolt).
//
// Every store is asked for by kind and name, e.g. db.Map("roster/items");
// by convention the name is "<package>/<store>" so that each extension owns
// its buckets and a new store touches no other package. Values are opaque
// bytes: the owning package does its own encoding. Nothing from bbolt
// appears in the exported API, so a second backend (for a cluster) can
// implement the same method set later.
//
// Durability: every write method returns only after its transaction has
// been committed and fsync'd, so a message acknowledged after Put or Append
// survives a crash, a kill -9 or a restart; write errors (a full disk
// included) are returned, never swallowed (SPEC §7).
//
// Layout: a "meta" bucket holds schema_version; each store is one
// top-level bucket named "<kind>:<name>" ("kv:", "map:", "queue:",
// "archive:"), so stores of different kinds never collide and never
// collide with meta.
// Map, Queue and Archive keep one nested bucket per owner, so deleting an
// owner costs O(that owner's items); archive.go describes the Archive's
// indexes.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked reports that the data file is held by another process, most
// likely a running xmppd server.
var ErrLocked = errors.New("store: database is locked")

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("store: not found")

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// Options configure Open.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file before failing with ErrLocked. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// ReadOnly opens the file with a shared lock and refuses writes. It does
	// not create the file and does not run migrations.
	ReadOnly bool
	// NoSync skips fsync on commit. For tests only: it gives up durability.
	NoSync bool
}

// DB is an open store file. It is safe for concurrent use.
type DB struct {
	bolt        *bolt.DB
	path        string
	version     int
	writes      atomic.Uint64 // write transactions requested (WriteTransactions)
	idAts       sync.Map      // archive name -> func(time.Time) string (TimeOrderedIDs)
	commits     committer     // group commit (commit.go)
	commitsDone atomic.Uint64 // group commits that ran (GroupCommits)
}

var (
	metaBucket = []byte("meta")
	versionKey = []byte("schema_version")
)

// migrations bring the file from version i to i+1 (migrations[i]). They run
// in order, all in one transaction, at Open. len(migrations) is the schema
// version this binary writes. Append only; never edit a released entry.
var migrations = []func(tx *bolt.Tx) error{
	// 1: initial layout. Stores create their buckets on first write, so the
	// only bucket that must exist is meta.
	func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	},
	// 2: an archive owner's indexes become keys of its bucket instead of
	// sub-buckets (archive.go), so an append writes fewer pages.
	migrateArchivesV2,
}

// Open opens (creating if needed, unless opt.ReadOnly) the store file at
// path, waiting at most opt.LockTimeout for another process to release it,
// and migrates it to the current schema. Errors name the file.
func Open(path string, opt Options) (*DB, error) {
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = DefaultLockTimeout
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	bdb, err := openBolt(path, opt)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: bdb, path: path}
	if db.version, err = migrate(bdb, opt.ReadOnly); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return db, nil
}

// openBolt opens and locks the bbolt file, translating bbolt's errors into
// ones an operator can act on.
func openBolt(path string, opt Options) (*bolt.DB, error) {
	// Restore renames a new file over the data file while holding the old
	// file's lock. A server that opened the old file just before the rename
	// would get the lock afterwards and run on an unlinked file, silently
	// losing every later write. So after locking we check that the path
	// still names the file we hold, and reopen if not.
	if err := checkTruncated(path); err != nil {
		return nil, fmt.Errorf("store: %s is damaged, restore a backup: %w", path, err)
	}
	for attempt := 0; ; attempt++ {
		var f *os.File
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{
			Timeout:        opt.LockTimeout,
			ReadOnly:       opt.ReadOnly,
			NoSync:         opt.NoSync,
			FreelistType:   bolt.FreelistMapType,
			NoFreelistSync: true, // faster commits; the freelist is rebuilt at Open
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				var err error
				f, err = os.OpenFile(name, flag, perm)
				return f, err
			},
		})
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s is in use by another process; the xmppd server seems to be running (waited %s)", ErrLocked, path, opt.LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, fmt.Errorf("store: %s is not an xmppd database (not a valid bbolt file): %w", path, err)
		case err != nil:
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && !os.SameFile(held, named) && attempt < 3 {
			_ = bdb.Close()
			continue
		}
		return bdb, nil
	}
}

// readVersion returns the schema version recorded in the file; 0 means a
// fresh file that has never been migrated.
func readVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		// A file with buckets but no meta belongs to some other program;
		// "migrating" it would bury its data under ours.
		var foreign bool
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return errStop })
		if foreign {
			return 0, errors.New("not an xmppd database (bbolt file without a meta bucket)")
		}
		return 0, nil
	}
	raw := meta.Get(versionKey)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("corrupt meta: schema_version %q", raw)
	}
	return v, nil
}

// migrate checks the schema version and, unless readOnly, upgrades the file
// to len(migrations) in one transaction. It returns the resulting version.
func migrate(bdb *bolt.DB, readOnly bool) (int, error) {
	var v int
	err := bdb.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readVersion(tx)
		return err
	})
	want := len(migrations)
	switch {
	case err != nil:
		return 0, err
	case v > want:
		return 0, fmt.Errorf("schema version %d is newer than this xmppd supports (%d); run a newer xmppd or restore a backup made by this version", v, want)
	case v == want:
		return v, nil
	case readOnly:
		return 0, fmt.Errorf("schema version %d needs migrating to %d; open it read-write once (start the server)", v, want)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for i := v; i < want; i++ {
			if err := migrations[i](tx); err != nil {
				return fmt.Errorf("migration to schema version %d: %w", i+1, err)
			}
		}
		return tx.Bucket(metaBucket).Put(versionKey, []byte(strconv.Itoa(want)))
	})
	if err != nil {
		return 0, err
	}
	if v > 0 {
		slog.Info("store: migrated schema", "file", bdb.Path(), "from", v, "to", want)
	}
	return want, nil
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Path is the data file's path as given to Open.
func (db *DB) Path() string { return db.path }

// Size is the data file's size on disk in bytes.
func (db *DB) Size() (int64, error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return fi.Size(), nil
}

// SchemaVersion is the schema version of the open file.
func (db *DB) SchemaVersion() int { return db.version }

// Update runs fn in one read-write transaction: every change fn makes
// through tx commits atomically (and is fsync'd) or, if fn returns an error
// or panics, none does. Inside fn use only tx; calling db's own methods
// would deadlock waiting for the transaction fn is in.
func (db *DB) Update(fn func(tx *Tx) error) error {
	db.writes.Add(1)
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{btx, db}) })
}

// Batch runs fn in a group-committed read-write transaction, like the
// store's own write methods: callers that arrive while a commit runs
// share the next commit and its fsync (commit.go), and Batch returns once fn's changes are on disk
// (or with the error that kept them off it). fn's changes commit
// atomically or not at all.
//
// fn may run more than once: when another fn of the same group fails, the
// group is rolled back and the others run again. So fn must only read and
// write through tx and set its own results; in-memory side effects
// (counters, caches, messages sent) belong after Batch returned nil, or
// must be idempotent. Inside fn use only tx, as for Update.
func (db *DB) Batch(fn func(tx *Tx) error) error {
	return <-db.BatchStart(fn)
}

// BatchStart is Batch without the wait: fn joins the next group commit
// and the outcome arrives on the returned channel. Calls started one after
// the other commit in that order (in the same transaction or an earlier
// one), so a caller can go on preparing its next write meanwhile.
func (db *DB) BatchStart(fn func(tx *Tx) error) <-chan error {
	return db.batchStart(func(btx *bolt.Tx) error { return fn(&Tx{btx, db}) })
}

// WriteTransactions is the number of write transactions requested so far
// (Update, Batch and every write method; a group commit of n callers counts
// n). Tests use it to assert how many commits a code path costs.
func (db *DB) WriteTransactions() uint64 { return db.writes.Load() }

// GroupCommits is the number of group-committed transactions run so far
// (each is one commit and one fsync for all its callers). Tests use it,
// with WriteTransactions, to check that writes share commits.
func (db *DB) GroupCommits() uint64 { return db.commitsDone.Load() }

// View runs fn in a read-only transaction that sees one consistent
// snapshot. Inside fn use only tx, and keep fn short: a long read
// transaction can stall writers that need to grow the file.
func (db *DB) View(fn func(tx *Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{btx, db}) })
}

// Tx is a transaction spanning any number of stores. It is only valid
// inside the Update or View callback that received it.
type Tx struct {
	btx *bolt.Tx
	db  *DB
}

// view runs a read-only transaction returning a value.
func view[T any](db *DB, fn func(*bolt.Tx) (T, error)) (T, error) {
	var out T
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// update runs fn in a plain write transaction; used for bulk deletes,
// which gain nothing from sharing a commit with small writes.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	db.writes.Add(1)
	return db.bolt.Update(fn)
}
