package muc_test

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// In a room, replies (XEP-0461) and forwards (XEP-0297) reach occupants
// and the room archive intact; the room adds only its ids.
func TestRoomRepliesAndForwardsAreKeptIntact(t *testing.T) {
	srv, _ := start(t)
	alice, bob := login(t, srv, "alice", "a"), login(t, srv, "bob", "b")
	createRoom(t, alice, "team", "Alice", nil)
	join(t, bob, "team", "Bob")
	bob.Sendf("<message to='%s' type='groupchat' id='r1'><body>Alice\nagreed</body>"+
		"<reply xmlns='urn:xmpp:reply:0' to='%s' id='unknown-stanza-id'/>"+
		"<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='6'/></fallback></message>", roomJID("team"), occ("team", "Alice"))
	bob.Sendf("<message to='%s' type='groupchat' id='f1'><body>FW</body><forwarded xmlns='urn:xmpp:forward:0'>"+
		"<delay xmlns='urn:xmpp:delay' stamp='2026-01-02T03:04:05Z'/>"+
		"<message xmlns='jabber:client' from='carol@localhost/x' to='bob@localhost' id='o1' type='chat'><body>the plan</body></message>"+
		"</forwarded></message>", roomJID("team"))
	check := func(where string, reply, fwd *wire.Element) {
		t.Helper()
		if r := reply.Child("reply", "urn:xmpp:reply:0"); r == nil || r.Attr("id") != "unknown-stanza-id" || r.Attr("to") != occ("team", "Alice") ||
			reply.Child("fallback", "urn:xmpp:fallback:0") == nil {
			t.Errorf("%s: reply not intact: %s", where, reply)
		}
		f := fwd.Child("forwarded", "urn:xmpp:forward:0")
		if f == nil || f.Child("delay", "urn:xmpp:delay").Attr("stamp") != "2026-01-02T03:04:05Z" ||
			f.Child("message", "jabber:client").Attr("from") != "carol@localhost/x" || f.Child("message", "jabber:client").ChildText("body", "") != "the plan" {
			t.Errorf("%s: forward not intact: %s", where, fwd)
		}
	}
	reply := roomMessage(alice, occ("team", "Bob"), "r1")
	fwd := roomMessage(alice, occ("team", "Bob"), "f1")
	check("delivered", reply, fwd)
	rs, _ := mustRoomQuery(t, alice, "team", "")
	if len(rs) != 2 {
		t.Fatalf("room archive: %d entries, want 2", len(rs))
	}
	check("archived", rs[0].msg, rs[1].msg)
}
