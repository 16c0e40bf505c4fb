package sms

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// SignatureHeader carries the hex HMAC-SHA256 of a webhook's raw body under
// sms.inbound_secret ("sha256=" in front is accepted too).
const SignatureHeader = "X-Xmppd-Signature"

// Webhook request bounds.
const (
	maxWebhookBody     = 64 << 10
	webhookReadTimeout = 30 * time.Second
)

// webhook is the fields of an inbound SMS or a delivery report, from JSON
// or from Twilio's form.
type webhook struct {
	From, To, Text, ID, Status, ErrorCode string
	form                                  bool // came as a form: answer TwiML
}

func (e *Extension) serveInbound(w http.ResponseWriter, r *http.Request) {
	in, ok := e.readWebhook(w, r)
	if !ok {
		return
	}
	if err := checkNumber(in.From); err != nil {
		http.Error(w, "from: "+err.Error(), http.StatusBadRequest)
		return
	}
	if strings.TrimSpace(in.Text) == "" {
		http.Error(w, "text is empty", http.StatusBadRequest)
		return
	}
	if in.ID != "" && e.seen(in.ID) {
		e.log.Info("SMS received again, not delivered twice", "number", in.From, "provider_id", in.ID)
		acknowledge(w, in)
		return
	}
	dest, err := e.deliverInbound(in)
	if err != nil {
		e.log.Error("inbound SMS not delivered", "number", in.From, "provider_id", in.ID, "err", err)
		e.unsee(in.ID)
		http.Error(w, "not delivered: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	e.log.Info("SMS received", "number", in.From, "to", dest.String(), "provider_id", in.ID)
	acknowledge(w, in)
}

func (e *Extension) serveStatus(w http.ResponseWriter, r *http.Request) {
	in, ok := e.readWebhook(w, r)
	if !ok {
		return
	}
	if in.ID == "" || in.Status == "" {
		http.Error(w, "id and status are required", http.StatusBadRequest)
		return
	}
	if err := e.report(in); err != nil {
		if errors.Is(err, errUnknownSMS) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		e.log.Error("delivery report failed", "provider_id", in.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	acknowledge(w, in)
}

// readWebhook reads and authenticates a webhook and parses its fields;
// when ok is false it has answered.
func (e *Extension) readWebhook(w http.ResponseWriter, r *http.Request) (webhook, bool) {
	// The listener has no overall read timeout (uploads are long): a
	// small body must come quickly.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(webhookReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", maxWebhookBody), http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "could not read the body", http.StatusBadRequest)
		}
		return webhook{}, false
	}
	if !e.validSignature(r.Header.Get(SignatureHeader), body) && !e.validTwilioSignature(r, body) {
		e.log.Warn("SMS webhook refused: bad or missing signature", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "bad or missing "+SignatureHeader, http.StatusUnauthorized)
		return webhook{}, false
	}
	in, err := parseWebhook(r.Header.Get("Content-Type"), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return webhook{}, false
	}
	return in, true
}

// validSignature compares in constant time.
func (e *Extension) validSignature(header string, body []byte) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(header), "sha256="))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, Sign([]byte(e.Config.InboundSecret), body))
}

// validTwilioSignature checks Twilio's own X-Twilio-Signature (twilio
// format only): base64 HMAC-SHA1 under the auth token of the URL Twilio
// called (public_url + path) followed by the sorted form fields.
func (e *Extension) validTwilioSignature(r *http.Request, body []byte) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || e.Config.ProviderFormat != FormatTwilio || e.publicURL == "" {
		return false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	want := TwilioSignature(e.Config.AuthToken, e.publicURL+r.URL.RequestURI(), form)
	return hmac.Equal([]byte(sig), []byte(want))
}

// TwilioSignature is Twilio's request signature of a form POST to u.
func TwilioSignature(authToken, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, u)
	for _, k := range keys {
		for _, v := range form[k] {
			io.WriteString(mac, k)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign returns the HMAC-SHA256 of body under secret: what a provider (or a
// relay in front of it) puts, hex-encoded, in SignatureHeader.
func Sign(secret, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return mac.Sum(nil)
}

func parseWebhook(contentType string, body []byte) (webhook, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	var in webhook
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return in, fmt.Errorf("malformed form body: %v", err)
		}
		in = webhook{From: v.Get("From"), To: v.Get("To"), Text: v.Get("Body"), ID: v.Get("MessageSid"),
			Status: v.Get("MessageStatus"), ErrorCode: v.Get("ErrorCode"), form: true}
	case "application/json", "":
		var m struct {
			From   string `json:"from"`
			To     string `json:"to"`
			Text   string `json:"text"`
			ID     string `json:"id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&m); err != nil {
			return in, fmt.Errorf("malformed JSON body: %v", err)
		}
		in = webhook{From: m.From, To: m.To, Text: m.Text, ID: m.ID, Status: m.Status, ErrorCode: m.Error}
	default:
		return in, fmt.Errorf("Content-Type %q is neither application/json nor application/x-www-form-urlencoded", contentType)
	}
	if !utf8.ValidString(in.Text) {
		return in, errors.New("text is not valid UTF-8")
	}
	in.Status = strings.ToLower(strings.TrimSpace(in.Status))
	return in, nil
}

// acknowledge answers a handled webhook: Twilio expects TwiML, others JSON.
func acknowledge(w http.ResponseWriter, in webhook) {
	if in.form {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}
