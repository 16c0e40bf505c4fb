package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var archBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func archID(i int) string { return fmt.Sprintf("%010d", i) }

// fillArchive appends n entries for owner: entry i at archBase+i s, with
// alternating counterparts bob/phone, bob/desk and carol.
func fillArchive(t testing.TB, db *DB, name, owner string, n int) {
	t.Helper()
	withs := []string{"bob@x/phone", "bob@x/desk", "carol@x"}
	const chunk = 10000
	for start := 0; start < n; start += chunk {
		must(t, db.Update(func(tx *Tx) error {
			a := tx.Archive(name)
			for i := start; i < min(start+chunk, n); i++ {
				if err := a.Append(owner, archID(i), archBase.Add(time.Duration(i)*time.Second), withs[i%3], []byte("msg "+archID(i))); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// archiveModes runs fn on a fresh store in which the archive name keeps a
// time index, and on one in which it declares TimeOrderedIDs (archIDAt).
func archiveModes(t *testing.T, name string, fn func(t *testing.T, db *DB)) {
	for _, timed := range []bool{false, true} {
		mode := "time index"
		if timed {
			mode = "time-ordered ids"
		}
		t.Run(mode, func(t *testing.T) {
			db := tempDB(t)
			if timed {
				db.TimeOrderedIDs(name, archIDAt)
			}
			fn(t, db)
		})
	}
}

// archIDAt maps a time to the smallest archID of an entry at or after it
// (fillArchive puts entry i at archBase + i s).
func archIDAt(t time.Time) string {
	d := t.Sub(archBase)
	if d <= 0 {
		return archID(0)
	}
	return archID(int((d + time.Second - 1) / time.Second))
}

func ids(items []ArchiveItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func idRange(from, to, step int) []string {
	var out []string
	for i := from; i <= to; i += step {
		out = append(out, archID(i))
	}
	return out
}

func TestArchiveAppendGetReplace(t *testing.T) {
	db := tempDB(t)
	a := db.Archive("mam/test")
	at := time.Date(2025, 1, 2, 3, 4, 5, 6789000, time.FixedZone("x", 3600))
	must(t, a.Append("alice@x", "A1", at, "bob@x/phone", []byte("<message/>")))
	it, err := a.Get("alice@x", "A1")
	must(t, err)
	if !it.At.Equal(at) || it.At.Location() != time.UTC || it.With != "bob@x/phone" || string(it.Value) != "<message/>" {
		t.Fatalf("Get = %+v", it)
	}
	if err := a.Append("alice@x", "A1", at, "bob@x", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate Append: %v, want ErrExists", err)
	}
	if err := a.Append("alice@x", "", at, "bob@x", nil); err == nil {
		t.Fatal("empty id accepted")
	}
	// The same id in another owner's archive is fine.
	must(t, a.Append("bob@x", "A1", at, "alice@x/pc", []byte("other")))
	if _, err := a.Get("alice@x", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	must(t, a.Replace("alice@x", "A1", []byte("<tombstone/>")))
	it, _ = a.Get("alice@x", "A1")
	if string(it.Value) != "<tombstone/>" || it.With != "bob@x/phone" || !it.At.Equal(at) {
		t.Fatalf("after Replace: %+v", it)
	}
	if err := a.Replace("alice@x", "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace missing: %v", err)
	}
	if n, _ := a.Len("alice@x"); n != 1 {
		t.Fatalf("Len = %d", n)
	}
}

func TestArchiveQuery(t *testing.T) { archiveModes(t, "mam/q", testArchiveQuery) }

func testArchiveQuery(t *testing.T, db *DB) {
	fillArchive(t, db, "mam/q", "alice@x", 30)
	a := db.Archive("mam/q")
	sec := func(i int) time.Time { return archBase.Add(time.Duration(i) * time.Second) }

	for _, tc := range []struct {
		name     string
		q        ArchiveQuery
		want     []string
		complete bool
		count    int
	}{
		{"all", ArchiveQuery{}, idRange(0, 29, 1), true, 30},
		{"first page", ArchiveQuery{Limit: 10}, idRange(0, 9, 1), false, 30},
		{"exactly all", ArchiveQuery{Limit: 30}, idRange(0, 29, 1), true, 30},
		{"after", ArchiveQuery{AfterID: archID(9), Limit: 10}, idRange(10, 19, 1), false, 30},
		{"after, last page", ArchiveQuery{AfterID: archID(19), Limit: 10}, idRange(20, 29, 1), true, 30},
		{"last page", ArchiveQuery{Limit: 10, Reverse: true}, idRange(20, 29, 1), false, 30},
		{"before", ArchiveQuery{BeforeID: archID(20), Limit: 10, Reverse: true}, idRange(10, 19, 1), false, 30},
		{"before, first page", ArchiveQuery{BeforeID: archID(10), Limit: 10, Reverse: true}, idRange(0, 9, 1), true, 30},
		{"between ids", ArchiveQuery{AfterID: archID(3), BeforeID: archID(7)}, idRange(4, 6, 1), true, 30},
		{"with bare", ArchiveQuery{With: "bob@x"}, slices.DeleteFunc(idRange(0, 29, 1), func(s string) bool { return idx(s)%3 == 2 }), true, 20},
		{"with full", ArchiveQuery{With: "bob@x/desk"}, idRange(1, 28, 3), true, -1},
		{"with full, page", ArchiveQuery{With: "bob@x/desk", Limit: 3}, idRange(1, 7, 3), false, -1},
		{"with other, last page", ArchiveQuery{With: "carol@x", Limit: 2, Reverse: true}, idRange(26, 29, 3), false, 10},
		{"with unknown", ArchiveQuery{With: "dave@x"}, nil, true, 0},
		{"start", ArchiveQuery{Start: sec(25)}, idRange(25, 29, 1), true, -1},
		{"end", ArchiveQuery{End: sec(4)}, idRange(0, 4, 1), true, -1},
		{"start end", ArchiveQuery{Start: sec(5), End: sec(8)}, idRange(5, 8, 1), true, -1},
		{"start between", ArchiveQuery{Start: sec(5).Add(time.Millisecond), End: sec(8).Add(-time.Millisecond)}, idRange(6, 7, 1), true, -1},
		{"start after all", ArchiveQuery{Start: sec(100)}, nil, true, -1},
		{"end before all", ArchiveQuery{End: sec(-5)}, nil, true, -1},
		{"start before epoch", ArchiveQuery{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 2}, idRange(0, 1, 1), false, -1},
		{"start end with, reverse", ArchiveQuery{Start: sec(5), End: sec(20), With: "carol@x", Limit: 2, Reverse: true}, []string{archID(17), archID(20)}, false, -1},
		{"ids", ArchiveQuery{IDs: []string{archID(7), archID(2), archID(7)}}, []string{archID(2), archID(7)}, true, 2},
		{"ids limited", ArchiveQuery{IDs: []string{archID(7), archID(2), archID(9)}, Limit: 2, Reverse: true}, []string{archID(7), archID(9)}, false, 3},
		{"ids and with", ArchiveQuery{IDs: []string{archID(0), archID(2)}, With: "carol@x"}, []string{archID(2)}, true, 1},
		{"after beyond end", ArchiveQuery{AfterID: archID(29)}, nil, true, 30},
		{"empty range", ArchiveQuery{AfterID: archID(5), BeforeID: archID(6)}, nil, true, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.Query("alice@x", tc.q)
			must(t, err)
			if got := ids(res.Items); !slices.Equal(got, tc.want) {
				t.Fatalf("ids = %v, want %v", got, tc.want)
			}
			if res.Complete != tc.complete {
				t.Errorf("complete = %v, want %v", res.Complete, tc.complete)
			}
			if res.Count != tc.count {
				t.Errorf("count = %d, want %d", res.Count, tc.count)
			}
			if len(tc.want) > 0 && (res.First != tc.want[0] || res.Last != tc.want[len(tc.want)-1]) {
				t.Errorf("first/last = %s/%s", res.First, res.Last)
			}
			for _, it := range res.Items {
				if string(it.Value) != "msg "+it.ID || !it.At.Equal(sec(idx(it.ID))) {
					t.Errorf("item %s = %+v", it.ID, it)
				}
			}
		})
	}

	for _, q := range []ArchiveQuery{{AfterID: "nope"}, {BeforeID: "nope"}, {IDs: []string{archID(1), "nope"}}} {
		if _, err := a.Query("alice@x", q); !errors.Is(err, ErrNotFound) {
			t.Errorf("query %+v: %v, want ErrNotFound", q, err)
		}
	}
	// Another owner's archive is separate, and empty.
	res, err := a.Query("bob@x", ArchiveQuery{})
	must(t, err)
	if len(res.Items) != 0 || !res.Complete || res.Count != 0 {
		t.Fatalf("bob's archive: %+v", res)
	}
	if _, err := a.Query("bob@x", ArchiveQuery{AfterID: archID(1)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after-id of another archive: %v", err)
	}
}

func idx(id string) int {
	var n int
	fmt.Sscanf(id, "%d", &n)
	return n
}

func TestArchivePagingWalksEverythingOnce(t *testing.T) {
	archiveModes(t, "mam/p", testArchivePagingWalksEverythingOnce)
}

func testArchivePagingWalksEverythingOnce(t *testing.T, db *DB) {
	fillArchive(t, db, "mam/p", "alice@x", 95)
	a := db.Archive("mam/p")
	for _, with := range []string{"", "bob@x", "bob@x/phone"} {
		// Forwards with after.
		var fwd []string
		q := ArchiveQuery{With: with, Limit: 7}
		for {
			res, err := a.Query("alice@x", q)
			must(t, err)
			fwd = append(fwd, ids(res.Items)...)
			if res.Complete {
				break
			}
			q.AfterID = res.Last
		}
		// Backwards with before, starting at the last page.
		var back []string
		q = ArchiveQuery{With: with, Limit: 7, Reverse: true}
		for {
			res, err := a.Query("alice@x", q)
			must(t, err)
			back = append(ids(res.Items), back...)
			if res.Complete {
				break
			}
			q.BeforeID = res.First
		}
		all, _ := a.Query("alice@x", ArchiveQuery{With: with})
		if !slices.Equal(fwd, ids(all.Items)) || !slices.Equal(back, ids(all.Items)) || len(fwd) == 0 {
			t.Fatalf("with %q: forward %d, backward %d, all %d entries differ", with, len(fwd), len(back), len(all.Items))
		}
	}
}

// TestArchiveLastPageDoesNotScan: the last page of a 100,000-entry archive,
// and a page before a known id, touch O(page) index entries.
func TestArchiveLastPageDoesNotScan(t *testing.T) {
	archiveModes(t, "mam/big", testArchiveLastPageDoesNotScan)
}

func testArchiveLastPageDoesNotScan(t *testing.T, db *DB) {
	const n = 100000
	fillArchive(t, db, "mam/big", "alice@x", n)
	a := db.Archive("mam/big")
	for _, tc := range []struct {
		name string
		q    ArchiveQuery
		max  int
	}{
		{"last page", ArchiveQuery{Limit: 50, Reverse: true}, 51},
		{"last page with", ArchiveQuery{Limit: 50, Reverse: true, With: "carol@x"}, 51},
		{"page before", ArchiveQuery{Limit: 50, Reverse: true, BeforeID: archID(n / 2)}, 51},
		{"page after", ArchiveQuery{Limit: 50, AfterID: archID(n / 2)}, 51},
		{"last page since", ArchiveQuery{Limit: 50, Reverse: true, Start: archBase.Add(time.Hour)}, 53},
		{"first page of a day", ArchiveQuery{Limit: 50, Start: archBase.Add(24 * time.Hour), End: archBase.Add(48 * time.Hour)}, 53},
	} {
		res, err := a.Query("alice@x", tc.q)
		must(t, err)
		if len(res.Items) != 50 {
			t.Fatalf("%s: %d items", tc.name, len(res.Items))
		}
		if res.Scanned > tc.max {
			t.Errorf("%s: touched %d entries for a page of 50 in %d", tc.name, res.Scanned, n)
		}
	}
	res, _ := a.Query("alice@x", ArchiveQuery{Limit: 50, Reverse: true})
	if res.Last != archID(n-1) || res.Count != n {
		t.Fatalf("last page ends at %s, count %d", res.Last, res.Count)
	}
}

func TestArchiveRetention(t *testing.T) { archiveModes(t, "mam/r", testArchiveRetention) }

func testArchiveRetention(t *testing.T, db *DB) {
	fillArchive(t, db, "mam/r", "alice@x", 12000)
	fillArchive(t, db, "mam/r", "bob@x", 10)
	a := db.Archive("mam/r")

	// Older than entry 6000 goes, in several transactions.
	n, err := a.DeleteBefore("alice@x", archBase.Add(6000*time.Second))
	must(t, err)
	if n != 6000 {
		t.Fatalf("DeleteBefore removed %d", n)
	}
	res, _ := a.Query("alice@x", ArchiveQuery{Limit: 1})
	if res.First != archID(6000) || res.Count != 6000 {
		t.Fatalf("after DeleteBefore: first %s count %d", res.First, res.Count)
	}
	if res, _ := a.Query("alice@x", ArchiveQuery{With: "carol@x"}); res.Count != 2000 || len(res.Items) != 2000 {
		t.Fatalf("with count after delete: %d (%d items)", res.Count, len(res.Items))
	}
	if _, err := a.Query("alice@x", ArchiveQuery{AfterID: archID(10)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted id as cursor: %v", err)
	}
	if res, _ := a.Query("alice@x", ArchiveQuery{End: archBase.Add(6001 * time.Second)}); !slices.Equal(ids(res.Items), idRange(6000, 6001, 1)) {
		t.Fatalf("time index after delete: %v", ids(res.Items))
	}

	n, err = a.Trim("alice@x", 100)
	must(t, err)
	if l, _ := a.Len("alice@x"); n != 5900 || l != 100 {
		t.Fatalf("Trim removed %d, %d left", n, l)
	}
	res, _ = a.Query("alice@x", ArchiveQuery{})
	if res.First != archID(11900) || res.Last != archID(11999) {
		t.Fatalf("after trim: %s..%s", res.First, res.Last)
	}
	if n, _ := a.Trim("alice@x", 100); n != 0 {
		t.Fatalf("second Trim removed %d", n)
	}

	var owners []string
	must(t, a.Owners(func(o string) error { owners = append(owners, o); return nil }))
	if !slices.Equal(owners, []string{"alice@x", "bob@x"}) {
		t.Fatalf("owners %v", owners)
	}
	must(t, a.DeleteOwner("alice@x"))
	if l, _ := a.Len("alice@x"); l != 0 {
		t.Fatalf("Len after DeleteOwner: %d", l)
	}
	// Trimming everything drops the owner, as deleting a Map's last key does.
	_, err = a.Trim("bob@x", 0)
	must(t, err)
	owners = nil
	must(t, a.Owners(func(o string) error { owners = append(owners, o); return nil }))
	if len(owners) != 0 {
		t.Fatalf("owners left: %v", owners)
	}
	// Ids are the caller's: after deletion an archive keeps working.
	must(t, a.Append("bob@x", archID(50), archBase, "carol@x", nil))
}

func TestArchiveConcurrentAppendsAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db, err := Open(path, Options{})
	must(t, err)
	a := db.Archive("mam/c")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				id := fmt.Sprintf("%02d-%03d", w, i)
				errs <- a.Append("alice@x", id, archBase, "bob@x/w", []byte(id))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	must(t, db.Close())
	db = openT(t, path)
	res, err := db.Archive("mam/c").Query("alice@x", ArchiveQuery{With: "bob@x"})
	must(t, err)
	if len(res.Items) != 200 || res.Count != 200 {
		t.Fatalf("after reopen: %d items, count %d", len(res.Items), res.Count)
	}
}

func TestArchiveStoresAreSeparate(t *testing.T) {
	db := tempDB(t)
	must(t, db.Archive("a/x").Append("o", "1", archBase, "w", nil))
	must(t, db.Map("a/x").Put("o", "1", []byte("v")))
	if res, _ := db.Archive("a/y").Query("o", ArchiveQuery{}); len(res.Items) != 0 {
		t.Fatal("archives of different names share entries")
	}
	if res, _ := db.Archive("a/x").Query("o", ArchiveQuery{}); len(res.Items) != 1 {
		t.Fatal("map write disturbed the archive")
	}
}
