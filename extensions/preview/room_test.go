package preview

import (
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// A link in a room message: every occupant gets the preview, and so does
// the room archive (the MUC service stores what MessageOut hooks added).
func TestPreviewInRoom(t *testing.T) {
	s := newSite(t, pageMux())
	rooms := muc.New()
	e := start(t, testExt(), xmppdtest.WithExtensions(rooms))
	const room = "team@conference.localhost"
	if _, err := rooms.CreateRoom(muc.RoomSpec{JID: room, Owners: []string{"alice@localhost"}}); err != nil {
		t.Fatal(err)
	}
	for nick, c := range map[string]*xmppdtest.Client{"Alice": e.alice, "Bob": e.bob} {
		c.Sendf("<presence to='%s/%s'><x xmlns='%s'/></presence>", room, nick, muc.NS)
		c.Expect("subject", func(el *wire.Element) bool {
			return el.Name == "message" && el.Child("subject", "jabber:client") != nil
		})
	}
	link := s.URL + "/page"
	e.alice.Sendf("<message to='%s' type='groupchat' id='g1'><body>see %s</body></message>", room, link)
	got := e.bob.Expect("room message", func(el *wire.Element) bool { return el.Attr("id") == "g1" })
	checkTestPage(t, descriptions(got)[link], s.URL)

	id := "q-room"
	e.bob.Sendf("<iq type='set' id='%s' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='qr'/></iq>", id, room)
	res := e.bob.Expect("room archive result", func(el *wire.Element) bool { return el.Child("result", "urn:xmpp:mam:2") != nil })
	archived := res.Child("result", "urn:xmpp:mam:2").Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")
	checkTestPage(t, descriptions(archived)[link], s.URL)
}
