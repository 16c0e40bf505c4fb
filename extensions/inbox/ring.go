package inbox

import (
	"encoding/binary"
	"errors"

	"github.com/xmppd/xmppd/store"
)

// The ring of a conversation's newest unread messages lives apart from its
// entry, one small key per message: Map "inbox.unread", owner → conv +
// ringSep + slot (4 bytes, big-endian) → a flag byte (1: it mentions the
// user), the stanza-id (str, codec.go) and the message's id attribute.
// Kept in the entry, a full ring (a hundred items, ~6 KB) was decoded,
// encoded and rewritten (on bbolt overflow pages) with every message,
// though only markers read it.
//
// The slots are a ring buffer: item number c (counting every item the
// conversation ever had) is in slot c mod RingCap, and the entry keeps
// RingHead (the next c), RingN (the live items are RingHead-RingN ..
// RingHead-1, oldest first) and RingMent (how many of them mention the
// user). So a new unread message is one Put, over the oldest item's slot
// when the ring is full: one bbolt leaf page, where keys by stanza-id
// (a Put at one end, a Delete at the other, splits and merges) dirtied
// two or three. Reading up to a position only lowers RingN: no Delete;
// a slot no longer live is written over later. The user's own messages
// do not touch the ring. Until the ring first wraps (RingCap 0: an entry
// moved from an earlier version) item c is in slot c; a ring laid out for
// another [inbox] recent_unread is laid out again when next added to.
const (
	unreadName = "inbox.unread"
	// ringSep ends the conversation in a key: NUL is in no JID, so one
	// conversation's prefix is never the start of another's keys.
	ringSep = "\x00"
)

// ringTx is a conversation's ring inside a write transaction (modify
// opens it). Its first store error sticks, and modify returns it. Most
// changes (room messages, the user's own) never use it: its map and key
// prefix are made on first use.
type ringTx struct {
	tx          *store.Tx
	owner, conv string
	m           store.TxMap
	prefix      string // conv + ringSep, once opened
	err         error
}

func openRing(tx *store.Tx, owner, conv string) ringTx {
	return ringTx{tx: tx, owner: owner, conv: conv}
}

// store returns the ring's map, opening it on first use.
func (r *ringTx) store() store.TxMap {
	if r.prefix == "" {
		r.m, r.prefix = r.tx.Map(unreadName), r.conv+ringSep
	}
	return r.m
}

// end is above every key of the conversation.
func (r *ringTx) end() string { return r.conv + "\x01" }

func (r *ringTx) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// slotKey is the key of item number c.
func (en *entry) slotKey(c int) string {
	if en.RingCap > 0 {
		c %= en.RingCap
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(c))
	en.ring.store()
	return en.ring.prefix + string(b[:])
}

func encodeItem(it recent) []byte {
	b := make([]byte, 1, 2+len(it.SID)+len(it.MID))
	b[0] = byte(b2i(it.Mention))
	return append(appendStr(b, it.SID), it.MID...)
}

func decodeItem(v []byte) (it recent, ok bool) {
	if len(v) == 0 || v[0] > 1 {
		return it, false
	}
	d := decoder{s: string(v[1:])}
	it = recent{SID: d.str(), Mention: v[0] == 1}
	it.MID = d.s
	return it, d.err == nil && it.SID != ""
}

// ringGet reads item number c; ok is false when its slot holds none.
func (en *entry) ringGet(c int) (recent, bool) {
	r := &en.ring
	if r.err != nil {
		return recent{}, false
	}
	v, err := r.store().Get(r.owner, en.slotKey(c))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.fail(err)
		}
		return recent{}, false
	}
	return decodeItem(v)
}

// ringSet writes it as item number c.
func (en *entry) ringSet(c int, it recent) {
	if r := &en.ring; r.err == nil {
		r.fail(r.store().Put(r.owner, en.slotKey(c), encodeItem(it)))
	}
}

// ringPut writes it as the newest item.
func (en *entry) ringPut(it recent) {
	en.ringSet(en.RingHead, it)
	en.RingHead++
	en.RingN, en.RingMent = en.RingN+1, en.RingMent+b2i(it.Mention)
}

// ringItems reads the live items, oldest first.
func (en *entry) ringItems() []recent {
	var items []recent
	for c := en.RingHead - en.RingN; c < en.RingHead; c++ {
		if it, ok := en.ringGet(c); ok {
			items = append(items, it)
		}
	}
	return items
}

// ringAdd remembers an unread message; when the ring holds max items, it
// takes the oldest one's slot. Items are kept in stanza-id order (what
// ringDropUpTo relies on): one that comes after a newer one (messages of
// different senders committed in another order than their ids were
// given) moves those up a slot.
func (en *entry) ringAdd(it recent, max int) {
	if en.RingCap != max && (en.RingCap != 0 || en.RingHead > max) {
		en.ringLayOut(max)
	}
	// Item c < RingHead <= max is in slot c either way.
	en.RingCap = max
	var later []recent // the items after it, newest first
	for c := en.RingHead - 1; c >= en.RingHead-en.RingN; c-- {
		x, ok := en.ringGet(c)
		if !ok || x.SID <= it.SID {
			break
		}
		later = append(later, x)
	}
	if en.RingN >= max {
		if len(later) >= en.RingN {
			return // it is the oldest of a full ring
		}
		if en.RingMent > 0 {
			if old, ok := en.ringGet(en.RingHead - en.RingN); ok && old.Mention {
				en.RingMent--
			}
		}
		en.RingN = max - 1
	}
	if k := len(later); k > 0 {
		// it takes the place of the oldest of them, each of them the
		// next one's, and the newest is added.
		en.ringSet(en.RingHead-k, it)
		for i := 1; i < k; i++ {
			en.ringSet(en.RingHead-k+i, later[k-i])
		}
		en.RingMent += b2i(it.Mention) - b2i(later[0].Mention)
		it = later[0]
	}
	en.ringPut(it)
}

// ringLayOut writes the newest max items again, in the slots of a ring
// of max.
func (en *entry) ringLayOut(max int) {
	items := en.ringItems()
	items = items[len(items)-min(len(items), max):]
	en.ringReset()
	en.RingCap = max
	for _, it := range items {
		en.ringPut(it)
	}
}

// ringReset deletes every slot and starts the ring empty, not wrapped.
func (en *entry) ringReset() {
	r := &en.ring
	if r.err == nil {
		_, err := r.store().DeleteRange(r.owner, r.conv+ringSep, r.end())
		r.fail(err)
	}
	en.RingHead, en.RingCap, en.RingN, en.RingMent = 0, 0, 0, 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ringDropUpTo forgets the items up to stanza-id x and reports whether
// there were any; it reads those and the first one kept.
func (en *entry) ringDropUpTo(x string) bool {
	n, ment := 0, 0
	for c := en.RingHead - en.RingN; c < en.RingHead; c++ {
		it, ok := en.ringGet(c)
		if ok && it.SID > x {
			break
		}
		n, ment = n+1, ment+b2i(it.Mention) // an unreadable slot goes too
	}
	en.RingN, en.RingMent = en.RingN-n, max(en.RingMent-ment, 0)
	return n > 0
}

// ringClear forgets every item; their slots are written over later.
func (en *entry) ringClear() { en.RingN, en.RingMent = 0, 0 }

// ringFind returns the newest item for which match is true.
func (en *entry) ringFind(match func(it recent) bool) (recent, bool) {
	for c := en.RingHead - 1; c >= en.RingHead-en.RingN; c-- {
		if it, ok := en.ringGet(c); ok && match(it) {
			return it, true
		}
	}
	return recent{}, false
}

// ringHas says whether the message with stanza-id sid is remembered.
func (en *entry) ringHas(sid string) bool {
	_, ok := en.ringFind(func(it recent) bool { return it.SID == sid })
	return ok
}

// sidOf finds the stanza-id of an unread message by its id attribute,
// the newest first.
func (en *entry) sidOf(mid string) string {
	it, _ := en.ringFind(func(it recent) bool { return it.MID == mid })
	return it.SID
}

// migrateRing moves a ring kept in the entry by an earlier version
// (entry.legacy) to its keys, and reports whether there was one: the
// entry must then be written without it.
func (en *entry) migrateRing() bool {
	items, ok := en.legacy.items()
	if !ok {
		return false
	}
	en.legacy = legacyRing{}
	en.ringReset() // no slot should be there yet; should one be, it goes
	for _, it := range items {
		if it.SID != "" {
			en.ringPut(it)
		}
	}
	return true
}

// legacyRing is a ring as entries of earlier versions kept it: items in
// JSON, or still encoded (a view into the record, codec.go) until it is
// moved.
type legacyRing struct {
	json []recent
	raw  string
	rawN int
}

// items decodes the ring; ok is false when there is none.
func (l *legacyRing) items() ([]recent, bool) {
	if l.json != nil {
		return l.json, true
	}
	if l.rawN == 0 {
		return nil, false
	}
	d := decoder{s: l.raw}
	items := make([]recent, l.rawN)
	for i := range items {
		items[i] = recent{SID: d.str(), MID: d.str(), Mention: d.byte() == 1}
	}
	return items, true // raw was checked when the entry was read (readLegacyRing)
}

func skipItem(d *decoder) {
	d.str()
	d.str()
	d.byte()
}

// readLegacyRing takes n encoded items from d without decoding them,
// checking that they are well-formed.
func (d *decoder) readLegacyRing(n int) legacyRing {
	start := d.s
	for i := 0; i < n && d.err == nil; i++ {
		skipItem(d)
	}
	if d.err != nil {
		return legacyRing{}
	}
	return legacyRing{raw: start[:len(start)-len(d.s)], rawN: n}
}
