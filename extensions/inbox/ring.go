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
	raw     string   // encoded items, as in the record (codec.go)
	n       int      // items in raw
	items   []recent // the items, once decoded
	decoded bool     // items, not raw, is current
}

func ringOf(items []recent) recentRing { return recentRing{items: items, decoded: true} }

// all returns the items, oldest first; the caller may change them and
// must set them back with set if it changes the slice's length.
func (r *recentRing) all() []recent {
	if !r.decoded {
		d := decoder{s: r.raw}
		r.items = make([]recent, r.n)
		for i := range r.items {
			r.items[i] = recent{SID: d.str(), MID: d.str(), Mention: d.byte() == 1}
		}
		// raw was checked when the entry was read (skipRing).
		r.raw, r.decoded = "", true
	}
	return r.items
}

func (r *recentRing) set(items []recent) { *r = ringOf(items) }

func (r *recentRing) len() int {
	if r.decoded {
		return len(r.items)
	}
	return r.n
}

// add appends an item and drops the oldest beyond max.
func (r *recentRing) add(it recent, max int) {
	if r.decoded {
		r.items = append(r.items, it)
		if n := len(r.items) - max; n > 0 {
			r.items = append(r.items[:0], r.items[n:]...)
		}
		return
	}
	b := make([]byte, 0, len(r.raw)+len(it.SID)+len(it.MID)+2*binary.MaxVarintLen64+1)
	b = append(b, r.raw...)
	b = appendItem(b, it)
	raw, n := string(b), r.n+1
	for ; n > max; n-- {
		d := decoder{s: raw}
		skipItem(&d)
		raw = d.s
	}
	r.raw, r.n = raw, n
}

// appendTo writes the ring as the record keeps it: the count, then the
// items.
func (r *recentRing) appendTo(b []byte) []byte {
	if !r.decoded {
		b = binary.AppendUvarint(b, uint64(r.n))
		return append(b, r.raw...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.items)))
	for _, it := range r.items {
		b = appendItem(b, it)
	}
	return b
}

// size is about the bytes appendTo writes.
func (r *recentRing) size() int {
	if !r.decoded {
		return binary.MaxVarintLen64 + len(r.raw)
	}
	n := binary.MaxVarintLen64
	for _, it := range r.items {
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
	return recentRing{raw: start[:len(start)-len(d.s)], n: n}
}
