package private_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/private"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

func start(t *testing.T, configure ...func(*private.Extension)) *xmppdtest.Server {
	t.Helper()
	ext := private.New()
	for _, fn := range configure {
		fn(ext)
	}
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

func query(inner string) string { return "<query xmlns='jabber:iq:private'>" + inner + "</query>" }

const bookmarks = "<storage xmlns='storage:bookmarks'><conference jid='sales@conference.localhost' autojoin='true' name='Sales'><nick>alice</nick></conference></storage>"

func expectResult(t *testing.T, res *wire.Element) {
	t.Helper()
	if res.Attr("type") != "result" {
		t.Fatalf("want result, got %s", res)
	}
}

func expectError(t *testing.T, res *wire.Element, cond string) {
	t.Helper()
	if res.Attr("type") != "error" || res.Child("error", "").Child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want <%s/>, got %s", cond, res)
	}
}

// stored returns the fragment a get answered with.
func stored(t *testing.T, res *wire.Element) *wire.Element {
	t.Helper()
	expectResult(t, res)
	q := res.Child("query", private.NS)
	if q == nil || len(q.Children) != 1 {
		t.Fatalf("want one element in the answer, got %s", res)
	}
	return q.Children[0]
}

func TestStoreAndRetrieve(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")

	// Nothing stored yet: the empty element comes back, not an error.
	el := stored(t, alice.IQ("get", "", query("<storage xmlns='storage:bookmarks'/>")))
	if el.Name != "storage" || el.NS != "storage:bookmarks" || len(el.Children) != 0 {
		t.Fatalf("empty answer = %s", el)
	}

	expectResult(t, alice.IQ("set", "", query(bookmarks+"<prefs xmlns='exodus:prefs'><defaultnick>Alice</defaultnick></prefs>")))

	// Another session of alice reads it; the other fragment stays apart.
	phone := srv.Login(t, "alice", "alice-pw")
	el = stored(t, phone.IQ("get", "alice@localhost", query("<storage xmlns='storage:bookmarks'/>")))
	c := el.Child("conference", "storage:bookmarks")
	if c == nil || c.Attr("jid") != "sales@conference.localhost" || c.ChildText("nick", "") != "alice" {
		t.Fatalf("bookmarks = %s", el)
	}
	if el := stored(t, phone.IQ("get", "", query("<prefs xmlns='exodus:prefs'/>"))); el.ChildText("defaultnick", "") != "Alice" {
		t.Fatalf("prefs = %s", el)
	}
	// Same name, other namespace: a different key.
	if el := stored(t, phone.IQ("get", "", query("<prefs xmlns='other:prefs'/>"))); len(el.Children) != 0 {
		t.Fatalf("other namespace leaked: %s", el)
	}

	// Replacing with an empty element clears it.
	expectResult(t, phone.IQ("set", "", query("<storage xmlns='storage:bookmarks'/>")))
	if el := stored(t, alice.IQ("get", "", query("<storage xmlns='storage:bookmarks'/>"))); len(el.Children) != 0 {
		t.Fatalf("after clearing: %s", el)
	}
}

func TestOnlyTheOwner(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	expectResult(t, alice.IQ("set", "", query(bookmarks)))

	expectError(t, bob.IQ("get", "alice@localhost", query("<storage xmlns='storage:bookmarks'/>")), "forbidden")
	expectError(t, bob.IQ("set", "alice@localhost", query("<storage xmlns='storage:bookmarks'/>")), "forbidden")
	// bob's own storage is separate and empty.
	if el := stored(t, bob.IQ("get", "", query("<storage xmlns='storage:bookmarks'/>"))); len(el.Children) != 0 {
		t.Fatalf("bob sees %s", el)
	}
	if el := stored(t, alice.IQ("get", "", query("<storage xmlns='storage:bookmarks'/>"))); el.Child("conference", "") == nil {
		t.Fatalf("bob's attempt changed alice's data: %s", el)
	}
}

func TestBadInput(t *testing.T) {
	srv := start(t, func(e *private.Extension) { e.Config.MaxSize = 200; e.Config.MaxEntries = 2 })
	alice := srv.Login(t, "alice", "alice-pw")
	for _, tc := range []struct{ name, typ, payload, cond string }{
		{"set without a child", "set", query(""), "not-acceptable"},
		{"get without a child", "get", query(""), "bad-request"},
		{"get of two elements", "get", query("<a xmlns='x:a'/><b xmlns='x:b'/>"), "bad-request"},
		{"jabber:client", "set", query("<body xmlns='jabber:client'>x</body>"), "not-acceptable"},
		{"jabber:server", "set", query("<x xmlns='jabber:server'/>"), "not-acceptable"},
		{"jabber:iq:private (no own namespace)", "set", query("<x/>"), "not-acceptable"},
		{"get in jabber:iq:private", "get", query("<query/>"), "not-acceptable"},
		{"too large", "set", query("<big xmlns='x:big'>" + strings.Repeat("x", 300) + "</big>"), "not-acceptable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, alice.IQ(tc.typ, "", tc.payload), tc.cond)
		})
	}

	// Entry limit: two fit, a third is refused, and the refused set
	// stores none of its elements.
	expectResult(t, alice.IQ("set", "", query("<a xmlns='x:a'/><b xmlns='x:b'/>")))
	expectError(t, alice.IQ("set", "", query("<a xmlns='x:a'>new</a><c xmlns='x:c'/>")), "resource-constraint")
	if el := stored(t, alice.IQ("get", "", query("<a xmlns='x:a'/>"))); el.Text != "" {
		t.Fatalf("refused set changed x:a: %s", el)
	}
	// Replacing an existing key is fine at the limit.
	expectResult(t, alice.IQ("set", "", query("<a xmlns='x:a'>new</a>")))
}

func TestAccountDeletion(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	expectResult(t, alice.IQ("set", "", query(bookmarks)))
	if _, err := srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	srv.AddUser(t, "alice", "alice-pw")
	again := srv.Login(t, "alice", "alice-pw")
	if el := stored(t, again.IQ("get", "", query("<storage xmlns='storage:bookmarks'/>"))); len(el.Children) != 0 {
		t.Fatalf("data survived account deletion: %s", el)
	}
}
