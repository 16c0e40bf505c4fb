package sms_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/sms"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const nsReceipts = "urn:xmpp:receipts"

// The gateway is a component listed in the server's disco#items, a
// XEP-0100 gateway/sms, and translates written numbers to JIDs.
func TestDiscoAndGateway(t *testing.T) {
	e := start(t, newProvider(t))
	items := e.alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	found := false
	for _, it := range items.Child("query", "http://jabber.org/protocol/disco#items").Children {
		found = found || it.Attr("jid") == gateway
	}
	if !found {
		t.Fatalf("server disco#items lacks %s: %s", gateway, items)
	}
	info := e.alice.IQ("get", gateway, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	id := info.Child("query", "http://jabber.org/protocol/disco#info").Child("identity", "http://jabber.org/protocol/disco#info")
	if id == nil || id.Attr("category") != "gateway" || id.Attr("type") != "sms" {
		t.Fatalf("want identity gateway/sms, got %s", info)
	}
	res := e.alice.IQ("set", gateway, "<query xmlns='jabber:iq:gateway'><prompt>0049 151 234-567 89</prompt></query>")
	if got := res.Child("query", "jabber:iq:gateway").ChildText("jid", "jabber:iq:gateway"); got != numJID {
		t.Fatalf("translated JID = %q, want %s (%s)", got, numJID, res)
	}
	res = e.alice.IQ("set", gateway, "<query xmlns='jabber:iq:gateway'><prompt>12</prompt></query>")
	if res.Attr("type") != "error" {
		t.Fatalf("a bad number translated: %s", res)
	}
}

// JSON format: the fields, the bearer token; a delivery report becomes a
// XEP-0184 receipt for the original message id.
func TestSendJSONAndReceipt(t *testing.T) {
	prov := newProvider(t, reply{http.StatusOK, `{"id":"prov-77"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m1", "Your order &amp; invoice are ready")
	req := prov.next(t)
	if req.path != "/send" || req.header.Get("Content-Type") != "application/json" {
		t.Fatalf("request to %s with type %q", req.path, req.header.Get("Content-Type"))
	}
	if got := req.header.Get("Authorization"); got != "Bearer provider-token" {
		t.Fatalf("Authorization = %q", got)
	}
	m := req.json(t)
	if m["to"] != number || m["from"] != sender || m["text"] != "Your order & invoice are ready" || m["id"] == "" {
		t.Fatalf("provider got %v", m)
	}
	e.waitRecorded(t, "prov-77")
	if status, _ := e.signedJSON(t, "/sms/status", map[string]string{"id": "prov-77", "status": "delivered"}); status != http.StatusOK {
		t.Fatalf("delivery report answered %d", status)
	}
	rcpt := e.alice.Expect("receipt", isMessageFrom(numJID))
	if r := rcpt.Child("received", nsReceipts); r == nil || r.Attr("id") != "m1" {
		t.Fatalf("want <received id='m1'/>, got %s", rcpt)
	}
	// The report was final: a second one names no waiting SMS.
	if status, _ := e.signedJSON(t, "/sms/status", map[string]string{"id": "prov-77", "status": "delivered"}); status != http.StatusNotFound {
		t.Fatalf("repeated report answered %d, want 404", status)
	}
	e.alice.ExpectNothing(100*time.Millisecond, func(el *wire.Element) bool { return el.Attr("type") == "error" })
}

// Twilio format: the form fields, basic auth and the status callback; an
// "undelivered" report becomes a message error naming the number.
func TestSendTwilioAndFailedReport(t *testing.T) {
	prov := newProvider(t, reply{http.StatusCreated, `{"sid":"SM123","status":"queued"}`})
	e := start(t, prov, func(x *sms.Extension) {
		x.Config.ProviderFormat = sms.FormatTwilio
		x.Config.AccountSID = "AC42"
		x.Config.AuthToken = "twilio-token"
		x.Config.Token = ""
	})
	text(e.alice, numJID, "m2", "hello")
	req := prov.next(t)
	if !req.basic || req.user != "AC42" || req.pass != "twilio-token" {
		t.Fatalf("basic auth %v %q %q", req.basic, req.user, req.pass)
	}
	if req.header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type %q", req.header.Get("Content-Type"))
	}
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("To") != number || form.Get("From") != sender || form.Get("Body") != "hello" ||
		form.Get("StatusCallback") != e.srv.Config.HTTP.PublicURL+"/sms/status" {
		t.Fatalf("provider got %v", form)
	}
	e.waitRecorded(t, "SM123")
	// Twilio signs with its own scheme; a wrong signature is refused.
	form = url.Values{"MessageSid": {"SM123"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}
	twilioSig := sms.TwilioSignature("twilio-token", e.srv.Config.HTTP.PublicURL+"/sms/status", form)
	if status, _ := e.postHeader(t, "/sms/status", form.Encode(), "X-Twilio-Signature", sms.TwilioSignature("wrong", e.srv.Config.HTTP.PublicURL+"/sms/status", form)); status != http.StatusUnauthorized {
		t.Fatalf("wrong Twilio signature answered %d", status)
	}
	status, answer := e.postHeader(t, "/sms/status", form.Encode(), "X-Twilio-Signature", twilioSig)
	if status != http.StatusOK || !strings.Contains(answer, "<Response>") {
		t.Fatalf("report answered %d %q", status, answer)
	}
	el := messageError(e.alice, numJID)
	if !hasCondition(el, "recipient-unavailable") || !contains(errorText(el), number, "undelivered", "30003") {
		t.Fatalf("want recipient-unavailable naming the number and status, got %s", el)
	}
}

// A 4xx is final: one request, then an error of type cancel naming the
// number and the provider's answer.
func TestProvider4xx(t *testing.T) {
	prov := newProvider(t, reply{http.StatusBadRequest, `{"message":"invalid destination"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m3", "hi")
	el := messageError(e.alice, numJID)
	if el.Attr("type") != "cancel" || !contains(errorText(el), number, "400", "invalid destination") {
		t.Fatalf("got %s", el)
	}
	time.Sleep(50 * time.Millisecond) // no retry may follow
	if n := prov.count(); n != 1 {
		t.Fatalf("provider got %d requests, want 1", n)
	}
}

// 5xx twice, then success: the same SMS (same id) is tried three times,
// accepted once, and the sender hears no error.
func TestProvider5xxThenSuccess(t *testing.T) {
	prov := newProvider(t, reply{http.StatusServiceUnavailable, "busy"}, reply{http.StatusBadGateway, ""}, reply{http.StatusOK, `{"id":"prov-ok"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m4", "retry me")
	ids := map[string]bool{}
	for range 3 {
		ids[prov.next(t).json(t)["id"]] = true
	}
	if len(ids) != 1 {
		t.Fatalf("retries carried different ids: %v", ids)
	}
	e.alice.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.Attr("type") == "error" })
	if n := prov.count(); n != 3 {
		t.Fatalf("provider got %d requests, want 3", n)
	}
	// Accepted once, and recorded for its delivery report.
	e.waitRecorded(t, "prov-ok")
}

// Every attempt fails: after max_attempts the sender gets a wait error.
func TestRetriesExhausted(t *testing.T) {
	prov := newProvider(t, reply{500, ""}, reply{500, ""}, reply{500, `{"error":"down"}`}, reply{200, `{"id":"late"}`})
	e := start(t, prov)
	text(e.alice, numJID, "m5", "doomed")
	el := messageError(e.alice, numJID)
	if el.Attr("type") != "wait" || !contains(errorText(el), number, "500", "3 attempts") {
		t.Fatalf("got %s", el)
	}
	if n := prov.count(); n != 3 {
		t.Fatalf("provider got %d requests, want 3 (max_attempts)", n)
	}
}

// An unreachable provider is retried like a 5xx, then reported.
func TestProviderUnreachable(t *testing.T) {
	prov := newProvider(t)
	e := start(t, prov, func(x *sms.Extension) { x.Config.ProviderURL = "http://127.0.0.1:1/send" })
	text(e.alice, numJID, "m6", "nobody home")
	el := messageError(e.alice, numJID)
	if el.Attr("type") != "wait" || !hasCondition(el, "remote-server-timeout") || !contains(errorText(el), number, "could not be reached", "3 attempts") {
		t.Fatalf("got %s", el)
	}
	if strings.Contains(errorText(el), "127.0.0.1:1/send") {
		t.Fatalf("the error repeats the provider URL: %s", errorText(el))
	}
}

// Numbers that are not E.164 are refused at once, naming the number.
func TestMalformedNumbers(t *testing.T) {
	prov := newProvider(t)
	e := start(t, prov)
	for _, n := range []string{
		"4915123456789",     // no '+'
		"+04915123456789",   // country code starting with 0
		"+1234567",          // 7 digits
		"+1234567890123456", // 16 digits
		"+49151abc4567",     // letters
		"+49.151.234567",    // punctuation
		"+",                 // nothing
	} {
		text(e.alice, n+"@"+gateway, "bad", "x")
		el := messageError(e.alice, n+"@"+gateway)
		if el.Attr("type") != "modify" || !hasCondition(el, "jid-malformed") || !strings.Contains(errorText(el), n) {
			t.Errorf("%s: got %s", n, el)
		}
	}
	// A message to the gateway itself is no SMS either.
	text(e.alice, gateway, "bad", "x")
	if el := messageError(e.alice, gateway); !hasCondition(el, "service-unavailable") {
		t.Errorf("message to the gateway: got %s", el)
	}
	e.alice.Sync()
	if n := prov.count(); n != 0 {
		t.Fatalf("provider got %d requests for malformed numbers", n)
	}
}

// A text too long for an SMS is refused; a message without body (a chat
// state) is not sent.
func TestTooLongAndBodyless(t *testing.T) {
	prov := newProvider(t)
	e := start(t, prov)
	text(e.alice, numJID, "long", strings.Repeat("a", 1601))
	if el := messageError(e.alice, numJID); !hasCondition(el, "not-acceptable") || !contains(errorText(el), "1601", number) {
		t.Fatalf("got %s", el)
	}
	e.alice.Sendf("<message type='chat' to='%s'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>", numJID)
	e.alice.Sync()
	time.Sleep(50 * time.Millisecond)
	if n := prov.count(); n != 0 {
		t.Fatalf("provider got %d requests", n)
	}
}

// The queue is bounded: with the worker busy and the queue full, the next
// SMS is refused at once with wait / resource-constraint.
func TestQueueFull(t *testing.T) {
	prov := newProvider(t)
	prov.hold = make(chan struct{})
	defer close(prov.hold)
	e := start(t, prov, func(x *sms.Extension) { x.Config.Workers, x.Config.QueueSize = 1, 1 })
	text(e.alice, numJID, "q1", "one")
	prov.next(t) // the worker is busy now
	text(e.alice, numJID, "q2", "two")
	text(e.alice, numJID, "q3", "three")
	el := e.alice.Expect("queue full error", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "error"
	})
	if el.Attr("id") != "q3" || !hasCondition(el.Child("error", "jabber:client"), "resource-constraint") {
		t.Fatalf("got %s", el)
	}
}

// Credentials from the environment override the file.
func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("XMPPD_SMS_TOKEN", "env-token")
	t.Setenv("XMPPD_SMS_SENDER", "ACME")
	prov := newProvider(t)
	e := start(t, prov)
	text(e.alice, numJID, "env", "hi")
	req := prov.next(t)
	if req.header.Get("Authorization") != "Bearer env-token" || req.json(t)["from"] != "ACME" {
		t.Fatalf("got %q, %v", req.header.Get("Authorization"), req.json(t))
	}
}

// Without provider_url the gateway is off: its domain is unknown.
func TestDisabled(t *testing.T) {
	ext := sms.New()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(ext))
	srv.AddUser(t, "alice", "alice-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	text(alice, numJID, "off", "hi")
	if el := messageError(alice, numJID); !hasCondition(el, "remote-server-not-found") {
		t.Fatalf("got %s", el)
	}
}

// A number can be a roster contact: the gateway approves subscriptions.
func TestSubscribeToNumber(t *testing.T) {
	e := start(t, newProvider(t))
	e.alice.IQ("get", "", "<query xmlns='jabber:iq:roster'/>") // roster pushes from now on
	e.alice.Send("<presence type='subscribe' to='" + numJID + "'/>")
	e.alice.Expect("roster push with subscription to", func(el *wire.Element) bool {
		q := el.Child("query", "jabber:iq:roster")
		if el.Name != "iq" || q == nil {
			return false
		}
		it := q.Child("item", "jabber:iq:roster")
		return it != nil && it.Attr("jid") == numJID && it.Attr("subscription") == "to"
	})
}

// An SMS the server took is not lost by a restart: one still waiting for
// a retry is sent by the next run.
func TestQueuedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	down := newProvider(t, reply{http.StatusServiceUnavailable, ""})
	e := startIn(t, dir, down, func(x *sms.Extension) {
		x.Config.RetryBackoff = config.Duration{Duration: time.Hour}
	})
	text(e.alice, numJID, "keep", "do not lose me")
	down.next(t) // first attempt failed; the retry waits an hour
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	up := newProvider(t)
	e2 := startIn(t, dir, up)
	req := up.next(t)
	if m := req.json(t); m["to"] != number || m["text"] != "do not lose me" {
		t.Fatalf("after restart the provider got %v", m)
	}
	// Sent once: out of the outbox.
	e2.alice.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.Attr("type") == "error" })
	if n := up.count(); n != 1 {
		t.Fatalf("provider got %d requests after restart, want 1", n)
	}
}
