package muc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// form returns the data form of FORM_TYPE formType in el's first child
// (a disco#info query or an ad-hoc command), nil if none.
func form(el *wire.Element, formType string) *wire.Element {
	for _, c := range el.Children {
		for _, x := range c.ChildrenNamed("x", "jabber:x:data") {
			for _, f := range x.ChildrenNamed("field", "") {
				if f.Attr("var") == "FORM_TYPE" && f.ChildText("value", "") == formType {
					return x
				}
			}
		}
	}
	return nil
}

// fields returns a form's field values by var.
func fields(x *wire.Element) map[string]string {
	m := make(map[string]string)
	for _, f := range x.ChildrenNamed("field", "") {
		m[f.Attr("var")] = f.ChildText("value", "")
	}
	return m
}

func discoInfo(c *xmppdtest.Client, room string) *wire.Element {
	return c.IQ("get", roomJID(room), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
}

func commandList(c *xmppdtest.Client, room string) []string {
	res := c.IQ("get", roomJID(room), "<query xmlns='http://jabber.org/protocol/disco#items' node='"+muc.NSCommands+"'/>")
	var l []string
	for _, it := range res.Child("query", "").ChildrenNamed("item", "") {
		l = append(l, it.Attr("node"))
	}
	return l
}

// command sends one ad-hoc command request to a room.
func command(c *xmppdtest.Client, room, node, attrs, inner string) *wire.Element {
	return c.IQ("set", roomJID(room), fmt.Sprintf("<command xmlns='%s' node='%s' %s>%s</command>", muc.NSCommands, node, attrs, inner))
}

func submitted(formType string, kv ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>%s</value></field>", formType)
	for i := 0; i < len(kv); i += 2 {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", kv[i], kv[i+1])
	}
	return b.String() + "</x>"
}

var janeContext = muc.EnquiryContext{
	EnquiryID: "E-1001", Channel: muc.ChannelWeblink, ChannelDetail: "shop.example/pricing", Language: "de",
	Visitor:     muc.Visitor{FirstName: "Jane", LastName: "Doe", Phone: "+4930123456", Email: "jane@example.com"},
	Device:      muc.Device{Platform: "iOS", UserAgent: "Mozilla/5.0 (iPhone)", Screen: "390x844", Geo: "52.52,13.40"},
	UTM:         map[string]string{"utm_source": "news", "utm_campaign": "spring", "utm_partner": "acme"},
	Destination: muc.Destination{Name: "Support", Type: "team", Endpoint: "support@localhost"},
}

// An enquiry room made by the web-chat code: everyone sees the context in
// disco#info; carol joining gets the room's opening message naming the
// channel and the visitor.
func TestEnquiryRoomContext(t *testing.T) {
	srv, ext := start(t)
	info, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq", Name: "Jane Doe", Owners: []string{"alice@localhost"}}, janeContext)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != muc.KindEnquiry || info.Enquiry == nil || info.Enquiry.StartTime.IsZero() || info.HistoryMessages != 1 {
		t.Fatalf("created: %+v", info)
	}

	carol := login(t, srv, "carol", "c")
	carol.Send(joinPresence("enq", "carol", ""))
	carol.Expect("self-presence", selfPresence(occ("enq", "carol")))
	msg := carol.Expect("the room's opening message", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("enq") && el.Child("body", "") != nil
	})
	body := msg.ChildText("body", "")
	want := "New enquiry E-1001 via weblink shop.example/pricing (utm_source=news, utm_campaign=spring, utm_partner=acme) " +
		"from Jane Doe, +4930123456, jane@example.com to Support"
	if body != want || msg.Attr("type") != "groupchat" {
		t.Fatalf("opening message:\n got %q\nwant %q\n%s", body, want, msg)
	}
	if sid := msg.Child("stanza-id", muc.NSStanzaID); sid == nil || sid.Attr("by") != roomJID("enq") || sid.Attr("id") == "" {
		t.Fatalf("opening message without the room's stanza-id: %s", msg)
	}
	if msg.Child("delay", "urn:xmpp:delay") == nil {
		t.Fatalf("opening message not replayed as history: %s", msg)
	}
	carol.Expect("subject", isSubject("enq"))

	res := discoInfo(carol, "enq")
	if !slices.Contains(features(res), muc.NSCommands) {
		t.Errorf("enquiry room does not advertise ad-hoc commands: %v", features(res))
	}
	if ri := form(res, muc.NSRoomInfo); ri == nil || fields(ri)[muc.FieldKind] != "enquiry" {
		t.Fatalf("muc#roominfo form: %s", res)
	}
	x := form(res, muc.FormTypeEnquiry)
	if x == nil {
		t.Fatalf("no enquiry context form in disco#info: %s", res)
	}
	got := fields(x)
	for k, v := range map[string]string{
		"enquiry_id": "E-1001", "channel": "weblink", "channel_detail": "shop.example/pricing", "language": "de",
		"visitor_first_name": "Jane", "visitor_last_name": "Doe", "visitor_phone": "+4930123456", "visitor_email": "jane@example.com",
		"device_platform": "iOS", "device_user_agent": "Mozilla/5.0 (iPhone)", "device_screen": "390x844", "device_geo": "52.52,13.40",
		"utm_source": "news", "utm_campaign": "spring", "utm_partner": "acme",
		"destination_name": "Support", "destination_type": "team", "destination_endpoint": "support@localhost",
		"start_time": info.Enquiry.StartTime.UTC().Format("2006-01-02T15:04:05Z"),
	} {
		if got[k] != v {
			t.Errorf("enquiry form %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["location"]; ok {
		t.Errorf("unset field location is in the form: %s", x)
	}
	// In a private (members-only) enquiry room only members and staff see
	// the visitor's details.
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "secret", Private: true, Members: []string{"bob@localhost"}}, janeContext); err != nil {
		t.Fatal(err)
	}
	if form(discoInfo(carol, "secret"), muc.FormTypeEnquiry) != nil {
		t.Error("a non-member reads the context of a private enquiry room")
	}
	if x := form(discoInfo(login(t, srv, "bob", "b"), "secret"), muc.FormTypeEnquiry); x == nil || fields(x)["visitor_email"] != "jane@example.com" {
		t.Errorf("a member does not see the context of a private enquiry room: %v", x)
	}
	// A space room carries no enquiry form.
	createRoom(t, carol, "plain", "carol", nil)
	if form(discoInfo(carol, "plain"), muc.FormTypeEnquiry) != nil {
		t.Error("a space room shows an enquiry form")
	}
}

// Staff (an admin) edit the visitor's details with the ad-hoc command
// enquiry-context and add a field; disco#info shows the change and the
// occupants are told (104). A participant may neither list nor run it.
func TestEnquiryContextCommand(t *testing.T) {
	srv, ext := start(t)
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq", Owners: []string{"alice@localhost"}}, janeContext); err != nil {
		t.Fatal(err)
	}
	alice := login(t, srv, "alice", "a")
	mustResult(t, "bob becomes admin", adminSet(alice, "enq", "jid='bob@localhost' affiliation='admin'", ""))
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	join(t, carol, "enq", "carol")

	// Carol, a participant, sees no command and may not run it.
	if l := commandList(carol, "enq"); len(l) != 0 {
		t.Fatalf("participant's command list: %v", l)
	}
	mustError(t, "participant runs enquiry-context", command(carol, "enq", muc.CommandEnquiryContext, "action='execute'", ""), "forbidden")
	mustError(t, "participant submits directly", command(carol, "enq", muc.CommandEnquiryContext, "",
		submitted(muc.FormTypeEnquiry, "visitor_phone", "0")), "forbidden")

	// Bob, an admin, runs it: a prefilled form, then the submitted form.
	if l := commandList(bob, "enq"); !slices.Equal(l, []string{muc.CommandEnquiryContext}) {
		t.Fatalf("admin's command list: %v", l)
	}
	res := command(bob, "enq", muc.CommandEnquiryContext, "action='execute'", "")
	mustResult(t, "execute", res)
	cmd := res.Child("command", muc.NSCommands)
	sid := cmd.Attr("sessionid")
	if cmd.Attr("status") != "executing" || sid == "" {
		t.Fatalf("execute: %s", res)
	}
	x := form(res, muc.FormTypeEnquiry)
	if x == nil || x.Attr("type") != "form" {
		t.Fatalf("no form: %s", res)
	}
	if f := fields(x); f["visitor_first_name"] != "Jane" || f["visitor_phone"] != "+4930123456" {
		t.Fatalf("form not prefilled: %s", x)
	}
	if _, ok := fields(x)["utm_source"]; ok {
		t.Fatalf("the visitor form offers non-visitor fields: %s", x)
	}
	res = command(bob, "enq", muc.CommandEnquiryContext, "sessionid='"+sid+"' action='complete'", submitted(muc.FormTypeEnquiry,
		"visitor_first_name", "Jane", "visitor_last_name", "Doe-Smith", "visitor_phone", "+4930999",
		"visitor_email", "jane@example.com", "new_field_name", "company", "new_field_value", "ACME GmbH"))
	mustResult(t, "complete", res)
	if st := res.Child("command", muc.NSCommands).Attr("status"); st != "completed" {
		t.Fatalf("complete: %s", res)
	}
	carol.Expect("status 104", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("enq") && mucX(el) != nil && hasStatus(el, 104)
	})
	f := fields(form(discoInfo(carol, "enq"), muc.FormTypeEnquiry))
	for k, v := range map[string]string{
		"visitor_last_name": "Doe-Smith", "visitor_phone": "+4930999", "visitor_company": "ACME GmbH", "utm_source": "news",
	} {
		if f[k] != v {
			t.Errorf("after the edit %s = %q, want %q", k, f[k], v)
		}
	}
	// The added field is in the next form; an empty value removes it.
	if f := fields(form(command(bob, "enq", muc.CommandEnquiryContext, "", ""), muc.FormTypeEnquiry)); f["visitor_company"] != "ACME GmbH" {
		t.Fatalf("added field not offered again: %v", f)
	}
	mustResult(t, "one-step submit", command(bob, "enq", muc.CommandEnquiryContext, "", submitted(muc.FormTypeEnquiry, "visitor_company", "")))
	if _, ok := fields(form(discoInfo(bob, "enq"), muc.FormTypeEnquiry))["visitor_company"]; ok {
		t.Fatal("emptied extra field still shown")
	}

	// Bad input changes nothing.
	mustError(t, "non-visitor field", command(bob, "enq", muc.CommandEnquiryContext, "",
		submitted(muc.FormTypeEnquiry, "utm_source", "spam")), "not-acceptable")
	mustError(t, "bad field name", command(bob, "enq", muc.CommandEnquiryContext, "",
		submitted(muc.FormTypeEnquiry, "new_field_name", "&lt;b&gt;", "new_field_value", "x")), "not-acceptable")
	el := command(bob, "enq", muc.CommandEnquiryContext, "sessionid='forged.abc' action='complete'", submitted(muc.FormTypeEnquiry))
	mustError(t, "forged session", el, "bad-request")
	if el.Child("error", "").Child("bad-sessionid", muc.NSCommands) == nil {
		t.Fatalf("forged session without <bad-sessionid/>: %s", el)
	}
	// Alice's session id is not Bob's.
	mustError(t, "someone else's session", command(alice, "enq", muc.CommandEnquiryContext, "sessionid='"+sid+"' action='complete'",
		submitted(muc.FormTypeEnquiry)), "bad-request")
	mustError(t, "call-log in an enquiry room", command(alice, "enq", muc.CommandCallLog, "", ""), "item-not-found")
	if got := mustInfo(t, ext, "enq").Enquiry; got.Get("utm_source") != "news" || got.Visitor.Phone != "+4930999" {
		t.Fatalf("context after bad input: %+v", got)
	}

	// The command node is described in disco#info.
	ni := bob.IQ("get", roomJID("enq"), "<query xmlns='http://jabber.org/protocol/disco#info' node='"+muc.CommandEnquiryContext+"'/>")
	if id := ni.Child("query", "").Child("identity", ""); id == nil || id.Attr("category") != "automation" || id.Attr("type") != "command-node" {
		t.Fatalf("command node info: %s", ni)
	}
}

// Bad contexts are refused with the field named.
func TestEnquiryContextValidation(t *testing.T) {
	_, ext := start(t)
	for _, c := range []struct {
		ctx  muc.EnquiryContext
		want string
	}{
		{muc.EnquiryContext{Channel: "carrier pigeon"}, "channel"},
		{muc.EnquiryContext{UTM: map[string]string{"source": "x"}}, "source"},
		{muc.EnquiryContext{Visitor: muc.Visitor{Extra: map[string]string{"a b!": "x"}}}, "visitor_a_b!"},
		{muc.EnquiryContext{Visitor: muc.Visitor{Email: "a\x00b"}}, "visitor_email"},
	} {
		if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "bad"}, c.ctx); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want one naming %s", c.ctx, err, c.want)
		}
	}
	if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "bad", Kind: muc.KindSpace}, muc.EnquiryContext{}); err == nil {
		t.Error("a space room took an enquiry context")
	}
	if _, err := ext.Room("bad"); err == nil {
		t.Error("a refused enquiry left a room behind")
	}
	// Channel spellings are normalised.
	info, err := ext.CreateEnquiry(muc.RoomSpec{JID: "ok"}, muc.EnquiryContext{Channel: "Virtual Number"})
	if err != nil || info.Enquiry.Channel != muc.ChannelVirtualNumber {
		t.Fatalf("channel: %+v %v", info.Enquiry, err)
	}
}

// A conference call: alice (owner, the room's creator) and bob join and
// leave; the call log lists both with join and leave times, the host, the
// start (first join) and end (last leave). Only owners read it over
// XMPP; it survives a restart.
func TestConferenceCallLog(t *testing.T) {
	dir := t.TempDir()
	func() {
		srv, ext := start(t, xmppdtest.WithDataDir(dir))
		alice := login(t, srv, "alice", "a")
		bob := login(t, srv, "bob", "b")
		createRoom(t, alice, "call", "alice", map[string]string{muc.FieldKind: "conference", "muc#roomconfig_persistentroom": "1"})
		join(t, bob, "call", "bob")
		if l := commandList(bob, "call"); len(l) != 0 {
			t.Fatalf("participant's command list: %v", l)
		}
		mustError(t, "participant reads the call log", command(bob, "call", muc.CommandCallLog, "", ""), "forbidden")
		if l := commandList(alice, "call"); !slices.Equal(l, []string{muc.CommandCallLog}) {
			t.Fatalf("owner's command list: %v", l)
		}

		// While the call goes on, it has no end.
		calls := mustInfo(t, ext, "call").Calls
		if len(calls) != 1 || !calls[0].End.IsZero() || len(calls[0].Participants) != 2 {
			t.Fatalf("call in progress: %+v", calls)
		}
		bob.Send(fmt.Sprintf("<presence to='%s' type='unavailable'/>", occ("call", "bob")))
		bob.Expect("bob left", presenceFrom(occ("call", "bob"), "unavailable"))
		alice.Send(fmt.Sprintf("<presence to='%s' type='unavailable'/>", occ("call", "alice")))
		alice.Expect("alice left", presenceFrom(occ("call", "alice"), "unavailable"))

		res := command(alice, "call", muc.CommandCallLog, "action='execute'", "")
		mustResult(t, "call-log", res)
		cmd := res.Child("command", muc.NSCommands)
		if cmd.Attr("status") != "completed" {
			t.Fatalf("call-log: %s", res)
		}
		note := cmd.ChildText("note", "")
		if !strings.Contains(note, "host alice@localhost") || !strings.Contains(note, "bob (bob@localhost)") {
			t.Fatalf("call-log note: %q", note)
		}
		x := form(res, muc.FormTypeCallLog)
		if x == nil {
			t.Fatalf("no call-log form: %s", res)
		}
		var rows []string
		for _, it := range x.ChildrenNamed("item", "") {
			f := fields(it)
			if f["call_start"] == "" || f["call_end"] == "" || f["joined"] == "" || f["left"] == "" {
				t.Fatalf("row lacks times: %s", it)
			}
			rows = append(rows, f["call"]+" "+f["host"]+" "+f["nick"]+" "+f["jid"])
		}
		if !slices.Equal(rows, []string{"1 alice@localhost alice alice@localhost", "1 alice@localhost bob bob@localhost"}) {
			t.Fatalf("call-log rows: %v", rows)
		}
		srv.Shutdown(context.Background())
	}()

	srv, ext := start(t, xmppdtest.WithDataDir(dir))
	calls := mustInfo(t, ext, "call").Calls
	if len(calls) != 1 {
		t.Fatalf("calls after restart: %+v", calls)
	}
	c := calls[0]
	if c.Host != "alice@localhost" || c.HostNick != "alice" || len(c.Participants) != 2 {
		t.Fatalf("call after restart: %+v", c)
	}
	a, b := c.Participants[0], c.Participants[1]
	if a.JID != "alice@localhost" || a.Nick != "alice" || b.JID != "bob@localhost" || b.Nick != "bob" {
		t.Fatalf("participants: %+v", c.Participants)
	}
	switch {
	case !c.Start.Equal(a.Joined): // the call starts with the first join
		t.Errorf("start %v, alice joined %v", c.Start, a.Joined)
	case b.Joined.Before(a.Joined) || b.Left.Before(b.Joined) || a.Left.Before(b.Left):
		t.Errorf("times out of order: %+v", c.Participants)
	case !c.End.Equal(a.Left): // and ends with the last leave
		t.Errorf("end %v, alice left %v", c.End, a.Left)
	}

	// A second call: bob alone has no host until alice comes.
	bob := login(t, srv, "bob", "b")
	join(t, bob, "call", "bob")
	alice := login(t, srv, "alice", "a")
	join(t, alice, "call", "alice")
	calls = mustInfo(t, ext, "call").Calls
	if len(calls) != 2 || calls[1].Host != "alice@localhost" || !calls[1].End.IsZero() || !calls[0].Start.Equal(c.Start) {
		t.Fatalf("second call: %+v", calls)
	}
}

// The call log keeps the last max_calls calls.
func TestCallLogBounded(t *testing.T) {
	ext := muc.New()
	ext.Config.MaxCalls = 2
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext))
	srv.AddUser(t, "alice", "alice-pw")
	if _, err := ext.CreateRoom(muc.RoomSpec{JID: "call", Kind: muc.KindConference, Owners: []string{"alice@localhost"}}); err != nil {
		t.Fatal(err)
	}
	alice := login(t, srv, "alice", "a")
	for i := range 3 {
		join(t, alice, "call", fmt.Sprint("alice", i))
		alice.Send(fmt.Sprintf("<presence to='%s' type='unavailable'/>", occ("call", fmt.Sprint("alice", i))))
		alice.Expect("left", presenceFrom(occ("call", fmt.Sprint("alice", i)), "unavailable"))
	}
	calls := mustInfo(t, ext, "call").Calls
	if len(calls) != 2 || calls[0].Participants[0].Nick != "alice1" || calls[1].Participants[0].Nick != "alice2" {
		t.Fatalf("kept calls: %+v", calls)
	}
}

// The enquiry context, with the fields staff added, survives a restart.
func TestEnquiryContextSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	func() {
		srv, ext := start(t, xmppdtest.WithDataDir(dir))
		if _, err := ext.CreateEnquiry(muc.RoomSpec{JID: "enq", Owners: []string{"alice@localhost"}}, janeContext); err != nil {
			t.Fatal(err)
		}
		alice := login(t, srv, "alice", "a")
		mustResult(t, "add a field", command(alice, "enq", muc.CommandEnquiryContext, "",
			submitted(muc.FormTypeEnquiry, "new_field_name", "Order No", "new_field_value", "4711")))
		srv.Shutdown(context.Background())
	}()
	srv, ext := start(t, xmppdtest.WithDataDir(dir))
	if got := mustInfo(t, ext, "enq").Enquiry; got == nil || got.Visitor.Extra["order_no"] != "4711" || got.UTM["utm_partner"] != "acme" {
		t.Fatalf("context after restart: %+v", got)
	}
	bob := login(t, srv, "bob", "b")
	if f := fields(form(discoInfo(bob, "enq"), muc.FormTypeEnquiry)); f["visitor_order_no"] != "4711" || f["channel"] != "weblink" {
		t.Fatalf("disco#info after restart: %v", f)
	}
}
