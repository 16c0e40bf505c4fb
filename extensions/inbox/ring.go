package inbox

import "encoding/binary"

// recentRing holds a conversation's newest unread messages (entry.recent's
// storage). A full ring is a hundred items, and every message rewrites its
// entry: decoding the items into structs and encoding them again cost more
// than the rest of the entry. So the ring stays in its encoded form (a view
// into the record as read) until something needs its items (a marker, a
// room read position); appending a new unread message and writing the
// entry back copy bytes only.
type recentRing struct {
	raw     string   // encoded items still kept from the record (codec.go)
	rawN    int      // items in raw
	added   []recent // items added since the record was read, after raw's
	items   []recent // the items, once decoded
	decoded bool     // items, not raw and added, is current
}

func ringOf(items []recent) recentRing { return recentRing{items: items, decoded: true} }

// all returns the items, oldest first; the caller may change them and
// must set them back with set if it changes the slice's length.
func (r *recentRing) all() []recent {
	if !r.decoded {
		d := decoder{s: r.raw}
		items := make([]recent, r.rawN, r.rawN+len(r.added))
		for i := range items {
			items[i] = recent{SID: d.str(), MID: d.str(), Mention: d.byte() == 1}
		}
		// raw was checked when the entry was read (readRing).
		*r = ringOf(append(items, r.added...))
	}
	return r.items
}

func (r *recentRing) set(items []recent) { *r = ringOf(items) }

func (r *recentRing) len() int {
	if r.decoded {
		return len(r.items)
	}
	return r.rawN + len(r.added)
}

// add appends an item and drops the oldest beyond max. On an encoded
// ring that is slicing: the oldest items leave raw's front, the new one
// waits in added until the ring is written.
func (r *recentRing) add(it recent, max int) {
	if r.decoded {
		r.items = append(r.items, it)
		if n := len(r.items) - max; n > 0 {
			r.items = append(r.items[:0], r.items[n:]...)
		}
		return
	}
	r.added = append(r.added, it)
	for r.len() > max {
		if r.rawN == 0 {
			r.added = r.added[1:]
			continue
		}
		d := decoder{s: r.raw}
		skipItem(&d)
		r.raw, r.rawN = d.s, r.rawN-1
	}
}

// appendTo writes the ring as the record keeps it: the count, then the
// items.
func (r *recentRing) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(r.len()))
	if !r.decoded {
		b = append(b, r.raw...)
		for _, it := range r.added {
			b = appendItem(b, it)
		}
		return b
	}
	for _, it := range r.items {
		b = appendItem(b, it)
	}
	return b
}

// size is about the bytes appendTo writes.
func (r *recentRing) size() int {
	n := binary.MaxVarintLen64 + len(r.raw)
	for _, it := range r.items {
		n += 3 + len(it.SID) + len(it.MID)
	}
	for _, it := range r.added {
		n += 3 + len(it.SID) + len(it.MID)
	}
	return n
}

func appendItem(b []byte, it recent) []byte {
	b = appendStr(b, it.SID)
	b = appendStr(b, it.MID)
	if it.Mention {
		return append(b, 1)
	}
	return append(b, 0)
}

func skipItem(d *decoder) {
	d.str()
	d.str()
	d.byte()
}

// readRing takes n encoded items from d without decoding them, checking
// that they are well-formed.
func (d *decoder) readRing(n int) recentRing {
	start := d.s
	for i := 0; i < n && d.err == nil; i++ {
		skipItem(d)
	}
	if d.err != nil {
		return recentRing{}
	}
	return recentRing{raw: start[:len(start)-len(d.s)], rawN: n}
}
