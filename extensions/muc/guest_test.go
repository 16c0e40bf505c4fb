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

// A web visitor (a guest over WebSocket, SASL ANONYMOUS) enters the
// enquiry room it was added to and talks with staff there. It cannot
// enter staff rooms, open or not, nor an enquiry room it is not in, nor
// create rooms; leaving the service ends its occupancy and its
// affiliation.
func TestGuestInEnquiryRoom(t *testing.T) {
	srv, ext := start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Enquiry.GuestDomain = "guest.localhost" }))
	guest, err := srv.DialWS(t, "", "", xmppdtest.DialOptions{Domain: "guest.localhost", Mechanisms: []sasl.Mechanism{sasl.Anonymous}})
	if err != nil {
		t.Fatal(err)
	}
	visitor := guest.JID.Bare().String()
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq1", Name: "Visitor enquiry", Private: true,
		Members: []string{visitor}, Owners: []string{"alice@localhost"}}, muc.EnquiryContext{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq2", Name: "Someone else's"}, muc.EnquiryContext{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.CreateRoom(muc.RoomSpec{JID: "staff", Kind: muc.KindSpace, Name: "Staff room"}); err != nil {
		t.Fatal(err)
	}
	alice := login(t, srv, "alice", "desk")
	join(t, alice, "enq1", "Alice")

	for _, room := range []string{"staff", "enq2", "newroom"} {
		if cond := joinFails(t, guest, room, "Visitor", ""); cond != "forbidden" && !(room == "newroom" && cond == "not-allowed") {
			t.Fatalf("guest entering %s: %s", room, cond)
		}
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

	_ = guest.Session.Close()
	alice.Expect("visitor leaves", presenceFrom(occ("enq1", "Visitor"), "unavailable"))
	alice.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return strings.Contains(el.Attr("from"), "Visitor") })
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := ext.Room("enq1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(info.Members, " "), visitor) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the departed guest is still a member: %v", info.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
