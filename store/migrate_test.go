package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// appendV1 appends an entry in the schema version 1 archive layout (a
// sub-bucket per index: i, w, t, c, and the total under the key n), as
// xmppd up to that version wrote it.
func appendV1(tx *bolt.Tx, name, owner, id string, at time.Time, with string, value []byte) error {
	top, err := tx.CreateBucketIfNotExists(bucketName("archive", name))
	if err != nil {
		return err
	}
	ob, err := top.CreateBucketIfNotExists([]byte(owner))
	if err != nil {
		return err
	}
	sub := func(n string) *bolt.Bucket {
		b, e := ob.CreateBucketIfNotExists([]byte(n))
		if e != nil {
			err = e
		}
		return b
	}
	ids, wi, ti, cb := sub("i"), sub("w"), sub("t"), sub("c")
	if err != nil {
		return err
	}
	bare := bareOf(with)
	inc := func(b *bolt.Bucket, k []byte) error {
		n := uint64(0)
		if v := b.Get(k); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return b.Put(k, binary.BigEndian.AppendUint64(nil, n+1))
	}
	tk := binary.BigEndian.AppendUint64(nil, micros(at))
	for _, e := range []error{
		ids.Put([]byte(id), encodeRecord(at, with, value)),
		wi.Put(append(append([]byte(bare), 0), id...), []byte(with)),
		ti.Put(append(tk, id...), nil),
		inc(ob, []byte("n")),
		inc(cb, []byte(bare)),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

// TestArchiveMigrationV2 opens a store written in the version 1 layout,
// migrates it and checks that every kind of query (with, start/end,
// after/before ids, ids, counts) answers as before, with and without
// TimeOrderedIDs, and that appends and retention work on the result.
func TestArchiveMigrationV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	withs := []string{"bob@x/phone", "bob@x/desk", "carol@x"}
	const n = 3000 // several pages per index
	must(t, bdb.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(versionKey, []byte("1")); err != nil {
			return err
		}
		for i := range n {
			at := archBase.Add(time.Duration(i) * time.Second)
			for _, name := range []string{"mam/plain", "mam/timed"} {
				if err := appendV1(tx, name, "alice@x", timedID(at, i), at, withs[i%3], []byte("msg "+archID(i))); err != nil {
					return err
				}
			}
		}
		return appendV1(tx, "mam/plain", "bob@x", "B1", archBase, "alice@x/pc", []byte("hi"))
	}))
	must(t, bdb.Close())

	db, err := Open(path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	if db.SchemaVersion() != len(migrations) {
		t.Fatalf("schema version %d after migration", db.SchemaVersion())
	}
	db.TimeOrderedIDs("mam/timed", timedIDAt)
	must(t, db.View(func(tx *Tx) error {
		ob := tx.btx.Bucket(bucketName("archive", "mam/plain")).Bucket([]byte("alice@x"))
		for _, old := range []string{"i", "w", "t", "c"} {
			if ob.Bucket([]byte(old)) != nil {
				t.Errorf("sub-bucket %q left after migration", old)
			}
		}
		return nil
	}))

	id := func(i int) string { return timedID(archBase.Add(time.Duration(i)*time.Second), i) }
	sec := func(i int) time.Time { return archBase.Add(time.Duration(i) * time.Second) }
	every := func(from, to, step int) []string {
		var out []string
		for i := from; i <= to; i += step {
			out = append(out, id(i))
		}
		return out
	}
	for _, name := range []string{"mam/plain", "mam/timed"} {
		a := db.Archive(name)
		for _, tc := range []struct {
			name  string
			q     ArchiveQuery
			want  []string
			count int
		}{
			{"last page", ArchiveQuery{Limit: 3, Reverse: true}, every(n-3, n-1, 1), n},
			{"with bare", ArchiveQuery{With: "bob@x", Limit: 4}, []string{id(0), id(1), id(3), id(4)}, 2 * n / 3},
			{"with carol, last", ArchiveQuery{With: "carol@x", Limit: 2, Reverse: true}, every(n-4, n-1, 3), n / 3},
			{"with full", ArchiveQuery{With: "bob@x/desk", Limit: 2}, []string{id(1), id(4)}, -1},
			{"start end", ArchiveQuery{Start: sec(1000), End: sec(1004)}, every(1000, 1004, 1), -1},
			{"start end with", ArchiveQuery{Start: sec(1000), End: sec(1010), With: "carol@x"}, every(1001, 1010, 3), -1},
			{"after before", ArchiveQuery{AfterID: id(10), BeforeID: id(14)}, every(11, 13, 1), n},
			{"ids", ArchiveQuery{IDs: []string{id(7), id(2999)}}, []string{id(7), id(2999)}, 2},
		} {
			res, err := a.Query("alice@x", tc.q)
			must(t, err)
			if !slices.Equal(ids(res.Items), tc.want) || res.Count != tc.count {
				t.Errorf("%s %s: got %v count %d, want %v count %d", name, tc.name, ids(res.Items), res.Count, tc.want, tc.count)
			}
			if string(res.Items[0].Value) != "msg "+archID(idxOfTimed(res.Items[0].ID)) {
				t.Errorf("%s %s: value %q", name, tc.name, res.Items[0].Value)
			}
		}
		if l, _ := a.Len("alice@x"); l != n {
			t.Errorf("%s: Len = %d", name, l)
		}
		// New entries go on top of the migrated ones; retention removes
		// migrated ones with all their index keys.
		must(t, a.Append("alice@x", id(n), sec(n), "carol@x", []byte("msg "+archID(n))))
		if res, _ := a.Query("alice@x", ArchiveQuery{With: "carol@x", Limit: 1, Reverse: true}); res.Last != id(n) || res.Count != n/3+1 {
			t.Errorf("%s: after append: last %s count %d", name, res.Last, res.Count)
		}
		removed, err := a.DeleteBefore("alice@x", sec(2000))
		must(t, err)
		res, _ := a.Query("alice@x", ArchiveQuery{Limit: 1})
		if removed != 2000 || res.First != id(2000) || res.Count != n-2000+1 {
			t.Errorf("%s: DeleteBefore removed %d, first %s, count %d", name, removed, res.First, res.Count)
		}
		if res, _ := a.Query("alice@x", ArchiveQuery{Start: sec(0), End: sec(2001)}); !slices.Equal(ids(res.Items), every(2000, 2001, 1)) {
			t.Errorf("%s: time query after retention: %v", name, ids(res.Items))
		}
	}
	if it, err := db.Archive("mam/plain").Get("bob@x", "B1"); err != nil || string(it.Value) != "hi" {
		t.Errorf("second owner: %+v %v", it, err)
	}
	// The timed archive's migrated time keys went with the entries.
	must(t, db.View(func(tx *Tx) error {
		ob := tx.btx.Bucket(bucketName("archive", "mam/timed")).Bucket([]byte("alice@x"))
		c := ob.Cursor()
		k, _ := c.Seek([]byte{keyTime})
		if k != nil && k[0] == keyTime && binary.BigEndian.Uint64(k[1:]) < micros(sec(2000)) {
			t.Errorf("time key of a deleted entry left: %x", k)
		}
		return nil
	}))
}

// timedID is an id that encodes its time (µs, hex) like xmppd's, with i
// standing in for the random part; timedIDAt is its TimeOrderedIDs map.
func timedID(at time.Time, i int) string { return fmt.Sprintf("%016x-%08d", micros(at), i) }

func timedIDAt(t time.Time) string { return fmt.Sprintf("%016x-", micros(t)) }

func idxOfTimed(id string) int {
	var i int
	fmt.Sscanf(id[17:], "%d", &i)
	return i
}
