package muc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/edits"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// editRoom runs the MUC service with the edits extension (one-minute
// windows on a test clock) and a room "team" owned by alice (moderator)
// that bob (participant) joined.
func editRoom(t *testing.T) (clk *xmppdtest.Clock, log *xmppdtest.Recorder[*xmppd.RetractedEvent], alice, bob *xmppdtest.Client, srv *xmppdtest.Server) {
	t.Helper()
	clk = xmppdtest.NewClock(time.Now())
	ed := edits.New()
	ed.Now = clk.Now
	ed.Config.CorrectionWindow = config.Duration{Duration: time.Minute}
	ed.Config.RetractionWindow = config.Duration{Duration: time.Minute}
	log = xmppdtest.Record(xmppd.MessageRetracted)
	srv, _ = start(t, xmppdtest.WithExtensions(ed, log))
	alice, bob = login(t, srv, "alice", "a"), login(t, srv, "bob", "b")
	createRoom(t, alice, "team", "Alice", nil)
	join(t, bob, "team", "Bob")
	return clk, log, alice, bob, srv
}

// roomMessage waits for the groupchat message with the given id from the
// room occupant 'from'.
func roomMessage(c *xmppdtest.Client, from, id string) *wire.Element {
	return c.Expect("groupchat "+id, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "groupchat" && el.Attr("from") == from && el.Attr("id") == id
	})
}

func roomError(t *testing.T, c *xmppdtest.Client, id string) string {
	t.Helper()
	el := c.Expect("error for "+id, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "error" && el.Attr("id") == id
	})
	return errorCondition(el)
}

func sendRoom(c *xmppdtest.Client, id, inner string) {
	c.Sendf("<message to='%s' type='groupchat' id='%s'>%s</message>", roomJID("team"), id, inner)
}

func TestRoomCorrectionRules(t *testing.T) {
	clk, _, alice, bob, srv := editRoom(t)
	sendRoom(bob, "b1", "<body>helo all</body>")
	roomMessage(alice, occ("team", "Bob"), "b1")
	sendRoom(bob, "c1", "<body>hello all</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/>")
	if got := roomMessage(alice, occ("team", "Bob"), "c1"); got.ChildText("body", "") != "hello all" {
		t.Fatalf("correction: %s", got)
	}
	// A moderator may not correct someone else's message, nor may
	// anyone an unknown one.
	sendRoom(alice, "a1", "<body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/>")
	if cond := roomError(t, alice, "a1"); cond != "forbidden" {
		t.Errorf("correcting another's message: %s, want forbidden", cond)
	}
	sendRoom(bob, "c2", "<body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='nope'/>")
	if cond := roomError(t, bob, "c2"); cond != "item-not-found" {
		t.Errorf("correcting an unknown message: %s, want item-not-found", cond)
	}
	// The same nick is not the same author: carol takes the nick Bob
	// once bob left, and still may not correct his message.
	bob.Sendf("<presence to='%s' type='unavailable'/>", occ("team", "Bob"))
	alice.Expect("bob leaves", presenceFrom(occ("team", "Bob"), "unavailable"))
	carol := login(t, srv, "carol", "c")
	join(t, carol, "team", "Bob")
	sendRoom(carol, "k1", "<body>mine now</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/>")
	if cond := roomError(t, carol, "k1"); cond != "forbidden" {
		t.Errorf("same nick, other user: %s, want forbidden", cond)
	}
	// Late.
	join(t, bob, "team", "Bobby")
	clk.Advance(61 * time.Second)
	sendRoom(bob, "c3", "<body>too late</body><replace xmlns='urn:xmpp:message-correct:0' id='c1'/>")
	if cond := roomError(t, bob, "c3"); cond != "not-acceptable" {
		t.Errorf("late correction: %s, want not-acceptable", cond)
	}
	alice.ExpectNothing(quiet, func(el *wire.Element) bool {
		switch el.Attr("id") {
		case "a1", "c2", "k1", "c3":
			return el.Name == "message" && el.Attr("type") == "groupchat"
		}
		return false
	})
	rs, _ := mustRoomQuery(t, alice, "team", "")
	var bodies []string
	for _, r := range rs {
		bodies = append(bodies, r.body)
	}
	if got, want := strings.Join(bodies, "|"), "helo all|hello all"; got != want {
		t.Errorf("room archive = %s, want %s", got, want)
	}
}

func TestRoomRetractionByStanzaIDLeavesTombstones(t *testing.T) {
	clk, log, alice, bob, srv := editRoom(t)
	sendRoom(bob, "b1", "<body>oops https://up.example/f.txt</body>")
	sid := roomStanzaID(roomMessage(alice, occ("team", "Bob"), "b1"), "team")
	sendRoom(bob, "b2", "<body>keep</body><origin-id xmlns='urn:xmpp:sid:0' id='origin-b2'/>")
	roomMessage(alice, occ("team", "Bob"), "b2")
	clk.Advance(30 * time.Second)
	// XEP-0424 :1 by the room's stanza-id, without a fallback body.
	sendRoom(bob, "r1", "<retract xmlns='urn:xmpp:message-retract:1' id='"+sid+"'/>")
	got := roomMessage(alice, occ("team", "Bob"), "r1")
	if got.Child("retract", "urn:xmpp:message-retract:1") == nil || roomStanzaID(got, "team") == "" {
		t.Fatalf("retraction not fanned out with a stanza-id: %s", got)
	}
	rs, _ := mustRoomQuery(t, alice, "team", "")
	if len(rs) != 3 {
		t.Fatalf("room archive has %d entries, want original, second and retraction", len(rs))
	}
	tomb := rs[0].msg
	if tomb.Child("body", "") != nil || tomb.Child("retracted", "urn:xmpp:message-retract:1").Attr("id") != "r1" {
		t.Errorf("archived original is not a tombstone for r1: %s", tomb)
	}
	// A joiner's history shows the tombstone, not the text.
	dave := login(t, srv, "dave", "d")
	dave.Send(joinPresence("team", "Dave", ""))
	h := dave.Expect("history entry b1", func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == "b1" })
	if h.Child("body", "") != nil || h.Child("retracted", "urn:xmpp:message-retract:1") == nil {
		t.Errorf("history replays the retracted text: %s", h)
	}
	// The older fastening form by origin-id.
	sendRoom(bob, "r2", "<apply-to xmlns='urn:xmpp:fasten:0' id='origin-b2'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>retracted</body>")
	roomMessage(alice, occ("team", "Bob"), "r2")
	evs := log.Events()
	if len(evs) != 2 || evs[0].Sender.String() != "bob@localhost" || evs[0].Where.String() != roomJID("team") ||
		strings.Join(evs[0].URLs, " ") != "https://up.example/f.txt" {
		t.Errorf("retraction events = %+v", evs)
	}
	clk.Advance(time.Minute)
	sendRoom(bob, "b3", "<body>new</body>")
	roomMessage(alice, occ("team", "Bob"), "b3")
	sendRoom(bob, "r3", "<retract xmlns='urn:xmpp:message-retract:1' id='b1'/>")
	if cond := roomError(t, bob, "r3"); cond != "not-acceptable" {
		t.Errorf("retracting a retracted message: %s, want not-acceptable", cond)
	}
}

func TestModeratorRemovesAnyMessageWithoutWindow(t *testing.T) {
	clk, log, alice, bob, _ := editRoom(t)
	sendRoom(bob, "b1", "<body>spam https://up.example/s.png</body>")
	sid := roomStanzaID(roomMessage(alice, occ("team", "Bob"), "b1"), "team")
	sendRoom(bob, "c1", "<body>more spam</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/>")
	roomMessage(alice, occ("team", "Bob"), "c1")
	sendRoom(alice, "a1", "<body>rules</body>")
	aliceSID := roomStanzaID(roomMessage(bob, occ("team", "Alice"), "a1"), "team")
	clk.Advance(time.Hour)

	// A participant may not moderate.
	res := bob.IQ("set", roomJID("team"), "<moderate xmlns='urn:xmpp:message-moderate:1' id='"+aliceSID+"'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>")
	mustError(t, "participant moderates", res, "forbidden")

	// The room fans the moderation out before it answers the IQ.
	alice.Sendf("<iq type='set' id='mod1' to='%s'><moderate xmlns='urn:xmpp:message-moderate:1' id='%s'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>", roomJID("team"), sid)
	isModeration := func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("team") && el.Child("retract", "urn:xmpp:message-retract:1") != nil
	}
	moderations := map[string]*wire.Element{"alice": alice.Expect("moderation message", isModeration)}
	mustResult(t, "moderation", alice.Expect("moderation result", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == "mod1" }))
	moderations["bob"] = bob.Expect("moderation message", isModeration)
	for who, m := range moderations {
		r := m.Child("retract", "urn:xmpp:message-retract:1")
		mod := r.Child("moderated", muc.NSModerate)
		if r.Attr("id") != sid || mod == nil || mod.Attr("by") != occ("team", "Alice") || r.ChildText("reason", "") != "spam" {
			t.Errorf("%s got a wrong moderation message: %s", who, m)
		}
		if old := m.Child("apply-to", "urn:xmpp:fasten:0"); old == nil || old.Attr("id") != sid || old.Child("moderated", "urn:xmpp:message-moderate:0") == nil {
			t.Errorf("%s: no older-form moderation: %s", who, m)
		}
	}
	rs, _ := mustRoomQuery(t, alice, "team", "")
	if len(rs) != 4 {
		t.Fatalf("room archive: %d entries, want 4", len(rs))
	}
	for i, r := range rs[:2] { // the original and its correction
		tomb := r.msg.Child("retracted", "urn:xmpp:message-retract:1")
		if r.body != "" || tomb == nil || tomb.Child("moderated", muc.NSModerate).Attr("by") != occ("team", "Alice") || tomb.ChildText("reason", "") != "spam" {
			t.Errorf("archive entry %d is not a moderated tombstone: %s", i, r.msg)
		}
	}
	if rs[2].body != "rules" {
		t.Errorf("alice's message changed: %s", rs[2].msg)
	}
	evs := log.Events()
	if len(evs) != 1 || evs[0].Sender.String() != "bob@localhost" || evs[0].By.String() != "alice@localhost" ||
		strings.Join(evs[0].URLs, " ") != "https://up.example/s.png" {
		t.Errorf("retraction events = %+v", evs)
	}
	// The author may no longer edit a moderated message; a second
	// moderation finds nothing to remove.
	clk.Advance(-time.Hour)
	sendRoom(bob, "c2", "<body>back</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/>")
	if cond := roomError(t, bob, "c2"); cond != "not-acceptable" {
		t.Errorf("correcting a moderated message: %s, want not-acceptable", cond)
	}
	res = alice.IQ("set", roomJID("team"), "<apply-to xmlns='urn:xmpp:fasten:0' id='"+sid+"'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to>")
	mustError(t, "second moderation", res, "item-not-found")
	res = alice.IQ("set", roomJID("team"), "<moderate xmlns='urn:xmpp:message-moderate:1' id='nope'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>")
	mustError(t, "unknown id", res, "item-not-found")
}
