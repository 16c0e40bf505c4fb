package store

import (
	"fmt"
	"path/filepath"
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
