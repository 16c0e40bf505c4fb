package csi_test

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/csi"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

func start(t *testing.T) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(csi.New()))
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

func online(t *testing.T, srv *xmppdtest.Server, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	c.Available()
	return c
}

// presence sends a directed presence with a status to c.
func presence(from, to *xmppdtest.Client, status string) {
	from.Sendf("<presence to='%s'><status>%s</status></presence>", to.JID, status)
}

// until collects what c receives up to and including the first element
// that matches last.
func until(c *xmppdtest.Client, what string, last func(*wire.Element) bool) []*wire.Element {
	var got []*wire.Element
	c.Expect(what, func(el *wire.Element) bool {
		got = append(got, el)
		return last(el)
	})
	return got
}

func body(b string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Name == "message" && el.ChildText("body", "") == b }
}

// presences returns "from status" (or "from unavailable") for each
// presence in els, in order.
func presences(els []*wire.Element) []string {
	var out []string
	for _, el := range els {
		if el.Name != "presence" {
			continue
		}
		s := el.ChildText("status", "")
		if el.Attr("type") != "" {
			s = el.Attr("type")
		}
		out = append(out, el.Attr("from")+" "+s)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isPresence(el *wire.Element) bool { return el.Name == "presence" }

func inactive(c *xmppdtest.Client) {
	c.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	c.Sync()
}

func TestInactiveClientGetsLatestPresencePerContactWhenActive(t *testing.T) {
	srv := start(t)
	bob := online(t, srv, "bob", "phone")
	alice := online(t, srv, "alice", "a")
	carol := online(t, srv, "carol", "c")

	// Active: presence arrives at once.
	presence(alice, bob, "active 1")
	bob.Expect("alice's presence", isPresence)

	inactive(bob)
	presence(alice, bob, "one")
	presence(carol, bob, "carol")
	presence(alice, bob, "two")
	alice.Sendf("<presence to='%s' type='unavailable'/>", bob.JID)
	presence(alice, bob, "three")
	alice.Sync() // alice's last presence is held before carol's last
	carol.Sendf("<presence to='%s' type='unavailable'/>", bob.JID)
	carol.Sync()
	bob.ExpectNothing(100*time.Millisecond, isPresence)

	// A repeated <inactive/> changes nothing. (No IQ round trip here:
	// its answer is urgent and would release the presence.)
	bob.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	bob.Send("<active xmlns='urn:xmpp:csi:0'/>")
	bob.Send("<iq type='get' id='after-active'><ping xmlns='urn:xmpp:ping'/></iq>")
	got := presences(until(bob, "ping answer", func(el *wire.Element) bool { return el.Attr("id") == "after-active" }))
	want := []string{alice.JID.String() + " three", carol.JID.String() + " unavailable"}
	if !equal(got, want) {
		t.Fatalf("after <active/> got presences %q, want %q", got, want)
	}

	// Active again: no holding.
	presence(carol, bob, "back")
	if p := bob.Expect("carol's presence", isPresence); p.ChildText("status", "") != "back" {
		t.Fatalf("got %s", p)
	}
	// <active/> when active is harmless.
	bob.Send("<active xmlns='urn:xmpp:csi:0'/>")
	bob.Sync()
}

func TestUrgentStanzasGoOutAtOnceAfterHeldPresence(t *testing.T) {
	srv := start(t)
	bob := online(t, srv, "bob", "phone")
	alice := online(t, srv, "alice", "a")
	carol := online(t, srv, "carol", "c")
	inactive(bob)

	// A chat message arrives while bob stays inactive, right after the
	// presence held before it.
	presence(carol, bob, "carol 1")
	carol.Sync()
	presence(alice, bob, "alice 1")
	alice.Sendf("<message to='%s' type='chat'><body>wake up</body></message>", bob.JID)
	got := until(bob, "chat message", body("wake up"))
	if p := presences(got); !equal(p, []string{carol.JID.String() + " carol 1", alice.JID.String() + " alice 1"}) {
		t.Fatalf("before the message got presences %q", p)
	}

	// A chat state alone is not urgent: it goes out, the presence stays.
	presence(alice, bob, "alice 2")
	alice.Sendf("<message to='%s' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>", bob.JID)
	el := bob.Expect("chat state", func(el *wire.Element) bool { return el.Name == "message" || el.Name == "presence" })
	if el.Name != "message" {
		t.Fatalf("want the chat state first, got %s", el)
	}

	// An IQ is urgent: the held presence comes first.
	iq := alice.JID.String()
	alice.Sendf("<iq type='get' id='v1' to='%s'><query xmlns='jabber:iq:version'/></iq>", bob.JID)
	got = until(bob, "IQ", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == "v1" })
	if p := presences(got); !equal(p, []string{iq + " alice 2"}) {
		t.Fatalf("before the IQ got presences %q", p)
	}

	// So is a subscription request, and an error message.
	presence(carol, bob, "carol 2")
	carol.Send("<presence to='bob@localhost' type='subscribe'/>")
	got = until(bob, "subscribe", func(el *wire.Element) bool { return el.Attr("type") == "subscribe" })
	if p := presences(got); !equal(p, []string{carol.JID.String() + " carol 2", carol.JID.String() + " subscribe"}) {
		t.Fatalf("got presences %q", p)
	}
	bob.ExpectNothing(50*time.Millisecond, isPresence)
}

func TestUnknownCSIElementEndsStream(t *testing.T) {
	srv := start(t)
	bob := online(t, srv, "bob", "phone")
	bob.Send("<sleepy xmlns='urn:xmpp:csi:0'/>")
	err := bob.Closed(5 * time.Second)
	var se stream.Error
	if !errors.As(err, &se) || se.Err != "unsupported-stanza-type" {
		t.Fatalf("want unsupported-stanza-type stream error, got %v", err)
	}
}

func TestFeatureAdvertisedAfterAuthentication(t *testing.T) {
	srv := start(t)
	conn, err := net.DialTimeout("tcp", srv.C2SAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: srv.Domain(), MinVersion: tls.VersionTLS12}
	// A client-side feature that only notes the advertisement.
	seen := xmpp.StreamFeature{
		Name: xml.Name{Space: csi.NS, Local: "csi"},
		Parse: func(_ context.Context, d *xml.Decoder, _ *xml.StartElement) (bool, any, error) {
			return false, nil, d.Skip()
		},
	}
	sess, err := xmpp.NewClientSession(ctx, jid.MustParse("bob@"+srv.Domain()), conn,
		xmpp.StartTLS(tlsCfg), xmpp.SASL("", "bob-pw", sasl.ScramSha256), xmpp.BindResource(), seen)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	if _, ok := sess.Feature(csi.NS); !ok {
		t.Fatal("server did not advertise <csi xmlns='urn:xmpp:csi:0'/>")
	}
}
