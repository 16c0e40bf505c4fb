package blocking_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/blocking"
	"github.com/xmppd/xmppd/extensions/ping"
	"github.com/xmppd/xmppd/extensions/roster"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{xmppdtest.WithExtensions(blocking.New(), ping.New())}, opts...)...)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

// online logs user in with a resource and sends initial presence; the
// IQ round trip proves the presence was processed.
func online(t *testing.T, srv *xmppdtest.Server, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	c.Send("<presence/>")
	c.IQ("get", "localhost", "<ping xmlns='urn:xmpp:ping'/>")
	return c
}

func expectResult(t *testing.T, res *wire.Element) {
	t.Helper()
	if res.Attr("type") != "result" {
		t.Fatalf("want result, got %s", res)
	}
}

func errorCondition(el *wire.Element) string {
	e := el.Child("error", "")
	if e == nil {
		return ""
	}
	for _, c := range e.Children {
		if c.NS == nsStanzas && c.Name != "text" {
			return c.Name
		}
	}
	return ""
}

func expectError(t *testing.T, el *wire.Element, cond string) {
	t.Helper()
	if el.Attr("type") != "error" || errorCondition(el) != cond {
		t.Fatalf("want <%s/> error, got %s", cond, el)
	}
}

func isMessage(body string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") != "error" && el.ChildText("body", "") == body
	}
}

func isError(id string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Attr("type") == "error" && el.Attr("id") == id }
}

func block(t *testing.T, c *xmppdtest.Client, jids ...string) {
	t.Helper()
	c.Send(itemsIQ("block", "b-"+jids[0], jids))
	expectResult(t, c.Expect("block result", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == "b-"+jids[0] }))
}

func itemsIQ(op, id string, jids []string) string {
	s := "<iq type='set' id='" + id + "'><" + op + " xmlns='urn:xmpp:blocking'>"
	for _, j := range jids {
		s += "<item jid='" + j + "'/>"
	}
	return s + "</" + op + "></iq>"
}

func blocklist(t *testing.T, c *xmppdtest.Client) []string {
	t.Helper()
	res := c.IQ("get", "", "<blocklist xmlns='urn:xmpp:blocking'/>")
	expectResult(t, res)
	var out []string
	for _, it := range res.Child("blocklist", blocking.NS).ChildrenNamed("item", blocking.NS) {
		out = append(out, it.Attr("jid"))
	}
	return out
}

func TestBlockStopsTrafficBothWaysAndUnblockRestoresIt(t *testing.T) {
	srv := start(t)
	if !slices.Contains(srv.ServerFeatures(), blocking.NS) {
		t.Fatalf("server features %v lack %s", srv.ServerFeatures(), blocking.NS)
	}
	alice := online(t, srv, "alice", "home")
	bob := online(t, srv, "bob", "desk")
	block(t, alice, "bob@localhost")

	// alice → bob: alice is told she blocked bob; bob gets nothing.
	alice.Send("<message to='bob@localhost' type='chat' id='a1'><body>from alice</body></message>")
	e := alice.Expect("blocked error", isError("a1"))
	expectError(t, e, "not-acceptable")
	if e.Attr("from") != "bob@localhost" || e.Child("error", "").Child("blocked", blocking.NSErrors) == nil {
		t.Fatalf("want <blocked/> from bob@localhost, got %s", e)
	}
	res := alice.IQ("get", bob.JID.String(), "<query xmlns='jabber:iq:version'/>")
	expectError(t, res, "not-acceptable")

	// bob → alice: service-unavailable, whatever the address.
	bob.Send("<message to='alice@localhost' type='chat' id='b1'><body>from bob</body></message>")
	expectError(t, bob.Expect("bounce", isError("b1")), "service-unavailable")
	bob.Sendf("<message to='%s' type='chat' id='b2'><body>from bob, full</body></message>", alice.JID)
	expectError(t, bob.Expect("bounce", isError("b2")), "service-unavailable")
	expectError(t, bob.IQ("get", "alice@localhost", "<ping xmlns='urn:xmpp:ping'/>"), "service-unavailable")
	expectError(t, bob.IQ("get", alice.JID.String(), "<query xmlns='jabber:iq:version'/>"), "service-unavailable")
	bob.Sendf("<presence to='%s'/>", alice.JID)
	bob.IQ("get", "localhost", "<ping xmlns='urn:xmpp:ping'/>")

	alice.ExpectNothing(150*time.Millisecond, func(el *wire.Element) bool {
		return el.Attr("from") == bob.JID.String()
	})
	bob.ExpectNothing(50*time.Millisecond, isMessage("from alice"))

	// Others are unaffected.
	carol := online(t, srv, "carol", "x")
	carol.Send("<message to='alice@localhost' type='chat'><body>from carol</body></message>")
	alice.Expect("carol's message", isMessage("from carol"))

	// Unblock: messages flow again both ways.
	expectResult(t, alice.IQ("set", "", "<unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock>"))
	bob.Send("<message to='alice@localhost' type='chat'><body>bob again</body></message>")
	alice.Expect("bob's message", isMessage("bob again"))
	alice.Send("<message to='bob@localhost' type='chat'><body>alice again</body></message>")
	bob.Expect("alice's message", isMessage("alice again"))
}

func TestBlockPushGoesToResourcesThatAskedForTheList(t *testing.T) {
	srv := start(t)
	phone := online(t, srv, "alice", "phone")
	laptop := online(t, srv, "alice", "laptop")
	bot := online(t, srv, "alice", "bot")
	if got := blocklist(t, phone); len(got) != 0 {
		t.Fatalf("fresh blocklist = %v", got)
	}
	blocklist(t, laptop)

	isPush := func(op string) func(*wire.Element) bool {
		return func(el *wire.Element) bool {
			return el.Name == "iq" && el.Attr("type") == "set" && el.Child(op, blocking.NS) != nil
		}
	}
	block(t, phone, "bob@localhost", "carol@localhost/work")
	push := laptop.Expect("block push", isPush("block"))
	var got []string
	for _, it := range push.Child("block", blocking.NS).ChildrenNamed("item", blocking.NS) {
		got = append(got, it.Attr("jid"))
	}
	if !slices.Equal(got, []string{"bob@localhost", "carol@localhost/work"}) {
		t.Fatalf("pushed items %v", got)
	}
	if push.Attr("to") != laptop.JID.String() || push.Attr("id") == "" {
		t.Fatalf("bad push addressing: %s", push)
	}
	laptop.Sendf("<iq type='result' id='%s'/>", push.Attr("id"))
	bot.ExpectNothing(150*time.Millisecond, isPush("block"))

	if got := blocklist(t, laptop); !slices.Equal(got, []string{"bob@localhost", "carol@localhost/work"}) {
		t.Fatalf("blocklist = %v", got)
	}

	// Unblock all: an empty <unblock/> push.
	phone.Send("<iq type='set' id='ua'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	push = laptop.Expect("unblock push", isPush("unblock"))
	if n := len(push.Child("unblock", blocking.NS).Children); n != 0 {
		t.Fatalf("unblock-all push carries %d items: %s", n, push)
	}
	if got := blocklist(t, phone); len(got) != 0 {
		t.Fatalf("after unblock all, blocklist = %v", got)
	}
}

func TestBlockSendsUnavailablePresenceToTheBlockedContact(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "home")
	bob := online(t, srv, "bob", "desk")
	block(t, alice, "bob@localhost")
	p := bob.Expect("unavailable presence", xmppdtest.Is("presence", "unavailable"))
	if p.Attr("from") != alice.JID.String() {
		t.Fatalf("unavailable from %q, want %q", p.Attr("from"), alice.JID)
	}
	// Directed presence from alice to bob is dropped from now on.
	alice.Send("<presence to='bob@localhost'/>")
	bob.ExpectNothing(150*time.Millisecond, func(el *wire.Element) bool { return el.Name == "presence" })
}

func TestBlockingMatchesFullJIDsAndDomains(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "home")
	phone := online(t, srv, "bob", "phone")
	desk := online(t, srv, "bob", "desk")
	block(t, alice, "bob@localhost/phone")

	phone.Send("<message to='alice@localhost' type='chat' id='p'><body>from phone</body></message>")
	expectError(t, phone.Expect("bounce", isError("p")), "service-unavailable")
	desk.Send("<message to='alice@localhost' type='chat'><body>from desk</body></message>")
	alice.Expect("desk's message", isMessage("from desk"))

	// Blocking a domain blocks everyone at it (but never the user herself).
	carol := online(t, srv, "carol", "x")
	block(t, carol, "localhost")
	desk.Send("<message to='carol@localhost' type='chat' id='d'><body>hi carol</body></message>")
	expectError(t, desk.Expect("bounce", isError("d")), "service-unavailable")
	expectResult(t, carol.IQ("get", "localhost", "<ping xmlns='urn:xmpp:ping'/>"))
	if got := blocklist(t, carol); !slices.Equal(got, []string{"localhost"}) {
		t.Fatalf("carol's blocklist = %v", got)
	}
}

func TestBadBlockRequests(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "home")
	bob := online(t, srv, "bob", "desk")
	block(t, alice, "carol@localhost")

	expectError(t, alice.IQ("set", "", "<block xmlns='urn:xmpp:blocking'/>"), "bad-request")
	expectError(t, alice.IQ("set", "", "<block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/><item jid='@localhost'/></block>"), "jid-malformed")
	expectError(t, alice.IQ("set", "", "<block xmlns='urn:xmpp:blocking'><item/></block>"), "jid-malformed")
	expectError(t, alice.IQ("set", "", "<unblock xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></unblock>"), "jid-malformed")
	expectError(t, bob.IQ("set", "alice@localhost", "<unblock xmlns='urn:xmpp:blocking'/>"), "forbidden")
	expectError(t, bob.IQ("get", "alice@localhost", "<blocklist xmlns='urn:xmpp:blocking'/>"), "forbidden")
	if got := blocklist(t, alice); !slices.Equal(got, []string{"carol@localhost"}) {
		t.Fatalf("bad requests changed the blocklist: %v", got)
	}
}

func TestBlocklistSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithDataDir(dir))
	alice := online(t, srv, "alice", "home")
	block(t, alice, "bob@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithExtensions(blocking.New(), ping.New()), xmppdtest.WithDataDir(dir))
	alice = online(t, srv2, "alice", "home")
	if got := blocklist(t, alice); !slices.Equal(got, []string{"bob@localhost"}) {
		t.Fatalf("blocklist after restart = %v", got)
	}
	bob := online(t, srv2, "bob", "desk")
	bob.Send("<message to='alice@localhost' type='chat' id='b'><body>still blocked?</body></message>")
	expectError(t, bob.Expect("bounce", isError("b")), "service-unavailable")
}

func TestDeletedAccountLosesItsBlocklist(t *testing.T) {
	srv := start(t)
	alice := online(t, srv, "alice", "home")
	block(t, alice, "bob@localhost")
	if _, err := srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	srv.AddUser(t, "alice", "alice-pw")
	alice = online(t, srv, "alice", "home")
	if got := blocklist(t, alice); len(got) != 0 {
		t.Fatalf("new alice inherited blocklist %v", got)
	}
	bob := online(t, srv, "bob", "desk")
	bob.Send("<message to='alice@localhost' type='chat'><body>hello new alice</body></message>")
	alice.Expect("bob's message", isMessage("hello new alice"))
}

// With the roster extension: broadcast presence skips a blocked
// subscriber, and unblocking gives the subscriber the current presence.
func TestBlockedSubscriberGetsNoBroadcastUntilUnblocked(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(roster.New(), blocking.New(), ping.New()))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice := online(t, srv, "alice", "home")
	bob := online(t, srv, "bob", "desk")
	// bob subscribes to alice's presence (fetching the roster first makes
	// his session get the approval).
	bob.IQ("get", "", "<query xmlns='jabber:iq:roster'/>")
	bob.Send("<presence type='subscribe' to='alice@localhost'/>")
	alice.Expect("subscription request", xmppdtest.Is("presence", "subscribe"))
	alice.Send("<presence type='subscribed' to='bob@localhost'/>")
	bob.Expect("approval", xmppdtest.Is("presence", "subscribed"))
	if !srv.Roster().HasSubscriber(mustJID(t, "alice@localhost"), mustJID(t, "bob@localhost")) {
		t.Fatal("bob is not a subscriber of alice")
	}
	fromAlice := func(show string) func(*wire.Element) bool {
		return func(el *wire.Element) bool {
			return el.Name == "presence" && el.Attr("type") == "" && el.Attr("from") == alice.JID.String() && el.ChildText("show", "") == show
		}
	}
	alice.Send("<presence><show>chat</show></presence>")
	bob.Expect("alice's presence", fromAlice("chat"))

	block(t, alice, "bob@localhost")
	bob.Expect("unavailable presence", xmppdtest.Is("presence", "unavailable"))
	alice.Send("<presence><show>away</show></presence>")
	bob.ExpectNothing(150*time.Millisecond, fromAlice("away"))

	expectResult(t, alice.IQ("set", "", "<unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock>"))
	bob.Expect("alice's current presence", fromAlice("away"))
}

func mustJID(t *testing.T, s string) xmppd.JID {
	t.Helper()
	j, err := xmppd.ParseJID(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
