package inbox

import (
	"encoding/binary"
	"encoding/json"
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
		RingHead:   1<<40 + 5,
		RingCap:    100,
		RingN:      2,
		RingMent:   1,
		Box:        boxArchive,
		MutedUntil: at.Add(time.Hour),
	}
}

// sampleRing is a ring as sampleEntry counts it.
var sampleRing = []recent{{SID: "0ABCDEFGHIJKLMNOPQR1", MID: "m1"}, {SID: "0ABCDEFGHIJKLMNOPQRS", Mention: true}}

// encodeLegacy writes en as versions 0x01/0x02 did, with the ring items
// in the entry.
func encodeLegacy(en *entry, items []recent) []byte {
	b := []byte{entryV1}
	if en.Room != nil {
		b[0] = entryV2
	}
	b = binary.AppendUvarint(appendHead(b, en), uint64(len(items)))
	for _, it := range items {
		b = appendStr(appendStr(b, it.SID), it.MID)
		b = append(b, byte(b2i(it.Mention)))
	}
	return appendRoom(b, en.Room)
}

// mustNotDecode: every truncation of raw is an error, never a panic or a
// wrong entry.
func mustNotDecode(t *testing.T, raw []byte) {
	t.Helper()
	for i := range raw {
		if err := unmarshalEntry(raw[:i], new(entry)); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(raw))
		}
	}
}

func sampleRoomEntry() entry {
	room := sampleEntry()
	room.Room = &roomPos{Base: 3, End: 900, Read: 7, BoxSeq: 1 << 40, Own: seqRing{Old: 2, Seqs: []uint64{8, 300}}, Ment: seqRing{Seqs: []uint64{9}}}
	return room
}

func TestEntryCodec(t *testing.T) {
	for _, en := range []entry{sampleEntry(), {}, {Last: lastMessage{At: time.Unix(1, 0).UTC()}}, sampleRoomEntry(), {Room: &roomPos{}}} {
		raw := encodeEntry(&en)
		var got entry
		if err := unmarshalEntry(raw, &got); err != nil {
			t.Fatalf("decode %+v: %v", en, err)
		}
		if !reflect.DeepEqual(got, en) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, en)
		}
		if again := encodeEntry(&got); string(again) != string(raw) {
			t.Fatalf("re-encoded entry differs:\n got %q\nwant %q", again, raw)
		}
		mustNotDecode(t, raw)
	}
	if err := unmarshalEntry(append(encodeEntry(&entry{}), 0), new(entry)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for _, en := range []entry{{RingHead: 1, RingN: 2}, {RingHead: 10, RingCap: 3, RingN: 4}} {
		if err := unmarshalEntry(encodeEntry(&en), new(entry)); err == nil {
			t.Errorf("ring out of range accepted: %+v", en)
		}
	}
}

// TestEntryCodecReadsLegacy: entries of earlier versions (binary 0x01 and
// 0x02, JSON) decode to the same entry, their ring waiting to be moved.
func TestEntryCodecReadsLegacy(t *testing.T) {
	for _, en := range []entry{sampleEntry(), sampleRoomEntry()} {
		en.RingHead, en.RingCap, en.RingN, en.RingMent = 0, 0, 0, 0
		raw := encodeLegacy(&en, sampleRing)
		var got entry
		if err := unmarshalEntry(raw, &got); err != nil {
			t.Fatal(err)
		}
		items, ok := got.legacy.items()
		if !ok || !reflect.DeepEqual(items, sampleRing) {
			t.Fatalf("legacy ring %v (%v), want %v", items, ok, sampleRing)
		}
		got.legacy = legacyRing{}
		if !reflect.DeepEqual(got, en) {
			t.Fatalf("legacy entry:\n got %+v\nwant %+v", got, en)
		}
		mustNotDecode(t, raw)
		// Without a ring: nothing to move.
		if err := unmarshalEntry(encodeLegacy(&en, nil), &got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got.legacy.items(); ok {
			t.Error("an empty legacy ring to move")
		}
	}
}

// TestEntryCodecReadsJSON: entries stored as JSON by earlier versions
// still decode, to the same entry.
func TestEntryCodecReadsJSON(t *testing.T) {
	en := sampleEntry()
	en.RingHead, en.RingCap, en.RingN, en.RingMent = 0, 0, 0, 0
	old := en
	old.Recent = sampleRing
	raw, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var got entry
	if err := unmarshalEntry(raw, &got); err != nil {
		t.Fatal(err)
	}
	if items, ok := got.legacy.items(); !ok || !reflect.DeepEqual(items, sampleRing) {
		t.Fatalf("JSON ring %v, want %v", items, sampleRing)
	}
	got.legacy = legacyRing{}
	if !reflect.DeepEqual(got, en) {
		t.Fatalf("JSON entry:\n got %+v\nwant %+v", got, en)
	}
	if bin := encodeEntry(&en); len(bin) >= len(raw) || !strings.Contains(string(bin), en.Last.XML) {
		t.Errorf("binary entry (%d bytes) not smaller than JSON (%d) or XML not kept verbatim", len(bin), len(raw))
	}
}

// FuzzEntryCodec: decoding never panics, and what decodes is written back
// as it was read (binary entries of this version).
func FuzzEntryCodec(f *testing.F) {
	for _, en := range []entry{sampleEntry(), sampleRoomEntry(), {}} {
		f.Add(encodeEntry(&en))
		f.Add(encodeLegacy(&en, sampleRing))
	}
	f.Add([]byte(`{"unread":1,"recent":[{"s":"0A","m":"x"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var en entry
		if unmarshalEntry(raw, &en) != nil {
			return
		}
		en.legacy.items()
		if raw[0] != entryV3 && raw[0] != entryV4 {
			return
		}
		var again entry
		if err := unmarshalEntry(encodeEntry(&en), &again); err != nil || !reflect.DeepEqual(again, en) {
			t.Fatalf("re-encoded %q: %v\n got %+v\nwant %+v", raw, err, again, en)
		}
	})
}

func BenchmarkEntryCodec(b *testing.B) {
	en := sampleEntry()
	en.Last.XML = strings.Repeat("<x/>", 100)
	en.RingHead, en.RingN = 12345, 100
	b.Run("json", func(b *testing.B) {
		old := en
		for range 100 {
			old.Recent = append(old.Recent, recent{SID: "0ABCDEFGHIJKLMNOPQRS", MID: "5e0f6a3c-2a7c-4f0e-9d7c-1a2b3c4d5e6f"})
		}
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
}
