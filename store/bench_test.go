package store

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkQueueAppendParallel measures group commit with real fsyncs:
// concurrent Appends share one transaction per batch.
func BenchmarkQueueAppendParallel(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	q := db.Queue("bench/offline")
	val := make([]byte, 512)
	b.ReportAllocs()
	b.SetParallelism(16) // many sessions writing at once, as on a busy server
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Append("user@example.org", val); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkKVGet(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	kv := db.KV("bench/kv")
	const n = 10000
	val := make([]byte, 256)
	if err := db.Update(func(tx *Tx) error {
		for i := range n {
			if err := tx.KV("bench/kv").Put(fmt.Sprintf("user%05d@example.org", i), val); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user%05d@example.org", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := kv.Get(keys[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkArchiveAppendParallel measures archive appends from many
// goroutines (sessions) into 100 users' archives, group-committed. NoSync
// measures the store's own cost; fsync adds one disk flush per batch.
func BenchmarkArchiveAppendParallel(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "nosync"
		if sync {
			name = "fsync"
		}
		b.Run(name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			a := db.Archive("bench/mam")
			val := make([]byte, 400) // a typical chat stanza
			var seq atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					owner := fmt.Sprintf("user%03d@example.org", n%100)
					if err := a.Append(owner, fmt.Sprintf("%016x", n), time.Now(), "peer@example.org/res", val); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkArchiveLastPage queries the last page (50 messages, RSM
// <before/>) of one user's 1,000,000-message archive, unfiltered and
// filtered by a correspondent.
func BenchmarkArchiveLastPage(b *testing.B) {
	const n = 1000000
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 400)
	base := time.Now().Add(-n * time.Second)
	withs := []string{"bob@example.org/phone", "carol@example.org/desk", "dave@example.org/x", "erin@example.org/y"}
	for start := 0; start < n; start += 20000 {
		if err := db.Update(func(tx *Tx) error {
			a := tx.Archive("bench/mam")
			for i := start; i < start+20000; i++ {
				if err := a.Append("alice@example.org", fmt.Sprintf("%016x", i), base.Add(time.Duration(i)*time.Second), withs[i%len(withs)], val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	a := db.Archive("bench/mam")
	for _, tc := range []struct {
		name string
		q    ArchiveQuery
	}{
		{"all", ArchiveQuery{Limit: 50, Reverse: true}},
		{"with", ArchiveQuery{Limit: 50, Reverse: true, With: "carol@example.org"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := a.Query("alice@example.org", tc.q)
				if err != nil || len(res.Items) != 50 || res.Scanned > 51 {
					b.Fatalf("query: %v, %d items, %d scanned", err, len(res.Items), res.Scanned)
				}
			}
		})
	}
}

// BenchmarkArchiveChat is the archive's share of a 1:1 chat load: 100
// users in 50 pairs, each sending to its peer from its own goroutine (a
// session); every message is appended to the sender's and the
// recipient's archive in one group-committed transaction, as
// mam.Extension does through Packet.Persist. Each archive starts with
// 2,000 messages, so the indexes have branch pages. It reports the pages
// and bytes bbolt writes per message (TxStats), the figure that bounds
// fsync'd throughput, and, with fsync, messages per second.
func BenchmarkArchiveChat(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "nosync"
		if sync {
			name = "fsync"
		}
		b.Run(name, func(b *testing.B) {
			const users, preload = 100, 2000
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			owner := func(u int) string { return fmt.Sprintf("bench%d@localhost", u+1) }
			peer := func(u int) int { return u ^ 1 }
			var clock atomic.Uint64
			clock.Store(uint64(time.Now().Add(-time.Hour).UnixMicro()))
			nextID := func() string { return fmt.Sprintf("%016x%08x", clock.Add(1), 0xdeadbeef) }
			val := make([]byte, 400)
			send := func(tx *Tx, u int, sent, recv string) error {
				a := tx.Archive("bench/mam")
				if err := a.Append(owner(u), sent, time.Now(), owner(peer(u))+"/res", val); err != nil {
					return err
				}
				return a.Append(owner(peer(u)), recv, time.Now(), owner(u)+"/res", val)
			}
			// The ids encode their time, as xmppd's stanza-ids do.
			idAt := func(t time.Time) string { return fmt.Sprintf("%016x", micros(t)) }
			db.TimeOrderedIDs("bench/mam", idAt)
			if err := db.Update(func(tx *Tx) error {
				for range preload / 2 {
					for u := range users {
						if err := send(tx, u, nextID(), nextID()); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			if db, err = Open(db.Path(), Options{NoSync: !sync}); err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.TimeOrderedIDs("bench/mam", idAt)
			var next atomic.Int64
			before := db.bolt.Stats().TxStats
			b.ReportAllocs()
			b.ResetTimer()
			b.SetParallelism((users + 1) / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				u := int(next.Add(1)-1) % users
				for pb.Next() {
					sent, recv := nextID(), nextID()
					if err := db.Batch(func(tx *Tx) error { return send(tx, u, sent, recv) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := db.bolt.Stats().TxStats
			d := st.Sub(&before)
			b.ReportMetric(float64(d.GetPageCount())/float64(b.N), "pages/msg")
			b.ReportMetric(float64(d.GetPageAlloc())/float64(b.N)/1024, "KB/msg")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
