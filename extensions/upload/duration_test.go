package upload

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// TestParsersHostileInput: the container parsers read only what exists,
// whatever sizes and offsets a file claims, and never panic or report a
// duration beyond their bound.
func TestParsersHostileInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	box := func(size uint32, typ string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, size), typ...)
	}
	seeds := [][]byte{
		nil,
		[]byte("OggS"),
		append(box(0xFFFFFFFF, "ftyp"), box(1, "moov")...),
		append(box(8, "ftyp"), append(box(1, "moov"), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)...),
		append(box(16, "ftyp"), append(make([]byte, 8), append(box(0, "moov"), box(20, "mvhd")...)...)...),
		{0x1A, 0x45, 0xDF, 0xA3, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
		{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, 0xFF, 0x15, 0x49, 0xA9, 0x66, 0xFE},
		[]byte("ID3\x04\x00\x10\x7f\x7f\x7f\x7f"),
		{0xFF, 0xFB, 0x90, 0x00},
		{0xFF, 0xFB, 0x00, 0x00},
	}
	for range 2000 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		seed := seeds[rng.IntN(len(seeds))]
		seeds = append(seeds, append(append([]byte{}, seed...), b...))
	}
	limit := 100 * 24 * time.Hour
	for _, b := range seeds {
		r, n := bytes.NewReader(b), int64(len(b))
		if d := oggDuration(r, n); d < 0 || d > limit {
			t.Fatalf("ogg %x: %v", b, d)
		}
		if d, w, h := mp4Info(r, n); d < 0 || d > limit || w < 0 || h < 0 {
			t.Fatalf("mp4 %x: %v %dx%d", b, d, w, h)
		}
		if d := webmDuration(r); d < 0 || d > limit {
			t.Fatalf("webm %x: %v", b, d)
		}
		if d := mp3Duration(r, n); d < 0 || d > limit {
			t.Fatalf("mp3 %x: %v", b, d)
		}
		_ = sniff(b)
	}
}

func TestFit(t *testing.T) {
	for _, c := range [][5]int{
		{640, 480, 256, 256, 192},
		{480, 640, 256, 192, 256},
		{100, 50, 256, 100, 50},
		{100000, 1, 256, 256, 1},
		{1, 100000, 256, 1, 256},
		{256, 256, 256, 256, 256},
	} {
		if w, h := fit(c[0], c[1], c[2]); w != c[3] || h != c[4] {
			t.Errorf("fit(%d, %d, %d) = %d, %d; want %d, %d", c[0], c[1], c[2], w, h, c[3], c[4])
		}
	}
}

// FuzzParsers: go test -fuzz FuzzParsers ./extensions/upload/
func FuzzParsers(f *testing.F) {
	f.Add([]byte("OggS"))
	f.Add([]byte("\x00\x00\x00\x10ftypisom\x00\x00\x00\x00\x00\x00\x00\x08moov"))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, 0xFF})
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x00\xFF\xFB\x90\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n := bytes.NewReader(b), int64(len(b))
		oggDuration(r, n)
		mp4Info(r, n)
		webmDuration(r)
		mp3Duration(r, n)
	})
}
