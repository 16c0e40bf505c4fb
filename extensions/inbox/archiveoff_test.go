package inbox_test

import (
	"testing"

	"github.com/xmppd/xmppd/extensions/carbons"
	"github.com/xmppd/xmppd/extensions/inbox"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestInboxWithArchivingOff: with [mam] enabled = false and [muc] archive
// = false the inbox still counts 1:1 and room messages (it keeps its own
// store), and neither archive gets a single entry.
func TestInboxWithArchivingOff(t *testing.T) {
	mm, m := mam.New(), muc.New()
	mm.Config.Enabled, m.Config.Archive = false, false
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(mm, pep.New(), carbons.New(), inbox.New(), m))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, pw)
	}
	if _, err := m.CreateRoom(muc.RoomSpec{JID: room, Owners: []string{"alice@localhost"}, Members: []string{"bob@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice, bob := online(t, srv, "alice", "a"), online(t, srv, "bob", "b")
	send(alice, "bob@localhost", "m1", "one")
	send(alice, "bob@localhost", "m2", "two")
	bob.Expect("two", func(el *wire.Element) bool { return el.ChildText("body", "jabber:client") == "two" })
	joinRoom(t, alice, "Alice")
	groupchat(t, alice, "g1", "hello room")

	if got := unreadOf(t, bob, "alice@localhost"); got != "2" {
		t.Errorf("bob's unread from alice: %q, want 2", got)
	}
	if got := unreadOf(t, bob, room); got != "1" {
		t.Errorf("bob's unread in the room: %q, want 1", got)
	}
	for _, name := range []string{"mam.archive", "muc/archive"} {
		n := 0
		if err := srv.Store().Archive(name).Owners(func(string) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("archive %s has %d owners with archiving off", name, n)
		}
	}
}
