package vcard_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/vcard"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

var photo = []byte("\x89PNG\r\n\x1a\n not really a png, but bytes all the same")

func photoHash() string {
	sum := sha1.Sum(photo)
	return hex.EncodeToString(sum[:])
}

// aliceCard is the workspace's profile: first name, last name, phone,
// email, timezone, plus an avatar whose base64 is wrapped like clients do.
func aliceCard() string {
	b64 := base64.StdEncoding.EncodeToString(photo)
	wrapped := b64[:20] + "\n  " + b64[20:]
	return "<vCard xmlns='vcard-temp'>" +
		"<FN>Alice Liddell</FN>" +
		"<N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN></N>" +
		"<TEL><WORK/><VOICE/><NUMBER>+44 1865 000000</NUMBER></TEL>" +
		"<EMAIL><INTERNET/><USERID>alice@example.com</USERID></EMAIL>" +
		"<TZ>Europe/London</TZ>" +
		"<PHOTO><TYPE>image/png</TYPE><BINVAL>" + wrapped + "</BINVAL></PHOTO>" +
		"</vCard>"
}

func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{xmppdtest.WithExtensions(vcard.New())}, opts...)...)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

func expectType(t *testing.T, res *wire.Element, typ string) {
	t.Helper()
	if res.Attr("type") != typ {
		t.Fatalf("want type %q, got %s", typ, res)
	}
}

func expectError(t *testing.T, res *wire.Element, cond string) {
	t.Helper()
	expectType(t, res, "error")
	if res.Child("error", "").Child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want <%s/>, got %s", cond, res)
	}
}

func checkProfile(t *testing.T, res *wire.Element) {
	t.Helper()
	expectType(t, res, "result")
	v := res.Child("vCard", vcard.NS)
	if v == nil {
		t.Fatalf("no vCard in %s", res)
	}
	got := map[string]string{
		"given":  v.Child("N", vcard.NS).ChildText("GIVEN", vcard.NS),
		"family": v.Child("N", vcard.NS).ChildText("FAMILY", vcard.NS),
		"phone":  v.Child("TEL", vcard.NS).ChildText("NUMBER", vcard.NS),
		"email":  v.Child("EMAIL", vcard.NS).ChildText("USERID", vcard.NS),
		"tz":     v.ChildText("TZ", vcard.NS),
	}
	want := map[string]string{"given": "Alice", "family": "Liddell", "phone": "+44 1865 000000", "email": "alice@example.com", "tz": "Europe/London"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q in %s", k, got[k], w, v)
		}
	}
	if v.Child("TEL", vcard.NS).Child("WORK", vcard.NS) == nil || v.Child("PHOTO", vcard.NS).ChildText("TYPE", vcard.NS) != "image/png" {
		t.Errorf("vCard not stored verbatim: %s", v)
	}
}

func TestAliceSetsHerVCardAndEveryoneReadsIt(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")

	expectType(t, alice.IQ("set", "", aliceCard()), "result")
	checkProfile(t, alice.IQ("get", "", "<vCard xmlns='vcard-temp'/>"))
	res := bob.IQ("get", "alice@localhost", "<vCard xmlns='vcard-temp'/>")
	checkProfile(t, res)
	if res.Attr("from") != "alice@localhost" {
		t.Fatalf("result from %q, want alice@localhost", res.Attr("from"))
	}
	if !slices.Contains(srv.ServerFeatures(), vcard.NS) {
		t.Fatalf("server features %v lack %s", srv.ServerFeatures(), vcard.NS)
	}
}

func TestVCardOfUserWithoutOneIsEmpty(t *testing.T) {
	srv := start(t)
	bob := srv.Login(t, "bob", "bob-pw")
	res := bob.IQ("get", "carol@localhost", "<vCard xmlns='vcard-temp'/>")
	expectType(t, res, "result")
	v := res.Child("vCard", vcard.NS)
	if v == nil || len(v.Children) != 0 {
		t.Fatalf("want an empty vCard, got %s", res)
	}
	// A vCard of someone who does not exist is the core's business.
	expectError(t, bob.IQ("get", "nobody@localhost", "<vCard xmlns='vcard-temp'/>"), "service-unavailable")
}

func TestBobCannotSetAlicesVCard(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	expectType(t, alice.IQ("set", "", aliceCard()), "result")
	expectError(t, bob.IQ("set", "alice@localhost", "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>"), "forbidden")
	checkProfile(t, alice.IQ("get", "", "<vCard xmlns='vcard-temp'/>"))
}

func TestTooLargeVCardIsRefused(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	big := "<vCard xmlns='vcard-temp'><DESC>" + strings.Repeat("x", int(vcard.DefaultMaxSize)) + "</DESC></vCard>"
	expectError(t, alice.IQ("set", "", big), "not-acceptable")
	res := alice.IQ("get", "", "<vCard xmlns='vcard-temp'/>")
	if v := res.Child("vCard", vcard.NS); v == nil || len(v.Children) != 0 {
		t.Fatalf("refused vCard was stored: %s", res)
	}
}

func TestBadPhotoIsRefused(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	expectError(t, alice.IQ("set", "", "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>!!not base64!!</BINVAL></PHOTO></vCard>"), "bad-request")
}

// presenceOf waits until alice's broadcast presence went through the
// pipeline (an IQ answer after it proves it) and returns the stored copy.
func presenceOf(t *testing.T, srv *xmppdtest.Server, c *xmppdtest.Client) *wire.Element {
	t.Helper()
	c.IQ("get", "", "<vCard xmlns='vcard-temp'/>")
	j, err := xmppd.ParseJID(c.JID.String())
	if err != nil {
		t.Fatal(err)
	}
	s := srv.Session(j)
	if s == nil || s.Presence() == nil {
		t.Fatalf("%s has no stored presence", j)
	}
	el, err := wire.Parse(s.Presence())
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestBroadcastPresenceCarriesAvatarHash(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")

	// No vCard yet: nothing is claimed on alice's behalf.
	alice.Send("<presence/>")
	if x := presenceOf(t, srv, alice).Child("x", vcard.NSUpdate); x != nil {
		t.Fatalf("update element without a vCard: %s", x)
	}

	expectType(t, alice.IQ("set", "", aliceCard()), "result")
	alice.Send("<presence><show>away</show></presence>")
	p := presenceOf(t, srv, alice)
	if got := p.Child("x", vcard.NSUpdate).ChildText("photo", vcard.NSUpdate); got != photoHash() {
		t.Fatalf("photo hash = %q, want %q in %s", got, photoHash(), p)
	}
	if p.ChildText("show", "") != "away" {
		t.Fatalf("presence payload lost: %s", p)
	}

	// A client that sends its own update element is left alone.
	alice.Send("<presence><x xmlns='vcard-temp:x:update'/></presence>")
	p = presenceOf(t, srv, alice)
	if xs := p.ChildrenNamed("x", vcard.NSUpdate); len(xs) != 1 || xs[0].Child("photo", "") != nil {
		t.Fatalf("client's update element changed: %s", p)
	}

	// A vCard without a photo advertises "no avatar": an empty <photo/>.
	expectType(t, alice.IQ("set", "", "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"), "result")
	alice.Send("<presence/>")
	p = presenceOf(t, srv, alice)
	ph := p.Child("x", vcard.NSUpdate).Child("photo", vcard.NSUpdate)
	if ph == nil || ph.Text != "" {
		t.Fatalf("want empty <photo/>, got %s", p)
	}
}

func TestAvatarHashSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithDataDir(dir))
	alice := srv.Login(t, "alice", "alice-pw")
	expectType(t, alice.IQ("set", "", aliceCard()), "result")
	shutdown(t, srv)

	srv2 := xmppdtest.Start(t, xmppdtest.WithExtensions(vcard.New()), xmppdtest.WithDataDir(dir))
	alice = srv2.Login(t, "alice", "alice-pw")
	alice.Send("<presence/>")
	if got := presenceOf(t, srv2, alice).Child("x", vcard.NSUpdate).ChildText("photo", ""); got != photoHash() {
		t.Fatalf("after restart photo hash = %q, want %q", got, photoHash())
	}
	checkProfile(t, alice.IQ("get", "", "<vCard xmlns='vcard-temp'/>"))
}

func TestDeletedAccountLosesItsVCard(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	expectType(t, alice.IQ("set", "", aliceCard()), "result")
	if _, err := srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	srv.AddUser(t, "alice", "alice-pw2")
	bob := srv.Login(t, "bob", "bob-pw")
	res := bob.IQ("get", "alice@localhost", "<vCard xmlns='vcard-temp'/>")
	if v := res.Child("vCard", vcard.NS); v == nil || len(v.Children) != 0 {
		t.Fatalf("new alice inherited the old vCard: %s", res)
	}
	alice = srv.Login(t, "alice", "alice-pw2")
	alice.Send("<presence/>")
	if x := presenceOf(t, srv, alice).Child("x", vcard.NSUpdate); x != nil {
		t.Fatalf("new alice inherited the old avatar hash: %s", x)
	}
}

func shutdown(t *testing.T, srv *xmppdtest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
