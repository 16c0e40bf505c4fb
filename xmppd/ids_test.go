package xmppd

import (
	"testing"
	"time"
)

// TestFirstIDAt: ids made at or after t sort at or after FirstIDAt(t),
// ids made before it sort before it.
func TestFirstIDAt(t *testing.T) {
	var g idGen
	before := g.Next()
	time.Sleep(2 * time.Millisecond)
	at := time.Now()
	first := FirstIDAt(at)
	after := g.Next()
	if len(first) != len(after) || !(before < first && first <= after) {
		t.Fatalf("FirstIDAt = %q, want between %q and %q", first, before, after)
	}
	if FirstIDAt(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) > before {
		t.Fatal("a time before 1970 is not the smallest id")
	}
}

// TestIDsIncreaseAndCarryRandomness: ids made one after the other
// increase, and their random parts differ (an id cannot be guessed from
// the previous one).
func TestIDsIncreaseAndCarryRandomness(t *testing.T) {
	var g idGen
	tails := make(map[string]bool)
	prev := ""
	for range 1000 {
		id := g.Next()
		if id <= prev {
			t.Fatalf("%q after %q", id, prev)
		}
		prev = id
		raw, err := idEncoding.DecodeString(id)
		if err != nil || len(raw) != 12 {
			t.Fatalf("id %q: %v", id, err)
		}
		tails[string(raw[8:])] = true
	}
	if len(tails) < 990 {
		t.Fatalf("only %d distinct random parts in 1000 ids", len(tails))
	}
}
