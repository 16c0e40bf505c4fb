package inbox

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
)

const testRoom = "team@conference.localhost"

// roomFixture drives the lazy room counting straight on a store.
type roomFixture struct {
	t   testing.TB
	e   *Extension
	db  *store.DB
	n   int
	ids []string
}

func newRoomFixture(t testing.TB) *roomFixture {
	db, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := New()
	e.db, e.convs = db, db.Map(storeName)
	return &roomFixture{t: t, e: e, db: db}
}

// message counts one room message from sender for the counted users.
func (f *roomFixture) message(sender string, users []string, mentioned ...string) string {
	f.t.Helper()
	f.n++
	sid := fmt.Sprintf("0SID%06d", f.n)
	f.ids = append(f.ids, sid)
	last := lastMessage{ID: sid, At: time.Unix(int64(f.n), 0).UTC(), From: testRoom + "/" + sender,
		XML: fmt.Sprintf("<message><body>%d</body></message>", f.n)}
	err := f.db.Batch(func(tx *store.Tx) error {
		return f.e.countRoomMessage(tx, testRoom, sender, fmt.Sprintf("m%d", f.n), last, users, setHash(users), mentioned)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return sid
}

func (f *roomFixture) raw(owner string) []byte {
	raw, _ := f.e.convs.Get(owner, testRoom)
	return raw
}

// unread is what owner's client sees: unread/mentions/last body.
func (f *roomFixture) unread(owner string) string {
	f.t.Helper()
	en, ok, err := f.e.load(owner, testRoom)
	if err != nil || !ok {
		f.t.Fatalf("load %s: ok %v, %v", owner, ok, err)
	}
	return fmt.Sprintf("%d/%d %s", en.Unread, en.Mentions, en.Last.XML)
}

func (f *roomFixture) read(owner, id string, ring int) {
	f.t.Helper()
	err := f.db.Batch(func(tx *store.Tx) error {
		return f.e.readInTx(tx, owner, testRoom, id, ring, func(en *entry) bool { return en.readUpTo(id) })
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func body(n int) string { return fmt.Sprintf("<message><body>%d</body></message>", n) }

// A room message rewrites no member's entry but the sender's: the counts
// come from the room's counter when the inbox is read.
func TestRoomMessageWritesOnlyTheSender(t *testing.T) {
	f := newRoomFixture(t)
	var users []string
	for i := range 100 {
		users = append(users, fmt.Sprintf("u%03d@localhost", i))
	}
	f.message("u000@localhost", users)
	before := f.raw("u099@localhost")
	sender := f.raw("u000@localhost")
	f.message("u000@localhost", users)
	f.message("u001@localhost", users, "u050@localhost")
	if string(f.raw("u099@localhost")) != string(before) {
		t.Error("a member's entry was rewritten by room messages")
	}
	if string(f.raw("u000@localhost")) == string(sender) {
		t.Error("the sender's entry does not record its own message")
	}
	if got, want := f.unread("u099@localhost"), "3/0 "+body(3); got != want {
		t.Errorf("member: %s, want %s", got, want)
	}
	if got, want := f.unread("u050@localhost"), "3/1 "+body(3); got != want {
		t.Errorf("mentioned member: %s, want %s", got, want)
	}
	if got, want := f.unread("u000@localhost"), "1/0 "+body(3); got != want {
		t.Errorf("sender of two: %s, want %s", got, want)
	}
	if got, want := f.unread("u001@localhost"), "2/0 "+body(3); got != want {
		t.Errorf("sender of one: %s, want %s", got, want)
	}
	// Read positions: a stanza-id, an id attribute (among the newest ring).
	f.read("u050@localhost", f.ids[1], 0)
	if got, want := f.unread("u050@localhost"), "1/1 "+body(3); got != want {
		t.Errorf("after reading the second: %s, want %s", got, want)
	}
	f.read("u099@localhost", "m3", 0)
	if got, want := f.unread("u099@localhost"), "3/0 "+body(3); got != want {
		t.Errorf("id attribute without a ring: %s, want %s", got, want)
	}
	f.read("u099@localhost", "m2", 10)
	if got, want := f.unread("u099@localhost"), "1/0 "+body(3); got != want {
		t.Errorf("id attribute: %s, want %s", got, want)
	}
	f.read("u099@localhost", f.ids[0], 0) // backwards: nothing changes
	if got, want := f.unread("u099@localhost"), "1/0 "+body(3); got != want {
		t.Errorf("read backwards: %s, want %s", got, want)
	}
}

// Users counted only while they are members or occupants: one who left
// keeps the count and last message of then, and counts again on return.
func TestRoomLeaveAndReturn(t *testing.T) {
	f := newRoomFixture(t)
	both := []string{"alice@localhost", "carol@localhost"}
	alone := []string{"alice@localhost"}
	f.message("alice@localhost", both)
	f.message("alice@localhost", alone)
	f.message("alice@localhost", alone)
	if got, want := f.unread("carol@localhost"), "1/0 "+body(1); got != want {
		t.Errorf("after leaving: %s, want %s", got, want)
	}
	f.message("alice@localhost", both)
	if got, want := f.unread("carol@localhost"), "2/0 "+body(4); got != want {
		t.Errorf("back: %s, want %s", got, want)
	}
	f.read("carol@localhost", f.ids[3], 0)
	if got, want := f.unread("carol@localhost"), "0/0 "+body(4); got != want {
		t.Errorf("read: %s, want %s", got, want)
	}
	if _, ok, _ := f.e.load("dave@localhost", testRoom); ok {
		t.Error("an entry for a user never counted")
	}
}

// An entry an earlier version wrote (its own counter and ring of unread
// stanza-ids) carries its count into the lazy counting, and a marker on
// one of its messages still lowers it.
func TestRoomEntryOfEarlierVersion(t *testing.T) {
	f := newRoomFixture(t)
	old := entry{Unread: 2, Mentions: 1, Last: lastMessage{ID: "0OLD2", At: time.Unix(0, 5).UTC(), XML: "<message><body>old</body></message>"}}
	items := []recent{{SID: "0OLD1", MID: "o1"}, {SID: "0OLD2", MID: "o2", Mention: true}}
	if err := f.e.convs.Put("bob@localhost", testRoom, encodeLegacy(&old, items)); err != nil {
		t.Fatal(err)
	}
	users := []string{"alice@localhost", "bob@localhost"}
	f.message("alice@localhost", users)
	if got, want := f.unread("bob@localhost"), "3/1 "+body(1); got != want {
		t.Errorf("carried: %s, want %s", got, want)
	}
	f.read("bob@localhost", "0OLD1", 0)
	if got, want := f.unread("bob@localhost"), "2/1 "+body(1); got != want {
		t.Errorf("marker on an old message: %s, want %s", got, want)
	}
	f.read("bob@localhost", f.ids[0], 0)
	if got, want := f.unread("bob@localhost"), "0/0 "+body(1); got != want {
		t.Errorf("marker on the new message: %s, want %s", got, want)
	}
}

// The index of stanza-ids keeps the newest indexKeep.
func TestRoomIndexTrim(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,240 messages")
	}
	f := newRoomFixture(t)
	users := []string{"alice@localhost", "bob@localhost"}
	// The first trim that finds more than indexKeep ids.
	for range (indexKeep/indexTrimEvery + 1) * indexTrimEvery {
		f.message("alice@localhost", users)
	}
	n := 0
	err := f.db.View(func(tx *store.Tx) error {
		return tx.Map(roomsName).Before(testRoom, setKey, func(string, []byte) error { n++; return nil })
	})
	if err != nil || n != indexKeep {
		t.Fatalf("index holds %d ids (%v), want %d", n, err, indexKeep)
	}
	f.read("bob@localhost", f.ids[len(f.ids)-2], 0)
	if got, want := f.unread("bob@localhost"), "1/0 "+body(f.n); got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// Conversation properties on a room entry: read false makes one unread,
// read true reads everything, the archive box lasts until the next
// message.
func TestRoomEntryProperties(t *testing.T) {
	f := newRoomFixture(t)
	users := []string{"alice@localhost", "bob@localhost"}
	f.message("alice@localhost", users)
	set := func(fn func(en *entry)) entry {
		t.Helper()
		en, ok, err := f.e.update("bob@localhost", testRoom, false, func(en *entry) bool { fn(en); return true })
		if err != nil || !ok {
			t.Fatalf("update: %v %v", ok, err)
		}
		return en
	}
	if en := set(func(en *entry) { en.markAllRead() }); en.Unread != 0 {
		t.Errorf("read true: unread %d", en.Unread)
	}
	if en := set(func(en *entry) {
		if en.unreadNow() == 0 {
			en.Unread = 1
		}
	}); en.Unread != 1 {
		t.Errorf("read false: unread %d, want 1", en.Unread)
	}
	if en := set(func(en *entry) { en.fileIn(true) }); en.box() != boxArchive {
		t.Errorf("box = %s, want archive", en.box())
	}
	f.message("alice@localhost", users)
	en, _, _ := f.e.load("bob@localhost", testRoom)
	if en.box() != boxInbox || en.Unread != 2 {
		t.Errorf("after a new message: box %s unread %d, want inbox 2", en.box(), en.Unread)
	}
	f.read("bob@localhost", f.ids[1], 0)
	if got, want := f.unread("bob@localhost"), "0/0 "+body(2); got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// A sender with nothing unread moves its read position past its own
// message instead of remembering it: its entry stays small however much
// it sends; one with unread messages remembers its own to leave them out.
func TestRoomSenderOwnMessages(t *testing.T) {
	f := newRoomFixture(t)
	users := []string{"alice@localhost", "bob@localhost"}
	for range 300 {
		f.message("alice@localhost", users)
	}
	own := func() int {
		en, err := stored(f.e, "alice@localhost")
		if err != nil {
			t.Fatal(err)
		}
		return len(en.Room.Own.Seqs) + en.Room.Own.Old
	}
	if n := own(); n != 0 {
		t.Errorf("a sender who read everything remembers %d own messages", n)
	}
	f.message("bob@localhost", users)
	f.message("alice@localhost", users)
	f.message("alice@localhost", users)
	if n := own(); n != 2 {
		t.Errorf("remembers %d own messages after an unread one, want 2", n)
	}
	if got, want := f.unread("alice@localhost"), "1/0 "+body(f.n); got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if got, want := f.unread("bob@localhost"), fmt.Sprintf("%d/0 %s", f.n-1, body(f.n)); got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// stored reads owner's room entry as stored.
func stored(e *Extension, owner string) (entry, error) {
	raw, err := e.convs.Get(owner, testRoom)
	if err != nil {
		return entry{}, err
	}
	return decodeEntry(owner, testRoom, raw)
}

// BenchmarkRoomMessage: what the inbox adds to a room message's commit
// (hook and store writes, no fsync), by room size: the same for 10 and
// 1,000 members, as no member's entry but the sender's is written.
func BenchmarkRoomMessage(b *testing.B) {
	for _, members := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			f := newRoomFixture(b)
			var users []string
			for i := range members {
				users = append(users, fmt.Sprintf("u%04d@localhost", i))
			}
			f.message(users[0], users) // starts every member's entry
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.message(users[i%2], users)
			}
		})
	}
}
