package muc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Every room archives its messages, so every joining occupant is told the
// room is logged: status 170 in its self-presence (XEP-0045 §7.2.12), and
// only there.
func TestRoomLoggedStatus170(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	if self := join(t, alice, "r", "alice"); !hasStatus(self, 170) || !hasStatus(self, 201) {
		t.Fatalf("alice's self-presence in a new room: want 110, 170 and 201, got %v", statusCodes(self))
	}
	configure(t, alice, "r", nil)
	bob.Send(joinPresence("r", "bob", ""))
	if p := bob.Expect("alice's presence", presenceFrom(occ("r", "alice"), "")); hasStatus(p, 170) {
		t.Fatalf("170 belongs in the self-presence only, bob got it on alice's: %s", p)
	}
	if self := bob.Expect("bob's self-presence", selfPresence(occ("r", "bob"))); !hasStatus(self, 170) {
		t.Fatalf("bob's self-presence: want 170, got %v", statusCodes(self))
	}
	if p := alice.Expect("bob's arrival", presenceFrom(occ("r", "bob"), "")); hasStatus(p, 170) {
		t.Fatalf("alice got 170 on bob's arrival: %s", p)
	}
}

// isFlood matches the error a flood limit answers with.
func isFlood(name, from string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		if el.Name != name || el.Attr("type") != "error" || el.Attr("from") != from {
			return false
		}
		e := el.Child("error", "")
		return e != nil && e.Attr("type") == "wait" && errorCondition(el) == "policy-violation" &&
			e.ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") != ""
	}
}

func hasStatusText(from, text string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == from && el.ChildText("status", "") == text
	}
}

// Bob changes his presence faster than presence_rate allows: the change
// beyond the limit is refused with wait/policy-violation and alice never
// sees it, nor a nick change; alice's own changes and bob's leaving still
// go through.
func TestPresenceFlood(t *testing.T) {
	ext := muc.New()
	ext.Config.PresenceRate = 3
	ext.Config.PresencePeriod = config.Duration{Duration: time.Hour} // no refill during the test
	srv, _ := startExt(t, ext)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")

	for _, s := range []string{"one", "two", "three"} {
		bob.Sendf("<presence to='%s'><show>away</show><status>%s</status></presence>", occ("r", "bob"), s)
		alice.Expect("bob's status "+s, hasStatusText(occ("r", "bob"), s))
	}
	bob.Sendf("<presence to='%s'><status>four</status></presence>", occ("r", "bob"))
	bob.Expect("presence flood error", isFlood("presence", occ("r", "bob")))
	bob.Sendf("<presence to='%s'/>", occ("r", "robert"))
	bob.Expect("nick change flood error", isFlood("presence", occ("r", "robert")))
	alice.ExpectNothing(quiet, func(el *wire.Element) bool {
		return el.Name == "presence" && strings.HasPrefix(el.Attr("from"), roomJID("r")+"/")
	})

	// The limit is bob's, not the room's.
	alice.Sendf("<presence to='%s'><status>still here</status></presence>", occ("r", "alice"))
	bob.Expect("alice's status", hasStatusText(occ("r", "alice"), "still here"))
	// Leaving is never limited.
	bob.Sendf("<presence to='%s' type='unavailable'/>", occ("r", "bob"))
	alice.Expect("bob leaves", presenceFrom(occ("r", "bob"), "unavailable"))
}

// Bob sends groupchat messages faster than message_rate allows: the
// message beyond the limit is refused with wait/policy-violation, nobody
// receives it and it is not archived; alice still speaks.
func TestMessageFlood(t *testing.T) {
	ext := muc.New()
	ext.Config.MessageRate = 3
	ext.Config.MessagePeriod = config.Duration{Duration: time.Hour}
	srv, _ := startExt(t, ext)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")

	for _, m := range []string{"m1", "m2", "m3"} {
		groupchat(bob, "r", m, m)
		alice.Expect(m, isGroupchat(occ("r", "bob"), m))
	}
	groupchat(bob, "r", "m4", "m4")
	if el := bob.Expect("message flood error", isFlood("message", roomJID("r"))); el.Attr("id") != "m4" {
		t.Fatalf("the flood error should answer m4: %s", el)
	}
	alice.ExpectNothing(quiet, isGroupchat(occ("r", "bob"), "m4"))
	groupchat(alice, "r", "a1", "alice speaks")
	bob.Expect("alice's message", isGroupchat(occ("r", "alice"), "alice speaks"))

	// Carol's history holds bob's three messages and alice's, not m4.
	carol.Send(joinPresence("r", "carol", ""))
	carol.Expect("self", selfPresence(occ("r", "carol")))
	var got []string
	for {
		el := carol.Next(5 * time.Second)
		if isSubject("r")(el) {
			break
		}
		if el.Name == "message" {
			got = append(got, el.ChildText("body", ""))
		}
	}
	if strings.Join(got, ",") != "m1,m2,m3,alice speaks" {
		t.Fatalf("history after the flood: %v", got)
	}
}

// A client cannot speak as another nick: whatever 'from' it writes, its
// groupchat messages come from its own room/nick; a groupchat message
// addressed to another occupant is refused and reaches nobody.
func TestNickSpoofing(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")
	join(t, carol, "r", "carol")

	bob.Sendf("<message from='%s' to='%s' type='groupchat' id='s1'><body>I am alice</body></message>", occ("r", "alice"), roomJID("r"))
	for _, c := range []*struct {
		name string
		el   *wire.Element
	}{
		{"alice", alice.Expect("bob's message", func(el *wire.Element) bool { return el.ChildText("body", "") == "I am alice" })},
		{"carol", carol.Expect("bob's message", func(el *wire.Element) bool { return el.ChildText("body", "") == "I am alice" })},
	} {
		if c.el.Attr("from") != occ("r", "bob") {
			t.Fatalf("%s got a spoofed message from %q, want %q: %s", c.name, c.el.Attr("from"), occ("r", "bob"), c.el)
		}
	}

	// Groupchat to an occupant's JID (as if it were the room speaking
	// for alice) is refused.
	bob.Sendf("<message to='%s' type='groupchat' id='s2'><body>also alice</body></message>", occ("r", "alice"))
	if el := bob.Expect("refusal", tagged("message", "error", "s2")); errorCondition(el) != "bad-request" {
		t.Fatalf("groupchat to an occupant: want bad-request, got %s", el)
	}
	// A private message claiming to be from carol comes from bob.
	bob.Sendf("<message from='%s' to='%s' type='chat' id='s3'><body>psst</body></message>", occ("r", "carol"), occ("r", "alice"))
	if pm := alice.Expect("private message", func(el *wire.Element) bool { return el.ChildText("body", "") == "psst" }); pm.Attr("from") != occ("r", "bob") {
		t.Fatalf("private message spoofed its sender: %s", pm)
	}
	// A non-occupant cannot speak in the room at all.
	dave := login(t, srv, "dave", "d")
	dave.Sendf("<message to='%s' type='groupchat' id='s4'><body>outsider</body></message>", roomJID("r"))
	if el := dave.Expect("refusal", tagged("message", "error", "s4")); errorCondition(el) != "not-acceptable" {
		t.Fatalf("non-occupant groupchat: want not-acceptable, got %s", el)
	}
	alice.ExpectNothing(quiet, func(el *wire.Element) bool {
		b := el.ChildText("body", "")
		return b == "also alice" || b == "outsider"
	})
}

func tagged(name, typ, id string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == name && el.Attr("type") == typ && el.Attr("id") == id
	}
}
