package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// dump renders every store of a DB that the tests use, for comparison.
func dump(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	must(t, db.KV("acct/users").ForEach("", func(k string, v []byte) error {
		fmt.Fprintf(&b, "kv %s=%s\n", k, v)
		return nil
	}))
	must(t, db.Map("roster/items").Owners(func(o string) error {
		return db.Map("roster/items").All(o, func(k string, v []byte) error {
			fmt.Fprintf(&b, "map %s/%s=%s\n", o, k, v)
			return nil
		})
	}))
	for _, o := range []string{"bob", "alice"} { // alice last: the writer grows her queue
		must(t, db.Queue("offline/msgs").List(o, func(s uint64, v []byte) error {
			fmt.Fprintf(&b, "queue %s/%d=%s\n", o, s, v)
			return nil
		}))
	}
	return b.String()
}

func fill(t *testing.T, db *DB) {
	t.Helper()
	for i := range 50 {
		must(t, db.KV("acct/users").Put(fmt.Sprintf("user%02d", i), []byte("x")))
		must(t, db.Map("roster/items").Put(fmt.Sprintf("user%02d", i%7), fmt.Sprint(i), []byte("item")))
	}
	for i := range 20 {
		_, err := db.Queue("offline/msgs").Append("bob", []byte(fmt.Sprint(i)))
		must(t, err)
	}
}

func TestBackupWhileWritingThenRestore(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, filepath.Join(dir, "live.db"))
	fill(t, db)
	before := dump(t, db)

	// A writer keeps appending to alice's queue during the backup.
	var stop atomic.Bool
	var wg sync.WaitGroup
	started := make(chan struct{}) // closed once the writer is under way
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := db.Queue("offline/msgs").Append("alice", []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
				close(started)
				return
			}
			if i == 19 {
				close(started)
			}
		}
	})
	<-started
	backup := filepath.Join(dir, "backups", "b1.db")
	must(t, os.MkdirAll(filepath.Dir(backup), 0o700))
	must(t, BackupFile(db, backup))
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	must(t, err)
	stop.Store(true)
	wg.Wait()
	if n != int64(buf.Len()) || n == 0 {
		t.Errorf("Backup reported %d bytes, wrote %d", n, buf.Len())
	}
	if _, err := os.Stat(backup + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("BackupFile left %s.tmp behind", backup)
	}

	restored := filepath.Join(dir, "fresh", "restored.db")
	must(t, Restore(restored, backup))
	rdb := openT(t, restored)

	// The untouched stores are identical; alice's queue is a consistent
	// prefix of what the writer appended: 0, 1, 2, ... with no gaps.
	got := dump(t, rdb)
	if !strings.HasPrefix(got, before) {
		t.Fatalf("restored data differs from the original:\n%s\nwant prefix:\n%s", got, before)
	}
	var vals []string
	must(t, rdb.Queue("offline/msgs").List("alice", func(_ uint64, v []byte) error { vals = append(vals, string(v)); return nil }))
	if len(vals) < 20 {
		t.Errorf("backup holds %d of alice's messages, want at least the 20 written before it started", len(vals))
	}
	for i, v := range vals {
		if v != fmt.Sprint(i) {
			t.Fatalf("alice's queue in the backup is not a prefix: entry %d is %q", i, v)
		}
	}
	// Everything in the backup is also in the live db, unchanged.
	live := dump(t, db)
	for line := range strings.Lines(got) {
		if !strings.Contains(live, line) {
			t.Errorf("restored %q is not in the live db", strings.TrimSpace(line))
		}
	}
	// The streamed backup is a valid store too.
	streamed := filepath.Join(dir, "streamed.db")
	must(t, os.WriteFile(streamed, buf.Bytes(), 0o600))
	sdb := openT(t, streamed)
	if !strings.HasPrefix(dump(t, sdb), before) {
		t.Error("streamed backup lost data")
	}
}

func TestRestoreReplacesExistingData(t *testing.T) {
	dir := t.TempDir()
	src := openT(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	want := dump(t, src)
	backup := filepath.Join(dir, "b.db")
	must(t, BackupFile(src, backup))

	target := filepath.Join(dir, "target.db")
	tdb := openT(t, target)
	must(t, tdb.KV("acct/users").Put("zed", []byte("stale")))
	must(t, tdb.Close())

	must(t, Restore(target, backup))
	tdb = openT(t, target)
	if got := dump(t, tdb); got != want {
		t.Errorf("after Restore:\n%s\nwant:\n%s", got, want)
	}
	assertNoTempFiles(t, dir)
}

func TestBackupFileRefusesLiveFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	db := openT(t, path)
	must(t, db.KV("k").Put("a", []byte("1")))
	err := BackupFile(db, path)
	if err == nil || !strings.Contains(err.Error(), "live database") {
		t.Fatalf("BackupFile onto the live file: %v, want refusal", err)
	}
	// Another spelling of the same path is caught too.
	alias := filepath.Join(filepath.Dir(path), ".", "live.db")
	if err := BackupFile(db, alias); err == nil {
		t.Error("BackupFile onto the live file via an alias succeeded")
	}
	if v, err := db.KV("k").Get("a"); err != nil || string(v) != "1" {
		t.Errorf("live db damaged: %q, %v", v, err)
	}
}

func TestRestoreRefusesWhileTargetOpen(t *testing.T) {
	dir := t.TempDir()
	src := openT(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	backup := filepath.Join(dir, "b.db")
	must(t, BackupFile(src, backup))

	target := filepath.Join(dir, "live.db")
	live := openT(t, target)
	must(t, live.KV("acct/users").Put("only-live", []byte("1")))

	err := Restore(target, backup)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), target) {
		t.Fatalf("Restore onto an open db: %v, want ErrLocked naming %s", err, target)
	}
	if v, err := live.KV("acct/users").Get("only-live"); err != nil || string(v) != "1" {
		t.Errorf("live db changed: %q, %v", v, err)
	}
	assertNoTempFiles(t, dir)
}

func TestRestoreRejectsBadBackups(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.db")
	tdb := openT(t, target)
	fill(t, tdb)
	must(t, tdb.Close())
	original, err := os.ReadFile(target)
	must(t, err)

	newer := filepath.Join(dir, "newer.db")
	setSchemaVersion(t, newer, "99")
	truncated := filepath.Join(dir, "truncated.db")
	must(t, os.WriteFile(truncated, original[:len(original)/3], 0o600))

	for name, content := range map[string][]byte{
		"garbage.db": bytes.Repeat([]byte("garbage"), 5000),
		"empty.db":   nil,
	} {
		must(t, os.WriteFile(filepath.Join(dir, name), content, 0o600))
	}
	for _, name := range []string{"garbage.db", "empty.db", "newer.db", "truncated.db", "missing.db"} {
		backup := filepath.Join(dir, name)
		err := Restore(target, backup)
		if err == nil || !strings.Contains(err.Error(), backup) {
			t.Errorf("Restore from %s: %v, want an error naming the backup", name, err)
		}
		after, _ := os.ReadFile(target)
		if !bytes.Equal(after, original) {
			t.Fatalf("Restore from %s modified the target", name)
		}
	}
	if err := Restore(target, target); err == nil {
		t.Error("Restore of a file onto itself succeeded")
	}
	assertNoTempFiles(t, dir)
	tdb = openT(t, target)
	if n, _ := tdb.KV("acct/users").Count(); n != 50 {
		t.Errorf("target has %d users after failed restores, want 50", n)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".restore-") || strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}
