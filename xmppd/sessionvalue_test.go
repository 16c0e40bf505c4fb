package xmppd

import "testing"

// TestSessionValues: per-session values by key, replaced in place, nil
// for a key never set, and no allocation to read.
func TestSessionValues(t *testing.T) {
	type keyA struct{}
	type keyB struct{}
	s := &Session{}
	if v := s.Value(keyA{}); v != nil {
		t.Fatalf("unset value = %v", v)
	}
	s.SetValue(keyA{}, 1)
	s.SetValue(keyB{}, "b")
	s.SetValue(keyA{}, 2)
	if a, b := s.Value(keyA{}), s.Value(keyB{}); a != 2 || b != "b" {
		t.Fatalf("values = %v, %v; want 2, b", a, b)
	}
	if len(s.values) != 2 {
		t.Fatalf("%d entries, want 2", len(s.values))
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.Value(keyB{}) }); n != 0 {
		t.Fatalf("Value allocates %v times", n)
	}
}
