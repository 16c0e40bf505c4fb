package roster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/roster"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	aliceBare = "alice@localhost"
	bobBare   = "bob@localhost"
	carolBare = "carol@localhost"
	quiet     = 200 * time.Millisecond
)

// start runs a server with the roster extension and three users.
func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{xmppdtest.WithExtensions(roster.New())}, opts...)...)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

func login(t *testing.T, srv *xmppdtest.Server, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	return c
}

// fetchRoster gets the roster (which makes the session interested in
// pushes) and returns the <query/>.
func fetchRoster(t *testing.T, c *xmppdtest.Client) *wire.Element {
	t.Helper()
	res := c.IQ("get", "", "<query xmlns='jabber:iq:roster'/>")
	if res.Attr("type") != "result" {
		t.Fatalf("%s: roster get failed: %s", c.JID, res)
	}
	q := res.Child("query", roster.NS)
	if q == nil {
		t.Fatalf("%s: roster result without query: %s", c.JID, res)
	}
	return q
}

// online sends initial presence and waits for the server's echo, so that
// everything it triggers has been processed.
func online(t *testing.T, c *xmppdtest.Client) {
	t.Helper()
	c.Send("<presence/>")
	c.Expect("own presence echo", presenceFrom("", c.JID.String()))
}

func presenceFrom(typ, from string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("type") == typ && el.Attr("from") == from
	}
}

func isPush(jid, sub string, ask bool) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		if el.Name != "iq" || el.Attr("type") != "set" {
			return false
		}
		it := el.Child("query", roster.NS).Child("item", roster.NS)
		return it != nil && it.Attr("jid") == jid && it.Attr("subscription") == sub && (it.Attr("ask") == "subscribe") == ask
	}
}

func anyPush(el *wire.Element) bool {
	return el.Name == "iq" && el.Attr("type") == "set" && el.Child("query", roster.NS) != nil
}

func findItem(q *wire.Element, jid string) *wire.Element {
	for _, it := range q.ChildrenNamed("item", roster.NS) {
		if it.Attr("jid") == jid {
			return it
		}
	}
	return nil
}

func wantItem(t *testing.T, c *xmppdtest.Client, jid, sub string, ask bool) {
	t.Helper()
	it := findItem(fetchRoster(t, c), jid)
	if it == nil {
		t.Fatalf("%s: no roster item for %s", c.JID, jid)
	}
	if it.Attr("subscription") != sub || (it.Attr("ask") == "subscribe") != ask {
		t.Fatalf("%s: item %s = %s, want subscription=%s ask=%v", c.JID, jid, it, sub, ask)
	}
}

func errorCondition(el *wire.Element) string {
	if el.Attr("type") != "error" {
		return ""
	}
	e := el.Child("error", "")
	for _, c := range e.Children {
		if c.NS == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Name != "text" {
			return c.Name
		}
	}
	return "?"
}

// subscribe runs the full handshake: from asks, to (available) approves.
func subscribe(t *testing.T, from, to *xmppdtest.Client) {
	t.Helper()
	toBare, fromBare := to.JID.Bare().String(), from.JID.Bare().String()
	fetchRoster(t, from) // approvals go to interested resources only
	from.Sendf("<presence type='subscribe' to='%s'/>", toBare)
	to.Expect("subscribe from "+fromBare, presenceFrom("subscribe", fromBare))
	to.Sendf("<presence type='subscribed' to='%s'/>", fromBare)
	from.Expect("subscribed from "+toBare, presenceFrom("subscribed", toBare))
}

// want is one element a client must receive, in any order relative to
// the others of an expectAll: the RFC orders some deliveries (an IQ
// result and a roster push, say) only loosely.
type want struct {
	what  string
	match func(*wire.Element) bool
}

func expectAll(t *testing.T, c *xmppdtest.Client, wants ...want) []*wire.Element {
	t.Helper()
	got := make([]*wire.Element, len(wants))
	for left := len(wants); left > 0; left-- {
		var missing []string
		for i, w := range wants {
			if got[i] == nil {
				missing = append(missing, w.what)
			}
		}
		c.Expect(strings.Join(missing, ", "), func(el *wire.Element) bool {
			for i, w := range wants {
				if got[i] == nil && w.match(el) {
					got[i] = el
					return true
				}
			}
			return false
		})
	}
	return got
}

var iqSeq atomic.Int64

// rosterSet sends a roster set with the given <item/> and waits for its
// answer and for the other wanted elements; it returns the answer.
func rosterSet(t *testing.T, c *xmppdtest.Client, item string, wants ...want) *wire.Element {
	t.Helper()
	id := fmt.Sprintf("set%d", iqSeq.Add(1))
	c.Sendf("<iq type='set' id='%s'><query xmlns='jabber:iq:roster'>%s</query></iq>", id, item)
	isAnswer := func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == id }
	return expectAll(t, c, append([]want{{"answer to " + id, isAnswer}}, wants...)...)[0]
}

func TestRosterGetEmpty(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	q := fetchRoster(t, alice)
	if len(q.Children) != 0 {
		t.Fatalf("new account's roster is not empty: %s", q)
	}
	if q.Attr("ver") == "" {
		t.Fatalf("roster result has no version: %s", q)
	}
}

func TestRosterSetPushesToInterestedResources(t *testing.T) {
	srv := start(t)
	phone := login(t, srv, "alice", "phone")
	laptop := login(t, srv, "alice", "laptop")
	idle := login(t, srv, "alice", "idle") // never fetches the roster
	fetchRoster(t, phone)
	fetchRoster(t, laptop)

	res := rosterSet(t, phone, "<item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item>",
		want{"push", isPush(bobBare, "none", false)})
	if res.Attr("type") != "result" {
		t.Fatalf("roster set failed: %s", res)
	}
	for _, c := range []*xmppdtest.Client{laptop} {
		push := c.Expect("roster push", isPush(bobBare, "none", false))
		if push.Attr("to") != c.JID.String() {
			t.Fatalf("push addressed to %q, want %q", push.Attr("to"), c.JID)
		}
		it := push.Child("query", roster.NS).Child("item", roster.NS)
		if it.Attr("name") != "Bob" || len(it.ChildrenNamed("group", roster.NS)) != 2 {
			t.Fatalf("push item = %s", it)
		}
	}
	idle.ExpectNothing(quiet, anyPush)

	it := findItem(fetchRoster(t, laptop), bobBare)
	if it == nil || it.Attr("name") != "Bob" || it.Attr("subscription") != "none" || it.ChildText("group", roster.NS) != "Friends" {
		t.Fatalf("roster item = %v", it)
	}

	// Updating keeps one item and replaces name and groups.
	rosterSet(t, phone, "<item jid='bob@localhost' name='Robert'/>", want{"push", isPush(bobBare, "none", false)})
	laptop.Expect("update push", func(el *wire.Element) bool {
		return isPush(bobBare, "none", false)(el) && el.Child("query", roster.NS).Child("item", roster.NS).Attr("name") == "Robert"
	})
	q := fetchRoster(t, phone)
	if n := len(q.ChildrenNamed("item", roster.NS)); n != 1 {
		t.Fatalf("%d items after update, want 1: %s", n, q)
	}
	if it := findItem(q, bobBare); len(it.ChildrenNamed("group", roster.NS)) != 0 {
		t.Fatalf("groups not replaced: %s", it)
	}
}

func TestRosterRemove(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	fetchRoster(t, alice)
	rosterSet(t, alice, "<item jid='bob@localhost'/>", want{"add push", isPush(bobBare, "none", false)})
	res := rosterSet(t, alice, "<item jid='bob@localhost' subscription='remove'/>", want{"remove push", isPush(bobBare, "remove", false)})
	if res.Attr("type") != "result" {
		t.Fatalf("remove failed: %s", res)
	}
	if q := fetchRoster(t, alice); len(q.Children) != 0 {
		t.Fatalf("roster not empty after remove: %s", q)
	}

	res = alice.IQ("set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query>")
	if got := errorCondition(res); got != "item-not-found" {
		t.Fatalf("removing a missing item: condition %q, want item-not-found: %s", got, res)
	}
}

func TestRosterVersioning(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	res := alice.IQ("get", "", "<query xmlns='jabber:iq:roster' ver=''/>")
	v1 := res.Child("query", roster.NS).Attr("ver")
	if v1 == "" {
		t.Fatalf("no ver in result: %s", res)
	}

	res = alice.IQ("get", "", "<query xmlns='jabber:iq:roster' ver='"+v1+"'/>")
	if res.Attr("type") != "result" || len(res.Children) != 0 {
		t.Fatalf("up-to-date get: want an empty result, got %s", res)
	}

	alice.Send("<iq type='set' id='v'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>")
	push := expectAll(t, alice, want{"push", isPush(bobBare, "none", false)}, want{"answer", func(el *wire.Element) bool {
		return el.Name == "iq" && el.Attr("type") == "result"
	}})[0]
	v2 := push.Child("query", roster.NS).Attr("ver")
	if v2 == "" || v2 == v1 {
		t.Fatalf("push ver = %q after %q", v2, v1)
	}

	res = alice.IQ("get", "", "<query xmlns='jabber:iq:roster' ver='"+v1+"'/>")
	q := res.Child("query", roster.NS)
	if q == nil || q.Attr("ver") != v2 || findItem(q, bobBare) == nil {
		t.Fatalf("stale get: want full roster at %s, got %s", v2, res)
	}
	res = alice.IQ("get", "", "<query xmlns='jabber:iq:roster' ver='"+v2+"'/>")
	if len(res.Children) != 0 {
		t.Fatalf("current get: want empty result, got %s", res)
	}
}

func TestSubscriptionRoundTrip(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	fetchRoster(t, alice)
	fetchRoster(t, bob)
	online(t, alice)
	online(t, bob)

	// alice asks bob.
	alice.Send("<presence type='subscribe' to='bob@localhost' id='s1'><status>hi, it's alice</status></presence>")
	alice.Expect("pending-out push", isPush(bobBare, "none", true))
	req := bob.Expect("subscription request", presenceFrom("subscribe", aliceBare))
	if req.ChildText("status", "") != "hi, it's alice" {
		t.Fatalf("request lost its status: %s", req)
	}
	bob.ExpectNothing(quiet, anyPush) // a pending request is not a roster item

	// bob approves.
	bob.Send("<presence type='subscribed' to='alice@localhost'/>")
	bob.Expect("approval push", isPush(aliceBare, "from", false))
	expectAll(t, alice,
		want{"approval", presenceFrom("subscribed", bobBare)},
		want{"subscription push", isPush(bobBare, "to", false)},
		want{"bob's presence", presenceFrom("", bob.JID.String())})
	wantItem(t, alice, bobBare, "to", false)
	wantItem(t, bob, aliceBare, "from", false)
	if !srv.Roster().HasSubscriber(xmppd.JID{Local: "bob", Domain: "localhost"}, xmppd.JID{Local: "alice", Domain: "localhost"}) {
		t.Fatal("Roster service: alice is not a subscriber of bob")
	}

	// bob's presence changes reach alice; alice's do not reach bob yet.
	bob.Send("<presence><show>away</show></presence>")
	if got := alice.Expect("bob away", presenceFrom("", bob.JID.String())); got.ChildText("show", "") != "away" {
		t.Fatalf("presence update = %s", got)
	}
	alice.Send("<presence><show>dnd</show></presence>")
	bob.ExpectNothing(quiet, presenceFrom("", alice.JID.String()))

	// Now bob asks alice: both.
	bob.Send("<presence type='subscribe' to='alice@localhost'/>")
	bob.Expect("pending-out push", isPush(aliceBare, "from", true))
	alice.Expect("request", presenceFrom("subscribe", bobBare))
	alice.Send("<presence type='subscribed' to='bob@localhost'/>")
	alice.Expect("both push", isPush(bobBare, "both", false))
	got := expectAll(t, bob,
		want{"approval", presenceFrom("subscribed", aliceBare)},
		want{"both push", isPush(aliceBare, "both", false)},
		want{"alice's presence", presenceFrom("", alice.JID.String())})
	if got[2].ChildText("show", "") != "dnd" {
		t.Fatalf("bob got %s, want alice's current presence", got[2])
	}
	wantItem(t, alice, bobBare, "both", false)
	wantItem(t, bob, aliceBare, "both", false)

	// alice unsubscribes from bob: alice keeps 'from', bob keeps 'to'.
	alice.Send("<presence type='unsubscribe' to='bob@localhost'/>")
	alice.Expect("unsubscribe push", isPush(bobBare, "from", false))
	expectAll(t, bob,
		want{"unsubscribe", presenceFrom("unsubscribe", aliceBare)},
		want{"unsubscribe push", isPush(aliceBare, "to", false)})
	alice.Expect("bob's unavailable", presenceFrom("unavailable", bob.JID.String()))

	// alice cancels bob's subscription: none on both sides.
	alice.Send("<presence type='unsubscribed' to='bob@localhost'/>")
	alice.Expect("cancel push", isPush(bobBare, "none", false))
	expectAll(t, bob,
		want{"unsubscribed", presenceFrom("unsubscribed", aliceBare)},
		want{"cancel push", isPush(aliceBare, "none", false)},
		want{"alice's unavailable", presenceFrom("unavailable", alice.JID.String())})
	if srv.Roster().HasSubscriber(xmppd.JID{Local: "alice", Domain: "localhost"}, xmppd.JID{Local: "bob", Domain: "localhost"}) {
		t.Fatal("Roster service: bob still a subscriber of alice")
	}
}

func TestDeclinedRequest(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	fetchRoster(t, alice)
	fetchRoster(t, bob)
	online(t, bob)

	alice.Send("<presence type='subscribe' to='bob@localhost'/>")
	alice.Expect("pending-out push", isPush(bobBare, "none", true))
	bob.Expect("request", presenceFrom("subscribe", aliceBare))
	bob.Send("<presence type='unsubscribed' to='alice@localhost'/>")
	expectAll(t, alice,
		want{"declined", presenceFrom("unsubscribed", bobBare)},
		want{"ask cleared", isPush(bobBare, "none", false)})
	bob.ExpectNothing(quiet, anyPush)

	// An approval without a request changes nothing.
	bob.Send("<presence type='subscribed' to='alice@localhost'/>")
	alice.ExpectNothing(quiet, presenceFrom("subscribed", bobBare))
	wantItem(t, alice, bobBare, "none", false)
}

func TestSubscribeToMissingAccount(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	fetchRoster(t, alice)
	alice.Send("<presence type='subscribe' to='nobody@localhost'/>")
	alice.Expect("pending-out push", isPush("nobody@localhost", "none", true))
	expectAll(t, alice,
		want{"refusal", presenceFrom("unsubscribed", "nobody@localhost")},
		want{"ask cleared", isPush("nobody@localhost", "none", false)})
}

func TestPendingRequestDeliveredAtLogin(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	fetchRoster(t, alice)
	alice.Send("<presence type='subscribe' to='bob@localhost'/>")
	alice.Expect("pending-out push", isPush(bobBare, "none", true))

	// bob was offline: the request waits for his initial presence, each
	// time until he answers.
	for i := range 2 {
		bob := login(t, srv, "bob", "laptop")
		bob.ExpectNothing(quiet, presenceFrom("subscribe", aliceBare))
		bob.Send("<presence/>")
		bob.Expect("stored request", presenceFrom("subscribe", aliceBare))
		if i == 0 {
			bob.Session.Close()
			bob.Session.Conn().Close()
			continue
		}
		fetchRoster(t, bob)
		bob.Send("<presence type='subscribed' to='alice@localhost'/>")
		bob.Expect("approval push", isPush(aliceBare, "from", false))
	}
	alice.Expect("subscription push", isPush(bobBare, "to", false))

	bob := login(t, srv, "bob", "tablet")
	bob.Send("<presence/>")
	bob.ExpectNothing(quiet, presenceFrom("subscribe", aliceBare))
}

func TestInitialPresenceGetsContactsPresence(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	online(t, bob)
	online(t, alice)
	subscribe(t, alice, bob)
	alice.Session.Close()
	alice.Session.Conn().Close()

	bob.Send("<presence><status>lunch</status></presence>")
	bob.Expect("own echo", presenceFrom("", bob.JID.String()))

	// alice's new session: bob's presence (answer to the probe) and her
	// other resources' presence arrive after her initial presence.
	tablet := login(t, srv, "alice", "tablet")
	online(t, tablet)
	desk := login(t, srv, "alice", "desk")
	desk.Send("<presence/>")
	if got := desk.Expect("bob's presence", presenceFrom("", bob.JID.String())); got.ChildText("status", "") != "lunch" {
		t.Fatalf("probe answer = %s", got)
	}
	desk.Expect("tablet's presence", presenceFrom("", tablet.JID.String()))
	tablet.Expect("desk's presence", presenceFrom("", desk.JID.String()))
	// bob has no subscription to alice: he sees none of this.
	bob.ExpectNothing(quiet, presenceFrom("", desk.JID.String()))
}

func TestUnavailableOnDisconnectReachesContacts(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	online(t, alice)
	online(t, bob)
	subscribe(t, alice, bob) // alice sees bob
	alice.Expect("bob's presence", presenceFrom("", bob.JID.String()))

	bob.Session.Close()
	bob.Session.Conn().Close()
	alice.Expect("bob's unavailable", presenceFrom("unavailable", bob.JID.String()))

	// Explicit unavailable works the same way.
	bob2 := login(t, srv, "bob", "tablet")
	online(t, bob2)
	alice.Expect("bob's presence", presenceFrom("", bob2.JID.String()))
	bob2.Send("<presence type='unavailable'><status>bye</status></presence>")
	if got := alice.Expect("bob's unavailable", presenceFrom("unavailable", bob2.JID.String())); got.ChildText("status", "") != "bye" {
		t.Fatalf("unavailable = %s", got)
	}
}

func TestDirectedPresenceGetsUnavailableOnDisconnect(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	carol := login(t, srv, "carol", "desk")
	online(t, bob)
	online(t, carol)
	online(t, alice)

	alice.Sendf("<presence to='%s'><show>chat</show></presence>", carol.JID)
	carol.Expect("directed presence", presenceFrom("", alice.JID.String()))

	alice.Session.Close()
	alice.Session.Conn().Close()
	carol.Expect("unavailable after directed presence", presenceFrom("unavailable", alice.JID.String()))
	bob.ExpectNothing(quiet, func(el *wire.Element) bool {
		return el.Name == "presence" && strings.HasPrefix(el.Attr("from"), aliceBare)
	})
}

func TestRemoveItemCancelsSubscriptions(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	fetchRoster(t, alice)
	fetchRoster(t, bob)
	online(t, alice)
	online(t, bob)
	subscribe(t, alice, bob)
	subscribe(t, bob, alice)
	wantItem(t, bob, aliceBare, "both", false)

	rosterSet(t, alice, "<item jid='bob@localhost' subscription='remove'/>", want{"remove push", isPush(bobBare, "remove", false)})
	expectAll(t, bob,
		want{"unsubscribe", presenceFrom("unsubscribe", aliceBare)},
		want{"unsubscribed", presenceFrom("unsubscribed", aliceBare)},
		want{"alice's unavailable", presenceFrom("unavailable", alice.JID.String())})
	wantItem(t, bob, aliceBare, "none", false)
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithDataDir(dir))
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	online(t, bob)
	subscribe(t, alice, bob)
	carol := login(t, srv, "carol", "desk")
	carol.Send("<presence type='subscribe' to='bob@localhost'/>")
	bob.Expect("carol's request", presenceFrom("subscribe", carolBare))
	ver := fetchRoster(t, alice).Attr("ver")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithDataDir(dir), xmppdtest.WithExtensions(roster.New()))
	alice2 := login(t, srv2, "alice", "phone")
	bob2 := login(t, srv2, "bob", "laptop")
	res := alice2.IQ("get", "", "<query xmlns='jabber:iq:roster' ver='"+ver+"'/>")
	if len(res.Children) != 0 {
		t.Fatalf("roster version not kept across restart: %s", res)
	}
	wantItem(t, alice2, bobBare, "to", false)
	wantItem(t, bob2, aliceBare, "from", false)
	wantItem(t, login(t, srv2, "carol", "desk"), bobBare, "none", true)
	bob2.Send("<presence/>")
	bob2.Expect("carol's stored request", presenceFrom("subscribe", carolBare))
	online(t, alice2)
	alice2.Expect("bob's presence", presenceFrom("", bob2.JID.String()))
}

func TestAccountDeletedDropsRoster(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	bob := login(t, srv, "bob", "laptop")
	fetchRoster(t, bob)
	online(t, bob)
	subscribe(t, alice, bob)
	wantItem(t, bob, aliceBare, "from", false)

	if _, err := srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	bob.Expect("cancelled", isPush(aliceBare, "none", false))
	if srv.Roster().HasSubscriber(xmppd.JID{Local: "bob", Domain: "localhost"}, xmppd.JID{Local: "alice", Domain: "localhost"}) {
		t.Fatal("deleted account is still a subscriber")
	}
	srv.AddUser(t, "alice", "alice-pw")
	if q := fetchRoster(t, login(t, srv, "alice", "phone")); len(q.Children) != 0 {
		t.Fatalf("re-created account inherited a roster: %s", q)
	}
}

func TestBadInput(t *testing.T) {
	srv := start(t)
	alice := login(t, srv, "alice", "phone")
	long := strings.Repeat("x", 2000)
	cases := []struct {
		name, typ, to, payload, cond string
	}{
		{"two items", "set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost'/><item jid='carol@localhost'/></query>", "bad-request"},
		{"no item", "set", "", "<query xmlns='jabber:iq:roster'/>", "bad-request"},
		{"set on another user's roster", "set", bobBare, "<query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query>", "forbidden"},
		{"get another user's roster", "get", bobBare, "<query xmlns='jabber:iq:roster'/>", "forbidden"},
		{"malformed jid", "set", "", "<query xmlns='jabber:iq:roster'><item jid='a@b@c@'/></query>", "jid-malformed"},
		{"missing jid", "set", "", "<query xmlns='jabber:iq:roster'><item name='x'/></query>", "bad-request"},
		{"full jid", "set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost/res'/></query>", "bad-request"},
		{"name too long", "set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='" + long + "'/></query>", "not-acceptable"},
		{"empty group", "set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group></group></item></query>", "not-acceptable"},
		{"duplicate group", "set", "", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group>a</group><group>a</group></item></query>", "bad-request"},
		{"own jid", "set", "", "<query xmlns='jabber:iq:roster'><item jid='alice@localhost'/></query>", "not-allowed"},
	}
	for _, tc := range cases {
		res := alice.IQ(tc.typ, tc.to, tc.payload)
		if got := errorCondition(res); got != tc.cond {
			t.Errorf("%s: condition %q, want %q: %s", tc.name, got, tc.cond, res)
		}
	}
	if q := fetchRoster(t, alice); len(q.Children) != 0 {
		t.Fatalf("bad input changed the roster: %s", q)
	}
	// Client probes and subscriptions to oneself are dropped silently.
	alice.Send("<presence type='probe' to='bob@localhost'/><presence type='subscribe' to='alice@localhost'/>")
	alice.ExpectNothing(quiet, func(el *wire.Element) bool { return el.Name == "presence" || anyPush(el) })
}

func TestVersioningFeatureAdvertised(t *testing.T) {
	srv := start(t)
	conn, err := net.DialTimeout("tcp", srv.C2SAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	header := "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	readFeatures := func(r io.Reader) string {
		var buf []byte
		b := make([]byte, 4096)
		for !strings.Contains(string(buf), "</stream:features>") {
			n, err := r.Read(b)
			if err != nil {
				t.Fatalf("reading features: %v (got %q)", err, buf)
			}
			buf = append(buf, b[:n]...)
		}
		return string(buf)
	}
	io.WriteString(conn, header)
	readFeatures(conn)
	io.WriteString(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	b := make([]byte, 256)
	if n, err := conn.Read(b); err != nil || !strings.Contains(string(b[:n]), "proceed") {
		t.Fatalf("starttls: %q %v", b[:n], err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	io.WriteString(tc, header)
	if f := readFeatures(tc); !strings.Contains(f, "urn:xmpp:features:rosterver") {
		t.Fatalf("rosterver not advertised: %s", f)
	}
}
