package sms_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/sms"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

func inbound(from, text, id string) map[string]string {
	return map[string]string{"from": from, "to": sender, "text": text, "id": id}
}

func isChatFrom(from, body string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == from && el.ChildText("body", "jabber:client") == body
	}
}

// A reply from a number goes to the user who last texted it, once, even
// when the provider repeats the webhook.
func TestInboundToLastSender(t *testing.T) {
	prov := newProvider(t, reply{http.StatusOK, `{"id":"out-1"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m1", "are you there?")
	prov.next(t)
	e.waitRecorded(t, "out-1")
	if status, answer := e.signedJSON(t, "/sms/inbound", inbound(number, "yes <3 & more", "in-1")); status != http.StatusOK {
		t.Fatalf("inbound answered %d %q", status, answer)
	}
	el := e.alice.Expect("the reply", isChatFrom(numJID, "yes <3 & more"))
	if el.Attr("type") != "chat" {
		t.Fatalf("want a chat message, got %s", el)
	}
	if status, _ := e.signedJSON(t, "/sms/inbound", inbound(number, "yes <3 & more", "in-1")); status != http.StatusOK {
		t.Fatalf("repeated webhook answered %d", status)
	}
	e.alice.ExpectNothing(200*time.Millisecond, isMessageFrom(numJID))
	e.bob.ExpectNothing(10*time.Millisecond, isMessageFrom(numJID))
}

// A number nobody texted goes to default_route; Twilio's form works too.
func TestInboundDefaultRoute(t *testing.T) {
	e := start(t, newProvider(t))
	form := url.Values{"From": {"+447700900123"}, "To": {sender}, "Body": {"new customer"}, "MessageSid": {"SM9"}}.Encode()
	status, answer := e.signed(t, "/sms/inbound", "application/x-www-form-urlencoded", form)
	if status != http.StatusOK || !strings.Contains(answer, "<Response>") {
		t.Fatalf("inbound answered %d %q", status, answer)
	}
	e.bob.Expect("the SMS", isChatFrom("+447700900123@"+gateway, "new customer"))
	e.alice.ExpectNothing(100*time.Millisecond, isMessageFrom("+447700900123@"+gateway))
}

// An SMS for a user who is offline waits in offline storage.
func TestInboundOffline(t *testing.T) {
	e := start(t, newProvider(t), func(x *sms.Extension) { x.Config.DefaultRoute = "carol@localhost" })
	if status, _ := e.signedJSON(t, "/sms/inbound", inbound(number, "while you were out", "off-1")); status != http.StatusOK {
		t.Fatalf("inbound answered %d", status)
	}
	carol := e.srv.Login(t, "carol", "carol-pw")
	carol.Send("<presence/>")
	el := carol.Expect("the stored SMS", isChatFrom(numJID, "while you were out"))
	if el.Child("delay", "urn:xmpp:delay") == nil {
		t.Fatalf("want an offline message with <delay/>, got %s", el)
	}
}

// Without a route the webhook fails with 503 so the provider may retry.
func TestInboundNoRoute(t *testing.T) {
	e := start(t, newProvider(t), func(x *sms.Extension) { x.Config.DefaultRoute = "" })
	if status, _ := e.signedJSON(t, "/sms/inbound", inbound(number, "hello?", "in-x")); status != http.StatusServiceUnavailable {
		t.Fatalf("inbound without a route answered %d, want 503", status)
	}
}

// A bad or missing signature is 401 and nothing is delivered.
func TestInboundBadSignature(t *testing.T) {
	e := start(t, newProvider(t))
	body := `{"from":"+4915123456789","to":"+15550001111","text":"forged","id":"f1"}`
	for name, sig := range map[string]string{
		"missing":      "",
		"not hex":      "zz",
		"wrong key":    strings.Repeat("ab", 32),
		"other body":   sign(body + " "),
		"truncated":    sign(body)[:40],
		"wrong prefix": "sha1=" + sign(body),
	} {
		if status, _ := e.post(t, "/sms/inbound", "application/json", body, sig); status != http.StatusUnauthorized {
			t.Errorf("%s signature: %d, want 401", name, status)
		}
		if status, _ := e.post(t, "/sms/status", "application/json", `{"id":"x","status":"delivered"}`, sig); status != http.StatusUnauthorized {
			t.Errorf("%s signature on /sms/status: %d, want 401", name, status)
		}
	}
	e.bob.ExpectNothing(200*time.Millisecond, isMessageFrom(numJID))
	// The GitHub-style "sha256=" prefix is accepted.
	if status, _ := e.post(t, "/sms/inbound", "application/json", body, "sha256="+sign(body)); status != http.StatusOK {
		t.Fatalf("sha256= prefixed signature: %d", status)
	}
	e.bob.Expect("the SMS", isChatFrom(numJID, "forged"))
}

// Malformed bodies and numbers are 400, an oversized body 413, a report
// for an unknown SMS 404.
func TestInboundMalformed(t *testing.T) {
	e := start(t, newProvider(t))
	for name, c := range map[string]struct {
		path, ctype, body string
		want              int
	}{
		"not JSON":        {"/sms/inbound", "application/json", `{"from":`, 400},
		"wrong JSON type": {"/sms/inbound", "application/json", `{"from":4915123456789,"text":"x"}`, 400},
		"no from":         {"/sms/inbound", "application/json", `{"text":"x"}`, 400},
		"national number": {"/sms/inbound", "application/json", `{"from":"015123456789","text":"x"}`, 400},
		"letters":         {"/sms/inbound", "application/json", `{"from":"+49ABC","text":"x"}`, 400},
		"empty text":      {"/sms/inbound", "application/json", `{"from":"+4915123456789","text":"  "}`, 400},
		"content type":    {"/sms/inbound", "text/plain", `from=+4915123456789`, 400},
		"bad form":        {"/sms/inbound", "application/x-www-form-urlencoded", `From=%zz`, 400},
		"too large":       {"/sms/inbound", "application/json", `{"from":"+4915123456789","text":"` + strings.Repeat("a", 70000) + `"}`, 413},
		"status no id":    {"/sms/status", "application/json", `{"status":"delivered"}`, 400},
		"status unknown":  {"/sms/status", "application/json", `{"id":"nope","status":"delivered"}`, 404},
	} {
		if status, answer := e.signed(t, c.path, c.ctype, c.body); status != c.want {
			t.Errorf("%s: %d %q, want %d", name, status, answer, c.want)
		}
	}
	e.bob.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.Name == "message" })
}

// Both directions are in the user's archive (MAM), like any 1:1 message.
func TestArchivedBothWays(t *testing.T) {
	prov := newProvider(t, reply{http.StatusOK, `{"id":"arch-1"}`})
	e := start(t, prov)
	text(e.alice, numJID, "out", "outbound text")
	prov.next(t)
	e.waitRecorded(t, "arch-1")
	if status, _ := e.signedJSON(t, "/sms/inbound", inbound(number, "inbound text", "in-a")); status != http.StatusOK {
		t.Fatalf("inbound answered %d", status)
	}
	e.alice.Expect("the SMS", isChatFrom(numJID, "inbound text"))
	got := strings.Join(archived(t, e.alice), "|")
	if !contains(got, numJID+":outbound text", numJID+":inbound text") {
		t.Fatalf("alice's archive: %v", got)
	}
}

// archived returns "peer:body" of every message in c's archive.
func archived(t *testing.T, c *xmppdtest.Client) []string {
	t.Helper()
	c.Send("<iq type='set' id='mamq'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>")
	var out []string
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == "mamq" {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query failed: %s", el)
			}
			return out
		}
		r := el.Child("result", "urn:xmpp:mam:2")
		if r == nil {
			continue
		}
		fw := r.Child("forwarded", "urn:xmpp:forward:0")
		if fw == nil || fw.Child("message", "jabber:client") == nil {
			t.Fatalf("MAM result without a message: %s", el)
		}
		m := fw.Child("message", "jabber:client")
		peer := m.Attr("from")
		if strings.HasPrefix(peer, c.JID.Bare().String()) {
			peer = m.Attr("to")
		}
		out = append(out, peer+":"+m.ChildText("body", "jabber:client"))
	}
}

// A room as default route: the number joins as an occupant once and
// speaks there; a room that refuses it makes the webhook fail.
func TestInboundToRoom(t *testing.T) {
	e := start(t, newProvider(t), func(x *sms.Extension) { x.Config.DefaultRoute = "support@conference.localhost" })
	if _, err := e.srv.AdminCommand(context.Background(), "room.create", map[string]string{"jid": "support@conference.localhost", "kind": "space"}); err != nil {
		t.Fatal(err)
	}
	e.alice.Send("<presence to='support@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	e.alice.Expect("subject", func(el *wire.Element) bool {
		return el.Name == "message" && el.Child("subject", "jabber:client") != nil
	})

	nick := "support@conference.localhost/" + number
	for i, body := range []string{"first text", "second text"} {
		if status, answer := e.signedJSON(t, "/sms/inbound", inbound(number, body, "r"+body)); status != http.StatusOK {
			t.Fatalf("inbound %d answered %d %q", i, status, answer)
		}
		el := e.alice.Expect("groupchat", isChatFrom(nick, body))
		if el.Attr("type") != "groupchat" {
			t.Fatalf("want groupchat, got %s", el)
		}
	}
	// One join for both texts.
	e.alice.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return el.Name == "presence" && el.Attr("from") == nick })

	// The room goes: the number is out, and the next text finds no room.
	if _, err := e.srv.AdminCommand(context.Background(), "room.destroy", map[string]string{"jid": "support@conference.localhost"}); err != nil {
		t.Fatal(err)
	}
	status, answer := e.signedJSON(t, "/sms/inbound", inbound(number, "anyone?", "r3"))
	if status != http.StatusServiceUnavailable || !strings.Contains(answer, "support@conference.localhost") {
		t.Fatalf("text to a destroyed room: %d %q", status, answer)
	}

	// A members-only room refuses the number.
	e2 := start(t, newProvider(t), func(x *sms.Extension) { x.Config.DefaultRoute = "closed@conference.localhost" })
	if _, err := e2.srv.AdminCommand(context.Background(), "room.create", map[string]string{"jid": "closed@conference.localhost", "kind": "space", "private": "true"}); err != nil {
		t.Fatal(err)
	}
	status, answer = e2.signedJSON(t, "/sms/inbound", inbound(number, "let me in", "c1"))
	if status != http.StatusServiceUnavailable || !contains(answer, "closed@conference.localhost", "registration-required") {
		t.Fatalf("members-only room: %d %q", status, answer)
	}
}

// A deleted account's routes go with it: a new account of the same name
// does not get the old account's customers.
func TestAccountDeletedDropsRoutes(t *testing.T) {
	prov := newProvider(t, reply{http.StatusOK, `{"id":"del-1"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m1", "hi")
	prov.next(t)
	e.waitRecorded(t, "del-1")
	ctx := context.Background()
	if _, err := e.srv.AdminCommand(ctx, "user.del", map[string]string{"jid": "alice@localhost"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AdminCommand(ctx, "user.add", map[string]string{"jid": "alice@localhost", "password": "new-pw"}); err != nil {
		t.Fatal(err)
	}
	newAlice := e.srv.Login(t, "alice", "new-pw")
	newAlice.Available()
	if status, _ := e.signedJSON(t, "/sms/inbound", inbound(number, "for the old alice", "del-in")); status != http.StatusOK {
		t.Fatalf("inbound answered %d", status)
	}
	e.bob.Expect("the SMS at the default route", isChatFrom(numJID, "for the old alice"))
	newAlice.ExpectNothing(100*time.Millisecond, isMessageFrom(numJID))
	// Its delivery record went too.
	if status, _ := e.signedJSON(t, "/sms/status", map[string]string{"id": "del-1", "status": "delivered"}); status != http.StatusNotFound {
		t.Fatalf("report for a deleted account's SMS answered %d, want 404", status)
	}
}
