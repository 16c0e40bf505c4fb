package store

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group commit. bbolt's own Batch closes a batch after a fixed delay
// (2ms) and then waits for the writer lock; while one commit and its fsync
// run, the callers arriving meanwhile form several small batches, each
// with its own commit and fsync. Here a batch stays open for exactly as
// long as the previous commit runs: whoever arrives during a commit goes
// into the next one, which starts as soon as that commit is done. Under
// load a commit takes everyone who waited (pages shared by their writes
// are written once); a lone writer commits at once instead of waiting
// for company.

// maxBatch bounds the calls in one transaction, so a burst does not build
// one huge transaction (bbolt's default MaxBatchSize).
const maxBatch = 1000

type commitCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

type committer struct {
	mu      sync.Mutex
	pending []*commitCall
	busy    bool // a commit loop runs
}

// batch runs fn in a group-committed write transaction: fn shares one
// commit and one fsync with the calls that arrived while the previous
// commit ran. fn may run more than once (when another fn of its group
// fails, the group is rolled back and retried without it), so it must
// only touch the transaction and its own results.
func (db *DB) batch(fn func(*bolt.Tx) error) error { return <-db.batchStart(fn) }

// batchStart is batch without the wait for the outcome.
func (db *DB) batchStart(fn func(*bolt.Tx) error) <-chan error {
	db.writes.Add(1)
	c := &commitCall{fn: fn, done: make(chan error, 1)}
	g := &db.commits
	g.mu.Lock()
	g.pending = append(g.pending, c)
	start := !g.busy
	g.busy = true
	g.mu.Unlock()
	if start {
		go db.commitLoop()
	}
	return c.done
}

// commitLoop commits the pending calls, group after group, until none
// are left.
func (db *DB) commitLoop() {
	g := &db.commits
	for {
		g.mu.Lock()
		calls := g.pending
		if len(calls) > maxBatch {
			calls = calls[:maxBatch:maxBatch]
		}
		g.pending = g.pending[len(calls):]
		if len(calls) == 0 {
			g.busy, g.pending = false, nil
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		db.commitGroup(calls)
	}
}

// commitGroup runs calls in one transaction and tells each the outcome.
// A call that fails is taken out and, once the others committed together
// (as bbolt's Batch does), run alone, so its error is its own. It runs
// after them, as it would have had it arrived last: a call that failed on
// what the calls before it wrote (a full queue) fails again alone instead
// of overtaking them.
func (db *DB) commitGroup(calls []*commitCall) {
	var failedCalls []*commitCall
	for len(calls) > 0 {
		failed := -1
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safeCall(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			db.commitsDone.Add(1)
			for _, c := range calls {
				c.done <- err
			}
			break
		}
		failedCalls = append(failedCalls, calls[failed])
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
	for _, c := range failedCalls {
		c.done <- db.bolt.Update(func(tx *bolt.Tx) error { return safeCall(c.fn, tx) })
	}
}

// safeCall runs fn, turning a panic into an error for its caller alone
// rather than crashing the goroutine that commits for everyone.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in a batched write: %v", p)
		}
	}()
	return fn(tx)
}
