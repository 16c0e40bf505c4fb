package muc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

var mamSeq atomic.Int64

// archived is one forwarded room archive result.
type archived struct {
	id, from string // the result's id, the forwarded message's from
	body     string
	msg      *wire.Element // the forwarded message
}

// roomQuery sends a MAM query to a room and returns the results in the
// order received and the IQ response.
func roomQuery(t *testing.T, c *xmppdtest.Client, room, inner string) ([]archived, *wire.Element) {
	t.Helper()
	n := mamSeq.Add(1)
	id, qid := fmt.Sprintf("mq%d", n), fmt.Sprintf("mqid%d", n)
	c.Sendf("<iq type='set' id='%s' to='%s'><query xmlns='%s' queryid='%s'>%s</query></iq>", id, roomJID(room), mamproto.NS, qid, inner)
	var out []archived
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == id {
			return out, el
		}
		res := el.Child("result", mamproto.NS)
		if el.Name != "message" || res == nil {
			continue
		}
		if res.Attr("queryid") != qid || el.Attr("from") != roomJID(room) {
			t.Fatalf("result not from the room or for another query: %s", el)
		}
		msg := res.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")
		if msg == nil {
			t.Fatalf("forwarded stanza is not a jabber:client message: %s", el)
		}
		out = append(out, archived{id: res.Attr("id"), from: msg.Attr("from"), body: msg.ChildText("body", ""), msg: msg})
	}
}

func mustRoomQuery(t *testing.T, c *xmppdtest.Client, room, inner string) ([]archived, *wire.Element) {
	t.Helper()
	rs, iq := roomQuery(t, c, room, inner)
	if iq.Attr("type") != "result" {
		t.Fatalf("room query %s failed: %s", inner, iq)
	}
	return rs, iq.Child("fin", mamproto.NS)
}

func archivedBodies(rs []archived) string {
	l := make([]string, len(rs))
	for i, r := range rs {
		l[i] = r.body
	}
	return strings.Join(l, ",")
}

func mamForm(fields ...string) string {
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>")
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", fields[i], fields[i+1])
	}
	b.WriteString("</x>")
	return b.String()
}

func rsmSet(inner string) string {
	return "<set xmlns='http://jabber.org/protocol/rsm'>" + inner + "</set>"
}

func finSet(fin *wire.Element, name string) string {
	return fin.Child("set", "http://jabber.org/protocol/rsm").ChildText(name, "")
}

// roomStanzaID is the stanza-id the room put on a message.
func roomStanzaID(el *wire.Element, room string) string {
	for _, c := range el.ChildrenNamed("stanza-id", muc.NSStanzaID) {
		if c.Attr("by") == roomJID(room) {
			return c.Attr("id")
		}
	}
	return ""
}

// Every groupchat message is in the room's archive under the stanza-id
// the occupants received; the archive pages both ways, filters by nick
// and answers form discovery and metadata.
func TestRoomArchive(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "arch", "alice", nil)
	join(t, bob, "arch", "bob")

	var ids []string
	for i := 1; i <= 5; i++ {
		b := fmt.Sprint(i)
		groupchat(alice, "arch", "m"+b, b)
		el := bob.Expect("message "+b, isGroupchat(occ("arch", "alice"), b))
		ids = append(ids, roomStanzaID(el, "arch"))
		alice.Expect("echo "+b, isGroupchat(occ("arch", "alice"), b))
	}
	groupchat(bob, "arch", "b1", "from bob")
	el := alice.Expect("bob's message", isGroupchat(occ("arch", "bob"), "from bob"))
	ids = append(ids, roomStanzaID(el, "arch"))

	all, fin := mustRoomQuery(t, bob, "arch", "")
	if got := archivedBodies(all); got != "1,2,3,4,5,from bob" || fin.Attr("complete") != "true" || finSet(fin, "count") != "6" {
		t.Fatalf("whole archive: %q, fin %s", got, fin)
	}
	for i, r := range all {
		if r.id != ids[i] || ids[i] == "" {
			t.Fatalf("result %d has id %q, the occupants got %q", i, r.id, ids[i])
		}
	}
	if all[0].from != occ("arch", "alice") || all[5].from != occ("arch", "bob") {
		t.Fatalf("forwarded messages come from %q and %q", all[0].from, all[5].from)
	}

	// Paging back from the end, and before-id.
	page, fin := mustRoomQuery(t, bob, "arch", rsmSet("<max>2</max><before/>"))
	if archivedBodies(page) != "5,from bob" || fin.Attr("complete") == "true" || finSet(fin, "first") != ids[4] {
		t.Fatalf("last page: %q %s", archivedBodies(page), fin)
	}
	page, _ = mustRoomQuery(t, bob, "arch", rsmSet("<max>2</max><before>"+finSet(fin, "first")+"</before>"))
	if archivedBodies(page) != "3,4" {
		t.Fatalf("page before: %q", archivedBodies(page))
	}
	page, fin = mustRoomQuery(t, bob, "arch", rsmSet("<max>2</max><after>"+ids[3]+"</after>"))
	if archivedBodies(page) != "5,from bob" || fin.Attr("complete") != "true" {
		t.Fatalf("page after: %q %s", archivedBodies(page), fin)
	}
	page, _ = mustRoomQuery(t, bob, "arch", mamForm("before-id", ids[2]))
	if archivedBodies(page) != "1,2" {
		t.Fatalf("before-id: %q", archivedBodies(page))
	}
	page, _ = mustRoomQuery(t, bob, "arch", mamForm("with", occ("arch", "bob")))
	if archivedBodies(page) != "from bob" {
		t.Fatalf("with bob's nick: %q", archivedBodies(page))
	}
	if _, iq := roomQuery(t, bob, "arch", rsmSet("<before>nope</before>")); errorCondition(iq) != "item-not-found" {
		t.Fatalf("unknown id: %s", iq)
	}

	// Anyone may read an open room's archive, occupant or not.
	carol := login(t, srv, "carol", "c")
	if rs, _ := mustRoomQuery(t, carol, "arch", ""); len(rs) != 6 {
		t.Fatalf("non-occupant of an open room got %d results", len(rs))
	}

	md := bob.IQ("get", roomJID("arch"), "<metadata xmlns='urn:xmpp:mam:2'/>")
	m := md.Child("metadata", mamproto.NS)
	if m == nil || m.Child("start", "").Attr("id") != ids[0] || m.Child("end", "").Attr("id") != ids[5] {
		t.Fatalf("metadata: %s", md)
	}
	f := bob.IQ("get", roomJID("arch"), "<query xmlns='urn:xmpp:mam:2'/>")
	if f.Attr("type") != "result" || !strings.Contains(f.String(), "before-id") {
		t.Fatalf("form discovery: %s", f)
	}
	if feats := features(discoInfo(bob, "arch")); !slices.Contains(feats, mamproto.NS) || !slices.Contains(feats, mamproto.NSExtended) {
		t.Fatalf("room features: %v", feats)
	}
}

// A members-only room's archive is for its members; an outcast never
// reads an archive.
func TestRoomArchiveAccess(t *testing.T) {
	srv, _ := start(t)
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, "club", "alice", map[string]string{"muc#roomconfig_membersonly": "1"})
	mustResult(t, "member bob", adminSet(alice, "club", "jid='bob@localhost' affiliation='member'", ""))
	groupchat(alice, "club", "1", "secret")
	alice.Expect("echo", isGroupchat(occ("club", "alice"), "secret"))

	carol := login(t, srv, "carol", "c")
	if _, iq := roomQuery(t, carol, "club", ""); errorCondition(iq) != "forbidden" {
		t.Fatalf("non-member query: %s", iq)
	}
	if md := carol.IQ("get", roomJID("club"), "<metadata xmlns='urn:xmpp:mam:2'/>"); errorCondition(md) != "forbidden" {
		t.Fatalf("non-member metadata: %s", md)
	}
	bob := login(t, srv, "bob", "b") // a member, not in the room
	if rs, _ := mustRoomQuery(t, bob, "club", ""); archivedBodies(rs) != "secret" {
		t.Fatalf("member query: %q", archivedBodies(rs))
	}

	createRoom(t, alice, "open", "alice", nil)
	mustResult(t, "ban dave", adminSet(alice, "open", "jid='dave@localhost' affiliation='outcast'", ""))
	dave := login(t, srv, "dave", "d")
	if _, iq := roomQuery(t, dave, "open", ""); errorCondition(iq) != "forbidden" {
		t.Fatalf("outcast query: %s", iq)
	}
}

// A persistent room's archive survives a restart with its ids; a
// temporary room's goes with the room; archive_max_messages bounds it.
func TestRoomArchiveRestartAndLimit(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	func() {
		ext := muc.New()
		ext.Config.ArchiveMaxMessages = 4
		ext.Config.MaxHistory = 2
		srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext), xmppdtest.WithDataDir(dir))
		srv.AddUser(t, "alice", "alice-pw")
		alice := login(t, srv, "alice", "a")
		createRoom(t, alice, "keep", "alice", map[string]string{"muc#roomconfig_persistentroom": "1"})
		for i := 1; i <= 6; i++ {
			b := fmt.Sprint(i)
			groupchat(alice, "keep", b, b)
			ids = append(ids, roomStanzaID(alice.Expect("echo "+b, isGroupchat(occ("keep", "alice"), b)), "keep"))
		}
		createRoom(t, alice, "temp", "alice", nil)
		groupchat(alice, "temp", "t", "gone")
		alice.Expect("echo", isGroupchat(occ("temp", "alice"), "gone"))
		if rs, _ := mustRoomQuery(t, alice, "temp", ""); archivedBodies(rs) != "gone" {
			t.Fatalf("temporary room archive: %q", archivedBodies(rs))
		}
		srv.Shutdown(context.Background())
	}()

	ext := muc.New()
	ext.Config.ArchiveMaxMessages = 4
	ext.Config.MaxHistory = 2
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext), xmppdtest.WithDataDir(dir))
	alice := login(t, srv, "alice", "a")
	rs, fin := mustRoomQuery(t, alice, "keep", "")
	if archivedBodies(rs) != "3,4,5,6" || finSet(fin, "count") != "4" || rs[0].id != ids[2] || rs[3].id != ids[5] {
		t.Fatalf("archive after restart: %q %+v %s", archivedBodies(rs), rs, fin)
	}
	// History on join is the archive's end.
	alice.Send(joinPresence("keep", "alice", ""))
	for _, b := range []string{"5", "6"} {
		alice.Expect("history "+b, isGroupchat(occ("keep", "alice"), b))
	}
	alice.Expect("subject", isSubject("keep"))
	// The temporary room is gone, and its archive with it: a new room by
	// that name starts empty.
	createRoom(t, alice, "temp", "alice", nil)
	if rs, fin := mustRoomQuery(t, alice, "temp", ""); len(rs) != 0 || finSet(fin, "count") != "0" {
		t.Fatalf("a new room got the vanished room's archive: %q %s", archivedBodies(rs), fin)
	}
}

// archive_retention drops old messages from room archives on a sweep.
func TestRoomArchiveRetention(t *testing.T) {
	srv, ext := start(t)
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, "old", "alice", nil)
	groupchat(alice, "old", "1", "stale")
	alice.Expect("echo", isGroupchat(occ("old", "alice"), "stale"))
	ext.Config.ArchiveRetention.Duration = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	ext.SweepArchives(context.Background())
	if rs, _ := mustRoomQuery(t, alice, "old", ""); len(rs) != 0 {
		t.Fatalf("archive after expiry: %q", archivedBodies(rs))
	}
}
