package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openT(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func tempDB(t testing.TB) *DB {
	t.Helper()
	return openT(t, filepath.Join(t.TempDir(), "xmppd.db"))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	K string
	V string
}

func kvEntries(t testing.TB, kv *KV, prefix string) []entry {
	t.Helper()
	var out []entry
	must(t, kv.ForEach(prefix, func(k string, v []byte) error {
		out = append(out, entry{k, string(v)})
		return nil
	}))
	return out
}

func mapEntries(t testing.TB, m *Map, owner string) []entry {
	t.Helper()
	var out []entry
	must(t, m.All(owner, func(k string, v []byte) error {
		out = append(out, entry{k, string(v)})
		return nil
	}))
	return out
}

type qentry struct {
	Seq uint64
	V   string
}

func queueEntries(t testing.TB, q *Queue, owner string) []qentry {
	t.Helper()
	var out []qentry
	must(t, q.List(owner, func(seq uint64, v []byte) error {
		out = append(out, qentry{seq, string(v)})
		return nil
	}))
	return out
}

func owners(t testing.TB, m *Map) []string {
	t.Helper()
	var out []string
	must(t, m.Owners(func(o string) error { out = append(out, o); return nil }))
	return out
}

func TestOpenCreatesDirAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "sub", "xmppd.db")
	db := openT(t, path)
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	if got := db.SchemaVersion(); got != len(migrations) || got < 1 {
		t.Errorf("SchemaVersion() = %d, want %d", got, len(migrations))
	}
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	must(t, err)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	size, err := db.Size()
	must(t, err)
	if size != fi.Size() || size == 0 {
		t.Errorf("Size() = %d, file is %d bytes", size, fi.Size())
	}
}

func TestKV(t *testing.T) {
	db := tempDB(t)
	kv := db.KV("test/kv")

	_, err := kv.Get("missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound naming the key", err)
	}
	must(t, kv.Put("b", []byte("2")))
	must(t, kv.Put("a", []byte("1")))
	must(t, kv.Put("a/x", []byte("ax")))
	must(t, kv.Put("empty", nil))

	got, err := kv.Get("a")
	must(t, err)
	if string(got) != "1" {
		t.Errorf("Get(a) = %q", got)
	}
	got[0] = 'X' // must be a private copy
	if again, _ := kv.Get("a"); string(again) != "1" {
		t.Errorf("Get returned shared memory: now %q", again)
	}
	if v, err := kv.Get("empty"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get(empty) = %q, %v; want non-nil empty value", v, err)
	}

	must(t, kv.Put("b", []byte("22"))) // overwrite
	if v, _ := kv.Get("b"); string(v) != "22" {
		t.Errorf("after overwrite Get(b) = %q", v)
	}

	want := []entry{{"a", "1"}, {"a/x", "ax"}, {"b", "22"}, {"empty", ""}}
	if got := kvEntries(t, kv, ""); !slices.Equal(got, want) {
		t.Errorf("ForEach(\"\") = %v, want %v", got, want)
	}
	if got := kvEntries(t, kv, "a"); !slices.Equal(got, want[:2]) {
		t.Errorf("ForEach(a) = %v, want %v", got, want[:2])
	}
	if got := kvEntries(t, kv, "zzz"); len(got) != 0 {
		t.Errorf("ForEach(zzz) = %v, want nothing", got)
	}
	if n, err := kv.Count(); err != nil || n != 4 {
		t.Errorf("Count() = %d, %v; want 4", n, err)
	}

	stop := errors.New("stop")
	calls := 0
	err = kv.ForEach("", func(string, []byte) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("ForEach with failing fn: err %v after %d calls, want stop after 1", err, calls)
	}

	must(t, kv.Delete("a"))
	must(t, kv.Delete("a")) // missing: no error
	must(t, kv.Delete("never-existed"))
	if _, err := kv.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if n, _ := kv.Count(); n != 3 {
		t.Errorf("Count after Delete = %d, want 3", n)
	}

	// Operations on a store that was never written are empty, not errors.
	other := db.KV("test/untouched")
	if n, err := other.Count(); n != 0 || err != nil {
		t.Errorf("untouched Count = %d, %v", n, err)
	}
	must(t, other.Delete("x"))
	if got := kvEntries(t, other, ""); len(got) != 0 {
		t.Errorf("untouched ForEach = %v", got)
	}
}

func TestKVBadInputIsAnError(t *testing.T) {
	db := tempDB(t)
	kv := db.KV("test/kv")
	if err := kv.Put("", []byte("v")); err == nil {
		t.Error("Put with empty key succeeded")
	}
	err := kv.Put(strings.Repeat("k", 40000), []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "kv:test/kv") {
		t.Errorf("Put with oversized key: %v, want an error naming the store", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("KV(\"\") did not panic")
		}
	}()
	db.KV("")
}

// ForEach reads in chunks of scanChunk; the callback may write to the
// store (bbolt would deadlock if it ran inside the read transaction and
// the write grew the file).
func TestKVForEachChunksAndWritesInCallback(t *testing.T) {
	db := tempDB(t)
	kv := db.KV("test/kv")
	var want []entry
	must(t, db.Update(func(tx *Tx) error {
		for i := range 3*scanChunk + 7 {
			k := fmt.Sprintf("p/%05d", i)
			want = append(want, entry{k, k})
			if err := tx.KV("test/kv").Put(k, []byte(k)); err != nil {
				return err
			}
		}
		return tx.KV("test/kv").Put("q/other", []byte("x"))
	}))
	var got []entry
	big := bytes.Repeat([]byte("x"), 1<<20) // grows the file: bbolt remaps
	must(t, kv.ForEach("p/", func(k string, v []byte) error {
		got = append(got, entry{k, string(v)})
		if len(got)%scanChunk == 1 {
			return kv.Put("z/"+k, big)
		}
		return nil
	}))
	if !slices.Equal(got, want) {
		t.Fatalf("ForEach returned %d entries, want %d in order", len(got), len(want))
	}
	if n, _ := kv.Count(); n != len(want)+1+4 {
		t.Errorf("Count = %d, want %d", n, len(want)+1+4)
	}
}

func TestStoresOfDifferentKindsAndNamesAreSeparate(t *testing.T) {
	db := tempDB(t)
	must(t, db.KV("x").Put("k", []byte("kv")))
	must(t, db.KV("y").Put("k", []byte("kv-y")))
	must(t, db.Map("x").Put("k", "k", []byte("map")))
	_, err := db.Queue("x").Append("k", []byte("queue"))
	must(t, err)

	if v, _ := db.KV("x").Get("k"); string(v) != "kv" {
		t.Errorf("KV x = %q", v)
	}
	if v, _ := db.KV("y").Get("k"); string(v) != "kv-y" {
		t.Errorf("KV y = %q", v)
	}
	if n, _ := db.KV("x").Count(); n != 1 {
		t.Errorf("KV x count = %d, want 1", n)
	}
	if v, _ := db.Map("x").Get("k", "k"); string(v) != "map" {
		t.Errorf("Map x = %q", v)
	}
	if got := queueEntries(t, db.Queue("x"), "k"); len(got) != 1 || got[0].V != "queue" {
		t.Errorf("Queue x = %v", got)
	}
	// A store named like the meta bucket does not touch it.
	must(t, db.KV("meta").Put("schema_version", []byte("999")))
	must(t, db.Close())
	db = openT(t, db.Path())
	if db.SchemaVersion() != len(migrations) {
		t.Errorf("schema version became %d", db.SchemaVersion())
	}
}

func TestMap(t *testing.T) {
	db := tempDB(t)
	m := db.Map("test/roster")

	if _, err := m.Get("a", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty map: %v", err)
	}
	// Owners "a" and "ab", keys that would collide if owner and key were
	// simply concatenated.
	must(t, m.Put("a", "b/c", []byte("a:b/c")))
	must(t, m.Put("a", "z", []byte("a:z")))
	must(t, m.Put("a", "b", []byte("a:b")))
	must(t, m.Put("ab", "/c", []byte("ab:/c")))
	must(t, m.Put("ab", "c", []byte("ab:c")))
	must(t, m.Put("b", "c", []byte("b:c")))

	if v, err := m.Get("a", "b"); err != nil || string(v) != "a:b" {
		t.Errorf("Get(a, b) = %q, %v", v, err)
	}
	if _, err := m.Get("a", "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(a, c) leaked from owner ab: %v", err)
	}
	if got, want := mapEntries(t, m, "a"), []entry{{"b", "a:b"}, {"b/c", "a:b/c"}, {"z", "a:z"}}; !slices.Equal(got, want) {
		t.Errorf("All(a) = %v, want %v", got, want)
	}
	if got, want := mapEntries(t, m, "ab"), []entry{{"/c", "ab:/c"}, {"c", "ab:c"}}; !slices.Equal(got, want) {
		t.Errorf("All(ab) = %v, want %v", got, want)
	}
	if got := mapEntries(t, m, "nobody"); len(got) != 0 {
		t.Errorf("All(nobody) = %v", got)
	}
	if got, want := owners(t, m), []string{"a", "ab", "b"}; !slices.Equal(got, want) {
		t.Errorf("Owners = %v, want %v", got, want)
	}

	must(t, m.DeleteOwner("a"))
	must(t, m.DeleteOwner("a")) // missing: no error
	if got := mapEntries(t, m, "a"); len(got) != 0 {
		t.Errorf("All(a) after DeleteOwner = %v", got)
	}
	if got := mapEntries(t, m, "ab"); len(got) != 2 {
		t.Errorf("DeleteOwner(a) touched ab: %v", got)
	}

	must(t, m.Delete("b", "c"))
	must(t, m.Delete("b", "c"))      // missing key
	must(t, m.Delete("nobody", "c")) // missing owner
	if got, want := owners(t, m), []string{"ab"}; !slices.Equal(got, want) {
		t.Errorf("Owners after deleting b's last key = %v, want %v", got, want)
	}
	must(t, m.Delete("ab", "c"))
	if got, want := mapEntries(t, m, "ab"), []entry{{"/c", "ab:/c"}}; !slices.Equal(got, want) {
		t.Errorf("All(ab) after Delete = %v, want %v", got, want)
	}

	stop := errors.New("stop")
	if err := m.Owners(func(string) error { return stop }); err != stop {
		t.Errorf("Owners did not return fn's error: %v", err)
	}
	if err := m.All("ab", func(string, []byte) error { return stop }); err != stop {
		t.Errorf("All did not return fn's error: %v", err)
	}
	if err := m.Put("", "k", []byte("v")); err == nil {
		t.Error("Put with empty owner succeeded")
	}
}

func TestQueue(t *testing.T) {
	db := tempDB(t)
	q := db.Queue("test/offline")

	if n, err := q.Len("a"); n != 0 || err != nil {
		t.Errorf("Len on empty queue = %d, %v", n, err)
	}
	var last uint64
	appendT := func(owner, v string) uint64 {
		t.Helper()
		seq, err := q.Append(owner, []byte(v))
		must(t, err)
		if seq <= last {
			t.Fatalf("Append returned seq %d after %d", seq, last)
		}
		last = seq
		return seq
	}
	a1 := appendT("a", "a1")
	ab1 := appendT("ab", "ab1")
	a2 := appendT("a", "a2")
	a3 := appendT("a", "a3")
	ab2 := appendT("ab", "ab2")

	if got, want := queueEntries(t, q, "a"), []qentry{{a1, "a1"}, {a2, "a2"}, {a3, "a3"}}; !slices.Equal(got, want) {
		t.Errorf("List(a) = %v, want %v", got, want)
	}
	if got, want := queueEntries(t, q, "ab"), []qentry{{ab1, "ab1"}, {ab2, "ab2"}}; !slices.Equal(got, want) {
		t.Errorf("List(ab) = %v, want %v", got, want)
	}
	if n, _ := q.Len("a"); n != 3 {
		t.Errorf("Len(a) = %d, want 3", n)
	}

	must(t, q.DeleteThrough("a", a2))
	if got, want := queueEntries(t, q, "a"), []qentry{{a3, "a3"}}; !slices.Equal(got, want) {
		t.Errorf("List(a) after DeleteThrough(%d) = %v, want %v", a2, got, want)
	}
	if n, _ := q.Len("ab"); n != 2 {
		t.Errorf("DeleteThrough(a) touched ab: Len(ab) = %d", n)
	}
	must(t, q.DeleteThrough("nobody", 100))
	must(t, q.DeleteThrough("a", a3))
	if n, _ := q.Len("a"); n != 0 {
		t.Errorf("Len(a) after deleting through the last entry = %d", n)
	}

	must(t, q.DeleteOwner("ab"))
	must(t, q.DeleteOwner("ab"))
	if n, _ := q.Len("ab"); n != 0 {
		t.Errorf("Len(ab) after DeleteOwner = %d", n)
	}
	// Sequence numbers are never reused, even for a deleted owner.
	if seq := appendT("ab", "ab3"); seq <= ab2 {
		t.Errorf("seq after DeleteOwner = %d, want > %d", seq, ab2)
	}

	// More entries than one scan chunk, listed in order.
	var want []qentry
	must(t, db.Update(func(tx *Tx) error {
		for i := range scanChunk + 10 {
			v := fmt.Sprint(i)
			seq, err := tx.Queue("test/offline").Append("big", []byte(v))
			if err != nil {
				return err
			}
			want = append(want, qentry{seq, v})
		}
		return nil
	}))
	if got := queueEntries(t, q, "big"); !slices.Equal(got, want) {
		t.Errorf("List(big) returned %d entries, want %d in order", len(got), len(want))
	}
	stop := errors.New("stop")
	if err := q.List("big", func(uint64, []byte) error { return stop }); err != stop {
		t.Errorf("List did not return fn's error: %v", err)
	}
}

func TestQueueConcurrentAppend(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "xmppd.db"), Options{}) // real fsyncs
	must(t, err)
	defer db.Close()
	q := db.Queue("test/offline")
	const writers, each = 50, 10
	seqs := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				seq, err := q.Append("owner", fmt.Appendf(nil, "%d/%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], seq)
			}
		})
	}
	wg.Wait()

	byVal := map[string]uint64{}
	seen := map[uint64]bool{}
	for w, ss := range seqs {
		if !slices.IsSorted(ss) {
			t.Errorf("writer %d got decreasing seqs %v", w, ss)
		}
		for i, s := range ss {
			if seen[s] {
				t.Errorf("seq %d handed out twice", s)
			}
			seen[s] = true
			byVal[fmt.Sprintf("%d/%d", w, i)] = s
		}
	}
	got := queueEntries(t, q, "owner")
	if len(got) != writers*each {
		t.Fatalf("List has %d entries, want %d", len(got), writers*each)
	}
	for i, e := range got {
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("List out of order at %d: %d after %d", i, e.Seq, got[i-1].Seq)
		}
		if byVal[e.V] != e.Seq {
			t.Errorf("entry %q stored at seq %d, Append returned %d", e.V, e.Seq, byVal[e.V])
		}
	}
}

func TestTransactions(t *testing.T) {
	db := tempDB(t)
	boom := errors.New("boom")

	// A failing Update leaves nothing behind in any store.
	err := db.Update(func(tx *Tx) error {
		must(t, tx.KV("acct/users").Put("alice", []byte("u")))
		must(t, tx.Map("roster/items").Put("alice", "bob", []byte("r")))
		if _, err := tx.Queue("offline/msgs").Append("alice", []byte("m")); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if _, err := db.KV("acct/users").Get("alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rolled-back KV write is visible: %v", err)
	}
	if n, _ := db.Queue("offline/msgs").Len("alice"); n != 0 {
		t.Errorf("rolled-back Append is visible")
	}

	// Set up a user everywhere, then delete them everywhere atomically.
	must(t, db.Update(func(tx *Tx) error {
		must(t, tx.KV("acct/users").Put("alice", []byte("u")))
		must(t, tx.KV("acct/users").Put("bob", []byte("u")))
		must(t, tx.Map("roster/items").Put("alice", "bob", []byte("r")))
		must(t, tx.Map("roster/items").Put("bob", "alice", []byte("r")))
		for range 3 {
			if _, err := tx.Queue("offline/msgs").Append("alice", []byte("m")); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, db.Update(func(tx *Tx) error {
		if err := tx.KV("acct/users").Delete("alice"); err != nil {
			return err
		}
		if err := tx.Map("roster/items").DeleteOwner("alice"); err != nil {
			return err
		}
		if err := tx.Map("roster/items").Delete("bob", "alice"); err != nil {
			return err
		}
		if n, _ := tx.Queue("offline/msgs").Len("alice"); n != 3 {
			t.Errorf("Len inside tx = %d, want 3", n)
		}
		return tx.Queue("offline/msgs").DeleteOwner("alice")
	}))

	// View sees the result through the tx forms of every read method.
	must(t, db.View(func(tx *Tx) error {
		if _, err := tx.KV("acct/users").Get("alice"); !errors.Is(err, ErrNotFound) {
			t.Errorf("alice still in users: %v", err)
		}
		if v, err := tx.KV("acct/users").Get("bob"); err != nil || string(v) != "u" {
			t.Errorf("bob = %q, %v", v, err)
		}
		if n, _ := tx.KV("acct/users").Count(); n != 1 {
			t.Errorf("users Count = %d", n)
		}
		var keys []string
		must(t, tx.KV("acct/users").ForEach("", func(k string, v []byte) error { keys = append(keys, k); return nil }))
		if !slices.Equal(keys, []string{"bob"}) {
			t.Errorf("users = %v", keys)
		}
		var own []string
		must(t, tx.Map("roster/items").Owners(func(o string) error { own = append(own, o); return nil }))
		if len(own) != 0 {
			t.Errorf("roster owners = %v, want none", own)
		}
		if _, err := tx.Map("roster/items").Get("bob", "alice"); !errors.Is(err, ErrNotFound) {
			t.Errorf("bob's roster still has alice: %v", err)
		}
		must(t, tx.Map("roster/items").All("bob", func(k string, _ []byte) error { t.Errorf("bob has %q", k); return nil }))
		must(t, tx.Queue("offline/msgs").List("alice", func(s uint64, _ []byte) error { t.Errorf("alice has %d", s); return nil }))
		if n, _ := tx.Queue("offline/msgs").Len("alice"); n != 0 {
			t.Errorf("alice queue Len = %d", n)
		}
		return nil
	}))

	// Writes inside View fail instead of silently doing nothing.
	must(t, db.View(func(tx *Tx) error {
		if tx.KV("acct/users").Put("x", nil) == nil {
			t.Error("Put inside View succeeded")
		}
		if tx.KV("acct/users").Delete("bob") == nil {
			t.Error("Delete inside View succeeded")
		}
		if tx.Map("roster/items").DeleteOwner("bob") == nil {
			t.Error("Map.DeleteOwner inside View succeeded")
		}
		if _, err := tx.Queue("offline/msgs").Append("a", nil); err == nil {
			t.Error("Append inside View succeeded")
		}
		if tx.Queue("offline/msgs").DeleteThrough("a", 1) == nil {
			t.Error("DeleteThrough inside View succeeded")
		}
		return nil
	}))
	// And TxQueue.DeleteThrough works inside Update.
	must(t, db.Update(func(tx *Tx) error {
		q := tx.Queue("offline/msgs")
		s1, _ := q.Append("c", []byte("1"))
		s2, _ := q.Append("c", []byte("2"))
		if err := q.DeleteThrough("c", s1); err != nil {
			return err
		}
		var got []uint64
		must(t, q.List("c", func(s uint64, _ []byte) error { got = append(got, s); return nil }))
		if !slices.Equal(got, []uint64{s2}) {
			t.Errorf("after DeleteThrough in tx: %v, want [%d]", got, s2)
		}
		return nil
	}))
}

func TestPersistenceAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db, err := Open(path, Options{})
	must(t, err)
	must(t, db.KV("k").Put("key", []byte("v")))
	must(t, db.Map("m").Put("o", "key", []byte("mv")))
	seq, err := db.Queue("q").Append("o", []byte("qv"))
	must(t, err)
	must(t, db.Close())

	db, err = Open(path, Options{})
	must(t, err)
	defer db.Close()
	if v, err := db.KV("k").Get("key"); err != nil || string(v) != "v" {
		t.Errorf("KV after reopen = %q, %v", v, err)
	}
	if v, err := db.Map("m").Get("o", "key"); err != nil || string(v) != "mv" {
		t.Errorf("Map after reopen = %q, %v", v, err)
	}
	if got := queueEntries(t, db.Queue("q"), "o"); !slices.Equal(got, []qentry{{seq, "qv"}}) {
		t.Errorf("Queue after reopen = %v", got)
	}
	// The counter survives too.
	if next, _ := db.Queue("q").Append("o", nil); next <= seq {
		t.Errorf("seq after reopen = %d, want > %d", next, seq)
	}
}

func TestOpenTwiceIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db := openT(t, path)

	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "server seems to be running") {
		t.Errorf("error %q should name the file and say the server seems to be running", msg)
	}
	if elapsed > time.Second {
		t.Errorf("Open waited %v with a 200ms LockTimeout", elapsed)
	}

	// Read-only opens are refused too: the writer holds an exclusive lock.
	if _, err := Open(path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("read-only Open of a locked file: %v, want ErrLocked", err)
	}

	// Default timeout is about a second.
	start = time.Now()
	_, err = Open(path, Options{})
	elapsed = time.Since(start)
	if !errors.Is(err, ErrLocked) || elapsed < 800*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("Open with default timeout: %v after %v, want ErrLocked after ~1s", err, elapsed)
	}

	// Once the holder closes, Open succeeds.
	must(t, db.Close())
	db2, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	must(t, err)
	must(t, db2.Close())
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db := openT(t, path)
	must(t, db.KV("k").Put("a", []byte("1")))
	must(t, db.Close())

	ro, err := Open(path, Options{ReadOnly: true})
	must(t, err)
	defer ro.Close()
	if v, err := ro.KV("k").Get("a"); err != nil || string(v) != "1" {
		t.Errorf("Get on read-only db = %q, %v", v, err)
	}
	if err := ro.KV("k").Put("b", nil); err == nil {
		t.Error("Put on read-only db succeeded")
	}
	// Several read-only opens may share the file.
	ro2, err := Open(path, Options{ReadOnly: true})
	must(t, err)
	must(t, ro2.Close())

	missing := filepath.Join(t.TempDir(), "nope.db")
	if _, err := Open(missing, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("read-only Open of a missing file: %v, want an error naming it", err)
	}
}

func TestOpenRejectsNonStoreFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	content := bytes.Repeat([]byte("not a database\n"), 1000)
	must(t, os.WriteFile(garbage, content, 0o600))
	_, err := Open(garbage, Options{})
	if err == nil || !strings.Contains(err.Error(), garbage) || !strings.Contains(err.Error(), "not an xmppd database") {
		t.Errorf("Open(garbage) = %v, want a clear error naming the file", err)
	}
	if after, _ := os.ReadFile(garbage); !bytes.Equal(after, content) {
		t.Error("Open modified the garbage file")
	}

	// A truncated store (half-copied, damaged disk) is refused with an
	// error; bbolt alone would read past the end of the mapping and crash.
	good := filepath.Join(dir, "good.db")
	db := openT(t, good)
	fill(t, db)
	var used int // bytes below the high-water mark; the file may be longer
	must(t, db.bolt.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil }))
	must(t, db.Close())
	whole, err := os.ReadFile(good)
	must(t, err)
	for _, n := range []int{used / 2, used - 4096, 8192} {
		cut := filepath.Join(dir, fmt.Sprintf("cut%d.db", n))
		must(t, os.WriteFile(cut, whole[:n], 0o600))
		if _, err := Open(cut, Options{}); err == nil || !strings.Contains(err.Error(), cut) {
			t.Errorf("Open of a file cut to %d of %d used bytes: %v, want an error naming it", n, used, err)
		}
	}

	// A bbolt file from some other program is not adopted.
	foreign := filepath.Join(dir, "foreign.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	must(t, err)
	must(t, bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }))
	must(t, bdb.Close())
	if _, err := Open(foreign, Options{}); err == nil || !strings.Contains(err.Error(), foreign) || !strings.Contains(err.Error(), "not an xmppd database") {
		t.Errorf("Open(foreign bbolt) = %v, want a clear error naming the file", err)
	}
}

func setSchemaVersion(t *testing.T, path string, v string) {
	t.Helper()
	db := openT(t, path)
	must(t, db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(versionKey, []byte(v)) }))
	must(t, db.Close())
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	setSchemaVersion(t, path, "99")
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of schema 99: %v, want a clear error naming the file", err)
	}
}

func TestMigrationsRunAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db := openT(t, path)
	must(t, db.KV("old").Put("k", []byte("v")))
	must(t, db.Close())

	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(slices.Clip(saved), func(tx *bolt.Tx) error {
		// e.g. move a store to a new name
		b := tx.Bucket([]byte("kv:old"))
		nb, err := tx.CreateBucket([]byte("kv:new"))
		if err != nil {
			return err
		}
		if err := b.ForEach(nb.Put); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("kv:old"))
	})

	// A read-only Open cannot migrate and says so.
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "migrat") {
		t.Errorf("read-only Open of an old schema: %v", err)
	}
	db = openT(t, path)
	if db.SchemaVersion() != len(saved)+1 {
		t.Errorf("SchemaVersion after migration = %d", db.SchemaVersion())
	}
	if v, err := db.KV("new").Get("k"); err != nil || string(v) != "v" {
		t.Errorf("migrated value = %q, %v", v, err)
	}
	if n, _ := db.KV("old").Count(); n != 0 {
		t.Errorf("old store still has %d keys", n)
	}
}

func TestClosedDBReturnsErrors(t *testing.T) {
	db := tempDB(t)
	must(t, db.Close())
	if err := db.KV("k").Put("a", nil); err == nil {
		t.Error("Put after Close succeeded")
	}
	if _, err := db.Queue("q").Append("a", nil); err == nil {
		t.Error("Append after Close succeeded")
	}
	if _, err := db.KV("k").Get("a"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Close: %v, want a real error", err)
	}
}

// TxMap.Before walks one owner's keys below a bound, newest first.
func TestMapBefore(t *testing.T) {
	db := tempDB(t)
	m := db.Map("test/before")
	for _, k := range []string{"a", "b", "c", "d"} {
		must(t, m.Put("o", k, []byte("v"+k)))
	}
	must(t, m.Put("p", "a", []byte("other owner")))
	before := func(owner, bound string, limit int) (got []string) {
		t.Helper()
		stop := errors.New("stop")
		err := db.View(func(tx *Tx) error {
			return tx.Map("test/before").Before(owner, bound, func(k string, v []byte) error {
				got = append(got, k+"="+string(v))
				if len(got) == limit {
					return stop
				}
				return nil
			})
		})
		if err != nil && err != stop {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []struct {
		owner, bound string
		limit        int
		want         []string
	}{
		{"o", "c", 0, []string{"b=vb", "a=va"}},
		{"o", "bb", 0, []string{"b=vb", "a=va"}},
		{"o", "\xff", 0, []string{"d=vd", "c=vc", "b=vb", "a=va"}},
		{"o", "\xff", 1, []string{"d=vd"}},
		{"o", "a", 0, nil},
		{"nobody", "z", 0, nil},
	} {
		if got := before(c.owner, c.bound, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("Before(%q, %q) = %v, want %v", c.owner, c.bound, got, c.want)
		}
	}
}

func TestMapDeleteRange(t *testing.T) {
	db := tempDB(t)
	const name = "test/range"
	m := db.Map(name)
	for _, k := range []string{"a", "b\x00", "b\x001", "b\x002", "b\x003", "b/x\x001", "c"} {
		must(t, m.Put("o", k, []byte("v"+k)))
	}
	must(t, m.Put("p", "b\x001", []byte("other owner")))
	keys := func(owner string) (got []string) {
		t.Helper()
		must(t, db.View(func(tx *Tx) error {
			return tx.Map(name).All(owner, func(k string, _ []byte) error { got = append(got, k); return nil })
		}))
		return got
	}
	del := func(owner, from, to string) int {
		t.Helper()
		var n int
		must(t, db.Update(func(tx *Tx) error {
			var err error
			n, err = tx.Map(name).DeleteRange(owner, from, to)
			return err
		}))
		return n
	}
	if n := del("o", "b\x00", "b\x002\x00"); n != 3 {
		t.Errorf("deleted %d, want 3", n)
	}
	if got := keys("o"); !slices.Equal(got, []string{"a", "b\x003", "b/x\x001", "c"}) {
		t.Errorf("after DeleteRange: %q", got)
	}
	if n := del("o", "x", "y"); n != 0 {
		t.Errorf("deleted %d from an empty range", n)
	}
	if n := del("nobody", "", "\xff"); n != 0 {
		t.Errorf("deleted %d of nobody's", n)
	}
	if got := keys("p"); len(got) != 1 {
		t.Errorf("another owner's keys: %q", got)
	}
	// The last key gone, the owner is gone.
	if n := del("p", "", "\xff"); n != 1 {
		t.Errorf("deleted %d of p's, want 1", n)
	}
	var owners []string
	must(t, db.View(func(tx *Tx) error {
		return tx.Map(name).Owners(func(o string) error { owners = append(owners, o); return nil })
	}))
	if !slices.Equal(owners, []string{"o"}) {
		t.Errorf("owners %q", owners)
	}
	err := db.View(func(tx *Tx) error { _, err := tx.Map(name).DeleteRange("o", "", "\xff"); return err })
	if err == nil {
		t.Error("DeleteRange in a read transaction")
	}
}
