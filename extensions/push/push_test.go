package push_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/extensions/push"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	pw      = "secret-pw"
	appHost = "push.localhost"
)

// appServer is an in-process XEP-0357 app server at push.localhost: it
// records every publish and answers with a result, or with the error
// condition in fail.
type appServer struct {
	srv *xmppd.Server
	got chan *wire.Element

	mu   sync.Mutex
	fail string
}

func (a *appServer) Name() string { return "fake-app-server" }

func (a *appServer) Register(r *xmppd.Registrar) error {
	a.srv = r.Server()
	return r.HandleDomain(appHost, a)
}

func (a *appServer) setFail(cond string) {
	a.mu.Lock()
	a.fail = cond
	a.mu.Unlock()
}

func (a *appServer) HandleStanza(p *xmppd.Packet) {
	el, err := p.Stanza.Element()
	if err != nil || el.Name != "iq" {
		return
	}
	a.got <- el
	a.mu.Lock()
	fail := a.fail
	a.mu.Unlock()
	reply := fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", p.Stanza.ID, appHost, p.From)
	if fail != "" {
		reply = fmt.Sprintf("<iq type='error' id='%s' from='%s' to='%s'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
			p.Stanza.ID, appHost, p.From, fail)
	}
	st, err := wire.ParseStanza([]byte(reply))
	if err != nil {
		panic(err)
	}
	a.srv.RouteIQ(xmppd.NewPacket(st, xmppd.JID{Domain: appHost}, p.From))
}

// next waits for a publish.
func (a *appServer) next(t *testing.T) *wire.Element {
	t.Helper()
	select {
	case el := <-a.got:
		return el
	case <-time.After(5 * time.Second):
		t.Fatal("the app server got no publish within 5s")
		return nil
	}
}

// nothing fails if a publish arrives within d.
func (a *appServer) nothing(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case el := <-a.got:
		t.Fatalf("unexpected publish: %s", el)
	case <-time.After(d):
	}
}

type env struct {
	srv  *xmppdtest.Server
	app  *appServer
	push *push.Extension
}

func start(t *testing.T) *env {
	t.Helper()
	app := &appServer{got: make(chan *wire.Element, 16)}
	p := push.New()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(offline.New(), pep.New(), p, app))
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, pw)
	}
	return &env{srv: srv, app: app, push: p}
}

func (e *env) online(t *testing.T, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := e.srv.Dial(t, user, pw, xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c.Available()
	return c
}

// offline closes c and waits until the server has dropped its session.
func (e *env) offline(t *testing.T, c *xmppdtest.Client) {
	t.Helper()
	full, err := xmppd.ParseJID(c.JID.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Send("</stream:stream>")
	_ = c.Closed(5 * time.Second)
	for deadline := time.Now().Add(5 * time.Second); e.srv.Session(full) != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has a session", full)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const enableForm = "<x xmlns='jabber:x:data' type='submit'>" +
	"<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
	"<field var='secret'><value>s3cr3t</value></field>" +
	"<field var='" + push.FieldIncludeBody + "'><value>true</value></field></x>"

func enable(t *testing.T, c *xmppdtest.Client, node, form string) {
	t.Helper()
	res := c.IQ("set", "", "<enable xmlns='urn:xmpp:push:0' jid='"+appHost+"' node='"+node+"'>"+form+"</enable>")
	if res.Attr("type") != "result" {
		t.Fatalf("enable: %s", res)
	}
}

// summary reads the notification form of a publish.
func summary(t *testing.T, iq *wire.Element) (node string, fields map[string]string, options *wire.Element) {
	t.Helper()
	ps := iq.Child("pubsub", push.NSPubsub)
	if iq.Attr("type") != "set" || ps == nil {
		t.Fatalf("not a pubsub set: %s", iq)
	}
	pub := ps.Child("publish", push.NSPubsub)
	x := pub.Child("item", push.NSPubsub).Child("notification", push.NS).Child("x", "jabber:x:data")
	fields = make(map[string]string)
	for _, f := range x.ChildrenNamed("field", "jabber:x:data") {
		fields[f.Attr("var")] = f.ChildText("value", "jabber:x:data")
	}
	if po := ps.Child("publish-options", push.NSPubsub); po != nil {
		options = po.Child("x", "jabber:x:data")
	}
	return pub.Attr("node"), fields, options
}

func chat(c *xmppdtest.Client, to, body string) {
	c.Sendf("<message to='%s' type='chat'><body>%s</body></message>", to, body)
	c.Sync()
}

// TestPushWhileOffline: bob's phone is offline, alice's messages go to the
// app server with the summary form; offline storage still keeps them.
func TestPushWhileOffline(t *testing.T) {
	e := start(t)
	phone := e.online(t, "bob", "phone")
	enable(t, phone, "n1", enableForm)
	e.offline(t, phone)

	alice := e.online(t, "alice", "a")
	chat(alice, "bob@localhost", "first")
	chat(alice, "bob@localhost", "second")
	for i, want := range []string{"first", "second"} {
		iq := e.app.next(t)
		if iq.Attr("from") != "bob@localhost" || iq.Attr("to") != appHost {
			t.Errorf("publish from %q to %q", iq.Attr("from"), iq.Attr("to"))
		}
		node, f, opts := summary(t, iq)
		if node != "n1" || f["FORM_TYPE"] != push.NSSummary || f["last-message-sender"] != "alice@localhost" ||
			f["last-message-body"] != want || f["message-count"] != fmt.Sprint(i+1) {
			t.Errorf("publish %d: node %q fields %v", i, node, f)
		}
		if opts == nil || !strings.Contains(opts.String(), "s3cr3t") || strings.Contains(opts.String(), push.FieldIncludeBody) {
			t.Errorf("publish-options = %v", opts)
		}
	}

	// Offline storage still has both; back online, the count restarts and
	// nothing is pushed while the phone is online.
	phone, err := e.srv.Dial(t, "bob", pw, xmppdtest.DialOptions{Resource: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	phone.Send("<presence/>") // no Sync: it would skip the offline messages
	for _, want := range []string{"first", "second"} {
		phone.Expect(want, func(el *wire.Element) bool { return el.ChildText("body", "jabber:client") == want })
	}
	chat(alice, "bob@localhost", "while online")
	phone.Expect("while online", xmppdtest.HasChild("body", "jabber:client"))
	e.app.nothing(t, 150*time.Millisecond)
	e.offline(t, phone)
	chat(alice, "bob@localhost", "third")
	if _, f, _ := summary(t, e.app.next(t)); f["message-count"] != "1" {
		t.Errorf("count after coming back = %s, want 1", f["message-count"])
	}
}

// TestPushWhileOtherResourceOnline: the registered device is offline even
// though bob's desktop is online; no body without consent.
func TestPushWhileOtherResourceOnline(t *testing.T) {
	e := start(t)
	phone := e.online(t, "bob", "phone")
	enable(t, phone, "n2", "")
	e.offline(t, phone)
	desk := e.online(t, "bob", "desk")
	alice := e.online(t, "alice", "a")
	chat(alice, "bob@localhost", "secret text")
	desk.Expect("message", xmppdtest.HasChild("body", "jabber:client"))
	_, f, opts := summary(t, e.app.next(t))
	if _, ok := f["last-message-body"]; ok || f["last-message-sender"] != "alice@localhost" || opts != nil {
		t.Errorf("fields %v options %v", f, opts)
	}
	// Own messages and messages without a body wake nobody.
	desk.Sendf("<message to='bob@localhost' type='chat'><body>note to self</body></message>")
	alice.Sendf("<message to='bob@localhost' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	alice.Sync()
	desk.Sync()
	e.app.nothing(t, 150*time.Millisecond)
}

func bookmark(t *testing.T, c *xmppdtest.Client, room, notify string) {
	t.Helper()
	res := c.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>"+
		"<item id='"+room+"'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>bob</nick>"+
		"<extensions><notify xmlns='urn:xmpp:notification-settings:1'>"+notify+"</notify></extensions></conference></item>"+
		"</publish></pubsub>")
	if res.Attr("type") != "result" {
		t.Fatalf("bookmark publish: %s", res)
	}
}

// TestNotificationSettingsFromBookmarks: XEP-0492 settings in bookmarks
// are read with XEP-0492's identity rules; never stops pushes.
func TestNotificationSettingsFromBookmarks(t *testing.T) {
	e := start(t)
	bob := e.online(t, "bob", "phone")
	bobJID, room := xmppd.JID{Local: "bob", Domain: "localhost"}, xmppd.JID{Local: "team", Domain: "conference.localhost"}
	if got := e.push.Setting(bobJID, room); got != push.SettingAlways {
		t.Errorf("default = %s", got)
	}
	bookmark(t, bob, "team@conference.localhost",
		"<never identity-category='client' identity-type='pc'/><on-mention identity-category='client' identity-type='phone'/><always/>")
	if got := e.push.Setting(bobJID, room); got != push.SettingOnMention {
		t.Errorf("phone-specific setting = %s, want on-mention", got)
	}
	bookmark(t, bob, "team@conference.localhost", "<never identity-category='client'/><always/>")
	if got := e.push.Setting(bobJID, room); got != push.SettingNever {
		t.Errorf("category setting = %s, want never", got)
	}
	if res := bob.IQ("set", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:xmpp:bookmarks:1'><item id='team@conference.localhost'/></retract></pubsub>"); res.Attr("type") != "result" {
		t.Fatalf("retract: %s", res)
	}
	if got := e.push.Setting(bobJID, room); got != push.SettingAlways {
		t.Errorf("after retract = %s, want always", got)
	}

	// A conversation set to never is not pushed; others are.
	bookmark(t, bob, "alice@localhost", "<never/>")
	enable(t, bob, "n3", "")
	e.offline(t, bob)
	alice := e.online(t, "alice", "a")
	carol := e.online(t, "carol", "c")
	chat(alice, "bob@localhost", "muted")
	chat(carol, "bob@localhost", "not muted")
	if _, f, _ := summary(t, e.app.next(t)); f["last-message-sender"] != "carol@localhost" {
		t.Errorf("pushed %v", f)
	}
	e.app.nothing(t, 150*time.Millisecond)
}

// TestAppServerErrorDisables: an error from the app server ends the
// registration (XEP-0357 §7); disable ends it too.
func TestAppServerErrorDisables(t *testing.T) {
	e := start(t)
	bob := e.online(t, "bob", "phone")
	enable(t, bob, "n4", "")
	e.offline(t, bob)
	alice := e.online(t, "alice", "a")
	e.app.setFail("item-not-found")
	chat(alice, "bob@localhost", "one")
	e.app.next(t)
	e.app.setFail("")
	// The disable happens after the answer: wait for it by polling the
	// observable effect (a later message is not pushed).
	deadline := time.Now().Add(5 * time.Second)
	for {
		chat(alice, "bob@localhost", "two")
		select {
		case <-e.app.got:
			if time.Now().After(deadline) {
				t.Fatal("registration still active after the app server's error")
			}
			continue
		case <-time.After(150 * time.Millisecond):
		}
		break
	}

	bob = e.online(t, "bob", "phone")
	enable(t, bob, "n5", "")
	if res := bob.IQ("set", "", "<disable xmlns='urn:xmpp:push:0' jid='"+appHost+"'/>"); res.Attr("type") != "result" {
		t.Fatalf("disable: %s", res)
	}
	e.offline(t, bob)
	chat(alice, "bob@localhost", "three")
	e.app.nothing(t, 150*time.Millisecond)
}

// TestEnableBadRequests: missing jid, a wrong form, someone else's account.
func TestEnableBadRequests(t *testing.T) {
	e := start(t)
	bob := e.online(t, "bob", "phone")
	for _, c := range []struct{ to, payload, cond string }{
		{"", "<enable xmlns='urn:xmpp:push:0' node='x'/>", "bad-request"},
		{"", "<enable xmlns='urn:xmpp:push:0' jid='@@' node='x'/>", "jid-malformed"},
		{"", "<enable xmlns='urn:xmpp:push:0' jid='" + appHost + "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable>", "bad-request"},
		{"alice@localhost", "<enable xmlns='urn:xmpp:push:0' jid='" + appHost + "' node='x'/>", "not-allowed"},
		{"", "<disable xmlns='urn:xmpp:push:0'/>", "bad-request"},
	} {
		res := bob.IQ("set", c.to, c.payload)
		if res.Attr("type") != "error" || res.Child("error", "").Child(c.cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Errorf("%s: got %s, want %s", c.payload, res, c.cond)
		}
	}
	found := false
	for _, f := range e.srv.AccountFeatures() {
		found = found || f == push.NS
	}
	if !found {
		t.Error("urn:xmpp:push:0 not announced on accounts")
	}
}
