package muc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// Alice speaks: every occupant, alice included, receives it from
// room/alice with the same room stanza-id; a forged stanza-id is dropped.
func TestGroupchatFanout(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")
	join(t, carol, "r", "carol")

	alice.Sendf("<message to='%s' type='groupchat' id='m1'><body>hello &amp; welcome</body><stanza-id xmlns='urn:xmpp:sid:0' id='fake' by='%s'/></message>", roomJID("r"), roomJID("r"))
	var ids []string
	for _, c := range []*xmppdtest.Client{alice, bob, carol} {
		m := c.Expect("alice's message", isGroupchat(occ("r", "alice"), "hello & welcome"))
		if m.Attr("to") != c.JID.String() || m.Attr("id") != "m1" {
			t.Fatalf("%s got %s", c.JID, m)
		}
		sids := m.ChildrenNamed("stanza-id", muc.NSStanzaID)
		if len(sids) != 1 || sids[0].Attr("by") != roomJID("r") || sids[0].Attr("id") == "fake" {
			t.Fatalf("%s: stanza-id wrong: %s", c.JID, m)
		}
		ids = append(ids, sids[0].Attr("id"))
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("occupants got different stanza-ids: %v", ids)
	}
	// Messages without a body (chat states) are relayed too.
	bob.Sendf("<message to='%s' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>", roomJID("r"))
	carol.Expect("chat state", func(el *wire.Element) bool {
		return el.Attr("from") == occ("r", "bob") && el.Child("composing", "") != nil
	})
}

// History on join: the last messages with a delay from the room, then the
// subject; maxstanzas, maxchars and seconds limit it.
func TestHistoryOnJoin(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	for i := 1; i <= 3; i++ {
		groupchat(alice, "r", fmt.Sprint("m", i), fmt.Sprint("message ", i))
		alice.Expect("echo", isGroupchat(occ("r", "alice"), fmt.Sprint("message ", i)))
	}
	alice.Sendf("<message to='%s' type='groupchat'><subject>Plans</subject></message>", roomJID("r"))
	alice.Expect("subject echo", isSubject("r"))

	history := func(c *xmppdtest.Client, nick, inner string) []string {
		t.Helper()
		c.Send(joinPresence("r", nick, inner))
		c.Expect("self", selfPresence(occ("r", nick)))
		var bodies []string
		for {
			el := c.Next(5 * time.Second)
			if el.Name != "message" {
				continue
			}
			if isSubject("r")(el) {
				if el.ChildText("subject", "") != "Plans" || el.Attr("from") != occ("r", "alice") {
					t.Fatalf("subject on join: %s", el)
				}
				break
			}
			d := el.Child("delay", "urn:xmpp:delay")
			if d == nil || d.Attr("from") != roomJID("r") || d.Attr("stamp") == "" {
				t.Fatalf("history without delay: %s", el)
			}
			if el.Child("stanza-id", muc.NSStanzaID) == nil {
				t.Fatalf("history without stanza-id: %s", el)
			}
			bodies = append(bodies, el.ChildText("body", ""))
		}
		c.Sendf("<presence to='%s' type='unavailable'/>", occ("r", nick))
		c.Expect("left", presenceFrom(occ("r", nick), "unavailable"))
		return bodies
	}
	if got := history(bob, "bob", ""); strings.Join(got, ",") != "message 1,message 2,message 3" {
		t.Fatalf("default history: %v", got)
	}
	if got := history(bob, "bob", "<history maxstanzas='2'/>"); strings.Join(got, ",") != "message 2,message 3" {
		t.Fatalf("maxstanzas=2: %v", got)
	}
	if got := history(bob, "bob", "<history maxchars='0'/>"); len(got) != 0 {
		t.Fatalf("maxchars=0: %v", got)
	}
	if got := history(bob, "bob", "<history since='2099-01-01T00:00:00Z'/>"); len(got) != 0 {
		t.Fatalf("since in the future: %v", got)
	}
	if got := history(bob, "bob", "<history seconds='60'/>"); len(got) != 3 {
		t.Fatalf("seconds=60: %v", got)
	}
}

func TestSubject(t *testing.T) {
	srv, ext := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")

	// Participants may not change the subject unless the room allows it.
	bob.Sendf("<message to='%s' type='groupchat'><subject>Mine</subject></message>", roomJID("r"))
	if el := bob.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "forbidden" {
		t.Fatalf("participant subject change: %s", el)
	}
	// A moderator may; everyone sees it.
	alice.Sendf("<message to='%s' type='groupchat'><subject>Release day</subject></message>", roomJID("r"))
	s := bob.Expect("subject", isSubject("r"))
	if s.ChildText("subject", "") != "Release day" || s.Attr("from") != occ("r", "alice") {
		t.Fatalf("subject: %s", s)
	}
	// Too long: refused.
	long := strings.Repeat("x", ext.Config.MaxSubjectLength+1)
	alice.Sendf("<message to='%s' type='groupchat'><subject>%s</subject></message>", roomJID("r"), long)
	if el := alice.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "not-acceptable" {
		t.Fatalf("oversized subject: %s", el)
	}
	bob.ExpectNothing(quiet, isSubject("r"))
	configure(t, alice, "r", map[string]string{"muc#roomconfig_changesubject": "1"})
	bob.Sendf("<message to='%s' type='groupchat'><subject>Ours</subject></message>", roomJID("r"))
	if s := alice.Expect("bob's subject", isSubject("r")); s.ChildText("subject", "") != "Ours" {
		t.Fatalf("subject by participant: %s", s)
	}
}

// In a moderated room carol is a visitor: she cannot speak until a
// moderator gives her voice.
func TestVisitorsAndVoice(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", map[string]string{"muc#roomconfig_moderatedroom": "1"})
	self := join(t, carol, "r", "carol")
	if mucItem(self).Attr("role") != "visitor" {
		t.Fatalf("carol's role: %s", self)
	}
	groupchat(carol, "r", "v1", "can I speak?")
	if el := carol.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "forbidden" {
		t.Fatalf("visitor speaking: %s", el)
	}
	alice.ExpectNothing(quiet, isGroupchat(occ("r", "carol"), "can I speak?"))

	mustResult(t, "grant voice", adminSet(alice, "r", "nick='carol' role='participant'", ""))
	if p := carol.Expect("role change", selfPresence(occ("r", "carol"))); mucItem(p).Attr("role") != "participant" {
		t.Fatalf("voice: %s", p)
	}
	groupchat(carol, "r", "v2", "thanks")
	alice.Expect("carol speaks", isGroupchat(occ("r", "carol"), "thanks"))

	mustResult(t, "revoke voice", adminSet(alice, "r", "nick='carol' role='visitor'", ""))
	carol.Expect("voice revoked", func(el *wire.Element) bool {
		return selfPresence(occ("r", "carol"))(el) && mucItem(el).Attr("role") == "visitor"
	})
	// Carol, not a moderator, cannot give herself voice.
	mustError(t, "visitor grants voice", adminSet(carol, "r", "nick='carol' role='participant'", ""), "forbidden")
}

// Private messages go between occupants under their nicks, whatever the
// sender claims.
func TestPrivateMessages(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	dave := login(t, srv, "dave", "d")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")

	alice.Sendf("<message to='%s' type='chat' from='%s'><body>psst</body></message>", occ("r", "bob"), occ("r", "carol"))
	pm := bob.Expect("private message", func(el *wire.Element) bool {
		return el.Name == "message" && el.ChildText("body", "") == "psst"
	})
	if pm.Attr("from") != occ("r", "alice") || pm.Attr("to") != bob.JID.String() || pm.Attr("type") != "chat" || mucX(pm) == nil {
		t.Fatalf("private message: %s", pm)
	}
	alice.Sendf("<message to='%s' type='chat'><body>?</body></message>", occ("r", "nobody"))
	if el := alice.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "item-not-found" {
		t.Fatalf("PM to unknown nick: %s", el)
	}
	dave.Sendf("<message to='%s' type='chat'><body>hi</body></message>", occ("r", "bob"))
	if el := dave.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "not-acceptable" {
		t.Fatalf("PM from outside: %s", el)
	}
	bob.ExpectNothing(quiet, func(el *wire.Element) bool { return el.ChildText("body", "") == "hi" })
	alice.Sendf("<message to='%s' type='groupchat'><body>x</body></message>", occ("r", "bob"))
	if el := alice.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "bad-request" {
		t.Fatalf("groupchat to a nick: %s", el)
	}
}

// Mediated invitations (XEP-0045 §7.8.2) and declines; direct
// invitations (XEP-0249) are plain messages the core routes.
func TestInvitations(t *testing.T) {
	srv, _ := start(t, xmppdtest.WithExtensions(offline.New()))
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	alice.Available()
	bob.Available()
	createRoom(t, alice, "club", "alice", map[string]string{
		"muc#roomconfig_membersonly": "1", "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "pw"})

	alice.Sendf("<message to='%s'><x xmlns='%s'><invite to='bob@localhost'><reason>join us</reason></invite></x></message>", roomJID("club"), muc.NSUser)
	inv := bob.Expect("invitation", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("club") && mucX(el) != nil
	})
	x := mucX(inv)
	if i := x.Child("invite", muc.NSUser); i == nil || i.Attr("from") != "alice@localhost" || i.ChildText("reason", "") != "join us" || x.ChildText("password", "") != "pw" {
		t.Fatalf("invitation: %s", inv)
	}
	// The invitation made bob a member of the members-only room.
	bob.Send(joinPresence("club", "bob", "<password>pw</password>"))
	bob.Expect("joined", selfPresence(occ("club", "bob")))

	// Carol (offline) declines later; here dave declines at once.
	dave := login(t, srv, "dave", "d")
	dave.Sendf("<message to='%s'><x xmlns='%s'><decline to='alice@localhost'><reason>busy</reason></decline></x></message>", roomJID("club"), muc.NSUser)
	dec := alice.Expect("decline", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("club") && mucX(el).Child("decline", muc.NSUser) != nil
	})
	if d := mucX(dec).Child("decline", muc.NSUser); d.Attr("from") != "dave@localhost" || d.ChildText("reason", "") != "busy" {
		t.Fatalf("decline: %s", dec)
	}
	// A non-occupant cannot invite.
	dave.Sendf("<message to='%s'><x xmlns='%s'><invite to='carol@localhost'/></x></message>", roomJID("club"), muc.NSUser)
	if el := dave.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "not-acceptable" {
		t.Fatalf("invite from outside: %s", el)
	}
	// Bob, a member, may not invite while allowinvites is off.
	bob.Sendf("<message to='%s'><x xmlns='%s'><invite to='carol@localhost'/></x></message>", roomJID("club"), muc.NSUser)
	if el := bob.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "forbidden" {
		t.Fatalf("member invite: %s", el)
	}
	// Direct invitation: routed as is.
	alice.Sendf("<message to='bob@localhost'><x xmlns='jabber:x:conference' jid='%s' password='pw' reason='see you'/></message>", roomJID("club"))
	d := bob.Expect("direct invitation", xmppdtest.HasChild("x", "jabber:x:conference"))
	if d.Child("x", "jabber:x:conference").Attr("jid") != roomJID("club") || d.Attr("from") != alice.JID.String() {
		t.Fatalf("direct invitation: %s", d)
	}
}

// XEP-0410: a joined client's ping to its own occupant JID is answered by
// the service; after leaving it is not-acceptable.
func TestSelfPing(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, "r", "alice", nil)
	join(t, login(t, srv, "bob", "b"), "r", "bob")
	ping := "<ping xmlns='urn:xmpp:ping'/>"
	mustResult(t, "self-ping while joined", alice.IQ("get", occ("r", "alice"), ping))
	bob2 := login(t, srv, "bob", "other")
	mustError(t, "ping from a session not joined", bob2.IQ("get", occ("r", "bob"), ping), "not-acceptable")
	alice.Sendf("<presence to='%s' type='unavailable'/>", occ("r", "alice"))
	alice.Expect("left", presenceFrom(occ("r", "alice"), "unavailable"))
	mustError(t, "self-ping after leaving", alice.IQ("get", occ("r", "alice"), ping), "not-acceptable")
	mustResult(t, "service ping", alice.IQ("get", service, ping))
}
