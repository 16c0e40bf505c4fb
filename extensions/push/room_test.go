package push_test

import (
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/extensions/push"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestPushForRoomMessages: a room message wakes the offline phone of a
// member whose setting for the room is always, not one with never, nor
// one with on-mention unless the message mentions them; the sender is not
// pushed.
func TestPushForRoomMessages(t *testing.T) {
	app := &appServer{got: make(chan *wire.Element, 16)}
	m := muc.New()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(offline.New(), pep.New(), push.New(), m, app))
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, pw)
	}
	e := &env{srv: srv, app: app}
	const room = "team@conference.localhost"
	if _, err := m.CreateRoom(muc.RoomSpec{JID: room, Owners: []string{"alice@localhost"},
		Members: []string{"bob@localhost", "carol@localhost"}}); err != nil {
		t.Fatal(err)
	}
	bob := e.online(t, "bob", "phone")
	enable(t, bob, "nb", enableForm)
	bookmark(t, bob, room, "<always/>")
	e.offline(t, bob)
	carol := e.online(t, "carol", "phone")
	enable(t, carol, "nc", enableForm)
	bookmark(t, carol, room, "<never/>")
	e.offline(t, carol)

	alice := e.online(t, "alice", "a")
	enable(t, alice, "na", enableForm)
	alice.Sendf("<presence to='%s/Alice'><x xmlns='%s'/></presence>", room, muc.NS)
	alice.Expect("subject", func(el *wire.Element) bool {
		return el.Attr("from") == room && el.Child("subject", "jabber:client") != nil
	})
	say := func(body string) {
		t.Helper()
		alice.Sendf("<message to='%s' type='groupchat'><body>%s</body></message>", room, body)
		alice.Expect(body, func(el *wire.Element) bool { return el.ChildText("body", "jabber:client") == body })
	}

	say("standup")
	iq := app.next(t)
	node, f, _ := summary(t, iq)
	if iq.Attr("from") != "bob@localhost" || node != "nb" || f["last-message-sender"] != room || f["last-message-body"] != "standup" {
		t.Errorf("room push: from %q node %q fields %v", iq.Attr("from"), node, f)
	}
	app.nothing(t, 150*time.Millisecond) // not carol (never), not alice (sender)

	// on-mention: nothing for a message that does not mention carol…
	carol = e.online(t, "carol", "phone")
	bookmark(t, carol, room, "<on-mention/>")
	e.offline(t, carol)
	say("retro")
	if iq := app.next(t); iq.Attr("from") != "bob@localhost" {
		t.Errorf("push for %s, want bob only", iq.Attr("from"))
	}
	app.nothing(t, 150*time.Millisecond)
	// …and a push for one that does (the MUC service finds mentions).
	alice.Sendf("<message to='%s' type='groupchat' id='m1'><body>carol?</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='0' end='5' uri='xmpp:carol@localhost'/></message>", room)
	pushed := map[string]bool{}
	for range 2 {
		pushed[app.next(t).Attr("from")] = true
	}
	if !pushed["carol@localhost"] || !pushed["bob@localhost"] {
		t.Errorf("pushes for a mention of carol went to %v, want carol (on-mention) and bob (always)", pushed)
	}
	app.nothing(t, 150*time.Millisecond)
}

// TestPushToHibernatingDevice: a device whose connection dropped while
// stream management waits for it to resume is offline for push.
func TestPushToHibernatingDevice(t *testing.T) {
	e := start(t)
	phone := e.online(t, "bob", "phone")
	enable(t, phone, "nh", "")
	phone.EnableSM(true)
	alice := e.online(t, "alice", "a")
	chat(alice, "bob@localhost", "while connected")
	phone.Expect("while connected", xmppdtest.HasChild("body", "jabber:client"))
	e.app.nothing(t, 100*time.Millisecond)

	phone.Drop()
	full := xmppd.JID{Local: "bob", Domain: "localhost", Resource: "phone"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if s := e.srv.Session(full); s != nil && s.Hibernating() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's phone is not hibernating")
		}
	}
	chat(alice, "bob@localhost", "while away")
	if iq := e.app.next(t); iq.Attr("from") != "bob@localhost" {
		t.Errorf("push from %q", iq.Attr("from"))
	}
}
