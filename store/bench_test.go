package store

import (
	"fmt"
	"path/filepath"
	"testing"
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
