package inbox_test

import (
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const room = "team@conference.localhost"

func joinRoom(t *testing.T, c *xmppdtest.Client, nick string) {
	t.Helper()
	c.Sendf("<presence to='%s/%s'><x xmlns='%s'/></presence>", room, nick, muc.NS)
	c.Expect("subject of "+room, func(el *wire.Element) bool {
		if el.Name == "presence" && el.Attr("type") == "error" {
			t.Fatalf("join refused: %s", el)
		}
		return el.Name == "message" && el.Attr("from") == room && el.Child("subject", "jabber:client") != nil
	})
}

// groupchat sends a message to the room and returns its room stanza-id,
// read from the copy c gets back.
func groupchat(t *testing.T, c *xmppdtest.Client, id, body string) string {
	t.Helper()
	c.Sendf("<message to='%s' type='groupchat' id='%s'><body>%s</body></message>", room, id, body)
	m := c.Expect("echo of "+id, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "groupchat" && el.ChildText("body", "jabber:client") == body
	})
	sid := m.Child("stanza-id", nsSID)
	if sid == nil || sid.Attr("by") != room {
		t.Fatalf("no stanza-id by the room: %s", m)
	}
	return sid.Attr("id")
}

// TestRoomsInInbox: a room message counts for a member who is not in the
// room and for an occupant who is no member, not for its sender; a
// displayed marker to the room and a XEP-0490 publish for it move the
// read position.
func TestRoomsInInbox(t *testing.T) {
	m := muc.New()
	srv := start(t, xmppdtest.WithExtensions(m))
	if _, err := m.CreateRoom(muc.RoomSpec{JID: room, Owners: []string{"alice@localhost"}, Members: []string{"bob@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")     // member, not joined
	carol := online(t, srv, "carol", "c") // occupant, no member
	dave := online(t, srv, "dave", "d")   // neither
	joinRoom(t, alice, "Alice")
	joinRoom(t, carol, "Carol")

	sid1 := groupchat(t, alice, "g1", "hello")
	sid2 := groupchat(t, alice, "g2", "again")
	carol.Expect("g2", func(el *wire.Element) bool { return el.ChildText("body", "jabber:client") == "again" })

	if got := unreadOf(t, bob, room); got != "2" {
		t.Errorf("member not in the room: unread = %s, want 2", got)
	}
	if got := unreadOf(t, carol, room); got != "2" {
		t.Errorf("occupant: unread = %s, want 2", got)
	}
	if got := unreadOf(t, alice, room); got != "0" {
		t.Errorf("sender: unread = %s, want 0", got)
	}
	entries, _ := query(t, bob, "")
	if len(entries) != 1 || entries[0].body != "again" {
		t.Errorf("bob's inbox = %+v, want the room with its last message", entries)
	}
	if entries, _ := query(t, dave, ""); len(entries) != 0 {
		t.Errorf("dave (neither member nor occupant) has %+v", entries)
	}

	// carol marks the first message displayed (by its room stanza-id).
	carol.Sendf("<message to='%s' type='groupchat'><displayed xmlns='%s' id='%s'/></message>", room, nsMark, sid1)
	carol.Sync()
	if got := unreadOf(t, carol, room); got != "1" {
		t.Errorf("occupant after a marker on the first: unread = %s, want 1", got)
	}

	// bob's other device read up to the last one (XEP-0490, by = room).
	res := bob.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:mds:displayed:0'>"+
		"<item id='"+room+"'><displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='"+room+"' id='"+sid2+"'/></displayed></item>"+
		"</publish></pubsub>")
	if res.Attr("type") != "result" {
		t.Fatalf("MDS publish: %s", res)
	}
	if got := unreadOf(t, bob, room); got != "0" {
		t.Errorf("member after MDS on the last: unread = %s, want 0", got)
	}
	_, fin := query(t, bob, "")
	if got := finValue(fin, "active-conversations"); got != "0" {
		t.Errorf("active-conversations = %s, want 0", got)
	}
}

// TestRoomMentionsCountSeparately: a room message that mentions a member
// counts as an unread mention for that member only, and reading past it
// clears the count.
func TestRoomMentionsCountSeparately(t *testing.T) {
	m := muc.New()
	srv := start(t, xmppdtest.WithExtensions(m))
	if _, err := m.CreateRoom(muc.RoomSpec{JID: room, Owners: []string{"alice@localhost"}, Members: []string{"bob@localhost", "carol@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	carol := online(t, srv, "carol", "c")
	joinRoom(t, alice, "Alice")
	groupchat(t, alice, "g1", "plain")
	alice.Sendf("<message to='%s' type='groupchat' id='g2'><body>bob: please</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='0' end='3' uri='xmpp:bob@localhost'/></message>", room)
	echo := alice.Expect("echo of g2", func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == "g2" })
	sid := echo.Child("stanza-id", nsSID).Attr("id")
	mentionsOf := func(c *xmppdtest.Client) string {
		entries, fin := query(t, c, "")
		for _, e := range entries {
			if e.jid == room {
				return e.el.Attr("mentions") + "/" + finValue(fin, "unread-mentions")
			}
		}
		t.Fatalf("no inbox entry for the room: %+v", entries)
		return ""
	}
	if got := mentionsOf(bob); got != "1/1" {
		t.Errorf("bob's mentions (entry/total) = %s, want 1/1", got)
	}
	if got := mentionsOf(carol); got != "0/0" {
		t.Errorf("carol's mentions = %s, want 0/0", got)
	}
	bob.Sendf("<message to='%s' type='groupchat'><displayed xmlns='%s' id='%s'/></message>", room, nsMark, sid)
	bob.Sync()
	if got := mentionsOf(bob); got != "0/0" {
		t.Errorf("after reading: bob's mentions = %s, want 0/0", got)
	}
}
