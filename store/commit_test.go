package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestBatchGroupCommit: concurrent Batch calls share commits; a call that
// fails or panics gets its own error and changes nothing, while the
// others of its group still commit; every success is on disk after a
// reopen.
func TestBatchGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	db, err := Open(path, Options{})
	must(t, err)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Batch(func(tx *Tx) error {
				if err := tx.KV("t/g").Put(fmt.Sprint(i), []byte("v")); err != nil {
					return err
				}
				switch i % 50 {
				case 7:
					return fmt.Errorf("call %d fails", i)
				case 8:
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	must(t, db.Close())
	db, err = Open(path, Options{})
	must(t, err)
	defer db.Close()
	for i, err := range errs {
		_, getErr := db.KV("t/g").Get(fmt.Sprint(i))
		switch i % 50 {
		case 7, 8:
			if err == nil || !errors.Is(getErr, ErrNotFound) {
				t.Errorf("failing call %d: err %v, stored: %v", i, err, getErr == nil)
			}
		default:
			if err != nil || getErr != nil {
				t.Errorf("call %d: err %v, get %v", i, err, getErr)
			}
		}
	}
}

// TestBatchStartKeepsOrder: calls started one after the other commit in
// that order, also when one of them fails on what an earlier one of its
// group wrote: it is retried alone after the others, never before them,
// so it fails again (a full queue stays full).
func TestBatchStartKeepsOrder(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{NoSync: true})
	must(t, err)
	defer db.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	busy := db.BatchStart(func(tx *Tx) error { close(started); <-release; return nil })
	<-started // the next calls form one group behind this commit
	first := db.BatchStart(func(tx *Tx) error { return tx.KV("t/o").Put("first", []byte("v")) })
	second := db.BatchStart(func(tx *Tx) error {
		if _, err := tx.KV("t/o").Get("first"); err == nil {
			return errors.New("first is already there")
		}
		return tx.KV("t/o").Put("second", []byte("v"))
	})
	close(release)
	must(t, <-busy)
	must(t, <-first)
	if err := <-second; err == nil {
		t.Fatal("the second call overtook the first")
	}
	if _, err := db.KV("t/o").Get("second"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second stored: %v", err)
	}
}
