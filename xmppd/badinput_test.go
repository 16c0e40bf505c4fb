package xmppd_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	"mellium.im/sasl"
)

// rawConn is a hand-driven client socket for input no real client sends.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readUntil reads until the server's output contains want or the stream
// ends; it returns everything read.
func (c *rawConn) readUntil(want string) string {
	c.t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(b.String(), want) {
		n, err := c.r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

const header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

func TestStreamToUnknownHostIsRefused(t *testing.T) {
	srv := xmppdtest.Start(t)
	c := dialRaw(t, srv.C2SAddr().String())
	c.send(strings.Replace(header, "to='localhost'", "to='elsewhere.example'", 1))
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	out := c.readUntil("</stream:stream>")
	if !strings.Contains(out, "<host-unknown") {
		t.Fatalf("want host-unknown stream error, got %q", out)
	}
}

func TestStanzaBeforeAuthIsRefused(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "bob", "pw")
	c := dialRaw(t, srv.C2SAddr().String())
	c.send(header)
	c.readUntil("</stream:features>")
	c.send("<message to='bob@localhost'><body>sneaky</body></message>")
	out := c.readUntil("</stream:stream>")
	if !strings.Contains(out, "<stream:error>") {
		t.Fatalf("want a stream error, got %q", out)
	}
}

func TestMalformedXMLClosesOnlyThatStream(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	mallory := srv.Login(t, "alice", "pw")
	bob := srv.Login(t, "bob", "pw")
	bob.Available()
	other := srv.Login(t, "alice", "pw")

	mallory.Send("<message to='bob@localhost'><body>unclosed</bod></message>")
	if err := mallory.Closed(5 * time.Second); err == nil || !strings.Contains(err.Error(), "not-well-formed") {
		t.Fatalf("malformed XML: want not-well-formed stream error, got %v", err)
	}
	other.Send("<message to='bob@localhost' type='chat'><body>still fine</body></message>")
	if got := bob.Expect("message from the healthy session", xmppdtest.Is("message", "chat")); got.ChildText("body", "") != "still fine" {
		t.Fatalf("got %s", got)
	}
}

func TestOversizedStanzaIsAPolicyViolation(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.MaxStanzaSize = 16 * config.KB }))
	srv.AddUser(t, "alice", "pw")
	alice := srv.Login(t, "alice", "pw")
	alice.Send("<message to='alice@localhost'><body>" + strings.Repeat("x", 20000) + "</body></message>")
	if err := alice.Closed(5 * time.Second); err == nil || !strings.Contains(err.Error(), "policy-violation") {
		t.Fatalf("want policy-violation, got %v", err)
	}
}

func TestSpoofedFromIsOverwritten(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	srv.AddUser(t, "carol", "pw")
	alice := srv.Login(t, "alice", "pw")
	bob := srv.Login(t, "bob", "pw")
	bob.Available()
	alice.Send("<message from='carol@localhost/phone' to='bob@localhost' type='chat'><body>I am carol</body></message>")
	got := bob.Expect("the message", xmppdtest.Is("message", "chat"))
	if got.Attr("from") != alice.JID.String() {
		t.Fatalf("from = %q, want the real sender %q", got.Attr("from"), alice.JID)
	}
}

func TestWrongPasswordFailsAndIsThrottled(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.FailedLoginsPerAccount = 3 }))
	srv.AddUser(t, "alice", "right")
	for i := 0; i < 3; i++ {
		if _, err := srv.Dial(t, "alice", "wrong", xmppdtest.DialOptions{}); err == nil {
			t.Fatal("login with a wrong password succeeded")
		}
	}
	// The account is now throttled: even the right password is refused.
	if _, err := srv.Dial(t, "alice", "right", xmppdtest.DialOptions{}); err == nil {
		t.Fatal("throttled account could log in")
	}
	st, _ := srv.Status()
	if st.AuthFailures < 3 {
		t.Fatalf("auth failures = %d, want >= 3", st.AuthFailures)
	}
}

func TestLoginMechanismsAndDirectTLS(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "Alice", "pässword")
	cases := []struct {
		name string
		opt  xmppdtest.DialOptions
	}{
		{"SCRAM-SHA-256", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256}}},
		{"SCRAM-SHA-1", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha1}}},
		{"PLAIN", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.Plain}}},
		{"direct TLS", xmppdtest.DialOptions{DirectTLS: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := srv.Dial(t, "alice", "pässword", tc.opt)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if c.JID.Bare().String() != "alice@localhost" {
				t.Fatalf("bound %s", c.JID)
			}
			if st := c.Session.ConnectionState(); st.Version < tls.VersionTLS12 {
				t.Fatalf("not on TLS: %x", st.Version)
			}
		})
	}
}

// TestLoginWithChannelBinding: by default (auth.channel_binding = true)
// SCRAM-*-PLUS with tls-exporter works over STARTTLS and direct TLS, and a
// wrong password still fails.
func TestLoginWithChannelBinding(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	for _, tc := range []struct {
		name string
		opt  xmppdtest.DialOptions
	}{
		{"SCRAM-SHA-256-PLUS", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256Plus}}},
		{"SCRAM-SHA-1-PLUS", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha1Plus}}},
		{"SCRAM-SHA-256-PLUS direct TLS", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256Plus}, DirectTLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := srv.Dial(t, "alice", "pw", tc.opt)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if c.JID.Bare().String() != "alice@localhost" {
				t.Fatalf("bound %s", c.JID)
			}
		})
	}
	if _, err := srv.Dial(t, "alice", "wrong", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256Plus}}); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Fatalf("wrong password with SCRAM-SHA-256-PLUS: err = %v, want not-authorized", err)
	}
}

// TestChannelBindingOff: with auth.channel_binding = false no -PLUS
// mechanism is offered (for clients that only know tls-unique), and
// SCRAM-SHA-256 works.
func TestChannelBindingOff(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Auth.ChannelBinding = false }))
	srv.AddUser(t, "alice", "pw")
	_, err := srv.Dial(t, "alice", "pw", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256Plus}})
	if err == nil || !strings.Contains(err.Error(), "no matching SASL mechanisms") {
		t.Fatalf("login with only SCRAM-SHA-256-PLUS: err = %v, want no matching mechanism", err)
	}
	c, err := srv.Dial(t, "alice", "pw", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.ScramSha256}})
	if err != nil || c.JID.Bare().String() != "alice@localhost" {
		t.Fatalf("SCRAM-SHA-256 with channel binding off: %v", err)
	}
}

// TestAllowPlainOff: with auth.allow_plain = false PLAIN is not offered,
// even over TLS.
func TestAllowPlainOff(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Auth.AllowPlain = false }))
	srv.AddUser(t, "alice", "pw")
	for _, direct := range []bool{false, true} {
		_, err := srv.Dial(t, "alice", "pw", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.Plain}, DirectTLS: direct})
		if err == nil || !strings.Contains(err.Error(), "no matching SASL mechanisms") {
			t.Fatalf("PLAIN (direct TLS %v) with allow_plain off: err = %v, want no matching mechanism", direct, err)
		}
	}
}

// saltProbe is a SCRAM-SHA-256 client that gives up after the server's
// first message and records its "s=...,i=..." part: what a prober learns
// about a name.
func saltProbe(user string, got *string) sasl.Mechanism {
	return sasl.Mechanism{
		Name: "SCRAM-SHA-256",
		Start: func(*sasl.Negotiator) (bool, []byte, any, error) {
			return true, []byte("n,,n=" + user + ",r=probenonce"), nil, nil
		},
		Next: func(_ *sasl.Negotiator, challenge []byte, _ any) (bool, []byte, any, error) {
			_, *got, _ = strings.Cut(string(challenge), ",") // drop the nonce
			return false, nil, nil, errors.New("probe done")
		},
	}
}

// TestUnknownUserSaltSurvivesRestart: an unknown name's salt is derived
// from a secret kept in the store, so it is the same after a restart (as a
// real account's is) and differs between servers.
func TestUnknownUserSaltSurvivesRestart(t *testing.T) {
	probe := func(srv *xmppdtest.Server, user string) string {
		t.Helper()
		var got string
		if _, err := srv.Dial(t, user, "x", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{saltProbe(user, &got)}}); err == nil {
			t.Fatal("probe logged in")
		}
		if !strings.HasPrefix(got, "s=") || !strings.HasSuffix(got, ",i=4096") {
			t.Fatalf("server-first-message after the nonce = %q, want s=...,i=4096", got)
		}
		return got
	}
	dir := t.TempDir()
	srv := xmppdtest.Start(t, xmppdtest.WithDataDir(dir))
	srv.AddUser(t, "alice", "pw")
	ghost, alice := probe(srv, "ghost"), probe(srv, "alice")
	if ghost == alice || ghost != probe(srv, "ghost") || ghost == probe(srv, "ghost2") {
		t.Fatalf("unknown users' salts must be per name and stable: ghost %q, alice %q", ghost, alice)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithDataDir(dir))
	if got := probe(srv2, "ghost"); got != ghost {
		t.Errorf("after restart ghost's salt is %q, was %q", got, ghost)
	}
	if got := probe(srv2, "alice"); got != alice {
		t.Errorf("after restart alice's salt is %q, was %q", got, alice)
	}
	if got := probe(xmppdtest.Start(t), "ghost"); got == ghost {
		t.Error("two servers give an unknown user the same salt")
	}
}

func TestResourceConflictReplacesOldSession(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	first, err := srv.Dial(t, "alice", "pw", xmppdtest.DialOptions{Resource: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := srv.Dial(t, "alice", "pw", xmppdtest.DialOptions{Resource: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if second.JID.String() != "alice@localhost/laptop" {
		t.Fatalf("second bound %s", second.JID)
	}
	if err := first.Closed(5 * time.Second); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("old session: want conflict stream error, got %v", err)
	}
}

func TestErrorsForUnknownRecipients(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	alice := srv.Login(t, "alice", "pw")

	alice.Send("<message to='nobody@localhost' type='chat' id='m1'><body>hello?</body></message>")
	errMsg := alice.Expect("message error", xmppdtest.Is("message", "error"))
	if errMsg.Attr("id") != "m1" || errMsg.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("got %s", errMsg)
	}

	res := alice.IQ("get", "nobody@localhost", "<query xmlns='jabber:iq:version'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("IQ to unknown user: %s", res)
	}
	res = alice.IQ("get", "alice@localhost/gone", "<query xmlns='jabber:iq:version'/>")
	if res.Attr("type") != "error" {
		t.Fatalf("IQ to offline resource: %s", res)
	}
	res = alice.IQ("get", "remote.example", "<query xmlns='jabber:iq:version'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("remote-server-not-found", "") == nil {
		t.Fatalf("IQ to remote domain: %s", res)
	}
	res = alice.IQ("get", "", "<unknown xmlns='urn:example:nothing'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("unknown IQ payload: %s", res)
	}
	alice.Send("<message to='bad@@jid' id='m2'><body>x</body></message>")
	if e := alice.Expect("jid-malformed", xmppdtest.Is("message", "error")); e.Child("error", "").Child("jid-malformed", "") == nil {
		t.Fatalf("got %s", e)
	}
}

func TestFullJIDAndPriorityRouting(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	alice := srv.Login(t, "alice", "pw")
	phone, _ := srv.Dial(t, "bob", "pw", xmppdtest.DialOptions{Resource: "phone"})
	desk, _ := srv.Dial(t, "bob", "pw", xmppdtest.DialOptions{Resource: "desk"})
	phone.Send("<presence><priority>1</priority></presence>")
	desk.Send("<presence><priority>5</priority></presence>")
	phone.Sync()
	desk.Sync()

	alice.Send("<message to='bob@localhost' type='chat'><body>to the bare JID</body></message>")
	if got := desk.Expect("bare message at the highest priority", xmppdtest.Is("message", "chat")); got.ChildText("body", "") != "to the bare JID" {
		t.Fatalf("got %s", got)
	}
	phone.ExpectNothing(200*time.Millisecond, xmppdtest.Is("message", "chat"))

	alice.Send("<message to='bob@localhost/phone' type='chat'><body>to the phone</body></message>")
	if got := phone.Expect("full-JID message", xmppdtest.Is("message", "chat")); got.ChildText("body", "") != "to the phone" {
		t.Fatalf("got %s", got)
	}
}

func TestStanzaIDCannotBeForged(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	alice := srv.Login(t, "alice", "pw")
	bob := srv.Login(t, "bob", "pw")
	bob.Available()
	alice.Send("<message to='bob@localhost' type='chat'><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='bob@localhost'/><body>x</body></message>")
	got := bob.Expect("message", xmppdtest.Is("message", "chat"))
	ids := got.ChildrenNamed("stanza-id", "urn:xmpp:sid:0")
	if len(ids) != 1 || ids[0].Attr("id") == "forged" {
		t.Fatalf("stanza-ids: %s", got)
	}
	_ = wire.Attr{}
}

func TestPreauthTimeoutClosesIdleConnections(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.PreauthTimeout = config.Duration{Duration: 300 * time.Millisecond}
	}))
	c := dialRaw(t, srv.C2SAddr().String())
	c.send(header)
	start := time.Now()
	out := c.readUntil("</stream:stream>")
	if !strings.Contains(out, "connection-timeout") {
		t.Fatalf("want connection-timeout, got %q", out)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
}

func TestConnectionsPerIPLimit(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.ConnectionsPerIP = 2 }))
	a := dialRaw(t, srv.C2SAddr().String())
	a.send(header)
	a.readUntil("</stream:features>")
	b := dialRaw(t, srv.C2SAddr().String())
	b.send(header)
	b.readUntil("</stream:features>")
	c := dialRaw(t, srv.C2SAddr().String())
	if out := c.readUntil("</stream:stream>"); !strings.Contains(out, "policy-violation") {
		t.Fatalf("third connection: want policy-violation, got %q", out)
	}
	a.conn.Close()
	time.Sleep(100 * time.Millisecond)
	d := dialRaw(t, srv.C2SAddr().String())
	d.send(header)
	if out := d.readUntil("</stream:features>"); !strings.Contains(out, "starttls") {
		t.Fatalf("after one closed, a new connection should work: %q", out)
	}
}

func TestShutdownClosesStreamsPolitely(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw")
	alice := srv.Login(t, "alice", "pw")
	go srv.Shutdown(t.Context())
	if err := alice.Closed(5 * time.Second); err == nil || !strings.Contains(err.Error(), "system-shutdown") {
		t.Fatalf("want system-shutdown stream error, got %v", err)
	}
}

func TestIdleClientIsPingedThenClosed(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.IdleTimeout = config.Duration{Duration: 400 * time.Millisecond}
	}))
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")

	// bob answers the server's ping and stays connected: a second ping
	// comes a whole idle period later, long after the grace period.
	bob := srv.Login(t, "bob", "pw")
	ping := bob.Expect("idle ping", xmppdtest.HasChild("ping", "urn:xmpp:ping"))
	bob.Sendf("<iq type='result' id='%s' to='localhost'/>", ping.Attr("id"))
	bob.Expect("second idle ping", xmppdtest.HasChild("ping", "urn:xmpp:ping"))

	// alice stays silent and is closed.
	alice := srv.Login(t, "alice", "pw")
	alice.Expect("idle ping", xmppdtest.HasChild("ping", "urn:xmpp:ping"))
	if err := alice.Closed(3 * time.Second); err == nil || !strings.Contains(err.Error(), "connection-timeout") {
		t.Fatalf("silent client: want connection-timeout, got %v", err)
	}
}

func TestReadRateLimitSlowsAFlood(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.ReadRate = 20 * config.KB }))
	srv.AddUser(t, "alice", "pw")
	alice := srv.Login(t, "alice", "pw")
	body := strings.Repeat("x", 4000)
	start := time.Now()
	for i := 0; i < 15; i++ { // ~60 KB: 20 KB of burst, then 20 KB/s
		alice.Sendf("<message to='alice@localhost/none' type='headline'><body>%s</body></message>", body)
	}
	alice.Sync()
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("60 KB at 20 KB/s took only %v", d)
	}
}

func TestFailedLoginsAreThrottledPerAddress(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.FailedLoginsPerIP = 3
		c.Limits.FailedLoginsPerAccount = 100
	}))
	srv.AddUser(t, "carol", "right")
	for _, user := range []string{"u1", "u2", "u3"} { // guessing across accounts
		if _, err := srv.Dial(t, user, "guess", xmppdtest.DialOptions{}); err == nil {
			t.Fatalf("%s logged in with a guessed password", user)
		}
	}
	if _, err := srv.Dial(t, "carol", "right", xmppdtest.DialOptions{}); err == nil {
		t.Fatal("an address over its failed-login limit could still log in")
	}
}
