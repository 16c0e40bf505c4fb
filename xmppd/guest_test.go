package xmppd_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	"mellium.im/sasl"
)

const guestDomain = "guest.localhost"

// guestProbe answers pings to the server and records AccountDeleted, the
// hook through which every extension drops a departed guest's data.
type guestProbe struct {
	mu      sync.Mutex
	deleted []xmppd.JID
}

func (*guestProbe) Name() string { return "guestprobe" }

func (g *guestProbe) Register(r *xmppd.Registrar) error {
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, func(j xmppd.JID) xmppd.Verdict {
		g.mu.Lock()
		g.deleted = append(g.deleted, j)
		g.mu.Unlock()
		return xmppd.Pass
	})
	return r.HandleIQ(xmppd.TargetServer, "get", "urn:xmpp:ping", "ping", func(*xmppd.IQ) (*wire.Element, error) { return nil, nil })
}

func (g *guestProbe) wasDeleted(j string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range g.deleted {
		if d.String() == j {
			return true
		}
	}
	return false
}

func startGuests(t *testing.T, opts ...xmppdtest.Option) (*xmppdtest.Server, *guestProbe) {
	t.Helper()
	probe := &guestProbe{}
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{
		xmppdtest.WithExtensions(probe),
		xmppdtest.WithConfig(func(c *config.Config) { c.Enquiry.GuestDomain = guestDomain }),
	}, opts...)...)
	srv.AddUser(t, "alice", "pw-a")
	return srv, probe
}

var guestOpts = xmppdtest.DialOptions{Domain: guestDomain, Mechanisms: []sasl.Mechanism{sasl.Anonymous}}

var guestJID = regexp.MustCompile(`^[a-z2-7]{16}@guest\.localhost/.+$`)

// Guests log in with ANONYMOUS over TCP and WebSocket and get fresh
// temporary JIDs at the guest domain; no account is made for them.
func TestGuestLoginOverTCPAndWebSocket(t *testing.T) {
	srv, _ := startGuests(t)
	tcp, err := srv.Dial(t, "", "", guestOpts)
	if err != nil {
		t.Fatalf("guest over TCP: %v", err)
	}
	ws, err := srv.DialWS(t, "", "", guestOpts)
	if err != nil {
		t.Fatalf("guest over WebSocket: %v", err)
	}
	for _, c := range []*xmppdtest.Client{tcp, ws} {
		if !guestJID.MatchString(c.JID.String()) {
			t.Fatalf("guest JID %s", c.JID)
		}
	}
	if tcp.JID.Localpart() == ws.JID.Localpart() {
		t.Fatalf("two guests share %s", tcp.JID.Localpart())
	}
	users, err := srv.Accounts().List()
	if err != nil || len(users) != 1 || users[0] != "alice" {
		t.Fatalf("accounts: %v %v", users, err)
	}
	// A guest has an (empty) roster and reaches the server under both names.
	if res := ws.IQ("get", "", "<query xmlns='jabber:iq:roster'/>"); res.Attr("type") != "result" ||
		res.Child("query", "jabber:iq:roster") == nil || len(res.Child("query", "jabber:iq:roster").Children) != 0 {
		t.Fatalf("roster: %s", res)
	}
	for _, to := range []string{"localhost", guestDomain} {
		if res := tcp.IQ("get", to, "<ping xmlns='urn:xmpp:ping'/>"); res.Attr("type") != "result" {
			t.Fatalf("ping %s: %s", to, res)
		}
	}
}

// ANONYMOUS is offered on the guest domain only, and nothing else is.
func TestGuestMechanismsPerHost(t *testing.T) {
	srv, _ := startGuests(t)
	f := dialWSRaw(t, srv, nil).open(guestDomain)
	if !strings.Contains(f, "<mechanism>ANONYMOUS</mechanism>") || strings.Contains(f, "SCRAM") || strings.Contains(f, "PLAIN") {
		t.Fatalf("guest host features: %q", f)
	}
	f = dialWSRaw(t, srv, nil).open("localhost")
	if strings.Contains(f, "ANONYMOUS") || !strings.Contains(f, "SCRAM-SHA-256") {
		t.Fatalf("main host features: %q", f)
	}
	if _, err := srv.Dial(t, "", "", xmppdtest.DialOptions{Mechanisms: []sasl.Mechanism{sasl.Anonymous}}); err == nil {
		t.Fatal("ANONYMOUS worked on the main domain")
	}
	if _, err := srv.Dial(t, "alice", "pw-a", xmppdtest.DialOptions{Domain: guestDomain}); err == nil {
		t.Fatal("an account logged in on the guest domain")
	}
}

// With guest_domain empty there are no guests: the domain is unknown.
func TestGuestDomainOff(t *testing.T) {
	srv := xmppdtest.Start(t)
	if _, err := srv.Dial(t, "", "", guestOpts); err == nil {
		t.Fatal("guest login worked with guest_domain empty")
	}
	w := dialWSRaw(t, srv, nil)
	if f := w.open(guestDomain); strings.Contains(f, "ANONYMOUS") {
		t.Fatalf("ANONYMOUS offered: %q", f)
	}
	w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>")
	if e := w.closed(1000); !strings.Contains(e, "<host-unknown ") {
		t.Fatalf("want host-unknown, got %q", e)
	}
}

// A guest cannot reach staff directly: messages, IQs and presence to a
// user are refused with forbidden, and the user gets nothing.
func TestGuestCannotContactStaff(t *testing.T) {
	srv, _ := startGuests(t)
	alice := srv.Login(t, "alice", "pw-a")
	alice.Available()
	guest, err := srv.DialWS(t, "", "", guestOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"alice@localhost", alice.JID.String()} {
		guest.Sendf("<message to='%s' type='chat' id='m'><body>hi staff</body></message>", to)
		e := guest.Expect("error", xmppdtest.Is("message", "error"))
		if e.Child("error", "").Child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil ||
			!strings.Contains(e.Child("error", "").ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas"), "enquiry room") {
			t.Fatalf("to %s: %s", to, e)
		}
	}
	if res := guest.IQ("get", alice.JID.String(), "<query xmlns='jabber:iq:version'/>"); res.Attr("type") != "error" ||
		res.Child("error", "").Child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("IQ to staff: %s", res)
	}
	guest.Send("<presence to='alice@localhost'/>")
	guest.Expect("presence error", xmppdtest.Is("presence", "error"))
	guest.Send("<presence to='alice@localhost' type='subscribe'/>")
	guest.Expect("presence error", xmppdtest.Is("presence", "error"))
	alice.ExpectNothing(300*time.Millisecond, func(el *wire.Element) bool {
		return strings.Contains(el.Attr("from"), guestDomain)
	})
	// Staff may write to the guest, and the guest to itself.
	alice.Sendf("<message to='%s' type='chat'><body>hello visitor</body></message>", guest.JID)
	if m := guest.Expect("staff message", xmppdtest.Is("message", "chat")); m.ChildText("body", "") != "hello visitor" {
		t.Fatalf("guest got %s", m)
	}
}

// When a guest leaves, AccountDeleted runs for its JID, and stanzas to it
// are answered service-unavailable, never stored for later.
func TestGuestRemovedAfterLogout(t *testing.T) {
	srv, probe := startGuests(t)
	alice := srv.Login(t, "alice", "pw-a")
	guest, err := srv.DialWS(t, "", "", guestOpts)
	if err != nil {
		t.Fatal(err)
	}
	full := guest.JID.String()
	bare := guest.JID.Bare().String()
	if enabled := guest.EnableSM(true); enabled.Attr("resume") != "" {
		t.Fatalf("a guest was offered resumption: %s", enabled)
	}
	guest.Available()
	_ = guest.Session.Close() // <close/>
	deadline := time.Now().Add(5 * time.Second)
	for !probe.wasDeleted(bare) {
		if time.Now().After(deadline) {
			t.Fatalf("AccountDeleted did not run for %s", bare)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, to := range []string{bare, full} {
		alice.Sendf("<message to='%s' type='chat' id='late'><body>still there?</body></message>", to)
		e := alice.Expect("error", xmppdtest.Is("message", "error"))
		if e.Child("error", "").Child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Fatalf("to %s: %s", to, e)
		}
	}
	if res := alice.IQ("get", full, "<query xmlns='jabber:iq:version'/>"); res.Attr("type") != "error" {
		t.Fatalf("IQ to gone guest: %s", res)
	}
	if users, _ := srv.Accounts().List(); len(users) != 1 {
		t.Fatalf("accounts after guest: %v", users)
	}
}

func TestGuestLoginsAreRateLimited(t *testing.T) {
	srv, _ := startGuests(t, xmppdtest.WithConfig(func(c *config.Config) { c.Enquiry.GuestLoginsPerIP = 2 }))
	for range 2 {
		if _, err := srv.DialWS(t, "", "", guestOpts); err != nil {
			t.Fatal(err)
		}
	}
	w := dialWSRaw(t, srv, nil)
	w.open(guestDomain)
	w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>")
	if m := w.text(); !strings.Contains(m, "<failure") {
		t.Fatalf("third guest login: %q", m)
	}
	if e := w.closed(1000); !strings.Contains(e, "<policy-violation ") || !strings.Contains(e, "guest logins") {
		t.Fatalf("want policy-violation, got %q", e)
	}
	// Accounts are not affected.
	srv.LoginWS(t, "alice", "pw-a")
}
