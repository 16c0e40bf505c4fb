package offline_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{xmppdtest.WithExtensions(offline.New())}, opts...)...)
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

// settle returns once the server has handled everything c sent before:
// a session's stanzas are processed in order, so the answer to an IQ
// proves the earlier messages went through the pipeline (and were stored).
func settle(c *xmppdtest.Client) { c.IQ("get", "localhost", "<ping xmlns='urn:xmpp:ping'/>") }

func isChat(el *wire.Element) bool {
	return el.Name == "message" && el.Attr("type") == "chat" && el.Child("body", "") != nil
}

func shutdown(t *testing.T, srv *xmppdtest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// expectStored checks one delivered offline message: original body and
// sender, and a XEP-0203 delay by the server no later than now.
func expectStored(t *testing.T, el *wire.Element, body, from string, sent time.Time) {
	t.Helper()
	if got := el.ChildText("body", ""); got != body {
		t.Fatalf("body = %q, want %q in %s", got, body, el)
	}
	if el.Attr("from") != from {
		t.Fatalf("from = %q, want %q", el.Attr("from"), from)
	}
	d := el.Child("delay", "urn:xmpp:delay")
	if d == nil || d.Attr("from") != "localhost" {
		t.Fatalf("no server delay in %s", el)
	}
	stamp, err := time.Parse(time.RFC3339, d.Attr("stamp"))
	if err != nil {
		t.Fatalf("delay stamp %q: %v", d.Attr("stamp"), err)
	}
	if stamp.Location() != time.UTC {
		t.Fatalf("stamp %q is not UTC", d.Attr("stamp"))
	}
	if stamp.Before(sent.Add(-time.Second)) || stamp.After(time.Now()) {
		t.Fatalf("stamp %v, message sent at %v", stamp, sent)
	}
}

func TestBobReceivesWhatAliceSentWhileHeWasOffline(t *testing.T) {
	srv := start(t)
	if !slices.Contains(srv.ServerFeatures(), offline.Feature) {
		t.Fatalf("server features %v lack %s", srv.ServerFeatures(), offline.Feature)
	}
	alice := srv.Login(t, "alice", "alice-pw")
	sent := time.Now()
	alice.Send("<message to='bob@localhost' type='chat' id='m1'><body>are you there?</body></message>")
	alice.Send("<message to='bob@localhost' id='m2'><subject>Lunch</subject><body>at noon</body></message>")
	settle(alice)
	alice.ExpectNothing(100*time.Millisecond, xmppdtest.Is("message", "error"))

	// Bound but not yet available: nothing yet.
	bob := srv.Login(t, "bob", "bob-pw")
	bob.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return el.Name == "message" })
	bob.Send("<presence/>")
	first := bob.Expect("first offline message", isChat)
	expectStored(t, first, "are you there?", alice.JID.String(), sent)
	if first.Child("stanza-id", "urn:xmpp:sid:0") == nil {
		t.Fatalf("stored message lost its stanza-id: %s", first)
	}
	second := bob.Expect("second offline message", func(el *wire.Element) bool { return el.Name == "message" })
	expectStored(t, second, "at noon", alice.JID.String(), sent)
	if second.ChildText("subject", "") != "Lunch" {
		t.Fatalf("subject lost: %s", second)
	}

	// Delivered means deleted: a second resource gets nothing.
	bob2 := srv.Login(t, "bob", "bob-pw")
	bob2.Send("<presence/>")
	bob2.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.Name == "message" })
}

func TestFullOfflineStorageBouncesTheMessage(t *testing.T) {
	srv := start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.OfflineMessages = 2 }))
	alice := srv.Login(t, "alice", "alice-pw")
	for _, id := range []string{"m1", "m2", "m3"} {
		alice.Sendf("<message to='bob@localhost' type='chat' id='%s'><body>%s</body></message>", id, id)
	}
	errMsg := alice.Expect("bounce", xmppdtest.Is("message", "error"))
	if errMsg.Attr("id") != "m3" || errMsg.Attr("from") != "bob@localhost" {
		t.Fatalf("wrong bounce: %s", errMsg)
	}
	e := errMsg.Child("error", "")
	if e.Child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil || e.ChildText("text", "") != offline.TextFull {
		t.Fatalf("want service-unavailable %q, got %s", offline.TextFull, errMsg)
	}

	bob := srv.Login(t, "bob", "bob-pw")
	bob.Send("<presence/>")
	for _, want := range []string{"m1", "m2"} {
		if got := bob.Expect(want, isChat).ChildText("body", ""); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	bob.ExpectNothing(100*time.Millisecond, isChat)
}

func TestOfflineMessagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithDataDir(dir))
	alice := srv.Login(t, "alice", "alice-pw")
	sent := time.Now()
	alice.Send("<message to='bob@localhost' type='chat'><body>before the restart</body></message>")
	settle(alice)
	from := alice.JID.String()
	shutdown(t, srv)

	srv2 := xmppdtest.Start(t, xmppdtest.WithExtensions(offline.New()), xmppdtest.WithDataDir(dir))
	bob := srv2.Login(t, "bob", "bob-pw")
	bob.Send("<presence/>")
	expectStored(t, bob.Expect("stored message", isChat), "before the restart", from, sent)
}

func TestNegativePriorityResourceGetsNoOfflineMessages(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	alice.Send("<message to='bob@localhost' type='chat'><body>hello</body></message>")
	settle(alice)

	bot := srv.Login(t, "bob", "bob-pw")
	bot.Send("<presence><priority>-1</priority></presence>")
	bot.ExpectNothing(200*time.Millisecond, isChat)

	phone := srv.Login(t, "bob", "bob-pw")
	phone.Send("<presence><priority>5</priority></presence>")
	phone.Expect("stored message", isChat)
}

func TestTransientAndNoStoreMessages(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	// A bare chat state is dropped without an error.
	alice.Send("<message to='bob@localhost' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	// no-store with a body: not stored, and alice learns it.
	alice.Send("<message to='bob@localhost' type='chat' id='ns'><body>secret</body><no-store xmlns='urn:xmpp:hints'/></message>")
	// store forces storage of a message with no body.
	alice.Send("<message to='bob@localhost' type='chat' id='st'><received xmlns='urn:xmpp:receipts' id='x'/><store xmlns='urn:xmpp:hints'/></message>")
	// A chat state with a body is a message like any other.
	alice.Send("<message to='bob@localhost' type='chat' id='cb'><body>kept</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bounce := alice.Expect("no-store bounce", xmppdtest.Is("message", "error"))
	if bounce.Attr("id") != "ns" || bounce.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("want service-unavailable for ns, got %s", bounce)
	}
	settle(alice)
	alice.ExpectNothing(100*time.Millisecond, xmppdtest.Is("message", "error"))

	bob := srv.Login(t, "bob", "bob-pw")
	bob.Send("<presence/>")
	var ids []string
	for range 2 {
		ids = append(ids, bob.Expect("stored message", func(el *wire.Element) bool { return el.Name == "message" }).Attr("id"))
	}
	if !slices.Equal(ids, []string{"st", "cb"}) {
		t.Fatalf("stored ids %v, want [st cb]", ids)
	}
	bob.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return el.Name == "message" })
}

func TestDeletedAccountLosesOfflineMessages(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	alice.Send("<message to='bob@localhost' type='chat'><body>for the old bob</body></message>")
	settle(alice)
	if _, err := srv.DeleteAccount("bob"); err != nil {
		t.Fatal(err)
	}
	srv.AddUser(t, "bob", "new-pw")
	bob := srv.Login(t, "bob", "new-pw")
	bob.Send("<presence/>")
	bob.ExpectNothing(200*time.Millisecond, isChat)
}
