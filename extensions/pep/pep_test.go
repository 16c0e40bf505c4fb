package pep_test

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
)

const (
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	capsNode    = "https://client.example/test"

	nodeNick      = "http://jabber.org/protocol/nick"
	nodeAvatarMD  = "urn:xmpp:avatar:metadata"
	nodeBookmarks = "urn:xmpp:bookmarks:1"
	nodeMDS       = "urn:xmpp:mds:displayed:0"
)

// fakeRoster stands in for the roster extension: subs[user] are the
// contacts subscribed to user's presence ('from' or 'both').
type fakeRoster struct {
	mu   sync.Mutex
	subs map[xmppd.JID][]xmppd.JID
}

func (f *fakeRoster) Subscribers(user xmppd.JID) []xmppd.JID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.subs[user.Bare()])
}

func (f *fakeRoster) HasSubscriber(user, contact xmppd.JID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.subs[user.Bare()], contact.Bare())
}

// mutual makes a and b subscribed to each other ('both').
func (f *fakeRoster) mutual(a, b string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ja, jb := xmppd.JID{Local: a, Domain: "localhost"}, xmppd.JID{Local: b, Domain: "localhost"}
	f.subs[ja] = append(f.subs[ja], jb)
	f.subs[jb] = append(f.subs[jb], ja)
}

// rosterExt provides the fake roster, as the roster extension would.
type rosterExt struct{ ro *fakeRoster }

func (rosterExt) Name() string                        { return "fake-roster" }
func (x rosterExt) Register(r *xmppd.Registrar) error { return r.ProvideRoster(x.ro) }

type env struct {
	t      *testing.T
	srv    *xmppdtest.Server
	pep    *pep.Extension
	roster *fakeRoster
}

// start runs a server with PEP and a fake roster in which alice and bob
// are mutual contacts and carol is nobody's contact.
func start(t *testing.T, configure ...func(*pep.Extension)) *env {
	t.Helper()
	ext := pep.New()
	for _, fn := range configure {
		fn(ext)
	}
	ro := &fakeRoster{subs: make(map[xmppd.JID][]xmppd.JID)}
	ro.mutual("alice", "bob")
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(rosterExt{ro}, ext))
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return &env{t: t, srv: srv, pep: ext, roster: ro}
}

// online logs user in with a resource, sends initial presence with
// XEP-0115 caps whose features include <node>+notify for each node, and
// answers the server's disco#info query when the hash is not cached yet.
func (e *env) online(user, resource string, notify ...string) *xmppdtest.Client {
	e.t.Helper()
	c, err := e.srv.Dial(e.t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		e.t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	features := []string{"http://jabber.org/protocol/caps", nsDiscoInfo}
	for _, n := range notify {
		features = append(features, n+"+notify")
	}
	mk := func() mdisco.Info {
		in := mdisco.Info{Identity: []info.Identity{{Category: "client", Type: "pc", Name: "pep test"}}}
		for _, f := range features {
			in.Features = append(in.Features, info.Feature{Var: f})
		}
		return in
	}
	ver := mk().Hash(sha1.New()) // mellium's XEP-0115 implementation, not ours
	cached := e.pep.CapsCached("sha-1", ver)
	c.Sendf("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='%s'/></presence>", capsNode, ver)
	if !cached {
		q := c.Expect("disco#info query from the server", func(el *wire.Element) bool {
			return el.Name == "iq" && el.Attr("type") == "get" && el.Child("query", nsDiscoInfo) != nil
		})
		if got, want := q.Child("query", nsDiscoInfo).Attr("node"), capsNode+"#"+ver; got != want {
			e.t.Fatalf("caps query node = %q, want %q", got, want)
		}
		if from := q.Attr("from"); from != e.srv.Domain() {
			e.t.Fatalf("caps query from %q, want the server", from)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s#%s'>", q.Attr("id"), q.Attr("from"), nsDiscoInfo, capsNode, ver)
		b.WriteString("<identity category='client' type='pc' name='pep test'/>")
		for _, f := range features {
			fmt.Fprintf(&b, "<feature var='%s'/>", f)
		}
		b.WriteString("</query></iq>")
		c.Send(b.String())
		// The next client with the same caps must find them cached, or it
		// would wait for a query that never comes.
		for deadline := time.Now().Add(5 * time.Second); !e.pep.CapsCached("sha-1", ver); {
			if time.Now().After(deadline) {
				e.t.Fatalf("caps %s never cached", ver)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	e.waitNotify(c, notify)
	return c
}

// waitNotify waits until the server has recorded c's +notify set.
func (e *env) waitNotify(c *xmppdtest.Client, notify []string) {
	e.t.Helper()
	full, err := xmppd.ParseJID(c.JID.String())
	if err != nil {
		e.t.Fatal(err)
	}
	want := slices.Clone(notify)
	slices.Sort(want)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(e.pep.NotifySet(full), want) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: +notify set = %v, want %v", full, e.pep.NotifySet(full), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func publishXML(node, id, payload, options string) string {
	idAttr := ""
	if id != "" {
		idAttr = " id='" + id + "'"
	}
	return "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" + node + "'><item" + idAttr + ">" +
		payload + "</item></publish>" + options + "</pubsub>"
}

func publishOptions(fields map[string]string) string {
	var b strings.Builder
	b.WriteString("<publish-options><x xmlns='jabber:x:data' type='submit'>" +
		"<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>")
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", k, fields[k])
	}
	b.WriteString("</x></publish-options>")
	return b.String()
}

func bookmarkOptions() string {
	return publishOptions(map[string]string{
		"pubsub#persist_items":            "true",
		"pubsub#access_model":             "whitelist",
		"pubsub#max_items":                "max",
		"pubsub#send_last_published_item": "never",
	})
}

func itemsXML(node, extra, children string) string {
	return "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='" + node + "'" + extra + ">" + children + "</items></pubsub>"
}

func nick(s string) string { return "<nick xmlns='http://jabber.org/protocol/nick'>" + s + "</nick>" }

func expectResult(t *testing.T, res *wire.Element) {
	t.Helper()
	if res.Attr("type") != "result" {
		t.Fatalf("want result, got %s", res)
	}
}

// expectError checks the defined condition and, if app is not "", the
// pubsub#errors condition.
func expectError(t *testing.T, res *wire.Element, cond, app string) {
	t.Helper()
	if res.Attr("type") != "error" {
		t.Fatalf("want error %s, got %s", cond, res)
	}
	er := res.Child("error", "")
	if er.Child(cond, nsStanzas) == nil {
		t.Fatalf("want <%s/>, got %s", cond, res)
	}
	if app != "" && er.Child(app, pep.NSErrors) == nil {
		t.Fatalf("want pubsub#errors <%s/>, got %s", app, res)
	}
}

// returnedItems lists (id, payload text) of an items result.
func returnedItems(t *testing.T, res *wire.Element) [][2]string {
	t.Helper()
	expectResult(t, res)
	items := res.Child("pubsub", pep.NS).Child("items", pep.NS)
	if items == nil {
		t.Fatalf("no items in %s", res)
	}
	var out [][2]string
	for _, it := range items.ChildrenNamed("item", pep.NS) {
		text := ""
		if len(it.Children) > 0 {
			text = it.Children[0].Text
		}
		out = append(out, [2]string{it.Attr("id"), text})
	}
	return out
}

// isEvent matches a PEP notification about node.
func isEvent(node string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		if el.Name != "message" {
			return false
		}
		ev := el.Child("event", pep.NSEvent)
		if ev == nil {
			return false
		}
		for _, c := range ev.Children {
			if c.Attr("node") == node {
				return true
			}
		}
		return false
	}
}

func TestPublishAndRetrieve(t *testing.T) {
	e := start(t)
	alice := e.online("alice", "phone")

	res := alice.IQ("set", "", publishXML(nodeNick, "", nick("Alice"), ""))
	expectResult(t, res)
	it := res.Child("pubsub", pep.NS).Child("publish", pep.NS).Child("item", pep.NS)
	if it == nil || it.Attr("id") == "" {
		t.Fatalf("publish result carries no generated item id: %s", res)
	}
	id := it.Attr("id")

	got := returnedItems(t, alice.IQ("get", "", itemsXML(nodeNick, "", "")))
	if len(got) != 1 || got[0] != [2]string{id, "Alice"} {
		t.Fatalf("items = %v", got)
	}
	// By id, and addressed to the own bare JID explicitly.
	got = returnedItems(t, alice.IQ("get", "alice@localhost", itemsXML(nodeNick, "", "<item id='"+id+"'/>")))
	if len(got) != 1 || got[0][1] != "Alice" {
		t.Fatalf("items by id = %v", got)
	}

	// The default max_items is 1: the next publish replaces the item.
	expectResult(t, alice.IQ("set", "", publishXML(nodeNick, "n2", nick("Alice L."), "")))
	got = returnedItems(t, alice.IQ("get", "", itemsXML(nodeNick, "", "")))
	if len(got) != 1 || got[0] != [2]string{"n2", "Alice L."} {
		t.Fatalf("after second publish items = %v", got)
	}

	// bob is alice's contact and may read her presence-model node; carol
	// is not.
	bob := e.online("bob", "pc")
	got = returnedItems(t, bob.IQ("get", "alice@localhost", itemsXML(nodeNick, "", "")))
	if len(got) != 1 || got[0][1] != "Alice L." {
		t.Fatalf("bob reads %v", got)
	}
	carol := e.online("carol", "pc")
	expectError(t, carol.IQ("get", "alice@localhost", itemsXML(nodeNick, "", "")), "not-authorized", "presence-subscription-required")

	// Disco: the account shows pubsub features and lists its nodes.
	if f := e.srv.AccountFeatures(); !slices.Contains(f, pep.NS+"#publish-options") || !slices.Contains(f, pep.NS+"#access-whitelist") {
		t.Fatalf("account features %v", f)
	}
	if ids := e.srv.AccountIdentities(); !slices.Contains(ids, xmppd.Identity{Category: "pubsub", Type: "pep"}) {
		t.Fatalf("account identities %v", ids)
	}
	q := bob.IQ("get", "alice@localhost", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	expectResult(t, q)
	items := q.Child("query", "").ChildrenNamed("item", "")
	if len(items) != 1 || items[0].Attr("node") != nodeNick || items[0].Attr("jid") != "alice@localhost" {
		t.Fatalf("disco#items = %s", q)
	}
}

func TestBookmarksPublishOptions(t *testing.T) {
	e := start(t)
	alice := e.online("alice", "phone")
	conf := func(room, name string) string {
		return "<conference xmlns='urn:xmpp:bookmarks:1' name='" + name + "' autojoin='true'><nick>alice</nick></conference>"
	}
	// XEP-0402 §3.2: first publish creates the node with the options.
	expectResult(t, alice.IQ("set", "", publishXML(nodeBookmarks, "sales@conference.localhost", conf("sales", "Sales"), bookmarkOptions())))
	expectResult(t, alice.IQ("set", "", publishXML(nodeBookmarks, "dev@conference.localhost", conf("dev", "Dev"), bookmarkOptions())))

	got := returnedItems(t, alice.IQ("get", "", itemsXML(nodeBookmarks, "", "")))
	if len(got) != 2 || got[0][0] != "sales@conference.localhost" || got[1][0] != "dev@conference.localhost" {
		t.Fatalf("bookmarks = %v", got)
	}

	// The configuration round-trips.
	res := alice.IQ("get", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='"+nodeBookmarks+"'/></pubsub>")
	expectResult(t, res)
	fields := map[string]string{}
	x := res.Child("pubsub", pep.NSOwner).Child("configure", pep.NSOwner).Child("x", "jabber:x:data")
	for _, f := range x.ChildrenNamed("field", "") {
		fields[f.Attr("var")] = f.ChildText("value", "")
	}
	for k, want := range map[string]string{
		"FORM_TYPE":                       pep.NSNodeConfig,
		"pubsub#access_model":             "whitelist",
		"pubsub#max_items":                "max",
		"pubsub#persist_items":            "1",
		"pubsub#send_last_published_item": "never",
	} {
		if fields[k] != want {
			t.Errorf("config %s = %q, want %q", k, fields[k], want)
		}
	}

	// A publish whose options contradict the node fails the precondition
	// (XEP-0060 §7.1.5) and stores nothing.
	open := publishOptions(map[string]string{"pubsub#access_model": "open"})
	expectError(t, alice.IQ("set", "", publishXML(nodeBookmarks, "x@conference.localhost", conf("x", "X"), open)), "conflict", "precondition-not-met")
	if got := returnedItems(t, alice.IQ("get", "", itemsXML(nodeBookmarks, "", ""))); len(got) != 2 {
		t.Fatalf("failed publish stored an item: %v", got)
	}

	// bob is alice's contact, but bookmarks are whitelisted: closed to him
	// and he is never notified.
	bob := e.online("bob", "pc", nodeBookmarks)
	expectError(t, bob.IQ("get", "alice@localhost", itemsXML(nodeBookmarks, "", "")), "not-allowed", "closed-node")
	expectResult(t, alice.IQ("set", "", publishXML(nodeBookmarks, "ops@conference.localhost", conf("ops", "Ops"), bookmarkOptions())))
	bob.ExpectNothing(200*time.Millisecond, isEvent(nodeBookmarks))

	// Reconfiguring (what clients do after precondition-not-met) then
	// lets the open publish through.
	expectResult(t, alice.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='"+nodeBookmarks+"'>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>"+pep.NSNodeConfig+"</value></field>"+
		"<field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub>"))
	expectResult(t, alice.IQ("set", "", publishXML(nodeBookmarks, "x@conference.localhost", conf("x", "X"), open)))
	if got := returnedItems(t, bob.IQ("get", "alice@localhost", itemsXML(nodeBookmarks, "", ""))); len(got) != 4 {
		t.Fatalf("bob reads %d items of the open node, want 4", len(got))
	}
}

func TestMaxItemsTrimming(t *testing.T) {
	e := start(t)
	alice := e.online("alice", "phone")
	two := publishOptions(map[string]string{"pubsub#max_items": "2"})
	for i := 1; i <= 3; i++ {
		expectResult(t, alice.IQ("set", "", publishXML(nodeMDS, fmt.Sprintf("room%d@conference.localhost", i),
			"<displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' id='s"+fmt.Sprint(i)+"' by='x'/></displayed>", two)))
	}
	got := returnedItems(t, alice.IQ("get", "", itemsXML(nodeMDS, "", "")))
	if len(got) != 2 || got[0][0] != "room2@conference.localhost" || got[1][0] != "room3@conference.localhost" {
		t.Fatalf("after 3 publishes with max_items=2: %v", got)
	}
	// Republishing an old id makes it the newest.
	expectResult(t, alice.IQ("set", "", publishXML(nodeMDS, "room2@conference.localhost", "<displayed xmlns='urn:xmpp:mds:displayed:0'/>", two)))
	got = returnedItems(t, alice.IQ("get", "", itemsXML(nodeMDS, " max_items='1'", "")))
	if len(got) != 1 || got[0][0] != "room2@conference.localhost" {
		t.Fatalf("newest item = %v", got)
	}
	// Lowering max_items trims at once.
	expectResult(t, alice.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='"+nodeMDS+"'>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>1</value></field></x></configure></pubsub>"))
	got = returnedItems(t, alice.IQ("get", "", itemsXML(nodeMDS, "", "")))
	if len(got) != 1 || got[0][0] != "room2@conference.localhost" {
		t.Fatalf("after max_items=1: %v", got)
	}
}

func TestNotifications(t *testing.T) {
	e := start(t)
	phone := e.online("alice", "phone", nodeAvatarMD)
	laptop := e.online("alice", "laptop", nodeAvatarMD)
	bob := e.online("bob", "pc", nodeAvatarMD)     // contact, +notify
	bobOld := e.online("bob", "old")               // contact, no +notify
	carol := e.online("carol", "pc", nodeAvatarMD) // not a contact

	meta := "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='1' id='abc' type='image/png'/></metadata>"
	// The publishing resource is notified too, so read its stream by hand:
	// the notification may come before the result.
	phone.Send("<iq type='set' id='pub1'>" + publishXML(nodeAvatarMD, "abc", meta, "") + "</iq>")
	var sawResult bool
	var phoneEvent *wire.Element
	for !sawResult || phoneEvent == nil {
		el := phone.Next(5 * time.Second)
		switch {
		case el.Name == "iq" && el.Attr("id") == "pub1":
			expectResult(t, el)
			sawResult = true
		case isEvent(nodeAvatarMD)(el):
			phoneEvent = el
		}
	}

	for _, c := range []*xmppdtest.Client{laptop, phone, bob} {
		m := phoneEvent
		if c != phone {
			m = c.Expect("avatar notification", isEvent(nodeAvatarMD))
		}
		if m.Attr("type") != "headline" || m.Attr("from") != "alice@localhost" || m.Attr("to") != c.JID.String() {
			t.Fatalf("%s got %s", c.JID, m)
		}
		it := m.Child("event", pep.NSEvent).Child("items", pep.NSEvent).Child("item", pep.NSEvent)
		if it == nil || it.Attr("id") != "abc" || it.Child("metadata", "urn:xmpp:avatar:metadata") == nil {
			t.Fatalf("%s: notification without the item: %s", c.JID, m)
		}
	}
	bobOld.ExpectNothing(200*time.Millisecond, isEvent(nodeAvatarMD))
	carol.ExpectNothing(50*time.Millisecond, isEvent(nodeAvatarMD))

	// A resource that comes online later gets the last item on its initial
	// presence, with its publication time; the hash is cached by now, so
	// the server asks nothing.
	bob2 := e.online("bob", "tablet", nodeAvatarMD)
	m := bob2.Expect("last published item", isEvent(nodeAvatarMD))
	if m.Child("event", pep.NSEvent).Child("items", pep.NSEvent).Child("item", pep.NSEvent).Attr("id") != "abc" {
		t.Fatalf("last item: %s", m)
	}
	if m.Child("delay", "urn:xmpp:delay") == nil {
		t.Fatalf("last item without delay: %s", m)
	}
}

func TestRetractNotify(t *testing.T) {
	e := start(t)
	phone := e.online("alice", "phone", nodeBookmarks)
	laptop := e.online("alice", "laptop", nodeBookmarks)
	expectResult(t, phone.IQ("set", "", publishXML(nodeBookmarks, "sales@conference.localhost",
		"<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/>", bookmarkOptions())))
	laptop.Expect("publish notification", isEvent(nodeBookmarks))

	expectResult(t, phone.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='"+nodeBookmarks+
		"' notify='true'><item id='sales@conference.localhost'/></retract></pubsub>"))
	m := laptop.Expect("retract notification", isEvent(nodeBookmarks))
	r := m.Child("event", pep.NSEvent).Child("items", pep.NSEvent).Child("retract", pep.NSEvent)
	if r == nil || r.Attr("id") != "sales@conference.localhost" {
		t.Fatalf("retract notification: %s", m)
	}
	if got := returnedItems(t, laptop.IQ("get", "", itemsXML(nodeBookmarks, "", ""))); len(got) != 0 {
		t.Fatalf("items after retract: %v", got)
	}
	// Retracting again: the item is gone.
	expectError(t, phone.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='"+nodeBookmarks+
		"'><item id='sales@conference.localhost'/></retract></pubsub>"), "item-not-found", "")
}

func TestPurgeAndDelete(t *testing.T) {
	e := start(t)
	alice := e.online("alice", "phone", nodeNick)
	bob := e.online("bob", "pc", nodeNick)
	expectResult(t, alice.IQ("set", "", publishXML(nodeNick, "", nick("Alice"), "")))
	bob.Expect("publish notification", isEvent(nodeNick))

	expectResult(t, alice.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='"+nodeNick+"'/></pubsub>"))
	if m := bob.Expect("purge notification", isEvent(nodeNick)); m.Child("event", pep.NSEvent).Child("purge", pep.NSEvent) == nil {
		t.Fatalf("want purge event, got %s", m)
	}
	if got := returnedItems(t, alice.IQ("get", "", itemsXML(nodeNick, "", ""))); len(got) != 0 {
		t.Fatalf("items after purge: %v", got)
	}

	expectResult(t, alice.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='"+nodeNick+"'/></pubsub>"))
	if m := bob.Expect("delete notification", isEvent(nodeNick)); m.Child("event", pep.NSEvent).Child("delete", pep.NSEvent) == nil {
		t.Fatalf("want delete event, got %s", m)
	}
	expectError(t, alice.IQ("get", "", itemsXML(nodeNick, "", "")), "item-not-found", "")
}

func TestOpenAccessAndAccountDeletion(t *testing.T) {
	e := start(t)
	alice := e.online("alice", "phone")
	devices := "<devices xmlns='urn:xmpp:omemo:2'><device id='12345'/></devices>"
	expectResult(t, alice.IQ("set", "", publishXML("urn:xmpp:omemo:2:devices", "current", devices,
		publishOptions(map[string]string{"pubsub#access_model": "open"}))))
	carol := e.online("carol", "pc")
	if got := returnedItems(t, carol.IQ("get", "alice@localhost", itemsXML("urn:xmpp:omemo:2:devices", "", ""))); len(got) != 1 {
		t.Fatalf("carol reads the open device list: %v", got)
	}

	if _, err := e.srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	e.srv.AddUser(t, "alice", "alice-pw")
	expectError(t, carol.IQ("get", "alice@localhost", itemsXML("urn:xmpp:omemo:2:devices", "", "")), "item-not-found", "")
}

func TestBadInput(t *testing.T) {
	e := start(t, func(x *pep.Extension) { x.Config.MaxItemSize = 200 })
	alice := e.online("alice", "phone")
	bob := e.online("bob", "pc")

	cases := []struct {
		name, typ, to, payload, cond, app string
	}{
		{"publish without node", "set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item>" + nick("x") + "</item></publish></pubsub>", "bad-request", "nodeid-required"},
		{"publish without item", "set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub>", "bad-request", "item-required"},
		{"item without payload", "set", "", publishXML("n", "i", "", ""), "bad-request", "payload-required"},
		{"item with two payloads", "set", "", publishXML("n", "i", nick("a")+nick("b"), ""), "bad-request", "invalid-payload"},
		{"item too large", "set", "", publishXML("n", "i", nick(strings.Repeat("x", 300)), ""), "not-acceptable", "payload-too-big"},
		{"unsupported access model on creation", "set", "", publishXML("n", "i", nick("a"), publishOptions(map[string]string{"pubsub#access_model": "authorize"})), "conflict", "precondition-not-met"},
		{"publish to another account", "set", "bob@localhost", publishXML(nodeNick, "i", nick("a"), ""), "forbidden", ""},
		{"items of a missing node", "get", "", itemsXML("nope", "", ""), "item-not-found", ""},
		{"bad max_items", "get", "", itemsXML("nope", " max_items='zero'", ""), "bad-request", ""},
		{"configure a missing node", "get", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='nope'/></pubsub>", "item-not-found", ""},
		{"configure another account", "get", "bob@localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='x'/></pubsub>", "forbidden", ""},
		{"subscribe", "set", "bob@localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='x' jid='alice@localhost'/></pubsub>", "feature-not-implemented", "unsupported"},
		{"empty pubsub", "set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'/>", "bad-request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, alice.IQ(tc.typ, tc.to, tc.payload), tc.cond, tc.app)
		})
	}

	// A bad configuration value is refused and changes nothing.
	expectResult(t, alice.IQ("set", "", publishXML(nodeNick, "", nick("Alice"), "")))
	expectError(t, alice.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='"+nodeNick+"'>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>roster</value></field></x></configure></pubsub>"), "not-acceptable", "")
	if got := returnedItems(t, bob.IQ("get", "alice@localhost", itemsXML(nodeNick, "", ""))); len(got) != 1 {
		t.Fatalf("bob reads %v", got)
	}
	// None of the failed publishes created a node.
	q := alice.IQ("get", "", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	if items := q.Child("query", "").ChildrenNamed("item", ""); len(items) != 1 {
		t.Fatalf("nodes after bad input: %s", q)
	}
}

func TestCapsHashMismatchIsNotCached(t *testing.T) {
	e := start(t)
	c, err := e.srv.Dial(t, "bob", "bob-pw", xmppdtest.DialOptions{Resource: "liar"})
	if err != nil {
		t.Fatal(err)
	}
	c.Send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='x' ver='bm90IGEgcmVhbCBoYXNoAAAAAAAAAAA='/></presence>")
	q := c.Expect("disco#info query", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("type") == "get" })
	c.Sendf("<iq type='result' id='%s' to='localhost'><query xmlns='%s'><feature var='%s+notify'/></query></iq>", q.Attr("id"), nsDiscoInfo, nodeNick)
	// The session still gets what it asked for, but the forged hash is
	// not trusted for anyone else.
	e.waitNotify(c, []string{nodeNick})
	if e.pep.CapsCached("sha-1", "bm90IGEgcmVhbCBoYXNoAAAAAAAAAAA=") {
		t.Fatal("a hash that does not match its answer was cached")
	}
}
