package ping_test

import (
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/ping"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const pingXML = "<ping xmlns='urn:xmpp:ping'/>"

func start(t *testing.T) (*xmppdtest.Server, *xmppdtest.Client) {
	t.Helper()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ping.New()))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	return srv, srv.Login(t, "alice", "alice-pw")
}

func expectResult(t *testing.T, res *wire.Element, from string) {
	t.Helper()
	if res.Attr("type") != "result" {
		t.Fatalf("want result, got %s", res)
	}
	if res.Attr("from") != from {
		t.Fatalf("result from %q, want %q: %s", res.Attr("from"), from, res)
	}
	if len(res.Children) != 0 {
		t.Fatalf("pong must be empty: %s", res)
	}
}

func TestAlicePingsServer(t *testing.T) {
	_, alice := start(t)
	expectResult(t, alice.IQ("get", "localhost", pingXML), "localhost")
}

func TestAlicePingsBobsAccountServerAnswers(t *testing.T) {
	srv, alice := start(t)
	bob := srv.Login(t, "bob", "bob-pw")
	expectResult(t, alice.IQ("get", "bob@localhost", pingXML), "bob@localhost")
	// The server answered for the bare JID: nothing reached bob's client.
	bob.ExpectNothing(100*time.Millisecond, xmppdtest.HasChild("ping", ping.NS))
}

func TestAlicePingsOwnAccountWithoutTo(t *testing.T) {
	_, alice := start(t)
	res := alice.IQ("get", "", pingXML)
	if res.Attr("type") != "result" || res.Attr("from") != "" {
		t.Fatalf("want result without from, got %s", res)
	}
}

func TestPingUnknownAccountFails(t *testing.T) {
	_, alice := start(t)
	res := alice.IQ("get", "nobody@localhost", pingXML)
	if res.Attr("type") != "error" || res.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("want service-unavailable, got %s", res)
	}
}

func TestPingSetIsNotAPing(t *testing.T) {
	_, alice := start(t)
	res := alice.IQ("set", "localhost", pingXML)
	if res.Attr("type") != "error" {
		t.Fatalf("want error for IQ set, got %s", res)
	}
}

func TestPingFullJIDIsRoutedToClient(t *testing.T) {
	srv, alice := start(t)
	bob := srv.Login(t, "bob", "bob-pw")
	alice.Sendf("<iq type='get' id='p1' to='%s'>%s</iq>", bob.JID, pingXML)
	got := bob.Expect("alice's ping", xmppdtest.HasChild("ping", ping.NS))
	if got.Attr("from") != alice.JID.String() {
		t.Fatalf("ping from %q, want %q", got.Attr("from"), alice.JID)
	}
	bob.Sendf("<iq type='result' id='p1' to='%s'/>", alice.JID)
	res := alice.Expect("bob's pong", func(el *wire.Element) bool { return el.Attr("id") == "p1" })
	expectResult(t, res, bob.JID.String())
}
