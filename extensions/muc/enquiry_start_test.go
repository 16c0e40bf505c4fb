package muc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestStartEnquiry: a visitor's client asks the service for an enquiry
// room with its context; the private room holds every field, the staff
// own it and are invited, the visitor is a member and may join, asking
// again returns the same room, and bad forms are refused.
func TestStartEnquiry(t *testing.T) {
	m := muc.New()
	m.Desk = muc.EnquiryDesk{
		Staff:       []string{"alice@localhost"},
		SpaceRoom:   "support",
		Destination: muc.Destination{Name: "Support", Type: "team", Endpoint: "support@" + service},
	}
	srv, _ := startExt(t, m)
	if _, err := m.CreateRoom(muc.RoomSpec{JID: "support", Owners: []string{"alice@localhost"}, Members: []string{"bob@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice, bob, carol := login(t, srv, "alice", "a"), login(t, srv, "bob", "b"), login(t, srv, "carol", "c")
	alice.Available()
	bob.Available()

	req := "<enquiry xmlns='" + muc.FormTypeEnquiry + "'>" + submitted(muc.FormTypeEnquiry,
		"utm_source", "news", "utm_campaign", "spring", "utm_memberid", "42",
		"visitor_first_name", "Jane", "visitor_email", "jane@example.com",
		"device_platform", "Linux", "device_screen", "1280x720", "language", "de",
		"enquiry_id", "forged", "destination_name", "forged") + "</enquiry>"
	res := carol.IQ("set", service, req)
	mustResult(t, "start enquiry", res)
	room := res.Child("enquiry", muc.FormTypeEnquiry).Attr("room")
	if !strings.HasPrefix(room, "enquiry-") || !strings.HasSuffix(room, "@"+service) {
		t.Fatalf("enquiry room %q", room)
	}
	local := strings.TrimSuffix(room, "@"+service)
	for who, client := range map[string]*xmppdtest.Client{"alice": alice, "bob": bob} {
		inv := client.Expect("invitation", func(el *wire.Element) bool {
			x := el.Child("x", muc.NSUser)
			return el.Name == "message" && el.Attr("from") == room && x != nil && x.Child("invite", muc.NSUser) != nil
		})
		if inv.Child("x", muc.NSUser).Child("invite", muc.NSUser).Attr("from") != "carol@localhost" {
			t.Errorf("%s's invitation: %s", who, inv)
		}
	}
	info := discoInfo(alice, local)
	f := fields(form(info, muc.FormTypeEnquiry))
	for k, want := range map[string]string{
		"channel": "weblink", "utm_source": "news", "utm_campaign": "spring", "utm_memberid": "42",
		"visitor_first_name": "Jane", "visitor_email": "jane@example.com", "device_platform": "Linux",
		"device_screen": "1280x720", "language": "de", "destination_name": "Support", "destination_type": "team",
	} {
		if f[k] != want {
			t.Errorf("room info %s = %q, want %q", k, f[k], want)
		}
	}
	if f["enquiry_id"] == "forged" || f["enquiry_id"] == "" || f["start_time"] == "" {
		t.Errorf("server-set fields: enquiry_id %q start_time %q", f["enquiry_id"], f["start_time"])
	}
	// The visitor is a member of the private room and may join it.
	join(t, carol, local, "Jane")
	// Asking again: the same room.
	res = carol.IQ("set", service, req)
	if got := res.Child("enquiry", muc.FormTypeEnquiry).Attr("room"); got != room {
		t.Errorf("second request: %q, want %q", got, room)
	}
	// Bad requests.
	dave := login(t, srv, "dave", "d")
	for name, payload := range map[string]string{
		"no form":        "<enquiry xmlns='" + muc.FormTypeEnquiry + "'/>",
		"wrong type":     "<enquiry xmlns='" + muc.FormTypeEnquiry + "'>" + submitted("urn:other") + "</enquiry>",
		"bad channel":    "<enquiry xmlns='" + muc.FormTypeEnquiry + "'>" + submitted(muc.FormTypeEnquiry, "channel", "pigeon") + "</enquiry>",
		"unknown field":  "<enquiry xmlns='" + muc.FormTypeEnquiry + "'>" + submitted(muc.FormTypeEnquiry, "favourite_colour", "red") + "</enquiry>",
		"value too long": "<enquiry xmlns='" + muc.FormTypeEnquiry + "'>" + submitted(muc.FormTypeEnquiry, "visitor_first_name", strings.Repeat("x", 2000)) + "</enquiry>",
	} {
		res := dave.IQ("set", service, payload)
		if res.Attr("type") != "error" || errorCondition(res) != "bad-request" {
			t.Errorf("%s: %s", name, res)
		}
	}
}
