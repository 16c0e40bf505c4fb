package muc

import (
	"testing"
	"time"
)

// The flood limit's bucket: a burst of n, then n per period, refilled in
// proportion to the time passed; n = 0 is no limit.
func TestBucket(t *testing.T) {
	var b bucket
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		if !b.take(5, 10*time.Second, t0) {
			t.Fatalf("take %d of the burst refused", i+1)
		}
	}
	if b.take(5, 10*time.Second, t0) {
		t.Fatal("sixth in the same instant allowed")
	}
	if b.take(5, 10*time.Second, t0.Add(time.Second)) {
		t.Fatal("allowed after 1s: one token takes 2s to come back")
	}
	if !b.take(5, 10*time.Second, t0.Add(2*time.Second)) {
		t.Fatal("refused after 2s")
	}
	// A long pause refills to the burst, not beyond.
	later := t0.Add(time.Hour)
	for i := range 5 {
		if !b.take(5, 10*time.Second, later) {
			t.Fatalf("take %d after a pause refused", i+1)
		}
	}
	if b.take(5, 10*time.Second, later) {
		t.Fatal("the bucket filled beyond its burst")
	}
	var off bucket
	for range 100 {
		if !off.take(0, 0, t0) {
			t.Fatal("rate 0 must not limit")
		}
	}
}
