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
