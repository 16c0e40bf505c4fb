package inbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// An entry is rewritten on every message of its conversation, so its
// encoding is on the hot path: a compact binary form (a version byte, then
// lengths as uvarints and strings as they are), not JSON. JSON spent
// more CPU on the entry than bbolt did on storing it, and escaped every
// '<' of the stored stanza into six bytes. Entries written as JSON by
// earlier versions (they start with '{') are still read, and become binary
// when next written.
//
//	0x03
//	uvarint unread | uvarint mentions | str read_id | str box | time muted_until
//	str last.id | time last.at | str last.from | str last.xml
//	uvarint ring_head | uvarint ring_cap | uvarint ring_n | uvarint ring_mentions
//
// str is uvarint length | bytes; time is a varint of Unix nanoseconds, 0
// for the zero time. The ring_ fields place the conversation's ring of
// unread messages, which has keys of its own (ring.go).
//
// Version 0x04 is 0x03 followed by the room part (room.go) of a room
// entry: uvarint base | uvarint end | uvarint read | uvarint box_seq |
// ring own | ring mentions, a ring being uvarint old | uvarint n | n
// uvarint seqs.
//
// Versions 0x01 and 0x02, written by earlier versions and still read, are
// 0x03 and 0x04 with the ring in the entry instead of its counts:
// uvarint n | per item: str sid | str mid | byte 1 if it mentions the
// user. modify moves such a ring to its keys (entry.migrateRing).
const (
	entryV1 = 0x01
	entryV2 = 0x02
	entryV3 = 0x03
	entryV4 = 0x04
)

func encodeEntry(en *entry) []byte {
	n := 32 + len(en.ReadID) + len(en.Box) + len(en.Last.ID) + len(en.Last.From) + len(en.Last.XML)
	if en.Room != nil {
		n += 8 * (len(en.Room.Own.Seqs) + len(en.Room.Ment.Seqs) + 8)
	}
	b := make([]byte, 0, n+8*binary.MaxVarintLen64)
	if en.Room != nil {
		b = append(b, entryV4)
	} else {
		b = append(b, entryV3)
	}
	b = appendHead(b, en)
	for _, v := range []int{en.RingHead, en.RingCap, en.RingN, en.RingMent} {
		b = binary.AppendUvarint(b, uint64(max(v, 0)))
	}
	return appendRoom(b, en.Room)
}

// appendHead writes the fields every version has, up to the last message.
func appendHead(b []byte, en *entry) []byte {
	b = binary.AppendUvarint(b, uint64(max(en.Unread, 0)))
	b = binary.AppendUvarint(b, uint64(max(en.Mentions, 0)))
	b = appendStr(b, en.ReadID)
	b = appendStr(b, en.Box)
	b = appendTime(b, en.MutedUntil)
	return appendLast(b, &en.Last)
}

// appendRoom writes the room part of a room entry (p != nil).
func appendRoom(b []byte, p *roomPos) []byte {
	if p == nil {
		return b
	}
	for _, v := range []uint64{p.Base, p.End, p.Read, p.BoxSeq} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendRing(b, &p.Own)
	return appendRing(b, &p.Ment)
}

func appendLast(b []byte, l *lastMessage) []byte {
	b = appendStr(b, l.ID)
	b = appendTime(b, l.At)
	b = appendStr(b, l.From)
	return appendStr(b, l.XML)
}

func appendRing(b []byte, r *seqRing) []byte {
	b = binary.AppendUvarint(b, uint64(r.Old))
	b = binary.AppendUvarint(b, uint64(len(r.Seqs)))
	for _, s := range r.Seqs {
		b = binary.AppendUvarint(b, s)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads the fields of a binary entry; the first error sticks.
// It reads from one string copy of the record, so the entry's strings
// share it instead of costing an allocation each.
type decoder struct {
	s   string
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) uvarint() uint64 {
	var v uint64
	for i := 0; d.err == nil && i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.err = errShort
	return 0
}

func (d *decoder) int() int { return d.upTo(1 << 31) }

// upTo reads a count of at most limit.
func (d *decoder) upTo(limit uint64) int {
	v := d.uvarint()
	if v > limit {
		d.err = errors.New("count out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.err = errShort
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) time() time.Time {
	u := d.uvarint() // zigzag, as binary.AppendVarint writes it
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	if v == 0 || d.err != nil {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.s) == 0 {
		d.err = errShort
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if d.err == nil && len(d.s) < 8 {
		d.err = errShort
	}
	if d.err != nil {
		return 0
	}
	v := binary.BigEndian.Uint64([]byte(d.s[:8]))
	d.s = d.s[8:]
	return v
}

func (d *decoder) last(l *lastMessage) {
	l.ID = d.str()
	l.At = d.time()
	l.From = d.str()
	l.XML = d.str()
}

func (d *decoder) ring(r *seqRing) {
	r.Old = d.int()
	n := d.int()
	if d.err == nil && n > len(d.s) {
		d.err = errShort // each seq takes at least a byte
	}
	if d.err == nil && n > 0 {
		r.Seqs = make([]uint64, n)
		for i := range r.Seqs {
			r.Seqs[i] = d.uvarint()
		}
	}
}

// end reports the first error, or bytes left over.
func (d *decoder) end() error {
	if d.err == nil && len(d.s) != 0 {
		d.err = errors.New("trailing bytes")
	}
	return d.err
}

// unmarshalEntry decodes a stored entry, binary or (older) JSON; raw
// may be the store's memory, valid only in its transaction.
func unmarshalEntry(raw []byte, en *entry) error { return unmarshalOwned(bytes.Clone(raw), en) }

// unmarshalOwned is unmarshalEntry for a raw the caller gives up (a copy
// the store returned): the entry's strings are views into it, so the
// largest thing an entry holds, its last message, is not copied again on
// every message.
func unmarshalOwned(raw []byte, en *entry) error {
	if len(raw) > 0 && raw[0] == '{' {
		err := json.Unmarshal(raw, en)
		en.legacy, en.Recent = legacyRing{json: en.Recent}, nil
		return err
	}
	if len(raw) == 0 || raw[0] < entryV1 || raw[0] > entryV4 {
		return fmt.Errorf("unknown entry format")
	}
	d := decoder{s: unsafe.String(unsafe.SliceData(raw[1:]), len(raw)-1)} // never written again: the caller gave raw up
	en.Unread = d.int()
	en.Mentions = d.int()
	en.ReadID = d.str()
	en.Box = d.str()
	en.MutedUntil = d.time()
	d.last(&en.Last)
	switch raw[0] {
	case entryV1, entryV2:
		n := d.int()
		if d.err == nil && n > len(d.s)/3 {
			d.err = errShort // each item takes at least three bytes
		}
		if d.err == nil {
			en.legacy = d.readLegacyRing(n)
		}
	default:
		// A ring's next item number may pass what int reads.
		en.RingHead, en.RingCap, en.RingN, en.RingMent = d.upTo(1<<62), d.int(), d.int(), d.int()
		if d.err == nil && (en.RingN > en.RingHead || en.RingCap > 0 && en.RingN > en.RingCap) {
			d.err = errors.New("ring out of range")
		}
	}
	if (raw[0] == entryV2 || raw[0] == entryV4) && d.err == nil {
		p := &roomPos{Base: d.uvarint(), End: d.uvarint(), Read: d.uvarint(), BoxSeq: d.uvarint()}
		d.ring(&p.Own)
		d.ring(&p.Ment)
		en.Room = p
	}
	return d.end()
}
