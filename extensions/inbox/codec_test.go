package inbox

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEntry() entry {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	return entry{
		Last:       lastMessage{ID: "0ABCDEFGHIJKLMNOPQRS", At: at, From: "bob@x/phone", XML: "<message from='bob@x/phone'><body>hi &amp; bye</body></message>"},
		Unread:     2,
		Mentions:   1,
		ReadID:     "0ABCDEFGHIJKLMNOPQR0",
		recent:     ringOf([]recent{{SID: "0ABCDEFGHIJKLMNOPQR1", MID: "m1"}, {SID: "0ABCDEFGHIJKLMNOPQRS", Mention: true}}),
		Box:        boxArchive,
		MutedUntil: at.Add(time.Hour),
	}
}

// decoded returns en with its ring decoded, for comparing entries.
func decoded(en entry) entry {
	items := en.recent.all()
	if len(items) == 0 {
		items = nil
	}
	en.recent = ringOf(items)
	return en
}

func TestEntryCodec(t *testing.T) {
	room := sampleEntry()
	room.Room = &roomPos{Base: 3, End: 900, Read: 7, BoxSeq: 1 << 40, Own: seqRing{Old: 2, Seqs: []uint64{8, 300}}, Ment: seqRing{Seqs: []uint64{9}}}
	for _, en := range []entry{sampleEntry(), {}, {Last: lastMessage{At: time.Unix(1, 0).UTC()}}, room, {Room: &roomPos{}}} {
		raw := encodeEntry(&en)
		var got entry
		if err := unmarshalEntry(raw, &got); err != nil {
			t.Fatalf("decode %+v: %v", en, err)
		}
		if !reflect.DeepEqual(decoded(got), decoded(en)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, en)
		}
		// Written back without decoding its ring: the same bytes.
		if again := encodeEntry(&got); string(again) != string(raw) {
			t.Fatalf("re-encoded entry differs:\n got %q\nwant %q", again, raw)
		}
		// Every truncation is an error, never a panic or a wrong entry.
		for i := range raw {
			if err := unmarshalEntry(raw[:i], new(entry)); err == nil {
				t.Fatalf("truncated to %d of %d bytes: no error", i, len(raw))
			}
		}
	}
	if err := unmarshalEntry(append(encodeEntry(&entry{}), 0), new(entry)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// TestEntryCodecReadsJSON: entries stored as JSON by earlier versions
// still decode, to the same entry.
func TestEntryCodecReadsJSON(t *testing.T) {
	en := sampleEntry()
	old := en
	old.Recent = en.recent.all()
	raw, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var got entry
	if err := unmarshalEntry(raw, &got); err != nil || !reflect.DeepEqual(decoded(got), decoded(en)) {
		t.Fatalf("JSON entry: %v\n got %+v\nwant %+v", err, got, en)
	}
	if bin := encodeEntry(&en); len(bin) >= len(raw) || !strings.Contains(string(bin), en.Last.XML) {
		t.Errorf("binary entry (%d bytes) not smaller than JSON (%d) or XML not kept verbatim", len(bin), len(raw))
	}
}

func BenchmarkEntryCodec(b *testing.B) {
	en := sampleEntry()
	en.Last.XML = strings.Repeat("<x/>", 100)
	for range 100 {
		en.recent.add(recent{SID: "0ABCDEFGHIJKLMNOPQRS", MID: "5e0f6a3c-2a7c-4f0e-9d7c-1a2b3c4d5e6f"}, 100)
	}
	b.Run("json", func(b *testing.B) {
		old := en
		old.Recent = en.recent.all()
		raw, _ := json.Marshal(old)
		b.ReportMetric(float64(len(raw)), "bytes")
		for b.Loop() {
			var got entry
			_ = json.Unmarshal(raw, &got)
			got.Unread++
			raw, _ = json.Marshal(got)
		}
	})
	b.Run("binary", func(b *testing.B) {
		raw := encodeEntry(&en)
		b.ReportMetric(float64(len(raw)), "bytes")
		for b.Loop() {
			var got entry
			_ = unmarshalEntry(raw, &got)
			got.Unread++
			raw = encodeEntry(&got)
		}
	})
	// What a new unread message does to a full ring: one item in, the
	// oldest out, no item decoded.
	b.Run("binary-add", func(b *testing.B) {
		raw := encodeEntry(&en)
		for b.Loop() {
			var got entry
			_ = unmarshalEntry(raw, &got)
			got.Unread++
			got.recent.add(recent{SID: "0ABCDEFGHIJKLMNOPQRT", MID: "5e0f6a3c-2a7c-4f0e-9d7c-1a2b3c4d5e70"}, 100)
			raw = encodeEntry(&got)
		}
	})
}

// TestRingAddKeepsTheNewest: adding to an encoded ring (not decoded) and
// to a decoded one give the same items, the newest max of them.
func TestRingAddKeepsTheNewest(t *testing.T) {
	var items []recent
	for i := range 7 {
		items = append(items, recent{SID: fmt.Sprintf("s%02d", i), MID: fmt.Sprintf("m%d", i), Mention: i%3 == 0})
	}
	en := entry{recent: ringOf(items[:4])}
	var got entry
	if err := unmarshalEntry(encodeEntry(&en), &got); err != nil {
		t.Fatal(err)
	}
	lazy, eager := got.recent, ringOf(append([]recent(nil), items[:4]...))
	for _, it := range items[4:] {
		lazy.add(it, 5)
		eager.add(it, 5)
	}
	if lazy.decoded || lazy.len() != 5 {
		t.Fatalf("lazy ring decoded %v, %d items", lazy.decoded, lazy.len())
	}
	want := items[2:]
	if !reflect.DeepEqual(lazy.all(), want) || !reflect.DeepEqual(eager.all(), want) {
		t.Fatalf("lazy %v, eager %v, want %v", lazy.all(), eager.all(), want)
	}
}
