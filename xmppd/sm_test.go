package xmppd_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const nsSM = xmppdtest.NSSM

func isSM(name string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.NS == nsSM && el.Name == name }
}

func isChat(el *wire.Element) bool { return el.Name == "message" && el.Attr("type") == "chat" }

func sendChats(c *xmppdtest.Client, to string, from, through int) {
	for i := from; i <= through; i++ {
		c.Sendf("<message to='%s' type='chat' id='m%02d'><body>m%02d</body></message>", to, i, i)
	}
}

func bodies(els []*wire.Element) []string {
	var out []string
	for _, el := range els {
		if isChat(el) {
			out = append(out, el.ChildText("body", ""))
		}
	}
	return out
}

func want(from, through int) []string {
	var out []string
	for i := from; i <= through; i++ {
		out = append(out, fmt.Sprintf("m%02d", i))
	}
	return out
}

// waitSession waits until the session bound to j satisfies cond.
func waitSession(t *testing.T, srv *xmppdtest.Server, j string, what string, cond func(*xmppd.Session) bool) {
	t.Helper()
	jid, err := xmppd.ParseJID(j)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !cond(srv.Session(jid)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within 5s", j, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hibernating(s *xmppd.Session) bool { return s != nil && s.Hibernating() }

// smSetup starts a server with alice logged in and bob logged in as
// bob@localhost/phone with resumable stream management; it returns bob's
// resumption id.
func smSetup(t *testing.T, opts ...xmppdtest.Option) (srv *xmppdtest.Server, alice, bob *xmppdtest.Client, id string) {
	t.Helper()
	srv = xmppdtest.Start(t, opts...)
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice = srv.Login(t, "alice", "alice-pw")
	bob = dialBob(t, srv, nil)
	return srv, alice, bob, bob.EnableSM(true).Attr("id")
}

// dialBob logs bob in as bob@localhost/phone, resuming if r is set.
func dialBob(t *testing.T, srv *xmppdtest.Server, r *xmppdtest.SMResume) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, "bob", "bob-pw", xmppdtest.DialOptions{Resource: "phone", Resume: r})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitEnded waits until a session has ended for good.
func waitEnded(t *testing.T, s *xmppd.Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("session %s did not end", s.JID())
	}
}

func TestSMEnableAndAcks(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")

	en := bob.EnableSM(true)
	if en.Name != "enabled" || en.Attr("resume") != "true" || len(en.Attr("id")) < 16 || en.Attr("max") != "300" {
		t.Fatalf("enable: got %s", en)
	}
	if again := bob.EnableSM(false); again.Name != "failed" {
		t.Fatalf("second enable: want failed, got %s", again)
	}
	bob.Available() // presence + the sync IQ: two stanzas handled
	bob.Send("<r xmlns='urn:xmpp:sm:3'/>")
	if a := bob.Expect("<a/>", isSM("a")); a.Attr("h") != "2" {
		t.Fatalf("server's h = %s, want 2", a.Attr("h"))
	}

	// Server to client: acks are requested in batches, never per stanza.
	bob.SetSMAutoAck(true)
	sendChats(alice, "bob@localhost", 1, 25)
	var got []string
	requests := 0
	for len(got) < 25 {
		el := bob.Next(5 * time.Second)
		switch {
		case isChat(el):
			got = append(got, el.ChildText("body", ""))
		case el.NS == nsSM && el.Name == "r":
			requests++
		}
	}
	if strings.Join(got, ",") != strings.Join(want(1, 25), ",") {
		t.Fatalf("received %v", got)
	}
	// The last stanzas are asked for after a short delay.
	bob.Expect("delayed <r/>", isSM("r"))
	requests++
	if requests < 2 || requests > 6 {
		t.Fatalf("%d <r/> for 25 stanzas", requests)
	}
	bob.Sync()
}

func TestSMAckTooHigh(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "bob", "bob-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	bob.EnableSM(false)
	bob.Sync() // one stanza to bob (the result)
	bob.Send("<a xmlns='urn:xmpp:sm:3' h='5'/>")
	// mellium's stream.Error cannot decode the XEP-0198 application
	// condition <handled-count-too-high/> and says so.
	if err := bob.Closed(5 * time.Second); err == nil || !strings.Contains(err.Error(), "undefined-condition") && !strings.Contains(err.Error(), "consume entire <error>") {
		t.Fatalf("want undefined-condition stream error, got %v", err)
	}
}

func TestSMAckWithoutEnable(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "bob", "bob-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	bob.Send("<r xmlns='urn:xmpp:sm:3'/>")
	bob.Expect("<failed/>", isSM("failed"))
	bob.Sync()
}

// TestSMResumeLosesNothing drops bob's TCP connection in the middle of a
// conversation: some of alice's messages reach him before, some are in
// flight, the rest are sent while his session hibernates. After he resumes
// he has every message exactly once, in order.
func TestSMResumeLosesNothing(t *testing.T) {
	srv, alice, bob, id := smSetup(t)
	bob.Available()
	alice.Available()

	sendChats(alice, "bob@localhost", 1, 8)
	var got []string
	for len(got) < 8 {
		got = append(got, bob.Expect("message", isChat).ChildText("body", ""))
	}
	sendChats(alice, "bob@localhost", 9, 12)
	bob.Drop() // m09-m12 may or may not reach the client
	got = append(got, bodies(bob.Drain(5*time.Second))...)
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	sendChats(alice, "bob@localhost", 13, 20)
	alice.Sync()

	h := bob.SMHandled()
	bob2 := dialBob(t, srv, &xmppdtest.SMResume{PrevID: id, H: h})
	if a := bob2.ResumeAnswer; a.Name != "resumed" || a.Attr("previd") != id || a.Attr("h") != "2" {
		t.Fatalf("resume answer: %s", a)
	}
	for len(got) < 20 {
		got = append(got, bob2.Expect("message", isChat).ChildText("body", ""))
	}
	if strings.Join(got, ",") != strings.Join(want(1, 20), ",") {
		t.Fatalf("bob received %v", got)
	}
	bob2.ExpectNothing(300*time.Millisecond, isChat)

	// The resumed session is the same, routable session.
	bob2.Send("<message to='alice@localhost' type='chat'><body>back</body></message>")
	if m := alice.Expect("bob's message", isChat); m.Attr("from") != "bob@localhost/phone" {
		t.Fatalf("from = %s", m.Attr("from"))
	}
	bob2.Send("<r xmlns='urn:xmpp:sm:3'/>")
	if a := bob2.Expect("<a/>", isSM("a")); a.Attr("h") != "3" {
		t.Fatalf("h after resumption = %s, want 3", a.Attr("h"))
	}
}

// TestSMResumeTakesOverLiveConnection resumes while the server still
// thinks the old connection is alive (the client noticed first).
func TestSMResumeTakesOverLiveConnection(t *testing.T) {
	srv, alice, bob, id := smSetup(t)
	bob.Available()
	sendChats(alice, "bob@localhost", 1, 3)
	for range 3 {
		bob.Expect("message", isChat)
	}
	// Bob handled the sync result and m01; m02 and m03 come again.
	bob2 := dialBob(t, srv, &xmppdtest.SMResume{PrevID: id, H: bob.SMHandled() - 2})
	if bob2.ResumeAnswer.Name != "resumed" {
		t.Fatalf("resume answer: %s", bob2.ResumeAnswer)
	}
	if got := []string{bob2.Expect("m02", isChat).ChildText("body", ""), bob2.Expect("m03", isChat).ChildText("body", "")}; got[0] != "m02" || got[1] != "m03" {
		t.Fatalf("retransmitted %v", got)
	}
	bob.Closed(5 * time.Second) // the old connection is closed
	sendChats(alice, "bob@localhost", 4, 4)
	if b := bob2.Expect("m04", isChat).ChildText("body", ""); b != "m04" {
		t.Fatalf("got %s", b)
	}
}

func TestSMResumeFailures(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "bob", "bob-pw")
	srv.AddUser(t, "carol", "carol-pw")
	bob := dialBob(t, srv, nil)
	id := bob.EnableSM(true).Attr("id")
	bob.Drop()
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)

	for _, tc := range []struct{ user, pw, previd string }{
		{"bob", "bob-pw", "no-such-session"},
		{"carol", "carol-pw", id}, // another user's session
	} {
		c, err := srv.Dial(t, tc.user, tc.pw, xmppdtest.DialOptions{Resource: "tablet", Resume: &xmppdtest.SMResume{PrevID: tc.previd}})
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if a := c.ResumeAnswer; a.Name != "failed" || a.Child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Fatalf("%s resuming %s: %s", tc.user, tc.previd, a)
		}
		// The client bound a resource on the same stream instead.
		if c.JID.String() != tc.user+"@localhost/tablet" {
			t.Fatalf("bound %s", c.JID)
		}
		c.Sync()
	}

	// Bob's session survived the attempts.
	bob2 := dialBob(t, srv, &xmppdtest.SMResume{PrevID: id})
	if bob2.ResumeAnswer.Name != "resumed" {
		t.Fatalf("resume answer: %s", bob2.ResumeAnswer)
	}
	bob2.Sync()
	// A used id cannot be used twice while the session lives elsewhere.
	bob3, err := srv.Dial(t, "bob", "bob-pw", xmppdtest.DialOptions{Resource: "laptop", Resume: &xmppdtest.SMResume{PrevID: id, H: 99}})
	if err != nil {
		t.Fatal(err)
	}
	if bob3.ResumeAnswer.Name != "failed" {
		t.Fatalf("resume with h too high: %s", bob3.ResumeAnswer)
	}
}

// TestSMResumeTimeoutLosesNothing lets bob's hibernating session expire:
// what it held goes to offline storage (delivered at his next login), an
// IQ waiting for him is answered service-unavailable, and every message
// alice sent reached bob exactly once.
func TestSMResumeTimeoutLosesNothing(t *testing.T) {
	srv, alice, bob, _ := smSetup(t, xmppdtest.WithExtensions(offline.New()), xmppdtest.WithConfig(func(c *config.Config) {
		c.C2S.ResumeTimeout = config.Duration{Duration: 300 * time.Millisecond}
	}))
	bob.Available()

	const sent = 12
	sendChats(alice, "bob@localhost", 1, 5)
	var received []string
	for len(received) < 5 {
		received = append(received, bob.Expect("message", isChat).ChildText("body", ""))
	}
	bob.AckSM()
	bob.Sync()
	bob.Drop()
	received = append(received, bodies(bob.Drain(5*time.Second))...)
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	old := srv.Session(mustJID(t, "bob@localhost/phone"))

	sendChats(alice, "bob@localhost", 6, sent)
	alice.Send("<iq type='get' id='v1' to='bob@localhost/phone'><query xmlns='jabber:iq:version'/></iq>")
	iqErr := alice.Expect("IQ error", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == "v1" })
	if iqErr.Attr("type") != "error" || iqErr.Child("error", "").Child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("IQ in flight at expiry: %s", iqErr)
	}
	waitEnded(t, old)
	if s := srv.Session(mustJID(t, "bob@localhost/phone")); s != nil {
		t.Fatal("expired session still bound")
	}

	bob2 := srv.Login(t, "bob", "bob-pw")
	bob2.Send("<presence/>") // offline messages arrive before any sync answer
	var offline []string
	for len(received)+len(offline) < sent {
		m := bob2.Expect("offline message", isChat)
		if m.Child("delay", "urn:xmpp:delay") == nil {
			t.Fatalf("no delay stamp on %s", m)
		}
		offline = append(offline, m.ChildText("body", ""))
	}
	bob2.ExpectNothing(300*time.Millisecond, isChat)
	all := append(received, offline...)
	if len(all) != sent || strings.Join(all, ",") != strings.Join(want(1, sent), ",") {
		t.Fatalf("sent %d, received %v before the drop and %v from offline storage", sent, received, offline)
	}
}

// A new login taking the resource of a hibernating session replaces it;
// what it held goes through the expiry path.
func TestSMHibernatingSessionReplaced(t *testing.T) {
	srv, alice, bob, _ := smSetup(t, xmppdtest.WithExtensions(offline.New()))
	bob.Available()
	bob.Drop()
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	old := srv.Session(mustJID(t, "bob@localhost/phone"))
	sendChats(alice, "bob@localhost", 1, 3)
	alice.Sync()

	bob2 := dialBob(t, srv, nil)
	waitEnded(t, old)
	bob2.Send("<presence/>") // offline messages arrive before any sync answer
	var got []string
	for len(got) < 3 {
		got = append(got, bob2.Expect("message", isChat).ChildText("body", ""))
	}
	if strings.Join(got, ",") != "m01,m02,m03" {
		t.Fatalf("got %v", got)
	}
}

// Shutting down with a hibernating session stores what it held offline.
func TestSMShutdownStoresOffline(t *testing.T) {
	dir := t.TempDir()
	srv, alice, bob, _ := smSetup(t, xmppdtest.WithDataDir(dir), xmppdtest.WithExtensions(offline.New()))
	bob.Available()
	bob.Drop()
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	sendChats(alice, "bob@localhost", 1, 2)
	alice.Sync()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithDataDir(dir), xmppdtest.WithExtensions(offline.New()))
	bob2 := srv2.Login(t, "bob", "bob-pw")
	bob2.Send("<presence/>") // offline messages arrive before any sync answer
	for _, w := range []string{"m01", "m02"} {
		if got := bob2.Expect("offline message", isChat).ChildText("body", ""); got != w {
			t.Fatalf("got %s, want %s", got, w)
		}
	}
}

func mustJID(t *testing.T, s string) xmppd.JID {
	t.Helper()
	j, err := xmppd.ParseJID(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A hibernating session that collects more than c2s.max_unacked stanzas
// ends early; nothing is lost.
func TestSMMaxUnackedWhileHibernating(t *testing.T) {
	srv, alice, bob, _ := smSetup(t, xmppdtest.WithExtensions(offline.New()), xmppdtest.WithConfig(func(c *config.Config) {
		c.C2S.MaxUnacked = 3
	}))
	bob.Send("<presence/>")
	bob.AckSM() // nothing received yet: h=0
	bob.Sync()
	bob.AckSM() // the sync result
	bob.Sync()
	bob.Drop()
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	old := srv.Session(mustJID(t, "bob@localhost/phone"))
	sendChats(alice, "bob@localhost", 1, 6)
	waitEnded(t, old)
	alice.Sync()

	bob2 := srv.Login(t, "bob", "bob-pw")
	bob2.Send("<presence/>")
	var got []string
	for len(got) < 6 {
		got = append(got, bob2.Expect("offline message", isChat).ChildText("body", ""))
	}
	if strings.Join(got, ",") != strings.Join(want(1, 6), ",") {
		t.Fatalf("got %v", got)
	}
}
