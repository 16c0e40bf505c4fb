package mam_test

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// Replies (XEP-0461 with a XEP-0428 fallback) and forwards (XEP-0297) are
// delivered and archived intact, also when the replied-to id is unknown
// to the server.
func TestRepliesAndForwardsAreKeptIntact(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	reply := "<body>&gt; old words\nyes!</body>" +
		"<reply xmlns='urn:xmpp:reply:0' to='bob@localhost/res' id='never-seen-by-this-server'/>" +
		"<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='12'/></fallback>"
	forward := "<body>FW: lunch at noon</body>" +
		"<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-01-02T03:04:05Z'/>" +
		"<message xmlns='jabber:client' from='carol@localhost/phone' to='alice@localhost' id='orig-1' type='chat'>" +
		"<body>lunch at noon</body><stanza-id xmlns='urn:xmpp:sid:0' id='carol-archive-7' by='alice@localhost'/></message></forwarded>"
	alice.Sendf("<message to='bob@localhost' type='chat' id='rep1'>%s</message>", reply)
	alice.Sendf("<message to='bob@localhost' type='chat' id='fw1'>%s</message>", forward)
	got := map[string]*wire.Element{}
	for _, id := range []string{"rep1", "fw1"} {
		got[id] = bob.Expect(id, func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == id })
	}
	checkReply := func(where string, m *wire.Element) {
		t.Helper()
		r := m.Child("reply", "urn:xmpp:reply:0")
		fb := m.Child("fallback", "urn:xmpp:fallback:0")
		if r == nil || r.Attr("id") != "never-seen-by-this-server" || r.Attr("to") != "bob@localhost/res" ||
			fb == nil || fb.Attr("for") != "urn:xmpp:reply:0" || fb.Child("body", "urn:xmpp:fallback:0").Attr("end") != "12" ||
			m.ChildText("body", "") != "> old words\nyes!" {
			t.Errorf("%s: reply not intact: %s", where, m)
		}
	}
	checkForward := func(where string, m *wire.Element) {
		t.Helper()
		fw := m.Child("forwarded", "urn:xmpp:forward:0")
		if fw == nil {
			t.Errorf("%s: no forwarded element: %s", where, m)
			return
		}
		inner := fw.Child("message", "jabber:client")
		d := fw.Child("delay", "urn:xmpp:delay")
		if inner == nil || d == nil || d.Attr("stamp") != "2026-01-02T03:04:05Z" || inner.Attr("from") != "carol@localhost/phone" ||
			inner.Attr("id") != "orig-1" || inner.ChildText("body", "") != "lunch at noon" ||
			inner.Child("stanza-id", "urn:xmpp:sid:0").Attr("id") != "carol-archive-7" {
			t.Errorf("%s: forwarded message not intact: %s", where, m)
		}
	}
	checkReply("delivered", got["rep1"])
	checkForward("delivered", got["fw1"])
	for who, c := range map[string]*xmppdtest.Client{"alice": alice, "bob": bob} {
		rs, _ := mustQuery(t, c, "")
		if len(rs) != 2 {
			t.Fatalf("%s's archive has %d messages, want 2", who, len(rs))
		}
		checkReply(who+"'s archive", rs[0].msg)
		checkForward(who+"'s archive", rs[1].msg)
	}
}
