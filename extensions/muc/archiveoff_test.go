package muc_test

import (
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// TestRoomArchiveOff: with [muc] archive = false messages are delivered
// with the room's stanza-id, a newcomer still gets the history (kept in
// memory), a moderator still removes a recent message, the room does not
// advertise MAM and answers MAM queries feature-not-implemented, and the
// room archive stays empty.
func TestRoomArchiveOff(t *testing.T) {
	ext := muc.New()
	ext.Config.Archive = false
	srv, _ := startExt(t, ext)
	alice, bob, carol := login(t, srv, "alice", "a"), login(t, srv, "bob", "b"), login(t, srv, "carol", "c")
	createRoom(t, alice, "team", "Alice", nil)
	join(t, bob, "team", "Bob")
	groupchat(bob, "team", "b1", "first")
	groupchat(bob, "team", "b2", "spam")
	alice.Expect("first", isGroupchat(occ("team", "Bob"), "first"))
	spam := alice.Expect("spam", isGroupchat(occ("team", "Bob"), "spam"))
	sid := roomStanzaID(spam, "team")
	if sid == "" {
		t.Fatalf("no stanza-id by the room: %s", spam)
	}

	carol.Send(joinPresence("team", "Carol", ""))
	carol.Expect("history", func(el *wire.Element) bool {
		return isGroupchat(occ("team", "Bob"), "first")(el) && el.Child("delay", "urn:xmpp:delay") != nil
	})

	res := alice.IQ("set", roomJID("team"), "<moderate xmlns='urn:xmpp:message-moderate:1' id='"+sid+"'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>")
	mustResult(t, "moderating a recent message", res)
	bob.Expect("the moderation", func(el *wire.Element) bool {
		r := el.Child("retract", "urn:xmpp:message-retract:1")
		return el.Name == "message" && r != nil && r.Attr("id") == sid
	})
	res = alice.IQ("set", roomJID("team"), "<moderate xmlns='urn:xmpp:message-moderate:1' id='unknown'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>")
	mustError(t, "moderating an unknown message", res, "item-not-found")

	_, iq := roomQuery(t, alice, "team", "")
	mustError(t, "room MAM query", iq, "feature-not-implemented")
	mustError(t, "room MAM metadata", alice.IQ("get", roomJID("team"), "<metadata xmlns='urn:xmpp:mam:2'/>"), "feature-not-implemented")
	info := alice.IQ("get", roomJID("team"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	for _, f := range info.Child("query", "").ChildrenNamed("feature", "") {
		if v := f.Attr("var"); v == mamproto.NS || v == mamproto.NSExtended {
			t.Fatalf("the room advertises %s with its archive off: %s", v, info)
		}
	}
	n := 0
	if err := srv.Store().Archive("muc/archive").Owners(func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d room archives written with the archive off", n)
	}
}
