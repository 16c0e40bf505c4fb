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
