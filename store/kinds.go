package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Each kind comes in two forms: KV/Map/Queue run every call in its own
// transaction; TxKV/TxMap/TxQueue (from Tx) work inside a caller's
// transaction. The logic lives once, in the Tx forms; the plain forms wrap
// it in view/batch/update, and iterate through DB.scan (see there).
//
// Values handed to callers (Get results, iteration callbacks) are always
// copies: bbolt's own slices point into a read-only mmap that is unmapped
// when the transaction ends, and writing to them crashes the process.

func bucketName(kind, name string) []byte {
	if name == "" {
		// Store names are constants in code; an empty one is a bug.
		panic("store: empty " + kind + " store name")
	}
	return []byte(kind + ":" + name)
}

// --- KV ---

// KV is a flat key/value store.
type KV struct {
	db     *DB
	bucket []byte
}

// KV returns the key/value store called name ("<package>/<store>").
func (db *DB) KV(name string) *KV { return &KV{db, bucketName("kv", name)} }

// KV returns the key/value store called name inside the transaction.
func (tx *Tx) KV(name string) TxKV { return TxKV{tx.btx, bucketName("kv", name)} }

// TxKV is a KV inside a transaction.
type TxKV struct {
	btx    *bolt.Tx
	bucket []byte
}

func (t TxKV) b() *bolt.Bucket { return t.btx.Bucket(t.bucket) }

// Get returns a copy of key's value, or an error wrapping ErrNotFound.
func (t TxKV) Get(key string) ([]byte, error) {
	if b := t.b(); b != nil {
		if v := b.Get([]byte(key)); v != nil {
			return clone(v), nil
		}
	}
	return nil, fmt.Errorf("%w: %s key %q", ErrNotFound, t.bucket, key)
}

// Put sets key to val.
func (t TxKV) Put(key string, val []byte) error {
	b, err := t.btx.CreateBucketIfNotExists(t.bucket)
	if err == nil {
		err = b.Put([]byte(key), val)
	}
	return opErr("put", t.bucket, key, err)
}

// Delete removes key; a missing key is not an error.
func (t TxKV) Delete(key string) error {
	if !t.btx.Writable() {
		return opErr("delete", t.bucket, key, berrors.ErrTxNotWritable)
	}
	if b := t.b(); b != nil {
		return opErr("delete", t.bucket, key, b.Delete([]byte(key)))
	}
	return nil
}

// ForEach calls fn for every key starting with prefix, in key order,
// stopping at the first error fn returns (which ForEach returns).
func (t TxKV) ForEach(prefix string, fn func(key string, val []byte) error) error {
	return walk(t.b(), []byte(prefix), nil, func(k, v []byte) error { return fn(string(k), clone(v)) })
}

// Count returns the number of keys.
func (t TxKV) Count() (int, error) { return count(t.b()), nil }

// Get returns a copy of key's value, or an error wrapping ErrNotFound.
func (kv *KV) Get(key string) ([]byte, error) {
	return view(kv.db, func(tx *bolt.Tx) ([]byte, error) { return TxKV{tx, kv.bucket}.Get(key) })
}

// Put sets key to val and returns once that is on disk. Concurrent Puts
// (and Appends) share a commit (group commit): many concurrent ones cost
// one fsync instead of many.
func (kv *KV) Put(key string, val []byte) error {
	return kv.db.batch(func(tx *bolt.Tx) error { return TxKV{tx, kv.bucket}.Put(key, val) })
}

// Delete removes key; a missing key is not an error.
func (kv *KV) Delete(key string) error {
	return kv.db.batch(func(tx *bolt.Tx) error { return TxKV{tx, kv.bucket}.Delete(key) })
}

// ForEach calls fn for every key starting with prefix, in key order,
// stopping at the first error fn returns (which ForEach returns). fn runs
// outside any transaction and may use the store; entries are read in
// chunks, so writes made meanwhile may or may not be seen. For one
// consistent snapshot use db.View.
func (kv *KV) ForEach(prefix string, fn func(key string, val []byte) error) error {
	return kv.db.scan(func(tx *bolt.Tx) *bolt.Bucket { return TxKV{tx, kv.bucket}.b() }, []byte(prefix),
		func(k, v []byte) error { return fn(string(k), v) })
}

// Count returns the number of keys.
func (kv *KV) Count() (int, error) {
	return view(kv.db, func(tx *bolt.Tx) (int, error) { return TxKV{tx, kv.bucket}.Count() })
}

// --- Map ---

// Map is a two-level store: owner -> key -> value (e.g. roster: user ->
// contact -> item).
type Map struct {
	db     *DB
	bucket []byte
}

// Map returns the map store called name ("<package>/<store>").
func (db *DB) Map(name string) *Map { return &Map{db, bucketName("map", name)} }

// Map returns the map store called name inside the transaction.
func (tx *Tx) Map(name string) TxMap { return TxMap{tx.btx, bucketName("map", name)} }

// TxMap is a Map inside a transaction.
type TxMap struct {
	btx    *bolt.Tx
	bucket []byte
}

func (t TxMap) top() *bolt.Bucket { return t.btx.Bucket(t.bucket) }

func (t TxMap) owner(owner string) *bolt.Bucket {
	if top := t.top(); top != nil {
		return top.Bucket([]byte(owner))
	}
	return nil
}

// Get returns a copy of owner's value for key, or an error wrapping
// ErrNotFound.
func (t TxMap) Get(owner, key string) ([]byte, error) {
	if b := t.owner(owner); b != nil {
		if v := b.Get([]byte(key)); v != nil {
			return clone(v), nil
		}
	}
	return nil, fmt.Errorf("%w: %s owner %q key %q", ErrNotFound, t.bucket, owner, key)
}

// Put sets owner's key to val.
func (t TxMap) Put(owner, key string, val []byte) error {
	b, err := createPath(t.btx, t.bucket, owner)
	if err == nil {
		err = b.Put([]byte(key), val)
	}
	return opErr("put", t.bucket, owner+"/"+key, err)
}

// Delete removes owner's key; a missing key is not an error. An owner left
// with no keys disappears from Owners.
func (t TxMap) Delete(owner, key string) error {
	return opErr("delete", t.bucket, owner+"/"+key, deleteKey(t.btx, t.top(), owner, []byte(key)))
}

// All calls fn for each of owner's keys in key order, stopping at the
// first error fn returns (which All returns).
func (t TxMap) All(owner string, fn func(key string, val []byte) error) error {
	return walk(t.owner(owner), nil, nil, func(k, v []byte) error { return fn(string(k), clone(v)) })
}

// Before calls fn for each of owner's keys below before, newest (highest)
// first, stopping at the first error fn returns (which Before returns).
func (t TxMap) Before(owner, before string, fn func(key string, val []byte) error) error {
	b := t.owner(owner)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	k, v := c.Seek([]byte(before))
	if k == nil {
		k, v = c.Last()
	}
	for ; k != nil; k, v = c.Prev() {
		if string(k) >= before {
			continue
		}
		if err := fn(string(k), clone(v)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRange removes owner's keys from from up to, not including, to,
// and returns how many it removed. An owner left with no keys disappears
// from Owners.
func (t TxMap) DeleteRange(owner, from, to string) (int, error) {
	if !t.btx.Writable() {
		return 0, opErr("delete range", t.bucket, owner, berrors.ErrTxNotWritable)
	}
	b := t.owner(owner)
	if b == nil {
		return 0, nil
	}
	// Collect first: deleting under a live cursor can skip entries.
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte(from)); k != nil && string(k) < to; k, _ = c.Next() {
		doomed = append(doomed, bytes.Clone(k)) // bbolt's k may move as keys go
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, opErr("delete range", t.bucket, owner, err)
		}
	}
	if len(doomed) > 0 {
		if k, _ := b.Cursor().First(); k == nil {
			return len(doomed), opErr("delete range", t.bucket, owner, t.top().DeleteBucket([]byte(owner)))
		}
	}
	return len(doomed), nil
}

// DeleteOwner removes all of owner's keys; a missing owner is not an error.
func (t TxMap) DeleteOwner(owner string) error {
	return opErr("delete owner", t.bucket, owner, deleteOwner(t.btx, t.top(), owner))
}

// Owners calls fn for each owner that has at least one key, in order.
func (t TxMap) Owners(fn func(owner string) error) error {
	return walk(t.top(), nil, nil, func(k, _ []byte) error { return fn(string(k)) })
}

// Get returns a copy of owner's value for key, or an error wrapping
// ErrNotFound.
func (m *Map) Get(owner, key string) ([]byte, error) {
	return view(m.db, func(tx *bolt.Tx) ([]byte, error) { return TxMap{tx, m.bucket}.Get(owner, key) })
}

// Put sets owner's key to val and returns once that is on disk; batched
// like KV.Put.
func (m *Map) Put(owner, key string, val []byte) error {
	return m.db.batch(func(tx *bolt.Tx) error { return TxMap{tx, m.bucket}.Put(owner, key, val) })
}

// Delete removes owner's key; a missing key is not an error.
func (m *Map) Delete(owner, key string) error {
	return m.db.batch(func(tx *bolt.Tx) error { return TxMap{tx, m.bucket}.Delete(owner, key) })
}

// All calls fn for each of owner's keys in key order; fn runs outside any
// transaction, as for KV.ForEach.
func (m *Map) All(owner string, fn func(key string, val []byte) error) error {
	return m.db.scan(func(tx *bolt.Tx) *bolt.Bucket { return TxMap{tx, m.bucket}.owner(owner) }, nil,
		func(k, v []byte) error { return fn(string(k), v) })
}

// DeleteOwner removes all of owner's keys in one transaction.
func (m *Map) DeleteOwner(owner string) error {
	return m.db.update(func(tx *bolt.Tx) error { return TxMap{tx, m.bucket}.DeleteOwner(owner) })
}

// Owners calls fn for each owner that has at least one key, in order; fn
// runs outside any transaction, as for KV.ForEach.
func (m *Map) Owners(fn func(owner string) error) error {
	return m.db.scan(func(tx *bolt.Tx) *bolt.Bucket { return TxMap{tx, m.bucket}.top() }, nil,
		func(k, _ []byte) error { return fn(string(k)) })
}

// --- Queue ---

// Queue is a per-owner append-only log (offline messages and the like).
// Sequence numbers come from one counter per queue, so they increase per
// owner and are never reused, even after DeleteOwner.
type Queue struct {
	db     *DB
	bucket []byte
}

// Queue returns the queue store called name ("<package>/<store>").
func (db *DB) Queue(name string) *Queue { return &Queue{db, bucketName("queue", name)} }

// Queue returns the queue store called name inside the transaction.
func (tx *Tx) Queue(name string) TxQueue { return TxQueue{tx.btx, bucketName("queue", name)} }

// TxQueue is a Queue inside a transaction.
type TxQueue struct {
	btx    *bolt.Tx
	bucket []byte
}

func (t TxQueue) top() *bolt.Bucket { return t.btx.Bucket(t.bucket) }

func (t TxQueue) owner(owner string) *bolt.Bucket {
	if top := t.top(); top != nil {
		return top.Bucket([]byte(owner))
	}
	return nil
}

// seqKey is big-endian so that byte order is numeric order.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Append adds val to owner's log and returns its sequence number.
func (t TxQueue) Append(owner string, val []byte) (uint64, error) {
	top, err := t.btx.CreateBucketIfNotExists(t.bucket)
	if err != nil {
		return 0, opErr("append", t.bucket, owner, err)
	}
	seq, err := top.NextSequence()
	if err != nil {
		return 0, opErr("append", t.bucket, owner, err)
	}
	b, err := top.CreateBucketIfNotExists([]byte(owner))
	if err == nil {
		err = b.Put(seqKey(seq), val)
	}
	if err != nil {
		return 0, opErr("append", t.bucket, owner, err)
	}
	return seq, nil
}

// List calls fn for each of owner's entries in sequence order, stopping at
// the first error fn returns (which List returns).
func (t TxQueue) List(owner string, fn func(seq uint64, val []byte) error) error {
	return walk(t.owner(owner), nil, nil, func(k, v []byte) error { return fn(binary.BigEndian.Uint64(k), clone(v)) })
}

// Len returns the number of entries owner has.
func (t TxQueue) Len(owner string) (int, error) { return count(t.owner(owner)), nil }

// DeleteThrough removes owner's entries with sequence numbers <= seq.
func (t TxQueue) DeleteThrough(owner string, seq uint64) error {
	if !t.btx.Writable() {
		return opErr("delete through", t.bucket, owner, berrors.ErrTxNotWritable)
	}
	b := t.owner(owner)
	if b == nil {
		return nil
	}
	// Collect first: deleting under a live cursor can skip entries.
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.Next() {
		doomed = append(doomed, k)
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return opErr("delete through", t.bucket, owner, err)
		}
	}
	if k, _ := b.Cursor().First(); k == nil {
		return opErr("delete through", t.bucket, owner, t.top().DeleteBucket([]byte(owner)))
	}
	return nil
}

// DeleteOwner removes all of owner's entries; a missing owner is not an
// error.
func (t TxQueue) DeleteOwner(owner string) error {
	return opErr("delete owner", t.bucket, owner, deleteOwner(t.btx, t.top(), owner))
}

// Append adds val to owner's log, returning its sequence number once it is
// on disk. Concurrent Appends share one commit (group commit): a burst
// costs one fsync.
func (q *Queue) Append(owner string, val []byte) (seq uint64, err error) {
	err = q.db.batch(func(tx *bolt.Tx) error {
		var err error
		seq, err = TxQueue{tx, q.bucket}.Append(owner, val)
		return err
	})
	return seq, err
}

// List calls fn for each of owner's entries in sequence order; fn runs
// outside any transaction, as for KV.ForEach.
func (q *Queue) List(owner string, fn func(seq uint64, val []byte) error) error {
	return q.db.scan(func(tx *bolt.Tx) *bolt.Bucket { return TxQueue{tx, q.bucket}.owner(owner) }, nil,
		func(k, v []byte) error { return fn(binary.BigEndian.Uint64(k), v) })
}

// Len returns the number of entries owner has.
func (q *Queue) Len(owner string) (int, error) {
	return view(q.db, func(tx *bolt.Tx) (int, error) { return TxQueue{tx, q.bucket}.Len(owner) })
}

// DeleteThrough removes owner's entries with sequence numbers <= seq, e.g.
// once they have been delivered.
func (q *Queue) DeleteThrough(owner string, seq uint64) error {
	return q.db.update(func(tx *bolt.Tx) error { return TxQueue{tx, q.bucket}.DeleteThrough(owner, seq) })
}

// DeleteOwner removes all of owner's entries in one transaction.
func (q *Queue) DeleteOwner(owner string) error {
	return q.db.update(func(tx *bolt.Tx) error { return TxQueue{tx, q.bucket}.DeleteOwner(owner) })
}

// --- shared helpers ---

func clone(v []byte) []byte {
	out := make([]byte, len(v)) // non-nil even when empty: found != missing
	copy(out, v)
	return out
}

func opErr(op string, bucket []byte, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s %s %q: %w", op, bucket, key, err)
}

// createPath returns top-level bucket name's nested bucket owner, creating
// both as needed.
func createPath(tx *bolt.Tx, name []byte, owner string) (*bolt.Bucket, error) {
	top, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return top.CreateBucketIfNotExists([]byte(owner))
}

// deleteKey deletes key from top's nested bucket owner, and drops that
// bucket once empty so Owners lists only owners with data.
func deleteKey(tx *bolt.Tx, top *bolt.Bucket, owner string, key []byte) error {
	if !tx.Writable() {
		return berrors.ErrTxNotWritable
	}
	if top == nil {
		return nil
	}
	b := top.Bucket([]byte(owner))
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return err
	}
	if k, _ := b.Cursor().First(); k == nil {
		return top.DeleteBucket([]byte(owner))
	}
	return nil
}

func deleteOwner(tx *bolt.Tx, top *bolt.Bucket, owner string) error {
	if !tx.Writable() {
		return berrors.ErrTxNotWritable
	}
	if top == nil {
		return nil
	}
	if err := top.DeleteBucket([]byte(owner)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return nil
}

func count(b *bolt.Bucket) int {
	if b == nil {
		return 0
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// errStop ends an iteration early without being an error to the caller.
var errStop = errors.New("store: stop")

// walk calls fn for the entries of b whose keys start with prefix, in key
// order, beginning after key after (nil: from the start). A nil bucket has
// no entries. The slices fn gets are bbolt's: valid only inside the
// transaction, read-only.
func walk(b *bolt.Bucket, prefix, after []byte, fn func(k, v []byte) error) error {
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case after != nil:
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	case len(prefix) > 0:
		k, v = c.Seek(prefix)
	default:
		k, v = c.First()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// scanChunk is how many entries DB.scan reads per read transaction.
const scanChunk = 256

// scan is walk for the non-transactional methods. It reads scanChunk
// entries at a time in short read transactions and calls fn between them,
// outside any transaction. That lets fn write to the store (a write that
// grows the file while the same goroutine holds a read transaction
// deadlocks in bbolt) and keeps long iterations from stalling writers.
// fn gets copies.
func (db *DB) scan(locate func(*bolt.Tx) *bolt.Bucket, prefix []byte, fn func(k, v []byte) error) error {
	var after []byte
	for {
		var chunk [][2][]byte
		err := db.bolt.View(func(tx *bolt.Tx) error {
			return walk(locate(tx), prefix, after, func(k, v []byte) error {
				var val []byte
				if v != nil {
					val = clone(v)
				}
				chunk = append(chunk, [2][]byte{clone(k), val})
				if len(chunk) == scanChunk {
					return errStop
				}
				return nil
			})
		})
		if err != nil && err != errStop {
			return err
		}
		for _, e := range chunk {
			if err := fn(e[0], e[1]); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		after = chunk[len(chunk)-1][0]
	}
}
