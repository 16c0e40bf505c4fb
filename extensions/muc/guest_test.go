package muc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	"mellium.im/sasl"
)

// A web visitor (a guest over WebSocket, SASL ANONYMOUS) joins its enquiry
// room and talks with staff there; it cannot create rooms, and leaving
// the service ends its occupancy like any session's end.
func TestGuestInEnquiryRoom(t *testing.T) {
	srv, ext := start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Enquiry.GuestDomain = "guest.localhost" }))
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq1", Name: "Visitor enquiry"}, muc.EnquiryContext{}); err != nil {
		t.Fatal(err)
	}
	alice := login(t, srv, "alice", "desk")
	join(t, alice, "enq1", "Alice")
	guest, err := srv.DialWS(t, "", "", xmppdtest.DialOptions{Domain: "guest.localhost", Mechanisms: []sasl.Mechanism{sasl.Anonymous}})
	if err != nil {
		t.Fatal(err)
	}
	join(t, guest, "enq1", "Visitor")
	alice.Expect("visitor joins", presenceFrom(occ("enq1", "Visitor"), ""))

	guest.Sendf("<message to='%s' type='groupchat' id='g1'><body>I need help</body></message>", roomJID("enq1"))
	alice.Expect("visitor's message", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == occ("enq1", "Visitor") && el.ChildText("body", "") == "I need help"
	})
	alice.Sendf("<message to='%s' type='groupchat' id='a1'><body>How can I help?</body></message>", roomJID("enq1"))
	guest.Expect("staff reply", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == occ("enq1", "Alice") && el.ChildText("body", "") == "How can I help?"
	})

	// Guests join rooms; they do not make them.
	if cond := joinFails(t, guest, "newroom", "Visitor", ""); cond != "not-allowed" {
		t.Fatalf("guest creating a room: %s", cond)
	}

	_ = guest.Session.Close()
	alice.Expect("visitor leaves", presenceFrom(occ("enq1", "Visitor"), "unavailable"))
	alice.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return strings.Contains(el.Attr("from"), "Visitor") })
}
