package muc_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// Alice creates an instant room: she gets 201 and 110, the room stays
// locked for bob until she accepts the default configuration.
func TestInstantRoom(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "laptop")
	bob := login(t, srv, "bob", "phone")

	self := join(t, alice, "lobby", "Alice")
	if !hasStatus(self, 201) || !hasStatus(self, 110) {
		t.Fatalf("creator's self-presence: %s", self)
	}
	if it := mucItem(self); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" {
		t.Fatalf("creator is not owner/moderator: %s", self)
	}
	if id := self.Child("occupant-id", muc.NSOccupantID); id == nil || id.Attr("id") == "" {
		t.Fatalf("no occupant-id in self-presence: %s", self)
	}

	if cond := joinFails(t, bob, "lobby", "Bob", ""); cond != "item-not-found" {
		t.Fatalf("bob entered a locked room: %s", cond)
	}
	// Instant room: an empty submitted form.
	mustResult(t, "instant accept", alice.IQ("set", roomJID("lobby"),
		"<query xmlns='"+muc.NSOwner+"'><x xmlns='jabber:x:data' type='submit'/></query>"))

	bobSelf := join(t, bob, "lobby", "Bob")
	if hasStatus(bobSelf, 201) || mucItem(bobSelf).Attr("role") != "participant" {
		t.Fatalf("bob's self-presence: %s", bobSelf)
	}
	if mucItem(bobSelf).Attr("jid") != bob.JID.String() {
		t.Fatalf("self-presence does not carry bob's own JID: %s", bobSelf)
	}
	// Alice, a moderator of a semi-anonymous room, sees bob's real JID.
	seen := alice.Expect("bob's presence", presenceFrom(occ("lobby", "Bob"), ""))
	if mucItem(seen).Attr("jid") != bob.JID.String() || hasStatus(seen, 110) {
		t.Fatalf("alice sees bob as %s", seen)
	}
}

// Existing occupants' presence comes before the newcomer's self-presence;
// participants of a semi-anonymous room do not see real JIDs.
func TestJoinOrderAndAnonymity(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")

	carol.Send(joinPresence("r", "carol", ""))
	var order []string
	for len(order) < 3 {
		el := carol.Next(5e9)
		if el.Name != "presence" {
			continue
		}
		order = append(order, el.Attr("from"))
		if el.Attr("from") != occ("r", "carol") && mucItem(el).Attr("jid") != "" {
			t.Fatalf("participant carol sees a real JID in a semi-anonymous room: %s", el)
		}
	}
	if !slices.Equal(order, []string{occ("r", "alice"), occ("r", "bob"), occ("r", "carol")}) {
		t.Fatalf("presence order: %v", order)
	}
	carol.Expect("subject", isSubject("r"))
}

// A reserved room: alice fetches the form (with x-xmppd#kind), submits
// it; bob (not an owner) may neither read nor submit it.
func TestReservedRoomConfigForm(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")

	self := join(t, alice, "team", "alice")
	if !hasStatus(self, 201) {
		t.Fatalf("no 201: %s", self)
	}
	res := alice.IQ("get", roomJID("team"), "<query xmlns='"+muc.NSOwner+"'/>")
	mustResult(t, "config get", res)
	form := res.Child("query", muc.NSOwner).Child("x", "jabber:x:data")
	var vars []string
	for _, f := range form.ChildrenNamed("field", "") {
		vars = append(vars, f.Attr("var"))
	}
	for _, want := range []string{"muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom",
		"muc#roomconfig_publicroom", "muc#roomconfig_membersonly", "muc#roomconfig_passwordprotectedroom",
		"muc#roomconfig_roomsecret", "muc#roomconfig_whois", "muc#roomconfig_moderatedroom",
		"muc#roomconfig_changesubject", "muc#roomconfig_allowinvites", "muc#roomconfig_maxusers", muc.FieldKind} {
		if !slices.Contains(vars, want) {
			t.Errorf("config form lacks %s", want)
		}
	}
	configure(t, alice, "team", map[string]string{
		"muc#roomconfig_roomname":       "Team",
		"muc#roomconfig_roomdesc":       "The team room",
		"muc#roomconfig_persistentroom": "1",
		"muc#roomconfig_whois":          "anyone",
		muc.FieldKind:                   "conference",
	})
	info := alice.IQ("get", roomJID("team"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	feats := features(info)
	for _, want := range []string{"muc_persistent", "muc_nonanonymous", "muc_public", "muc_open"} {
		if !slices.Contains(feats, want) {
			t.Errorf("room features %v lack %s", feats, want)
		}
	}
	if v := formValue(info, muc.FieldKind); v != "conference" {
		t.Errorf("room kind in roominfo = %q", v)
	}

	// Non-owners cannot configure.
	join(t, bob, "team", "bob")
	mustError(t, "bob reads config", bob.IQ("get", roomJID("team"), "<query xmlns='"+muc.NSOwner+"'/>"), "forbidden")
	mustError(t, "bob submits config", bob.IQ("set", roomJID("team"),
		"<query xmlns='"+muc.NSOwner+"'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomname'><value>Mine</value></field></x></query>"), "forbidden")
	// A bad value is refused and changes nothing.
	mustError(t, "bad kind", alice.IQ("set", roomJID("team"),
		"<query xmlns='"+muc.NSOwner+"'><x xmlns='jabber:x:data' type='submit'><field var='x-xmppd#kind'><value>party</value></field></x></query>"), "not-acceptable")
	info = alice.IQ("get", roomJID("team"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	if formValue(info, "muc#roomconfig_roomname") != "Team" || formValue(info, muc.FieldKind) != "conference" {
		t.Errorf("refused config changed the room: %s", info)
	}
	// Non-anonymous room: bob's self-presence carried 100 (he joined after).
	// Occupants hear of the change with status 104.
	configure(t, alice, "team", map[string]string{"muc#roomconfig_roomname": "Team 2"})
	bob.Expect("config change notice", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == roomJID("team") && mucX(el) != nil && hasStatus(el, 104)
	})
}

func features(info *wire.Element) []string {
	var l []string
	for _, f := range info.Child("query", "").ChildrenNamed("feature", "") {
		l = append(l, f.Attr("var"))
	}
	return l
}

func formValue(info *wire.Element, v string) string {
	x := info.Child("query", "").Child("x", "jabber:x:data")
	for _, f := range x.ChildrenNamed("field", "") {
		if f.Attr("var") == v {
			return f.ChildText("value", "")
		}
	}
	return "<absent>"
}

func TestNonAnonymousStatus100(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "open", "alice", map[string]string{"muc#roomconfig_whois": "anyone"})
	self := join(t, bob, "open", "bob")
	if !hasStatus(self, 100) {
		t.Fatalf("no status 100 in a non-anonymous room: %s", self)
	}
	// And bob, a participant, sees alice's real JID.
	_ = self
}

// Bob cannot take alice's nick; a nick differing only after
// normalisation is rewritten (210).
func TestNickConflictAndChange(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	if cond := joinFails(t, bob, "r", "alice", ""); cond != "conflict" {
		t.Fatalf("nick conflict: %s", cond)
	}
	join(t, bob, "r", "bob")
	alice.Expect("bob joined", presenceFrom(occ("r", "bob"), ""))

	// Bob changes his nick: 303 from the old nick, then the new one.
	bob.Sendf("<presence to='%s'/>", occ("r", "robert"))
	gone := alice.Expect("bob's old nick leaves", presenceFrom(occ("r", "bob"), "unavailable"))
	if !hasStatus(gone, 303) || mucItem(gone).Attr("nick") != "robert" {
		t.Fatalf("nick change presence: %s", gone)
	}
	alice.Expect("robert arrives", presenceFrom(occ("r", "robert"), ""))
	selfGone := bob.Expect("own 303", presenceFrom(occ("r", "bob"), "unavailable"))
	if !hasStatus(selfGone, 110) || !hasStatus(selfGone, 303) {
		t.Fatalf("bob's own nick change: %s", selfGone)
	}
	bob.Expect("own new presence", selfPresence(occ("r", "robert")))

	// Changing to a taken nick: conflict, nothing changes.
	bob.Sendf("<presence to='%s'/>", occ("r", "alice"))
	el := bob.Expect("conflict", presenceFrom(occ("r", "alice"), "error"))
	if errorCondition(el) != "conflict" {
		t.Fatalf("nick change conflict: %s", el)
	}
	// Messages still come from robert.
	groupchat(bob, "r", "m1", "still here")
	alice.Expect("message from robert", isGroupchat(occ("r", "robert"), "still here"))
}

// Leaving, and disconnecting, take the occupant out; others see it.
func TestLeaveAndDisconnect(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")
	join(t, carol, "r", "carol")

	bob.Sendf("<presence to='%s' type='unavailable'><status>bye</status></presence>", occ("r", "bob"))
	own := bob.Expect("own leave", presenceFrom(occ("r", "bob"), "unavailable"))
	if !hasStatus(own, 110) {
		t.Fatalf("own unavailable without 110: %s", own)
	}
	seen := alice.Expect("bob left", presenceFrom(occ("r", "bob"), "unavailable"))
	if seen.ChildText("status", "") != "bye" || mucItem(seen).Attr("role") != "none" {
		t.Fatalf("bob's leave as alice sees it: %s", seen)
	}
	// Bob is no longer in the room: his groupchat is refused.
	groupchat(bob, "r", "x", "ghost")
	if el := bob.Expect("error", xmppdtest.Is("message", "error")); errorCondition(el) != "not-acceptable" {
		t.Fatalf("non-occupant groupchat: %s", el)
	}

	// Carol's connection ends: everyone sees her leave.
	carol.Session.Close()
	carol.Session.Conn().Close()
	alice.Expect("carol gone", presenceFrom(occ("r", "carol"), "unavailable"))

	// The temporary room disappears with its last occupant.
	alice.Sendf("<presence to='%s' type='unavailable'/>", occ("r", "alice"))
	alice.Expect("own leave", presenceFrom(occ("r", "alice"), "unavailable"))
	info := alice.IQ("get", roomJID("r"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	mustError(t, "empty temporary room", info, "item-not-found")
}

// Two sessions of bob share one nick (XEP-0045 §7.2.11): both get the
// room's messages; one leaving does not make bob leave.
func TestMultiSession(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	phone := login(t, srv, "bob", "phone")
	laptop := login(t, srv, "bob", "laptop")
	createRoom(t, alice, "r", "alice", nil)
	join(t, phone, "r", "bob")
	alice.Expect("bob", presenceFrom(occ("r", "bob"), ""))
	join(t, laptop, "r", "bob")

	groupchat(alice, "r", "m1", "hi bob")
	phone.Expect("phone gets it", isGroupchat(occ("r", "alice"), "hi bob"))
	laptop.Expect("laptop gets it", isGroupchat(occ("r", "alice"), "hi bob"))

	laptop.Sendf("<presence to='%s' type='unavailable'/>", occ("r", "bob"))
	laptop.Expect("laptop leaves", presenceFrom(occ("r", "bob"), "unavailable"))
	alice.ExpectNothing(quiet, presenceFrom(occ("r", "bob"), "unavailable"))
	groupchat(alice, "r", "m2", "still there?")
	phone.Expect("phone still in", isGroupchat(occ("r", "alice"), "still there?"))
	laptop.ExpectNothing(quiet, isGroupchat(occ("r", "alice"), "still there?"))
}

// Occupant ids are stable for one user across joins, differ between users.
func TestOccupantIDs(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	first := join(t, bob, "r", "bob").Child("occupant-id", muc.NSOccupantID).Attr("id")
	bob.Sendf("<presence to='%s' type='unavailable'/>", occ("r", "bob"))
	bob.Expect("left", presenceFrom(occ("r", "bob"), "unavailable"))
	second := join(t, bob, "r", "bobby").Child("occupant-id", muc.NSOccupantID).Attr("id")
	if first == "" || first != second {
		t.Fatalf("bob's occupant id changed: %q → %q", first, second)
	}
	groupchat(alice, "r", "m", "hello")
	msg := bob.Expect("message", isGroupchat(occ("r", "alice"), "hello"))
	aliceID := msg.Child("occupant-id", muc.NSOccupantID).Attr("id")
	if aliceID == "" || aliceID == first {
		t.Fatalf("alice's occupant id %q (bob's %q)", aliceID, first)
	}
	// A client cannot forge its occupant id.
	bob.Sendf("<message to='%s' type='groupchat'><body>forged</body><occupant-id xmlns='%s' id='%s'/></message>", roomJID("r"), muc.NSOccupantID, aliceID)
	forged := alice.Expect("bob's message", isGroupchat(occ("r", "bobby"), "forged"))
	if ids := forged.ChildrenNamed("occupant-id", muc.NSOccupantID); len(ids) != 1 || ids[0].Attr("id") != first {
		t.Fatalf("forged occupant id survived: %s", forged)
	}
}

func TestJoinRefusals(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	dave := login(t, srv, "dave", "d")

	t.Run("members-only", func(t *testing.T) {
		createRoom(t, alice, "club", "alice", map[string]string{"muc#roomconfig_membersonly": "1"})
		if cond := joinFails(t, bob, "club", "bob", ""); cond != "registration-required" {
			t.Fatalf("non-member: %s", cond)
		}
		mustResult(t, "grant membership", adminSet(alice, "club", "jid='bob@localhost' affiliation='member'", ""))
		join(t, bob, "club", "bob")
	})
	t.Run("outcast", func(t *testing.T) {
		createRoom(t, alice, "pub", "alice", nil)
		mustResult(t, "ban carol", adminSet(alice, "pub", "jid='carol@localhost' affiliation='outcast'", "spam"))
		if cond := joinFails(t, carol, "pub", "carol", ""); cond != "forbidden" {
			t.Fatalf("outcast: %s", cond)
		}
	})
	t.Run("password", func(t *testing.T) {
		createRoom(t, alice, "secret", "alice", map[string]string{
			"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3cret"})
		if cond := joinFails(t, bob, "secret", "bob", ""); cond != "not-authorized" {
			t.Fatalf("no password: %s", cond)
		}
		if cond := joinFails(t, bob, "secret", "bob", "<password>wrong</password>"); cond != "not-authorized" {
			t.Fatalf("wrong password: %s", cond)
		}
		bob.Send(joinPresence("secret", "bob", "<password>s3cret</password>"))
		bob.Expect("joined", selfPresence(occ("secret", "bob")))
	})
	t.Run("full", func(t *testing.T) {
		createRoom(t, alice, "small", "alice", map[string]string{"muc#roomconfig_maxusers": "2"})
		join(t, bob, "small", "bob")
		if cond := joinFails(t, dave, "small", "dave", ""); cond != "service-unavailable" {
			t.Fatalf("full room: %s", cond)
		}
	})
	t.Run("no nick", func(t *testing.T) {
		bob.Sendf("<presence to='%s'/>", roomJID("pub"))
		el := bob.Expect("error", presenceFrom(roomJID("pub"), "error"))
		if errorCondition(el) != "jid-malformed" {
			t.Fatalf("join without nick: %s", el)
		}
	})
}

func TestDisco(t *testing.T) {
	srv, _ := start(t, xmppdtest.WithExtensions(disco.New()))
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, "public", "alice", map[string]string{"muc#roomconfig_roomname": "Public Room", "muc#roomconfig_roomdesc": "Everyone"})
	createRoom(t, alice, "hidden", "alice", map[string]string{"muc#roomconfig_publicroom": "0", "muc#roomconfig_membersonly": "1"})
	groupchat(alice, "public", "s", "x")
	alice.Sendf("<message to='%s' type='groupchat'><subject>Today</subject></message>", roomJID("public"))
	alice.Expect("subject", isSubject("public"))

	info := alice.IQ("get", service, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	id := info.Child("query", "").Child("identity", "")
	if id.Attr("category") != "conference" || id.Attr("type") != "text" || !slices.Contains(features(info), muc.NS) {
		t.Fatalf("service disco#info: %s", info)
	}
	items := alice.IQ("get", service, "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	var listed []string
	for _, it := range items.Child("query", "").ChildrenNamed("item", "") {
		listed = append(listed, it.Attr("jid")+"="+it.Attr("name"))
	}
	if !slices.Equal(listed, []string{roomJID("public") + "=Public Room"}) {
		t.Fatalf("service disco#items: %v", listed)
	}
	// The service is listed by the server.
	srvItems := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	_ = srvItems

	info = alice.IQ("get", roomJID("public"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	f := features(info)
	for _, want := range []string{muc.NS, "muc_public", "muc_open", "muc_temporary", "muc_unsecured", "muc_semianonymous", "muc_unmoderated", muc.NSOccupantID} {
		if !slices.Contains(f, want) {
			t.Errorf("public room lacks feature %s: %v", want, f)
		}
	}
	if n := info.Child("query", "").Child("identity", "").Attr("name"); n != "Public Room" {
		t.Errorf("room identity name %q", n)
	}
	for v, want := range map[string]string{
		"muc#roominfo_description": "Everyone", "muc#roominfo_occupants": "1",
		"muc#roominfo_subject": "Today", muc.FieldKind: "space",
	} {
		if got := formValue(info, v); got != want {
			t.Errorf("roominfo %s = %q, want %q", v, got, want)
		}
	}
	info = alice.IQ("get", roomJID("hidden"), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	f = features(info)
	if !slices.Contains(f, "muc_hidden") || !slices.Contains(f, "muc_membersonly") {
		t.Errorf("hidden room features: %v", f)
	}
	mustError(t, "unknown room", alice.IQ("get", roomJID("nope"), "<query xmlns='http://jabber.org/protocol/disco#info'/>"), "item-not-found")
	if !strings.Contains(srvItems.String(), service) {
		t.Errorf("server disco#items does not list %s: %s", service, srvItems)
	}
}

// A nick the service normalises (here to NFC) is reported as rewritten
// (status 210) and used in its normalised form.
func TestNickRewritten(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "r", "alice", nil)
	bob.Send(joinPresence("r", "Rene\u0301", ""))
	self := bob.Expect("self-presence", selfPresence(occ("r", "Ren\u00e9")))
	if !hasStatus(self, 210) {
		t.Fatalf("rewritten nick without 210: %s", self)
	}
	alice.Expect("bob under the normalised nick", presenceFrom(occ("r", "Ren\u00e9"), ""))
}
