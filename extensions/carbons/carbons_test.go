package carbons_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/carbons"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsClient  = "jabber:client"
)

func start(t *testing.T) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(carbons.New()))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

// online logs user in as resource with the given presence priority and,
// if carbons, enables carbons.
func online(t *testing.T, srv *xmppdtest.Server, user, resource string, priority int, carbons bool) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	c.Sendf("<presence><priority>%d</priority></presence>", priority)
	c.Sync()
	if carbons {
		enable(t, c)
	}
	return c
}

func enable(t *testing.T, c *xmppdtest.Client) {
	t.Helper()
	if res := c.IQ("set", "", "<enable xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "result" {
		t.Fatalf("%s: enable carbons: %s", c.JID, res)
	}
}

func isMessage(el *wire.Element) bool { return el.Name == "message" }

// nextMessage returns the next message c receives.
func nextMessage(c *xmppdtest.Client) *wire.Element {
	return c.Expect("a message", isMessage)
}

// carbon checks that el is a carbon of the given kind ("sent" or
// "received") for c and returns the forwarded message.
func carbon(t *testing.T, c *xmppdtest.Client, el *wire.Element, kind string) *wire.Element {
	t.Helper()
	if el.Attr("from") != c.JID.Bare().String() || el.Attr("to") != c.JID.String() {
		t.Fatalf("%s: carbon must come from the bare JID to the full JID: %s", c.JID, el)
	}
	w := el.Child(kind, carbons.NS)
	if w == nil {
		t.Fatalf("%s: want a <%s/> carbon, got %s", c.JID, kind, el)
	}
	f := w.Child("forwarded", carbons.NSForward)
	if f == nil {
		t.Fatalf("%s: carbon without <forwarded/>: %s", c.JID, el)
	}
	m := f.Child("message", nsClient)
	if m == nil {
		t.Fatalf("%s: no jabber:client <message/> forwarded: %s", c.JID, el)
	}
	return m
}

// expectBody checks that el is a plain (non-carbon) message with body.
func expectBody(t *testing.T, c *xmppdtest.Client, el *wire.Element, body string) {
	t.Helper()
	if el.Child("received", carbons.NS) != nil || el.Child("sent", carbons.NS) != nil || el.ChildText("body", "") != body {
		t.Fatalf("%s: want the original %q, got %s", c.JID, body, el)
	}
}

func TestEnableDisableAndFeature(t *testing.T) {
	srv := start(t)
	if !slices.Contains(srv.ServerFeatures(), carbons.NS) {
		t.Fatalf("server features %v lack %s", srv.ServerFeatures(), carbons.NS)
	}
	alice := online(t, srv, "alice", "a", 0, false)
	// Repeating enable or disable is not an error (XEP-0280 §9.1).
	for _, op := range []string{"enable", "enable", "disable", "disable"} {
		if res := alice.IQ("set", "", "<"+op+" xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "result" {
			t.Fatalf("%s: %s", op, res)
		}
	}
	// Addressed to her own bare JID: fine. Someone else's: not-allowed.
	if res := alice.IQ("set", "alice@localhost", "<enable xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "result" {
		t.Fatalf("enable at own bare JID: %s", res)
	}
	res := alice.IQ("set", "bob@localhost", "<enable xmlns='urn:xmpp:carbons:2'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("not-allowed", nsStanzas) == nil {
		t.Fatalf("enabling bob's carbons: want not-allowed, got %s", res)
	}
	if res := alice.IQ("get", "", "<enable xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "error" {
		t.Fatalf("enable as get: %s", res)
	}
}

func TestReceivedCopyGoesToOtherEnabledResourcesOnly(t *testing.T) {
	srv := start(t)
	// bob/desk has the top priority, so it gets messages to the bare JID.
	desk := online(t, srv, "bob", "desk", 5, true)
	phone := online(t, srv, "bob", "phone", 0, true)
	tablet := online(t, srv, "bob", "tablet", 0, false)
	alice := online(t, srv, "alice", "a", 0, false)

	alice.Send("<message to='bob@localhost' type='chat' id='m1'><body>hi bob</body></message>")
	orig := nextMessage(desk)
	expectBody(t, desk, orig, "hi bob")
	sid := orig.Child("stanza-id", "urn:xmpp:sid:0")
	if sid == nil {
		t.Fatalf("delivered message lacks the server stanza-id: %s", orig)
	}

	el := nextMessage(phone)
	if el.Attr("type") != "chat" {
		t.Fatalf("carbon must keep the type: %s", el)
	}
	m := carbon(t, phone, el, "received")
	if m.Attr("from") != alice.JID.String() || m.Attr("to") != "bob@localhost" || m.Attr("id") != "m1" ||
		m.ChildText("body", "") != "hi bob" {
		t.Fatalf("forwarded message differs from the original: %s", el)
	}
	if c := m.Child("stanza-id", "urn:xmpp:sid:0"); c == nil || c.Attr("id") != sid.Attr("id") {
		t.Fatalf("forwarded message is not the one delivered (stanza-id): %s", el)
	}

	// The next thing each resource sees proves what it did not get.
	alice.Send("<message to='bob@localhost' type='chat'><body>second</body></message>")
	expectBody(t, desk, nextMessage(desk), "second")
	if m := carbon(t, phone, nextMessage(phone), "received"); m.ChildText("body", "") != "second" {
		t.Fatalf("phone: want the carbon of 'second', got %s", m)
	}
	tablet.ExpectNothing(100*time.Millisecond, isMessage)
}

func TestSentCopyGoesToSendersOtherEnabledResources(t *testing.T) {
	srv := start(t)
	laptop := online(t, srv, "alice", "laptop", 0, true)
	phone := online(t, srv, "alice", "phone", 0, true)
	old := online(t, srv, "alice", "old", 0, false)
	bob := online(t, srv, "bob", "b", 0, false)

	laptop.Send("<message to='bob@localhost' type='chat' id='s1'><body>from the laptop</body></message>")
	expectBody(t, bob, nextMessage(bob), "from the laptop")
	m := carbon(t, phone, nextMessage(phone), "sent")
	if m.Attr("from") != laptop.JID.String() || m.Attr("to") != "bob@localhost" || m.Attr("id") != "s1" ||
		m.ChildText("body", "") != "from the laptop" {
		t.Fatalf("forwarded message differs from what the laptop sent: %s", m)
	}

	// The sender gets no copy of its own message: bob's reply is the
	// next message the laptop sees (received directly, bare JID, equal
	// priorities: every resource gets the original).
	bob.Send("<message to='alice@localhost' type='chat'><body>reply</body></message>")
	expectBody(t, laptop, nextMessage(laptop), "reply")
	expectBody(t, phone, nextMessage(phone), "reply")
	expectBody(t, old, nextMessage(old), "reply")
}

func TestPrivateNoCopySuppressesCarbons(t *testing.T) {
	srv := start(t)
	laptop := online(t, srv, "alice", "laptop", 0, true)
	aphone := online(t, srv, "alice", "phone", 0, true)
	desk := online(t, srv, "bob", "desk", 5, true)
	bphone := online(t, srv, "bob", "phone", 0, true)

	laptop.Send("<message to='bob@localhost' type='chat'><body>secret</body>" +
		"<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
	el := nextMessage(desk)
	expectBody(t, desk, el, "secret")
	// XEP-0280 §7: the receiving server removes <private/>.
	if el.Child("private", carbons.NS) != nil || el.Child("no-copy", "urn:xmpp:hints") == nil {
		t.Fatalf("want <private/> removed and the hint kept: %s", el)
	}
	// <private/> alone, and <no-copy/> alone, suppress copies as well.
	laptop.Send("<message to='bob@localhost' type='chat'><body>private only</body><private xmlns='urn:xmpp:carbons:2'/></message>")
	laptop.Send("<message to='bob@localhost' type='chat'><body>no-copy only</body><no-copy xmlns='urn:xmpp:hints'/></message>")
	expectBody(t, desk, nextMessage(desk), "private only")
	expectBody(t, desk, nextMessage(desk), "no-copy only")

	// Both phones' first carbon is of the message after them.
	laptop.Send("<message to='bob@localhost' type='chat'><body>public</body></message>")
	if m := carbon(t, aphone, nextMessage(aphone), "sent"); m.ChildText("body", "") != "public" {
		t.Fatalf("alice's phone: first carbon should be 'public', got %s", m)
	}
	if m := carbon(t, bphone, nextMessage(bphone), "received"); m.ChildText("body", "") != "public" {
		t.Fatalf("bob's phone: first carbon should be 'public', got %s", m)
	}
}

func TestDisableStopsCopies(t *testing.T) {
	srv := start(t)
	desk := online(t, srv, "bob", "desk", 5, false)
	phone := online(t, srv, "bob", "phone", 0, true)
	alice := online(t, srv, "alice", "a", 0, false)

	alice.Send("<message to='bob@localhost' type='chat'><body>one</body></message>")
	carbon(t, phone, nextMessage(phone), "received")
	if res := phone.IQ("set", "", "<disable xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "result" {
		t.Fatalf("disable: %s", res)
	}
	alice.Send("<message to='bob@localhost' type='chat'><body>two</body></message>")
	expectBody(t, desk, nextMessage(desk), "one")
	expectBody(t, desk, nextMessage(desk), "two")
	phone.ExpectNothing(100*time.Millisecond, isMessage)
	// Enabling again resumes them.
	enable(t, phone)
	alice.Send("<message to='bob@localhost' type='chat'><body>three</body></message>")
	if m := carbon(t, phone, nextMessage(phone), "received"); m.ChildText("body", "") != "three" {
		t.Fatalf("want the carbon of 'three', got %s", m)
	}
}

func TestMessageToFullJIDIsCopiedToOtherResources(t *testing.T) {
	srv := start(t)
	desk := online(t, srv, "bob", "desk", 0, true)
	phone := online(t, srv, "bob", "phone", 0, true)
	alice := online(t, srv, "alice", "a", 0, true)

	// Lower priority does not matter for a full JID.
	alice.Sendf("<message to='%s' type='chat'><body>to the phone</body></message>", phone.JID)
	expectBody(t, phone, nextMessage(phone), "to the phone")
	m := carbon(t, desk, nextMessage(desk), "received")
	if m.Attr("to") != phone.JID.String() || m.ChildText("body", "") != "to the phone" {
		t.Fatalf("forwarded message differs: %s", m)
	}

	// Type normal with a body is eligible too; a message to one's own
	// other resource reaches it once, as the original, and the sender
	// gets no copy.
	alice2 := online(t, srv, "alice", "b", 0, true)
	alice.Sendf("<message to='%s'><body>note to self</body></message>", alice2.JID)
	expectBody(t, alice2, nextMessage(alice2), "note to self")
	alice.Send("<message to='bob@localhost' type='chat'><body>after</body></message>")
	if m := carbon(t, alice2, nextMessage(alice2), "sent"); m.ChildText("body", "") != "after" {
		t.Fatalf("alice/b: want only the carbon of 'after' next, got %s", m)
	}
	// alice/a, the sender, got no copy of either: bob's answer to it is
	// the next message it sees; alice/b gets a carbon of that.
	desk.Sendf("<message to='%s' type='chat'><body>answer</body></message>", alice.JID)
	expectBody(t, alice, nextMessage(alice), "answer")
	if m := carbon(t, alice2, nextMessage(alice2), "received"); m.ChildText("body", "") != "answer" {
		t.Fatalf("alice/b: want the carbon of 'answer', got %s", m)
	}
}

func TestIneligibleMessagesAreNotCopied(t *testing.T) {
	srv := start(t)
	laptop := online(t, srv, "alice", "laptop", 0, true)
	aphone := online(t, srv, "alice", "phone", 0, true)
	desk := online(t, srv, "bob", "desk", 5, true)
	bphone := online(t, srv, "bob", "phone", 0, true)

	sends := []string{
		"<message to='%[1]s' type='headline'><body>news</body></message>",
		"<message to='%[1]s' type='groupchat'><body>room talk</body></message>",
		"<message to='%[1]s'><subject>no body</subject></message>",
		// A client wrapping a carbon: bob gets it from alice's full JID,
		// which clients reject as a carbon, and it is never copied.
		"<message to='%[1]s' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>" +
			"<message xmlns='jabber:client' from='eve@localhost/x' to='bob@localhost' type='chat'><body>forged</body></message>" +
			"</forwarded></received></message>",
	}
	for _, s := range sends {
		laptop.Sendf(s, desk.JID)
		el := nextMessage(desk)
		if el.Attr("from") != laptop.JID.String() {
			t.Fatalf("desk: want the original from %s, got %s", laptop.JID, el)
		}
	}
	// Headlines to the bare JID go to every non-negative resource: the
	// desk's copy is the original, the phone's too.
	laptop.Send("<message to='bob@localhost' type='headline'><body>bare news</body></message>")
	expectBody(t, desk, nextMessage(desk), "bare news")
	expectBody(t, bphone, nextMessage(bphone), "bare news")

	laptop.Sendf("<message to='%s' type='chat'><body>marker</body></message>", desk.JID)
	if m := carbon(t, aphone, nextMessage(aphone), "sent"); m.ChildText("body", "") != "marker" {
		t.Fatalf("alice's phone: first carbon should be 'marker', got %s", m)
	}
	if m := carbon(t, bphone, nextMessage(bphone), "received"); m.ChildText("body", "") != "marker" {
		t.Fatalf("bob's phone: first carbon should be 'marker', got %s", m)
	}
}

func TestCarbonEscapesAndKeepsNamespace(t *testing.T) {
	srv := start(t)
	desk := online(t, srv, "bob", "desk", 5, false)
	phone := online(t, srv, "bob", "phone", 0, true)
	alice := online(t, srv, "alice", "a", 0, false)
	// An original that declares its namespace itself is forwarded as is.
	alice.Send("<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>a &lt;b&gt; &amp; 'c'</body></message>")
	expectBody(t, desk, nextMessage(desk), "a <b> & 'c'")
	m := carbon(t, phone, nextMessage(phone), "received")
	if m.ChildText("body", "") != "a <b> & 'c'" || !strings.HasPrefix(m.Attr("from"), "alice@localhost/") {
		t.Fatalf("forwarded: %s", m)
	}
}

// fakeArchive stands in for the archive: it gives each message a local
// client sends an id in the sender's archive, as XEP-0313 does.
type fakeArchive struct{}

func (fakeArchive) Name() string { return "fake-archive" }

func (fakeArchive) Register(r *xmppd.Registrar) error {
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityArchive, func(p *xmppd.Packet) xmppd.Verdict {
		p.SentStanzaID = "arch-" + p.Stanza.ID
		return xmppd.Pass
	})
	return nil
}

func TestSentCopyCarriesSendersArchiveID(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(fakeArchive{}, carbons.New()))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	laptop := online(t, srv, "alice", "laptop", 0, true)
	phone := online(t, srv, "alice", "phone", 0, true)
	bob := online(t, srv, "bob", "b", 0, false)

	laptop.Send("<message to='bob@localhost' type='chat' id='x1'><body>archived</body></message>")
	m := carbon(t, phone, nextMessage(phone), "sent")
	var ids []string
	for _, c := range m.ChildrenNamed("stanza-id", "urn:xmpp:sid:0") {
		ids = append(ids, c.Attr("by")+" "+c.Attr("id"))
	}
	if len(ids) != 1 || ids[0] != "alice@localhost arch-x1" {
		t.Fatalf("sent carbon: want alice's archive id only, got %q in %s", ids, m)
	}
	// bob sees his own archive id, never alice's.
	for _, c := range nextMessage(bob).ChildrenNamed("stanza-id", "urn:xmpp:sid:0") {
		if c.Attr("by") != "bob@localhost" {
			t.Fatalf("bob sees a foreign stanza-id: %s", c)
		}
	}
	// An empty (self-closing) chat message gets its id inside too.
	laptop.Send("<message to='bob@localhost' type='chat' id='x2'/>")
	m = carbon(t, phone, nextMessage(phone), "sent")
	if c := m.Child("stanza-id", "urn:xmpp:sid:0"); c == nil || c.Attr("id") != "arch-x2" || m.Attr("id") != "x2" {
		t.Fatalf("sent carbon of an empty message: %s", m)
	}
}
