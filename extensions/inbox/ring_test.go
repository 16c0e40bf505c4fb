package inbox

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
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

// chatXML is about a chat message as delivered, with its stanza-id.
var chatXML = "<message from='alice@localhost/phone' to='bob@localhost' type='chat' id='5e0f6a3c-2a7c-4f0e-9d7c-1a2b3c4d5e6f'>" +
	"<body>" + strings.Repeat("hello ", 20) + "</body><markable xmlns='urn:xmpp:chat-markers:0'/>" +
	"<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='0SID0000000000000000'/></message>"

// BenchmarkIncomingFullRing: what the inbox adds to the commit of an
// incoming message (read, change and write the recipient's entry and its
// ring; no fsync) in a conversation whose ring of unread messages is full.
func BenchmarkIncomingFullRing(b *testing.B) {
	f := newRingFixture(b)
	for range 2 * f.e.Config.RecentUnread {
		f.incoming(chatXML)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.incoming(chatXML)
	}
	raw, _ := f.e.convs.Get(testOwner, testPeer)
	b.ReportMetric(float64(len(raw)), "entry-bytes")
}
