package muc_test

import (
	"context"
	"slices"
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// Alice (owner) kicks and bans; everyone hears why; bob (participant)
// cannot; nobody can kick an admin without being an owner.
func TestKickAndBan(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	dave := login(t, srv, "dave", "d")
	createRoom(t, alice, "r", "alice", nil)
	join(t, bob, "r", "bob")
	join(t, carol, "r", "carol")
	join(t, dave, "r", "dave")

	mustError(t, "participant kicks", adminSet(bob, "r", "nick='carol' role='none'", ""), "forbidden")

	mustResult(t, "kick carol", adminSet(alice, "r", "nick='carol' role='none'", "off topic"))
	kicked := carol.Expect("own kick", presenceFrom(occ("r", "carol"), "unavailable"))
	if !hasStatus(kicked, 307) || !hasStatus(kicked, 110) || mucItem(kicked).ChildText("reason", "") != "off topic" ||
		mucItem(kicked).Child("actor", "").Attr("nick") != "alice" {
		t.Fatalf("kicked carol sees %s", kicked)
	}
	if seen := bob.Expect("carol kicked", presenceFrom(occ("r", "carol"), "unavailable")); !hasStatus(seen, 307) || hasStatus(seen, 110) {
		t.Fatalf("bob sees %s", seen)
	}
	// Kicked is not banned: carol may come back.
	join(t, carol, "r", "carol")

	mustResult(t, "ban carol", adminSet(alice, "r", "jid='carol@localhost' affiliation='outcast'", "spam"))
	banned := carol.Expect("own ban", presenceFrom(occ("r", "carol"), "unavailable"))
	if !hasStatus(banned, 301) || mucItem(banned).Attr("affiliation") != "outcast" {
		t.Fatalf("banned carol sees %s", banned)
	}
	bob.Expect("carol banned", func(el *wire.Element) bool {
		return presenceFrom(occ("r", "carol"), "unavailable")(el) && hasStatus(el, 301)
	})
	if cond := joinFails(t, carol, "r", "carol", ""); cond != "forbidden" {
		t.Fatalf("banned carol rejoins: %s", cond)
	}

	// Bob becomes admin (owners only) and may then kick dave, but not
	// alice, and may not make anyone an owner.
	mustResult(t, "make bob admin", adminSet(alice, "r", "jid='bob@localhost' affiliation='admin'", ""))
	if p := bob.Expect("promotion", selfPresence(occ("r", "bob"))); mucItem(p).Attr("affiliation") != "admin" || mucItem(p).Attr("role") != "moderator" {
		t.Fatalf("bob's promotion: %s", p)
	}
	mustError(t, "admin kicks owner", adminSet(bob, "r", "nick='alice' role='none'", ""), "not-allowed")
	mustError(t, "admin makes owner", adminSet(bob, "r", "jid='dave@localhost' affiliation='owner'", ""), "not-allowed")
	mustError(t, "admin demotes owner", adminSet(bob, "r", "jid='alice@localhost' affiliation='member'", ""), "not-allowed")
	mustResult(t, "admin kicks dave", adminSet(bob, "r", "nick='dave' role='none'", ""))
	dave.Expect("dave kicked", presenceFrom(occ("r", "dave"), "unavailable"))
	// The last owner stays.
	mustError(t, "last owner leaves ownership", adminSet(alice, "r", "jid='alice@localhost' affiliation='admin'", ""), "conflict")

	// Lists.
	res := alice.IQ("get", roomJID("r"), "<query xmlns='"+muc.NSAdmin+"'><item affiliation='outcast'/></query>")
	if it := res.Child("query", muc.NSAdmin).Child("item", ""); it == nil || it.Attr("jid") != "carol@localhost" {
		t.Fatalf("outcast list: %s", res)
	}
	res = alice.IQ("get", roomJID("r"), "<query xmlns='"+muc.NSAdmin+"'><item role='moderator'/></query>")
	var mods []string
	for _, it := range res.Child("query", muc.NSAdmin).ChildrenNamed("item", "") {
		mods = append(mods, it.Attr("nick"))
	}
	if !slices.Equal(mods, []string{"alice", "bob"}) {
		t.Fatalf("moderators: %v (%s)", mods, res)
	}
	join(t, dave, "r", "dave")
	mustError(t, "participant lists members", dave.IQ("get", roomJID("r"), "<query xmlns='"+muc.NSAdmin+"'><item affiliation='member'/></query>"), "forbidden")
}

// Removing a member from a members-only room removes the occupant (321);
// making a room members-only removes non-members (322).
func TestMembersOnlyRemovals(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	carol := login(t, srv, "carol", "c")
	createRoom(t, alice, "r", "alice", nil)
	mustResult(t, "member bob", adminSet(alice, "r", "jid='bob@localhost' affiliation='member'", ""))
	join(t, bob, "r", "bob")
	join(t, carol, "r", "carol")

	configure(t, alice, "r", map[string]string{"muc#roomconfig_membersonly": "1"})
	if el := carol.Expect("removed", presenceFrom(occ("r", "carol"), "unavailable")); !hasStatus(el, 322) {
		t.Fatalf("members-only switch: %s", el)
	}
	mustResult(t, "unmember bob", adminSet(alice, "r", "jid='bob@localhost' affiliation='none'", ""))
	if el := bob.Expect("removed", presenceFrom(occ("r", "bob"), "unavailable")); !hasStatus(el, 321) {
		t.Fatalf("membership removed: %s", el)
	}
}

// The owner destroys the room with an alternate venue; occupants are told.
func TestDestroy(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "old", "alice", map[string]string{"muc#roomconfig_persistentroom": "1"})
	join(t, bob, "old", "bob")

	mustError(t, "non-owner destroys", bob.IQ("set", roomJID("old"),
		"<query xmlns='"+muc.NSOwner+"'><destroy/></query>"), "forbidden")
	mustResult(t, "destroy", alice.IQ("set", roomJID("old"),
		"<query xmlns='"+muc.NSOwner+"'><destroy jid='"+roomJID("new")+"'><reason>moved</reason></destroy></query>"))
	el := bob.Expect("destroyed", presenceFrom(occ("old", "bob"), "unavailable"))
	d := mucX(el).Child("destroy", muc.NSUser)
	if d == nil || d.Attr("jid") != roomJID("new") || d.ChildText("reason", "") != "moved" {
		t.Fatalf("destroy notice: %s", el)
	}
	mustError(t, "destroyed room", alice.IQ("get", roomJID("old"), "<query xmlns='http://jabber.org/protocol/disco#info'/>"), "item-not-found")
	// The name is free again: alice creates it anew.
	if self := join(t, alice, "old", "alice"); !hasStatus(self, 201) {
		t.Fatalf("recreated room: %s", self)
	}
}

// A persistent room keeps its configuration, affiliations, subject and
// history across a restart; a temporary one does not survive.
func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	func() {
		srv, _ := start(t, xmppdtest.WithDataDir(dir))
		alice := login(t, srv, "alice", "a")
		createRoom(t, alice, "keep", "alice", map[string]string{
			"muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomname": "Keeper",
			"muc#roomconfig_membersonly": "1", muc.FieldKind: "enquiry"})
		mustResult(t, "member bob", adminSet(alice, "keep", "jid='bob@localhost' affiliation='member'", ""))
		mustResult(t, "ban carol", adminSet(alice, "keep", "jid='carol@localhost' affiliation='outcast'", ""))
		groupchat(alice, "keep", "1", "first")
		groupchat(alice, "keep", "2", "second")
		alice.Sendf("<message to='%s' type='groupchat'><subject>Kept</subject></message>", roomJID("keep"))
		alice.Expect("subject", isSubject("keep"))
		createRoom(t, alice, "temp", "alice", nil)
		srv.Shutdown(context.Background())
	}()

	srv, ext := start(t, xmppdtest.WithDataDir(dir))
	info, err := ext.Room("keep")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Keeper" || info.Kind != "enquiry" || !info.MembersOnly || !slices.Equal(info.Members, []string{"bob@localhost"}) ||
		!slices.Equal(info.Outcasts, []string{"carol@localhost"}) || !slices.Equal(info.Owners, []string{"alice@localhost"}) {
		t.Fatalf("room after restart: %+v", info)
	}
	if _, err := ext.Room("temp"); err == nil {
		t.Fatal("temporary room survived a restart")
	}
	bob := login(t, srv, "bob", "b")
	bob.Send(joinPresence("keep", "bob", ""))
	if self := bob.Expect("self", selfPresence(occ("keep", "bob"))); hasStatus(self, 201) {
		t.Fatalf("persistent room re-created: %s", self)
	}
	bob.Expect("history 1", isGroupchat(occ("keep", "alice"), "first"))
	bob.Expect("history 2", isGroupchat(occ("keep", "alice"), "second"))
	if s := bob.Expect("subject", isSubject("keep")); s.ChildText("subject", "") != "Kept" {
		t.Fatalf("subject after restart: %s", s)
	}
	carol := login(t, srv, "carol", "c")
	if cond := joinFails(t, carol, "keep", "carol", ""); cond != "forbidden" {
		t.Fatalf("ban after restart: %s", cond)
	}
}

// History is capped at max_history, in memory and in the store.
func TestHistoryCap(t *testing.T) {
	dir := t.TempDir()
	ext := muc.New()
	ext.Config.MaxHistory = 3
	func() {
		srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext), xmppdtest.WithDataDir(dir))
		srv.AddUser(t, "alice", "alice-pw")
		alice := login(t, srv, "alice", "a")
		createRoom(t, alice, "r", "alice", map[string]string{"muc#roomconfig_persistentroom": "1"})
		for _, b := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
			groupchat(alice, "r", b, b)
			alice.Expect("echo", isGroupchat(occ("r", "alice"), b))
		}
		if n := mustInfo(t, ext, "r").HistoryMessages; n != 3 {
			t.Fatalf("history kept: %d", n)
		}
		srv.Shutdown(context.Background())
	}()
	ext2 := muc.New()
	ext2.Config.MaxHistory = 3
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext2), xmppdtest.WithDataDir(dir))
	alice := login(t, srv, "alice", "a")
	alice.Send(joinPresence("r", "alice", ""))
	for _, b := range []string{"6", "7", "8"} {
		alice.Expect("history "+b, isGroupchat(occ("r", "alice"), b))
	}
	alice.Expect("subject", isSubject("r"))
}

func mustInfo(t *testing.T, ext *muc.Extension, jid string) muc.RoomInfo {
	t.Helper()
	info, err := ext.Room(jid)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// The operator commands: create a private space with members, list it,
// describe it, destroy it (occupants are told).
func TestAdminCommands(t *testing.T) {
	srv, _ := start(t)
	ctx := context.Background()
	res, err := srv.AdminCommand(ctx, "room.create", map[string]string{
		"jid": "staff", "kind": "space", "name": "Staff", "description": "Staff only",
		"private": "true", "members": "bob@localhost,carol@localhost", "owners": "alice@localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if info := res.(muc.RoomInfo); info.JID != roomJID("staff") || !info.MembersOnly || info.Public || !info.Persistent {
		t.Fatalf("created: %+v", info)
	}
	if _, err := srv.AdminCommand(ctx, "room.create", map[string]string{"jid": "staff@" + service}); err == nil {
		t.Fatal("duplicate room created")
	}
	if _, err := srv.AdminCommand(ctx, "room.create", map[string]string{"jid": "x", "kind": "party"}); err == nil {
		t.Fatal("bad kind accepted")
	}
	if _, err := srv.AdminCommand(ctx, "room.create", map[string]string{"jid": "x@elsewhere.example"}); err == nil {
		t.Fatal("room at another domain accepted")
	}

	// Members enter at once (CLI rooms are not locked); dave may not.
	bob := login(t, srv, "bob", "b")
	join(t, bob, "staff", "bob")
	if cond := joinFails(t, login(t, srv, "dave", "d"), "staff", "dave", ""); cond != "registration-required" {
		t.Fatalf("non-member in private space: %s", cond)
	}
	// Private = hidden.
	items := bob.IQ("get", service, "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	if len(items.Child("query", "").Children) != 0 {
		t.Fatalf("private space listed: %s", items)
	}

	res, err = srv.AdminCommand(ctx, "room.list", nil)
	if err != nil || len(res.([]muc.RoomInfo)) != 1 {
		t.Fatalf("list: %v %v", res, err)
	}
	res, err = srv.AdminCommand(ctx, "room.info", map[string]string{"jid": roomJID("staff")})
	info := res.(muc.RoomInfo)
	if err != nil || info.Name != "Staff" || !slices.Equal(info.Occupants, []string{"bob"}) ||
		!slices.Equal(info.Members, []string{"bob@localhost", "carol@localhost"}) {
		t.Fatalf("info: %+v %v", info, err)
	}
	if _, err := srv.AdminCommand(ctx, "room.destroy", map[string]string{"jid": "staff", "reason": "closed"}); err != nil {
		t.Fatal(err)
	}
	el := bob.Expect("destroyed", presenceFrom(occ("staff", "bob"), "unavailable"))
	if d := mucX(el).Child("destroy", muc.NSUser); d == nil || d.ChildText("reason", "") != "closed" {
		t.Fatalf("destroy notice: %s", el)
	}
	if _, err := srv.AdminCommand(ctx, "room.info", map[string]string{"jid": "staff"}); err == nil {
		t.Fatal("destroyed room still described")
	}
}

// Deleting an account drops its affiliations.
func TestAccountDeletedDropsAffiliations(t *testing.T) {
	srv, ext := start(t)
	if _, err := ext.CreateRoom(muc.RoomSpec{JID: "r", Private: true, Members: []string{"bob@localhost"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DeleteAccount("bob"); err != nil {
		t.Fatal(err)
	}
	if info := mustInfo(t, ext, "r"); len(info.Members) != 0 {
		t.Fatalf("members after deletion: %v", info.Members)
	}
}
