package inbox_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/carbons"
	"github.com/xmppd/xmppd/extensions/inbox"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	pw      = "secret-pw"
	nsInbox = inbox.NS
	nsConv  = inbox.NSConversation
	nsRSM   = "http://jabber.org/protocol/rsm"
	nsMark  = "urn:xmpp:chat-markers:0"
	nsSID   = "urn:xmpp:sid:0"
)

func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	opts = append([]xmppdtest.Option{xmppdtest.WithExtensions(mam.New(), pep.New(), carbons.New(), inbox.New())}, opts...)
	srv := xmppdtest.Start(t, opts...)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		srv.AddUser(t, u, pw)
	}
	return srv
}

func online(t *testing.T, srv *xmppdtest.Server, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, pw, xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c.Available()
	return c
}

var seq atomic.Int64

// send sends a chat message with a body and the given id and waits until
// the server has processed it.
func send(c *xmppdtest.Client, to, id, body string) {
	c.Sendf("<message to='%s' type='chat' id='%s'><body>%s</body><markable xmlns='%s'/></message>", to, id, body, nsMark)
	c.Sync()
}

// entry is one inbox result as a client sees it.
type entry struct {
	jid, unread, from, body string
	read, box, mute         string
	el                      *wire.Element
}

// query runs an inbox query and returns the entries in order and the fin.
func query(t *testing.T, c *xmppdtest.Client, inner string) ([]entry, *wire.Element) {
	t.Helper()
	n := seq.Add(1)
	id, qid := fmt.Sprintf("inbox%d", n), fmt.Sprintf("q%d", n)
	c.Sendf("<iq type='set' id='%s'><inbox xmlns='%s' queryid='%s'>%s</inbox></iq>", id, nsInbox, qid, inner)
	var out []entry
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				return out, el
			}
			return out, el.Child("fin", nsInbox)
		}
		res := el.Child("result", nsInbox)
		if el.Name != "message" || res == nil {
			continue
		}
		if res.Attr("queryid") != qid {
			t.Fatalf("result queryid = %q, want %q", res.Attr("queryid"), qid)
		}
		en := entry{jid: res.Attr("jid"), unread: res.Attr("unread"), read: res.ChildText("read", nsInbox),
			box: res.ChildText("box", nsInbox), mute: res.ChildText("mute", nsInbox), el: res}
		if fw := res.Child("forwarded", "urn:xmpp:forward:0"); fw != nil {
			if m := fw.Child("message", "jabber:client"); m != nil {
				en.from, en.body = m.Attr("from"), m.ChildText("body", "jabber:client")
			}
			if fw.Child("delay", "urn:xmpp:delay") == nil {
				t.Errorf("forwarded without delay: %s", res)
			}
		}
		out = append(out, en)
	}
}

func finValue(fin *wire.Element, name string) string { return fin.ChildText(name, nsInbox) }

func unreadOf(t *testing.T, c *xmppdtest.Client, jid string) string {
	t.Helper()
	entries, _ := query(t, c, "")
	for _, e := range entries {
		if e.jid == jid {
			return e.unread
		}
	}
	t.Fatalf("no inbox entry for %s in %v", jid, entries)
	return ""
}

// TestMarkerPassesThroughAndIsArchived: a XEP-0333 displayed marker bob
// sends reaches alice and is in both archives (the read position a client
// restores from MAM).
func TestMarkerPassesThroughAndIsArchived(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	send(alice, "bob@localhost", "m1", "hello")
	bob.Expect("hello", xmppdtest.HasChild("body", "jabber:client"))

	bob.Sendf("<message to='alice@localhost' type='chat' id='d1'><displayed xmlns='%s' id='m1'/></message>", nsMark)
	got := alice.Expect("displayed marker", xmppdtest.HasChild("displayed", nsMark))
	if id := got.Child("displayed", nsMark).Attr("id"); id != "m1" || got.Attr("from") != bob.JID.String() {
		t.Fatalf("alice got %s", got)
	}
	for _, c := range []*xmppdtest.Client{alice, bob} {
		id := fmt.Sprintf("mam%d", seq.Add(1))
		c.Sendf("<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='x'/></iq>", id)
		found := false
		for {
			el := c.Next(5 * time.Second)
			if el.Name == "iq" && el.Attr("id") == id {
				break
			}
			if r := el.Child("result", "urn:xmpp:mam:2"); r != nil {
				m := r.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")
				if d := m.Child("displayed", nsMark); d != nil && d.Attr("id") == "m1" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: displayed marker not in the archive", c.JID)
		}
	}
}

// TestListingUnreadAndTotals: conversations newest first, unread counts
// only for incoming messages, the badge and totals in <fin/>.
func TestListingUnreadAndTotals(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	carol := online(t, srv, "carol", "c")
	for i := range 3 {
		send(alice, "bob@localhost", fmt.Sprint("a", i), fmt.Sprint("from alice ", i))
	}
	send(carol, "bob@localhost", "c0", "from carol")

	// bob logs in later: the counts were kept while he was offline.
	bob := online(t, srv, "bob", "phone")
	bob2 := online(t, srv, "bob", "desk")
	entries, fin := query(t, bob, "")
	if len(entries) != 2 {
		t.Fatalf("entries = %+v", entries)
	}
	if entries[0].jid != "carol@localhost" || entries[0].unread != "1" || entries[0].body != "from carol" || entries[0].read != "false" {
		t.Errorf("first entry = %+v", entries[0])
	}
	if entries[1].jid != "alice@localhost" || entries[1].unread != "3" || entries[1].body != "from alice 2" {
		t.Errorf("second entry = %+v", entries[1])
	}
	if entries[1].box != "inbox" || entries[1].mute != "0" || entries[1].el.Attr("mentions") != "0" {
		t.Errorf("properties = %s", entries[1].el)
	}
	if finValue(fin, "count") != "2" || finValue(fin, "unread-messages") != "4" || finValue(fin, "active-conversations") != "2" ||
		finValue(fin, "unread-mentions") != "0" {
		t.Errorf("fin = %s", fin)
	}

	// bob answers alice from his desk: her entry is newest, its last
	// message is his, and his own message changes no count.
	bob2.Send("<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	bob.Send("<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	bob.Sync()
	bob2.Sync()
	send(bob2, "alice@localhost", "b0", "reply from bob")
	bob.Expect("sent carbon", xmppdtest.HasChild("sent", "urn:xmpp:carbons:2"))
	entries, fin = query(t, bob, "")
	if entries[0].jid != "alice@localhost" || entries[0].unread != "3" || entries[0].body != "reply from bob" ||
		entries[0].from != bob2.JID.String() {
		t.Errorf("after reply: %+v", entries[0])
	}
	if finValue(fin, "unread-messages") != "4" {
		t.Errorf("fin after reply = %s", fin)
	}
	// alice's inbox: bob's conversation, the reply unread, her own not.
	if got := unreadOf(t, alice, "bob@localhost"); got != "1" {
		t.Errorf("alice's unread from bob = %s, want 1", got)
	}

	// Order asc, hidden_read.
	entries, _ = query(t, bob, form(map[string]string{"order": "asc"}))
	if len(entries) != 2 || entries[0].jid != "carol@localhost" {
		t.Errorf("asc order = %+v", entries)
	}
}

func form(fields map[string]string) string {
	s := "<x xmlns='jabber:x:data' type='submit'><field type='hidden' var='FORM_TYPE'><value>" + nsInbox + "</value></field>"
	for k, v := range fields {
		s += "<field var='" + k + "'><value>" + v + "</value></field>"
	}
	return s + "</x>"
}

// TestDisplayedMarkerMovesReadPosition: bob's marker for a message in the
// middle leaves the later ones unread; one for the newest clears the count.
func TestDisplayedMarkerMovesReadPosition(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	for i := range 4 {
		send(alice, "bob@localhost", fmt.Sprint("m", i), fmt.Sprint("msg ", i))
	}
	if got := unreadOf(t, bob, "alice@localhost"); got != "4" {
		t.Fatalf("unread = %s, want 4", got)
	}
	bob.Sendf("<message to='alice@localhost' type='chat'><displayed xmlns='%s' id='m1'/></message>", nsMark)
	bob.Sync()
	if got := unreadOf(t, bob, "alice@localhost"); got != "2" {
		t.Errorf("after marking m1: unread = %s, want 2", got)
	}
	// A marker for an older message never moves the position back.
	bob.Sendf("<message to='alice@localhost' type='chat'><displayed xmlns='%s' id='m0'/></message>", nsMark)
	bob.Sync()
	if got := unreadOf(t, bob, "alice@localhost"); got != "2" {
		t.Errorf("after marking m0: unread = %s, want 2", got)
	}
	bob.Sendf("<message to='alice@localhost' type='chat'><displayed xmlns='%s' id='m3'/></message>", nsMark)
	bob.Sync()
	if got := unreadOf(t, bob, "alice@localhost"); got != "0" {
		t.Errorf("after marking m3: unread = %s, want 0", got)
	}
	// alice's markers for bob's messages do not touch bob's counts.
	if got := unreadOf(t, alice, "bob@localhost"); got != "0" {
		t.Errorf("alice's unread = %s", got)
	}
}

// TestDisplayedSyncMovesReadPosition: a XEP-0490 publish with the
// stanza-id of a message moves the read position.
func TestDisplayedSyncMovesReadPosition(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	var sids []string
	for i := range 3 {
		alice.Sendf("<message to='bob@localhost' type='chat' id='s%d'><body>x%d</body></message>", i, i)
		m := bob.Expect("message", func(el *wire.Element) bool { return el.ChildText("body", "jabber:client") == fmt.Sprint("x", i) })
		sid := m.Child("stanza-id", nsSID)
		if sid == nil || sid.Attr("by") != "bob@localhost" {
			t.Fatalf("no stanza-id by bob: %s", m)
		}
		sids = append(sids, sid.Attr("id"))
	}
	publish := func(id string) {
		t.Helper()
		res := bob.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:mds:displayed:0'>"+
			"<item id='alice@localhost'><displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='"+id+"'/></displayed></item>"+
			"</publish></pubsub>")
		if res.Attr("type") != "result" {
			t.Fatalf("MDS publish: %s", res)
		}
	}
	publish(sids[0])
	if got := unreadOf(t, bob, "alice@localhost"); got != "2" {
		t.Errorf("after MDS on the first: unread = %s, want 2", got)
	}
	publish(sids[2])
	if got := unreadOf(t, bob, "alice@localhost"); got != "0" {
		t.Errorf("after MDS on the last: unread = %s, want 0", got)
	}
	// An id by someone else (not bob's archive) is ignored.
	alice.Sendf("<message to='bob@localhost' type='chat'><body>again</body></message>")
	alice.Sync()
	res := bob.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:mds:displayed:0'>"+
		"<item id='alice@localhost'><displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='carol@localhost' id='ZZZZZZZZZZZZZZZZZZZZ'/></displayed></item>"+
		"</publish></pubsub>")
	if res.Attr("type") != "result" {
		t.Fatalf("MDS publish: %s", res)
	}
	if got := unreadOf(t, bob, "alice@localhost"); got != "1" {
		t.Errorf("after a foreign MDS id: unread = %s, want 1", got)
	}
}

// TestConversationProperties: read, mute and box through the #conversation
// IQ, broadcast to the user's other resources; hidden_read and box
// filters.
func TestConversationProperties(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	carol := online(t, srv, "carol", "c")
	bob := online(t, srv, "bob", "phone")
	bob2 := online(t, srv, "bob", "desk")
	send(alice, "bob@localhost", "a1", "one")
	send(alice, "bob@localhost", "a2", "two")
	send(carol, "bob@localhost", "c1", "three")

	res := bob.IQ("set", "", "<query xmlns='"+nsConv+"' jid='alice@localhost'><read>true</read></query>")
	if res.Attr("type") != "result" || res.Child("query", nsConv).ChildText("read", nsInbox) != "true" {
		t.Fatalf("read=true: %s", res)
	}
	x := bob2.Expect("conversation change", xmppdtest.HasChild("x", nsConv)).Child("x", nsConv)
	if x.Attr("jid") != "alice@localhost" || x.ChildText("read", nsInbox) != "true" {
		t.Errorf("broadcast = %s", x)
	}
	if got := unreadOf(t, bob, "alice@localhost"); got != "0" {
		t.Errorf("unread after read=true: %s", got)
	}
	entries, fin := query(t, bob, form(map[string]string{"hidden_read": "true"}))
	if len(entries) != 1 || entries[0].jid != "carol@localhost" || finValue(fin, "count") != "1" {
		t.Errorf("hidden_read: %+v %s", entries, fin)
	}

	res = bob.IQ("set", "", "<query xmlns='"+nsConv+"' jid='alice@localhost'><read>false</read><mute>3600</mute><box>archive</box></query>")
	if res.Attr("type") != "result" {
		t.Fatalf("set: %s", res)
	}
	res = bob.IQ("get", "", "<query xmlns='"+nsConv+"' jid='alice@localhost' complete='true'/>")
	q := res.Child("query", nsConv)
	if q == nil || q.ChildText("read", nsInbox) != "false" || q.ChildText("box", nsInbox) != "archive" ||
		q.ChildText("archive", nsInbox) != "true" || q.ChildText("mute", nsInbox) == "0" || q.Child("forwarded", "urn:xmpp:forward:0") == nil {
		t.Fatalf("get = %s", res)
	}
	if _, err := time.Parse(time.RFC3339, q.ChildText("mute", nsInbox)); err != nil {
		t.Errorf("mute is not a timestamp: %s", q)
	}
	if got := unreadOf(t, bob, "alice@localhost"); got != "1" {
		t.Errorf("unread after read=false: %s", got)
	}
	entries, _ = query(t, bob, form(map[string]string{"box": "inbox"}))
	if len(entries) != 1 || entries[0].jid != "carol@localhost" {
		t.Errorf("box=inbox: %+v", entries)
	}
	entries, _ = query(t, bob, form(map[string]string{"box": "archive"}))
	if len(entries) != 1 || entries[0].jid != "alice@localhost" {
		t.Errorf("box=archive: %+v", entries)
	}
	// A new message brings the archived entry back; muted still counts.
	send(alice, "bob@localhost", "a3", "four")
	entries, _ = query(t, bob, form(map[string]string{"box": "inbox"}))
	if len(entries) != 2 || entries[0].jid != "alice@localhost" || entries[0].unread != "2" {
		t.Errorf("after a new message: %+v", entries)
	}

	// The form.
	res = bob.IQ("get", "", "<query xmlns='"+nsConv+"'/>")
	if res.Child("query", nsConv).Child("x", "jabber:x:data") == nil {
		t.Errorf("properties form: %s", res)
	}
	res = bob.IQ("get", "", "<inbox xmlns='"+nsInbox+"'/>")
	if res.Attr("type") != "result" || res.Child("inbox", nsInbox).Child("x", "jabber:x:data") == nil {
		t.Errorf("query form: %s", res)
	}
}

// TestPaging: RSM max/after/before over six conversations, totals for all.
func TestPaging(t *testing.T) {
	srv := start(t)
	bob := online(t, srv, "bob", "b")
	users := []string{"alice", "carol", "dave", "erin", "frank"}
	for _, u := range users {
		c := online(t, srv, u, "r")
		send(c, "bob@localhost", u, "hi from "+u)
		time.Sleep(time.Millisecond) // distinct timestamps (µs) for a stable order
	}
	want := []string{"frank", "erin", "dave", "carol", "alice"} // newest first
	var got []string
	after := ""
	for page := 0; page < 5 && len(got) < len(want); page++ {
		rsm := "<set xmlns='" + nsRSM + "'><max>2</max>" + after + "</set>"
		entries, fin := query(t, bob, rsm)
		if finValue(fin, "count") != "5" || fin.Child("set", nsRSM).ChildText("count", nsRSM) != "5" {
			t.Fatalf("fin = %s", fin)
		}
		for _, e := range entries {
			got = append(got, e.jid[:len(e.jid)-len("@localhost")])
		}
		after = "<after>" + fin.Child("set", nsRSM).ChildText("last", nsRSM) + "</after>"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	entries, fin := query(t, bob, "<set xmlns='"+nsRSM+"'><max>2</max><before/></set>")
	if len(entries) != 2 || entries[0].jid != "carol@localhost" || entries[1].jid != "alice@localhost" {
		t.Errorf("last page = %+v", entries)
	}
	first := fin.Child("set", nsRSM).ChildText("first", nsRSM)
	entries, _ = query(t, bob, "<set xmlns='"+nsRSM+"'><max>2</max><before>"+first+"</before></set>")
	if len(entries) != 2 || entries[0].jid != "erin@localhost" || entries[1].jid != "dave@localhost" {
		t.Errorf("page before %s = %+v", first, entries)
	}
	entries, _ = query(t, bob, "<set xmlns='"+nsRSM+"'><max>0</max></set>")
	if len(entries) != 0 {
		t.Errorf("max=0 gave %d entries", len(entries))
	}
}

// TestBadRequests: someone else's inbox, bad form values, bad cursors and
// properties.
func TestBadRequests(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	send(alice, "bob@localhost", "x", "hi")

	res := alice.IQ("set", "bob@localhost", "<inbox xmlns='"+nsInbox+"'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Errorf("alice reading bob's inbox: %s", res)
	}
	for _, inner := range []string{
		form(map[string]string{"start": "yesterday"}),
		form(map[string]string{"order": "sideways"}),
		form(map[string]string{"box": "nope"}),
		form(map[string]string{"colour": "red"}),
		"<set xmlns='" + nsRSM + "'><max>-1</max></set>",
		"<set xmlns='" + nsRSM + "'><after>garbage</after></set>",
	} {
		_, res := query(t, bob, inner)
		if res.Name != "iq" || res.Attr("type") != "error" {
			t.Errorf("%s: got %s, want an error", inner, res)
		}
	}
	_, res = query(t, bob, "<set xmlns='"+nsRSM+"'><index>3</index></set>")
	if res.Name != "iq" || res.Child("error", "").Child("feature-not-implemented", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Errorf("index: %s", res)
	}
	for _, c := range []struct{ payload, cond string }{
		{"<query xmlns='" + nsConv + "' jid='nobody@localhost'><read>true</read></query>", "item-not-found"},
		{"<query xmlns='" + nsConv + "' jid='alice@localhost'><mute>-5</mute></query>", "bad-request"},
		{"<query xmlns='" + nsConv + "' jid='alice@localhost'><read>maybe</read></query>", "bad-request"},
		{"<query xmlns='" + nsConv + "' jid='alice@localhost'><box>bin</box></query>", "bad-request"},
		{"<query xmlns='" + nsConv + "'><read>true</read></query>", "bad-request"},
		{"<query xmlns='" + nsConv + "' jid='alice@localhost'/>", "bad-request"},
	} {
		res := bob.IQ("set", "", c.payload)
		if res.Attr("type") != "error" || res.Child("error", "").Child(c.cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Errorf("%s: got %s, want %s", c.payload, res, c.cond)
		}
	}
	// The deprecated reset still works.
	if res := bob.IQ("set", "", "<reset xmlns='"+nsConv+"' jid='alice@localhost'/>"); res.Attr("type") != "result" {
		t.Errorf("reset: %s", res)
	}
	if got := unreadOf(t, bob, "alice@localhost"); got != "0" {
		t.Errorf("unread after reset = %s", got)
	}
}

// TestPersistenceAndAccountDeletion: the inbox survives a restart and goes
// with the account.
func TestPersistenceAndAccountDeletion(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithDataDir(dir))
	alice := online(t, srv, "alice", "a")
	send(alice, "bob@localhost", "x", "before restart")
	alice.Session.Close()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithDataDir(dir), xmppdtest.WithExtensions(mam.New(), pep.New(), carbons.New(), inbox.New()))
	bob := online(t, srv2, "bob", "b")
	entries, _ := query(t, bob, "")
	if len(entries) != 1 || entries[0].body != "before restart" || entries[0].unread != "1" {
		t.Fatalf("after restart: %+v", entries)
	}
	bob.Session.Close()
	if _, err := srv2.DeleteAccount("bob"); err != nil {
		t.Fatal(err)
	}
	srv2.AddUser(t, "bob", pw)
	bob = online(t, srv2, "bob", "b")
	entries, fin := query(t, bob, "")
	if len(entries) != 0 || finValue(fin, "count") != "0" {
		t.Errorf("after re-creating bob: %+v %s", entries, fin)
	}
}

// TestReadPositionBeyondRing: with more unread messages than the ring
// remembers, a marker for a forgotten one leaves the count (never scans),
// one for a remembered one places it exactly.
func TestReadPositionBeyondRing(t *testing.T) {
	ib := inbox.New()
	ib.Config.RecentUnread = 2
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(mam.New(), ib))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, pw)
	}
	alice := online(t, srv, "alice", "a")
	bob := online(t, srv, "bob", "b")
	for i := range 4 {
		send(alice, "bob@localhost", fmt.Sprint("r", i), fmt.Sprint("msg ", i))
	}
	for _, c := range []struct{ marked, want string }{{"r0", "4"}, {"r2", "1"}, {"r3", "0"}} {
		bob.Sendf("<message to='alice@localhost' type='chat'><displayed xmlns='%s' id='%s'/></message>", nsMark, c.marked)
		bob.Sync()
		if got := unreadOf(t, bob, "alice@localhost"); got != c.want {
			t.Errorf("after marking %s: unread = %s, want %s", c.marked, got, c.want)
		}
	}
}
