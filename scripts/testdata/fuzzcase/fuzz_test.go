// Package fuzzcase holds two fuzz targets for the test of scripts/fuzz.sh:
// one the fuzzer breaks at once, one it cannot break. Under testdata, so
// ./... (the real fuzz pass) never sees them.
package fuzzcase

import "testing"

func FuzzBreaks(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1 {
			t.Fatal("a finding")
		}
	})
}

// FuzzBreaksNot shares FuzzBreaks' prefix, so an unanchored pattern
// would pick both.
func FuzzBreaksNot(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {})
}
