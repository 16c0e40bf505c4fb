package sms

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzNumber: checkNumber takes exactly the E.164 numbers, and each is a
// JID local part as it is (the gateway's +E164@sms.<domain> addresses).
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"+4915112345678", "+0123456789", "4915112345678", "+1 555 0100", "+１２３４５６７８９", "+123456789012345", "+1234567890123456", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkNumber(s)
		if (err == nil) != e164.MatchString(s) {
			t.Fatalf("checkNumber(%q) = %v", s, err)
		}
		if err != nil {
			return
		}
		j, err := xmppd.ParseJID(s + "@sms.localhost")
		if err != nil || j.Local != s {
			t.Fatalf("%q is not the local part of its JID: %q, %v", s, j.Local, err)
		}
	})
}

// FuzzWebhook: any inbound webhook body (JSON or Twilio's form) is
// refused or read into fields with a UTF-8 text and a lower-case trimmed
// status, and the same fields sent again in either encoding read the same.
func FuzzWebhook(f *testing.F) {
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", `{"from":"+4915112345678","to":"+4930123456","text":"hi \u00e9","id":"m1"}`},
		{"application/json; charset=utf-8", `{"id":"m1","status":" Delivered ","error":"30003"}`},
		{"", `{"from":1}`},
		{"application/x-www-form-urlencoded", "From=%2B4915112345678&To=%2B4930123456&Body=hello+there&MessageSid=SM1"},
		{"application/x-www-form-urlencoded", "MessageSid=SM1&MessageStatus=UNDELIVERED&ErrorCode=30005&Body=%ff"},
		{"text/plain", "hello"},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		in, err := parseWebhook(ctype, body)
		if err != nil {
			return
		}
		if !utf8.ValidString(in.Text) || in.Status != strings.ToLower(strings.TrimSpace(in.Status)) {
			t.Fatalf("read %+v", in)
		}
		form := url.Values{"From": {in.From}, "To": {in.To}, "Body": {in.Text}, "MessageSid": {in.ID},
			"MessageStatus": {in.Status}, "ErrorCode": {in.ErrorCode}}
		again, err := parseWebhook("application/x-www-form-urlencoded", []byte(form.Encode()))
		if err != nil || again != (webhook{in.From, in.To, in.Text, in.ID, in.Status, in.ErrorCode, true}) {
			t.Fatalf("%+v sent again as a form reads %+v, %v", in, again, err)
		}
		if !utf8.ValidString(in.From + in.To + in.ID + in.Status + in.ErrorCode) {
			return // a form may carry any bytes there; JSON cannot (only the text must be UTF-8)
		}
		js, err := json.Marshal(map[string]string{"from": in.From, "to": in.To, "text": in.Text, "id": in.ID,
			"status": in.Status, "error": in.ErrorCode})
		if err != nil {
			t.Fatal(err)
		}
		again, err = parseWebhook("application/json", js)
		if err != nil || again != (webhook{in.From, in.To, in.Text, in.ID, in.Status, in.ErrorCode, false}) {
			t.Fatalf("%+v sent again as JSON reads %+v, %v", in, again, err)
		}
	})
}
