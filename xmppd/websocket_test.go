package xmppd_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const framingClose = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"

// A mellium WebSocket client logs in (SCRAM-SHA-256, bind) and exchanges
// messages with a TCP client both ways: one Session type, one routing.
func TestWebSocketLoginAndMessagesWithTCP(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw-a")
	srv.AddUser(t, "bob", "pw-b")
	ws := srv.LoginWS(t, "alice", "pw-a")
	tcp := srv.Login(t, "bob", "pw-b")
	if !strings.HasPrefix(ws.JID.String(), "alice@localhost/") {
		t.Fatalf("bound %s", ws.JID)
	}
	ws.Available()
	tcp.Available()

	ws.Sendf("<message to='bob@localhost' type='chat' id='m1'><body>over WebSocket</body></message>")
	got := tcp.Expect("message from alice", xmppdtest.Is("message", "chat"))
	if got.Attr("from") != ws.JID.String() || got.ChildText("body", "") != "over WebSocket" {
		t.Fatalf("bob got %s", got)
	}
	tcp.Sendf("<message to='%s' type='chat' id='m2'><body>over TCP</body></message>", ws.JID)
	got = ws.Expect("message from bob", xmppdtest.Is("message", "chat"))
	if got.Attr("from") != tcp.JID.String() || got.ChildText("body", "") != "over TCP" {
		t.Fatalf("alice got %s", got)
	}
	ws.Sync() // an IQ to the server and its answer
	if n := len(srv.Sessions(xmppd.JID{Local: "alice", Domain: "localhost"})); n != 1 {
		t.Fatalf("alice has %d sessions", n)
	}
}

// Every server message is one complete element in one unfragmented text
// frame: <open/>, features with the stream prefix declared, stanzas with
// their namespace, and a 12 kB message in one piece.
func TestWebSocketFramesOneElementEach(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw-a")
	srv.AddUser(t, "bob", "pw-b")
	raw := dialWSRaw(t, srv, nil)
	features := raw.open("localhost")
	if !strings.HasPrefix(features, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'") ||
		!strings.HasSuffix(features, "</stream:features>") {
		t.Fatalf("features message: %q", features)
	}
	if !strings.Contains(features, "<mechanism>PLAIN</mechanism>") || strings.Contains(features, "-PLUS") ||
		strings.Contains(features, "starttls") || strings.Contains(features, "ANONYMOUS") {
		t.Fatalf("loopback WebSocket should offer SCRAM and PLAIN, no STARTTLS, -PLUS or ANONYMOUS: %q", features)
	}
	raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBwdy1i</auth>")
	if m := raw.text(); !strings.HasPrefix(m, "<success") {
		t.Fatalf("PLAIN: %q", m)
	}
	raw.open("localhost")
	raw.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>raw</resource></bind></iq>")
	if m := raw.text(); !strings.HasPrefix(m, "<iq xmlns=") || !strings.Contains(m, "jabber:client") || !strings.Contains(m, "bob@localhost/raw") {
		t.Fatalf("bind result: %q", m)
	}
	raw.send("<presence/>")
	// A message is the unit, not a frame: one element in three fragments.
	raw.fragment(opText, false, []byte("<iq type='set' id='frag'><session xmlns="))
	raw.fragment(0, false, []byte("'urn:ietf:params:xml:ns:xmpp-session'"))
	raw.fragment(0, true, []byte("/></iq>"))
	if m := raw.expect("id='frag'"); !strings.Contains(m, "type='result'") {
		t.Fatalf("fragmented IQ: %q", m)
	}

	alice := srv.LoginWS(t, "alice", "pw-a")
	body := strings.Repeat("0123456789", 1200)
	alice.Sendf("<message to='bob@localhost/raw' type='chat' id='big'><body>%s</body></message>", body)
	m := raw.expect("id='big'")
	if !strings.HasPrefix(m, "<message xmlns='jabber:client'") || !strings.HasSuffix(m, "</message>") || !strings.Contains(m, body) {
		t.Fatalf("12 kB message not one complete element (len %d): %.200q...", len(m), m)
	}
	var v struct {
		Body string `xml:"body"`
	}
	if err := xml.Unmarshal([]byte(m), &v); err != nil || v.Body != body {
		t.Fatalf("message frame is not a standalone document: %v", err)
	}
	raw.send(framingClose)
	if e := raw.closed(1000); e != "" {
		t.Fatalf("clean close got a stream error: %s", e)
	}
}

// Bad input ends the stream with the right stream error, then <close/>,
// then the WebSocket close frame; other sessions are unaffected.
func TestWebSocketBadInput(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.MaxStanzaSize = 10000 }))
	srv.AddUser(t, "bob", "pw-b")
	bystander := srv.LoginWS(t, "bob", "pw-b")
	for _, tc := range []struct {
		name, cond string
		status     uint16
		preauth    bool
		send       func(w *wsRaw)
	}{
		{"binary frame", "unsupported-encoding", 1003, true, func(w *wsRaw) { w.frame(opBinary, []byte("<presence/>")) }},
		{"binary frame after login", "unsupported-encoding", 1003, false, func(w *wsRaw) { w.frame(opBinary, []byte("<presence/>")) }},
		{"malformed XML", "not-well-formed", 1008, false, func(w *wsRaw) { w.send("<message><body>x</message>") }},
		{"two elements in one message", "not-well-formed", 1008, false, func(w *wsRaw) { w.send("<presence/><presence/>") }},
		{"part of an element", "not-well-formed", 1008, false, func(w *wsRaw) { w.send("<message><body>") }},
		{"oversized stanza", "policy-violation", 1009, false, func(w *wsRaw) {
			w.send("<message to='bob@localhost'><body>" + strings.Repeat("x", 12000) + "</body></message>")
		}},
		{"stream header instead of <open/>", "not-well-formed", 1008, true, func(w *wsRaw) {
			w.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWSRaw(t, srv, nil)
			if !tc.preauth {
				w.login("localhost", "bob", "pw-b")
			}
			tc.send(w)
			e := w.closed(tc.status)
			if !strings.Contains(e, "<"+tc.cond+" ") || !strings.Contains(e, "xmlns:stream='http://etherx.jabber.org/streams'") {
				t.Fatalf("want stream error %s, got %q", tc.cond, e)
			}
		})
	}
	bystander.Sync()
}

func TestWebSocketPreauthTimeout(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.PreauthTimeout = config.Duration{Duration: 300 * time.Millisecond}
	}))
	w := dialWSRaw(t, srv, nil)
	start := time.Now()
	w.open("localhost") // then nothing
	if e := w.closed(1000); !strings.Contains(e, "<connection-timeout ") {
		t.Fatalf("want connection-timeout, got %q", e)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// A plain-HTTP proxy on loopback (X-Forwarded-For without
// X-Forwarded-Proto: https) is not secure: no login over it.
func TestWebSocketInsecureIsRefused(t *testing.T) {
	srv := xmppdtest.Start(t)
	w := dialWSRaw(t, srv, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	if e := w.closed(1000); !strings.Contains(e, "<policy-violation ") || !strings.Contains(e, "wss://") {
		t.Fatalf("want policy-violation naming wss://, got %q", e)
	}
	// The same through a TLS proxy is fine.
	w = dialWSRaw(t, srv, http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}})
	if f := w.open("localhost"); !strings.Contains(f, "SCRAM-SHA-256") {
		t.Fatalf("features behind a TLS proxy: %q", f)
	}
}

func TestWebSocketNeedsXMPPSubprotocol(t *testing.T) {
	srv := xmppdtest.Start(t)
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+"/xmpp-websocket", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "xmpp") {
		t.Fatalf("without the subprotocol: %d %q", res.StatusCode, b)
	}
}

// Shutdown ends WebSocket streams like TCP ones: system-shutdown, <close/>,
// close frame.
func TestWebSocketShutdown(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "bob", "pw-b")
	w := dialWSRaw(t, srv, nil)
	w.login("localhost", "bob", "pw-b")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	if e := w.closed(1000); !strings.Contains(e, "<system-shutdown ") {
		t.Fatalf("want system-shutdown, got %q", e)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// XEP-0156: host-meta in XRD and JSON name the WebSocket endpoint at
// public_url, with CORS open to any page.
func TestHostMeta(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.HTTP.PublicURL = "https://chat.example.com/x/" }))
	get := func(path string) (*http.Response, []byte) {
		res, err := http.Get("http://" + srv.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("GET %s: %d, CORS %q", path, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
		return res, b
	}
	const want = "wss://chat.example.com/x/xmpp-websocket"
	res, b := get("/.well-known/host-meta")
	var xrd struct {
		XMLName xml.Name
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(b, &xrd); err != nil || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/xrd+xml") ||
		xrd.XMLName.Space != "http://docs.oasis-open.org/ns/xri/xrd-1.0" || xrd.XMLName.Local != "XRD" ||
		len(xrd.Links) != 1 || xrd.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || xrd.Links[0].Href != want {
		t.Fatalf("host-meta (%v, %s): %s", err, res.Header.Get("Content-Type"), b)
	}
	res, b = get("/.well-known/host-meta.json")
	var js struct {
		Links []struct{ Rel, Href string } `json:"links"`
	}
	if err := json.Unmarshal(b, &js); err != nil || res.Header.Get("Content-Type") != "application/json" ||
		len(js.Links) != 1 || js.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || js.Links[0].Href != want {
		t.Fatalf("host-meta.json (%v): %s", err, b)
	}
}

// XEP-0198 over WebSocket: a dropped WebSocket hibernates the session and
// a new WebSocket resumes it without losing a message.
func TestWebSocketStreamManagementResume(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "pw-a")
	srv.AddUser(t, "bob", "pw-b")
	alice := srv.Login(t, "alice", "pw-a")
	bob, err := srv.DialWS(t, "bob", "pw-b", xmppdtest.DialOptions{Resource: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	id := bob.EnableSM(true).Attr("id")
	if id == "" {
		t.Fatal("no resumption id")
	}
	bob.Available()
	sendChats(alice, "bob@localhost", 1, 4)
	var got []string
	for len(got) < 4 {
		got = append(got, bob.Expect("message", isChat).ChildText("body", ""))
	}
	bob.Drop()
	waitSession(t, srv, "bob@localhost/phone", "hibernating", hibernating)
	sendChats(alice, "bob@localhost", 5, 8)
	alice.Sync()
	bob2, err := srv.DialWS(t, "bob", "pw-b", xmppdtest.DialOptions{Resource: "phone", Resume: &xmppdtest.SMResume{PrevID: id, H: bob.SMHandled()}})
	if err != nil {
		t.Fatal(err)
	}
	if a := bob2.ResumeAnswer; a.Name != "resumed" {
		t.Fatalf("resume answer: %s", a)
	}
	for len(got) < 8 {
		got = append(got, bob2.Expect("message", isChat).ChildText("body", ""))
	}
	if strings.Join(got, ",") != strings.Join(want(1, 8), ",") {
		t.Fatalf("bob received %v", got)
	}
}

// An idle WebSocket client is pinged (XEP-0199) and, silent, closed.
func TestWebSocketIdlePing(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.IdleTimeout = config.Duration{Duration: 400 * time.Millisecond}
	}))
	srv.AddUser(t, "bob", "pw-b")
	bob := srv.LoginWS(t, "bob", "pw-b")
	ping := bob.Expect("idle ping", xmppdtest.HasChild("ping", "urn:xmpp:ping"))
	bob.Sendf("<iq type='result' id='%s' to='localhost'/>", ping.Attr("id"))
	bob.Expect("second idle ping", xmppdtest.HasChild("ping", "urn:xmpp:ping"))
	if err := bob.Closed(3 * time.Second); err == nil || !strings.Contains(err.Error(), "connection-timeout") {
		t.Fatalf("silent client: want connection-timeout, got %v", err)
	}
}

// connections_per_ip counts WebSocket streams too (the client a loopback
// proxy names in X-Forwarded-For): over the limit the upgrade is refused.
func TestWebSocketConnectionsPerIP(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Limits.ConnectionsPerIP = 1 }))
	proxied := http.Header{"X-Forwarded-For": {"198.51.100.9"}, "X-Forwarded-Proto": {"https"}}
	first := dialWSRaw(t, srv, proxied)
	first.open("localhost")
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+"/xmpp-websocket", nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "xmpp",
		"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"} {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection from 198.51.100.9: %s", res.Status)
	}
	// Another client behind the same proxy is not affected.
	other := dialWSRaw(t, srv, http.Header{"X-Forwarded-For": {"198.51.100.10"}, "X-Forwarded-Proto": {"https"}})
	other.open("localhost")
}
