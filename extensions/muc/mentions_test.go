package muc_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// mentionLog records the room messages the MUC service archived.
type mentionLog struct {
	*xmppdtest.Recorder[*xmppd.RoomMessageEvent]
}

// of returns the bare JIDs the message with id attribute id mentions,
// sorted and space-separated.
func (l mentionLog) of(id string) string {
	var m []string
	for _, ev := range l.Events() {
		if ev.Packet.Stanza.ID == id {
			for _, j := range ev.Mentions {
				m = append(m, j.String())
			}
		}
	}
	sort.Strings(m)
	return strings.Join(m, " ")
}

func TestMentions(t *testing.T) {
	log := mentionLog{xmppdtest.Record(xmppd.RoomMessage)}
	m := muc.New()
	srv, _ := startExt(t, m, xmppdtest.WithExtensions(log.Recorder))
	if _, err := m.CreateRoom(muc.RoomSpec{JID: roomJID("team"), Owners: []string{"alice@localhost"},
		Members: []string{"bob@localhost", "carol@localhost", "dave@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice, bob, carol, dave := login(t, srv, "alice", "a"), login(t, srv, "bob", "b"), login(t, srv, "carol", "c"), login(t, srv, "dave", "d")
	bob.Available() // a member, online, not in the room
	join(t, alice, "team", "Alice")
	join(t, carol, "team", "Carol")
	join(t, dave, "team", "Dave")
	send := func(c *xmppdtest.Client, id, inner string) {
		c.Sendf("<message to='%s' type='groupchat' id='%s'>%s</message>", roomJID("team"), id, inner)
		c.Expect("echo "+id, func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == id })
	}
	isNotification := func(id string) func(*wire.Element) bool {
		return func(el *wire.Element) bool {
			mm := el.Child("mentions", muc.NSMentionNotify)
			if el.Name != "message" || el.Attr("from") != roomJID("team") || mm == nil {
				return false
			}
			fw := mm.Child("forwarded", "urn:xmpp:forward:0")
			return fw != nil && fw.Child("delay", "urn:xmpp:delay") != nil && fw.Child("message", "jabber:client").Attr("id") == id
		}
	}

	// XEP-0372 reference to an absent member's bare JID: recognised, and
	// the member gets a XEP-0452 notification with the whole message.
	send(carol, "m1", "<body>bob: look</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='0' end='3' uri='xmpp:bob@localhost'/>")
	if got := log.of("m1"); got != "bob@localhost" {
		t.Errorf("m1 mentions %q, want bob", got)
	}
	n := bob.Expect("mention notification", isNotification("m1"))
	if body := n.Child("mentions", muc.NSMentionNotify).Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client").ChildText("body", ""); body != "bob: look" {
		t.Errorf("notification forwards %q", body)
	}
	// A reference to an occupant JID and a XEP-0513 mention by occupant
	// id: present users, so no notification.
	daveID := mucOccupantID(t, alice, dave, "Dave")
	send(carol, "m2", "<body>Dave and Dave</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='0' end='4' uri='xmpp:"+occ("team", "Dave")+"'/><mention xmlns='urn:xmpp:mentions:0' begin='9' end='13' occupantid='"+daveID+"'/>")
	if got := log.of("m2"); got != "dave@localhost" {
		t.Errorf("m2 mentions %q, want dave", got)
	}
	// @all by a participant: delivered as written, notifies nobody.
	send(carol, "m3", "<body>@all lunch?</body>")
	if got := log.of("m3"); got != "" {
		t.Errorf("a participant's @all mentions %q, want nobody", got)
	}
	bob.ExpectNothing(quiet, isNotification("m3"))
	// @all by a moderator (the owner): every member and occupant but her.
	send(alice, "m4", "<body>meeting @all</body>")
	if got := log.of("m4"); got != "bob@localhost carol@localhost dave@localhost" {
		t.Errorf("a moderator's @all mentions %q", got)
	}
	bob.Expect("@all notification", isNotification("m4"))
	// XEP-0513 channel mention by a moderator.
	send(alice, "m5", "<body>hi</body><mention xmlns='urn:xmpp:mentions:0' mentions='urn:xmpp:mentions:0#channel'/>")
	if got := log.of("m5"); !strings.Contains(got, "carol@localhost") {
		t.Errorf("channel mention = %q", got)
	}
	// The owner lets participants use @all.
	configure(t, alice, "team", map[string]string{muc.FieldMentionAll: "participants"})
	send(carol, "m6", "<body>@all cake!</body>")
	if got := log.of("m6"); got != "alice@localhost bob@localhost dave@localhost" {
		t.Errorf("participant's @all once allowed mentions %q", got)
	}
	// A range outside the body is refused and not delivered.
	carol.Sendf("<message to='%s' type='groupchat' id='bad'><body>hi</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='0' end='9' uri='xmpp:bob@localhost'/></message>", roomJID("team"))
	el := carol.Expect("error for bad", func(el *wire.Element) bool { return el.Attr("id") == "bad" && el.Attr("type") == "error" })
	if errorCondition(el) != "bad-request" || !strings.Contains(el.Child("error", "").ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas"), "outside the message body") {
		t.Errorf("out-of-range mention: %s", el)
	}
	dave.ExpectNothing(quiet, func(el *wire.Element) bool { return el.Attr("id") == "bad" })
	if got := log.of("bad"); got != "" {
		t.Errorf("the refused message reached the notification logic: %q", got)
	}
}

// mucOccupantID reads the XEP-0421 occupant id of c's nick from a
// message c sends to the room, as observer receives it.
func mucOccupantID(t *testing.T, observer, c *xmppdtest.Client, nick string) string {
	t.Helper()
	c.Sendf("<message to='%s' type='groupchat' id='oid-%s'><body>ping</body></message>", roomJID("team"), nick)
	el := observer.Expect("message from "+nick, func(el *wire.Element) bool { return el.Attr("id") == "oid-"+nick })
	id := el.Child("occupant-id", muc.NSOccupantID).Attr("id")
	if id == "" {
		t.Fatalf("no occupant id on %s", el)
	}
	return id
}
