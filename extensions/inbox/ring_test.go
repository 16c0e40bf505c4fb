package inbox

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// ringFixture drives 1:1 conversations straight on a store.
type ringFixture struct {
	t  testing.TB
	e  *Extension
	db *store.DB
	n  int
}

func newRingFixture(t testing.TB) *ringFixture {
	db, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := New()
	e.db, e.convs = db, db.Map(storeName)
	return &ringFixture{t: t, e: e, db: db}
}

const (
	testOwner = "bob@localhost"
	testPeer  = "alice@localhost"
)

// incoming counts one message from testPeer to testOwner (as
// Extension.incoming does) and returns its stanza-id.
func (f *ringFixture) incoming(xml string) string {
	f.t.Helper()
	f.n++
	sid := fmt.Sprintf("0SID%016d", f.n) // as long as xmppd's
	last := lastMessage{ID: sid, At: time.Unix(int64(f.n), 0).UTC(), From: testPeer + "/phone", XML: xml}
	err := f.db.Update(func(tx *store.Tx) error {
		_, _, err := modify(tx, testOwner, testPeer, true, f.e.counter(last, false, fmt.Sprintf("5e0f6a3c-2a7c-4f0e-9d7c-%012d", f.n)))
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return sid
}

// messages counts n small incoming messages and returns their stanza-ids.
func (f *ringFixture) messages(n int) (ids []string) {
	for range n {
		ids = append(ids, f.incoming("<message/>"))
	}
	return ids
}

// change runs fn on testOwner's entry of conv (modify, no entry made)
// and returns the entry as stored after it.
func (f *ringFixture) change(conv string, fn func(en *entry) bool) entry {
	f.t.Helper()
	err := f.db.Update(func(tx *store.Tx) error {
		_, _, err := modify(tx, testOwner, conv, false, fn)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.stored(conv)
}

func (f *ringFixture) raw(conv string) []byte {
	f.t.Helper()
	raw, err := f.e.convs.Get(testOwner, conv)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

func (f *ringFixture) stored(conv string) entry {
	f.t.Helper()
	en, err := decodeEntry(testOwner, conv, f.raw(conv))
	if err != nil {
		f.t.Fatal(err)
	}
	return en
}

// ring lists the live items of testOwner's conversation conv, oldest
// first.
func (f *ringFixture) ring(conv string) (items []recent) {
	f.t.Helper()
	err := f.db.View(func(tx *store.Tx) error {
		raw, err := tx.Map(storeName).Get(testOwner, conv)
		if err != nil {
			return err
		}
		en, err := decodeEntry(testOwner, conv, raw)
		if err != nil {
			return err
		}
		en.ring = openRing(tx, testOwner, conv)
		items = en.ringItems()
		return en.ring.err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return items
}

// slots returns the keys stored for testOwner's conversation conv.
func (f *ringFixture) slots(conv string) map[string]string {
	f.t.Helper()
	out := map[string]string{}
	err := f.db.View(func(tx *store.Tx) error {
		return tx.Map(unreadName).All(testOwner, func(k string, v []byte) error {
			if strings.HasPrefix(k, conv+ringSep) {
				out[k] = string(v)
			}
			return nil
		})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func sids(items []recent) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.SID)
	}
	return out
}

// chatXML is about a chat message as delivered, with its stanza-id.
var chatXML = "<message from='alice@localhost/phone' to='bob@localhost' type='chat' id='5e0f6a3c-2a7c-4f0e-9d7c-1a2b3c4d5e6f'>" +
	"<body>" + strings.Repeat("hello ", 20) + "</body><markable xmlns='urn:xmpp:chat-markers:0'/>" +
	"<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='0SID0000000000000000'/></message>"

// BenchmarkIncomingFullRing: what the inbox adds to the commit of an
// incoming message (read, change and write the recipient's entry and its
// ring; no fsync) in conversations whose ring of unread messages is full:
// one message a transaction, and groups of 32 messages to 64 users (as
// the server's group commit has them).
func BenchmarkIncomingFullRing(b *testing.B) {
	for _, c := range []struct{ owners, group int }{{1, 1}, {64, 32}} {
		b.Run(fmt.Sprintf("owners=%d/group=%d", c.owners, c.group), func(b *testing.B) {
			f := newRingFixture(b)
			owners := make([]string, c.owners)
			for i := range owners {
				owners[i] = fmt.Sprintf("bob%d@localhost", i)
			}
			msgs := func(n int) {
				for n > 0 {
					k := min(n, c.group)
					f.incomingTo(owners, k)
					n -= k
				}
			}
			msgs(2 * f.e.Config.RecentUnread * c.owners)
			b.ReportAllocs()
			b.ResetTimer()
			msgs(b.N)
			raw, _ := f.e.convs.Get(owners[0], testPeer)
			b.ReportMetric(float64(len(raw)), "entry-bytes")
		})
	}
}

// incomingTo counts n messages from testPeer in one transaction, to
// owners in turn.
func (f *ringFixture) incomingTo(owners []string, n int) {
	err := f.db.Update(func(tx *store.Tx) error {
		for range n {
			f.n++
			last := lastMessage{ID: fmt.Sprintf("0SID%016d", f.n), At: time.Unix(int64(f.n), 0).UTC(), From: testPeer + "/phone", XML: chatXML}
			_, _, err := modify(tx, owners[f.n%len(owners)], testPeer, true, f.e.counter(last, false, fmt.Sprintf("5e0f6a3c-2a7c-4f0e-9d7c-%012d", f.n)))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// An incoming message to a conversation with a full ring writes a small
// entry (its size does not grow with the ring) and one ring slot, the
// oldest item's; the user's own message leaves the ring alone.
func TestIncomingMessageWritesOneSmallItem(t *testing.T) {
	f := newRingFixture(t)
	f.incoming(chatXML)
	small := len(f.raw(testPeer))
	for range 2*f.e.Config.RecentUnread + 7 {
		f.incoming(chatXML)
	}
	before, slots := f.ring(testPeer), f.slots(testPeer)
	sid := f.incoming(chatXML)
	after, slotsAfter := f.ring(testPeer), f.slots(testPeer)
	if len(before) != 100 || !slices.Equal(sids(after), append(sids(before[1:]), sid)) {
		t.Fatalf("ring of %d went from %q to %q, want the oldest out and %s in", len(before), sids(before), sids(after), sid)
	}
	if it := after[len(after)-1]; it.MID != fmt.Sprintf("5e0f6a3c-2a7c-4f0e-9d7c-%012d", f.n) || it.Mention {
		t.Errorf("newest item %+v", it)
	}
	changed := 0
	for k, v := range slotsAfter {
		if slots[k] != v {
			changed++
		}
	}
	if len(slots) != 100 || len(slotsAfter) != 100 || changed != 1 {
		t.Errorf("%d slots, then %d, %d of them written; want 100 and 1", len(slots), len(slotsAfter), changed)
	}
	raw := f.raw(testPeer)
	if len(raw) > small+8 || len(raw) > len(chatXML)+100 {
		t.Errorf("entry of %d bytes with a full ring, %d with one item", len(raw), small)
	}
	en := f.stored(testPeer)
	if en.Unread != f.n || en.RingN != 100 || en.RingMent != 0 || en.RingCap != 100 || raw[0] != entryV3 {
		t.Errorf("entry unread %d, ring %d/%d of %d, version %d", en.Unread, en.RingN, en.RingMent, en.RingCap, raw[0])
	}
	// The user's own message: the last message, no count, no ring item.
	err := f.db.Update(func(tx *store.Tx) error {
		last := lastMessage{ID: "0SID9999999999999999", At: time.Now().UTC(), From: testOwner + "/desk", XML: "<message/>"}
		_, _, err := modify(tx, testOwner, testPeer, true, f.e.counter(last, true, "own"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.slots(testPeer); !maps.Equal(got, slotsAfter) {
		t.Error("own message changed the ring")
	}
	if en := f.stored(testPeer); en.Unread != f.n || en.Last.XML != "<message/>" {
		t.Errorf("after own message: unread %d, last %q", en.Unread, en.Last.XML)
	}
}

// A ring laid out for another recent_unread is laid out again, keeping
// the newest items, when next added to.
func TestRingSizeChanges(t *testing.T) {
	f := newRingFixture(t)
	f.e.Config.RecentUnread = 5
	ids := f.messages(7)
	f.e.Config.RecentUnread = 3
	ids = append(ids, f.messages(1)...)
	if got := sids(f.ring(testPeer)); !slices.Equal(got, ids[5:]) || len(f.slots(testPeer)) != 3 {
		t.Errorf("shrunk to 3: %q in %d slots, want %q", got, len(f.slots(testPeer)), ids[5:])
	}
	f.e.Config.RecentUnread = 6
	ids = append(ids, f.messages(4)...)
	if got := sids(f.ring(testPeer)); !slices.Equal(got, ids[6:]) || len(f.slots(testPeer)) != 6 {
		t.Errorf("grown to 6: %q in %d slots, want %q", got, len(f.slots(testPeer)), ids[6:])
	}
	if en := f.stored(testPeer); en.Unread != len(ids) || en.RingN != 6 || en.RingCap != 6 {
		t.Errorf("unread %d, ring %d of %d", en.Unread, en.RingN, en.RingCap)
	}
}

// Read positions with the ring apart: forward only; up to a remembered
// item leaves the items after it; before every remembered item leaves
// the count (an overestimate); at the last message nothing is unread;
// markAllRead empties the ring.
func TestReadPositionsOnTheRing(t *testing.T) {
	f := newRingFixture(t)
	f.e.Config.RecentUnread = 3
	ids := f.messages(5)
	mid := func(i int) string { return fmt.Sprintf("5e0f6a3c-2a7c-4f0e-9d7c-%012d", i+1) }
	read := func(x string, want bool) entry {
		t.Helper()
		return f.change(testPeer, func(en *entry) bool {
			if got := en.readUpTo(x); got != want {
				t.Errorf("readUpTo(%s) = %v, want %v", x, got, want)
			}
			return true
		})
	}
	check := func(what string, en entry, unread int, ring []string) {
		t.Helper()
		if got := sids(f.ring(testPeer)); en.Unread != unread || en.RingN != len(ring) || !slices.Equal(got, ring) {
			t.Errorf("%s: unread %d, ring %d %q; want %d, %q", what, en.Unread, en.RingN, got, unread, ring)
		}
	}
	check("5 messages", f.stored(testPeer), 5, ids[2:])
	check("a forgotten one", read(ids[0], true), 5, ids[2:])
	check("backwards", read(ids[0], false), 5, ids[2:])
	// sidOf: by id attribute, only among the remembered.
	var got []string
	f.change(testPeer, func(en *entry) bool {
		got = []string{en.sidOf(mid(1)), en.sidOf(mid(3)), en.sidOf("nope")}
		return false
	})
	if !slices.Equal(got, []string{"", ids[3], ""}) {
		t.Errorf("sidOf = %q", got)
	}
	check("a remembered one", read(ids[2], true), 2, ids[3:])
	check("between", read(ids[2]+"0", true), 2, ids[3:])
	check("the last", read(ids[4], true), 0, nil)
	if en := f.stored(testPeer); en.ReadID != ids[4] {
		t.Errorf("read position %s, want %s", en.ReadID, ids[4])
	}
	ids = append(ids, f.messages(2)...)
	check("2 more", f.stored(testPeer), 2, ids[5:])
	en := f.change(testPeer, func(en *entry) bool { en.markAllRead(); return true })
	check("all read", en, 0, nil)
	if en.ReadID != ids[6] {
		t.Errorf("read position %s after all read, want %s", en.ReadID, ids[6])
	}
}

// Entries of earlier versions (binary with the ring inside, JSON) are read
// as they are, and their ring moves to its keys when they are first
// written, whatever the change; markers and counts then work on it.
func TestLegacyEntryRingMoves(t *testing.T) {
	f := newRingFixture(t)
	f.e.Config.RecentUnread = 3
	old := entry{Unread: 4, Mentions: 1, Last: lastMessage{ID: "0SID0000000000000004", At: time.Unix(4, 0).UTC(), XML: "<message/>"}}
	items := []recent{
		{SID: "0SID0000000000000002", MID: "m2"},
		{SID: "0SID0000000000000003", MID: "m3", Mention: true},
		{SID: "0SID0000000000000004", MID: "m4"},
	}
	raw := encodeLegacy(&old, items)
	if err := f.e.convs.Put(testOwner, testPeer, raw); err != nil {
		t.Fatal(err)
	}
	const jsonPeer = "carol@localhost"
	if err := f.e.convs.Put(testOwner, jsonPeer, []byte(`{"last":{"id":"0SID0000000000000002","at":"2026-01-01T00:00:00Z","from":"carol@localhost/x","xml":"<message/>"},`+
		`"unread":2,"recent":[{"s":"0SID0000000000000001","m":"c1"},{"s":"0SID0000000000000002","m":"c2"}]}`)); err != nil {
		t.Fatal(err)
	}
	en, ok, err := f.e.load(testOwner, testPeer)
	if err != nil || !ok || en.Unread != 4 || en.Mentions != 1 {
		t.Fatalf("old entry read: %v %v %+v", ok, err, en)
	}
	if string(f.raw(testPeer)) != string(raw) || len(f.slots(testPeer)) != 0 {
		t.Fatal("reading an old entry wrote it")
	}

	f.n = 4
	sid := f.incoming("<message/>")
	en = f.stored(testPeer)
	if r := f.raw(testPeer); r[0] != entryV3 || len(r) > 100 {
		t.Errorf("written as version %d, %d bytes", r[0], len(r))
	}
	if got := f.ring(testPeer); !slices.Equal(got, append(items[1:], recent{SID: sid, MID: "5e0f6a3c-2a7c-4f0e-9d7c-000000000005"})) {
		t.Errorf("moved ring %+v", got)
	}
	if en.Unread != 5 || en.Mentions != 1 || en.RingN != 3 || en.RingMent != 1 {
		t.Errorf("moved entry: unread %d/%d ring %d/%d", en.Unread, en.Mentions, en.RingN, en.RingMent)
	}
	// A marker names a moved message by its id attribute.
	en = f.change(testPeer, func(en *entry) bool { return en.readUpTo(en.sidOf("m3")) })
	if en.Unread != 2 || en.Mentions != 0 || en.RingN != 2 || en.RingMent != 0 {
		t.Errorf("after marking m3: unread %d/%d ring %d/%d", en.Unread, en.Mentions, en.RingN, en.RingMent)
	}
	// A moved item that mentions the user, pushed out of a full ring.
	f.change(testPeer, func(en *entry) bool { en.ringAdd(recent{SID: "0SID0000000000000006", Mention: true}, 3); return true })
	for i, want := range []int{1, 1, 0} {
		en = f.change(testPeer, func(en *entry) bool { en.ringAdd(recent{SID: fmt.Sprintf("0SID000000000000001%d", i)}, 3); return true })
		if en.RingN != 3 || en.RingMent != want {
			t.Errorf("added %d: ring %d/%d, want 3/%d", i, en.RingN, en.RingMent, want)
		}
	}

	// A JSON entry: moved by a change that does not touch the ring.
	en = f.change(jsonPeer, func(en *entry) bool { return false })
	if r := f.raw(jsonPeer); r[0] != entryV3 || en.Unread != 2 || en.RingN != 2 {
		t.Errorf("JSON entry: version %d, unread %d, ring %d", r[0], en.Unread, en.RingN)
	}
	en = f.change(jsonPeer, func(en *entry) bool { return en.readUpTo(en.sidOf("c1")) })
	if en.Unread != 1 || !slices.Equal(sids(f.ring(jsonPeer)), []string{"0SID0000000000000002"}) {
		t.Errorf("JSON entry after marking c1: unread %d, ring %q", en.Unread, sids(f.ring(jsonPeer)))
	}
	if got := sids(f.ring(testPeer)); len(got) != 3 || got[0] != "0SID0000000000000010" {
		t.Errorf("another conversation's ring changed: %q", got)
	}
}

// Deleting the account deletes the rings too.
func TestAccountDeletionDropsRings(t *testing.T) {
	f := newRingFixture(t)
	f.messages(3)
	f.e.accountDeleted(xmppd.JID{Local: "bob", Domain: "localhost"})
	if len(f.slots(testPeer)) != 0 {
		t.Error("ring left after the account was deleted")
	}
	if _, err := f.e.convs.Get(testOwner, testPeer); err == nil {
		t.Error("entry left after the account was deleted")
	}
}

// Messages committed in another order than their stanza-ids were given
// are kept in stanza-id order: a read position drops exactly the items up
// to it.
func TestRingKeepsStanzaIDOrder(t *testing.T) {
	f := newRingFixture(t)
	add := func(sid string, mention bool) {
		f.change(testPeer, func(en *entry) bool { en.ringAdd(recent{SID: sid, MID: "m" + sid, Mention: mention}, 4); return true })
	}
	if err := f.e.convs.Put(testOwner, testPeer, encodeEntry(&entry{})); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"s1", "s4", "s2", "s5", "s3"} {
		add(sid, sid == "s4")
	}
	if got := sids(f.ring(testPeer)); !slices.Equal(got, []string{"s2", "s3", "s4", "s5"}) {
		t.Fatalf("ring %q", got)
	}
	add("s0", false) // older than all: in, and out at once as the oldest
	if got := sids(f.ring(testPeer)); !slices.Equal(got, []string{"s2", "s3", "s4", "s5"}) {
		t.Fatalf("ring after s0 %q", got)
	}
	if en := f.stored(testPeer); en.RingN != 4 || en.RingMent != 1 {
		t.Errorf("ring %d/%d, want 4/1", en.RingN, en.RingMent)
	}
	en := f.change(testPeer, func(en *entry) bool { en.Unread = 9; return en.readUpTo("s4") })
	if en.Unread != 1 || en.RingN != 1 || en.RingMent != 0 || f.ring(testPeer)[0].MID != "ms5" {
		t.Errorf("after reading up to s4: unread %d, ring %d/%d %q", en.Unread, en.RingN, en.RingMent, sids(f.ring(testPeer)))
	}
}
