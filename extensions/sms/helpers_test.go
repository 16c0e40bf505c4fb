package sms_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/extensions/roster"
	"github.com/xmppd/xmppd/extensions/sms"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	gateway = "sms.localhost"
	number  = "+4915123456789"
	numJID  = number + "@" + gateway
	secret  = "inbound-secret"
	sender  = "+15550001111"
)

// providerRequest is one request the fake provider got.
type providerRequest struct {
	path       string
	header     http.Header
	body       []byte
	user, pass string
	basic      bool
}

// json decodes a JSON request body into a string map.
func (r providerRequest) json(t *testing.T) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("provider got a non-JSON body %q: %v", r.body, err)
	}
	return m
}

type reply struct {
	status int
	body   string
}

// provider is an in-process SMS provider on loopback: it answers with the
// queued replies in order, then with its default (200, an id).
type provider struct {
	*httptest.Server
	mu      sync.Mutex
	got     []providerRequest
	replies []reply
	arrived chan providerRequest
	hold    chan struct{} // when set, requests wait for it to close
}

func newProvider(t *testing.T, replies ...reply) *provider {
	p := &provider{replies: replies, arrived: make(chan providerRequest, 100)}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := providerRequest{path: r.URL.Path, header: r.Header.Clone(), body: body}
	req.user, req.pass, req.basic = r.BasicAuth()
	p.mu.Lock()
	p.got = append(p.got, req)
	rep := reply{http.StatusOK, fmt.Sprintf(`{"id":"prov-%d"}`, len(p.got))}
	if len(p.replies) > 0 {
		rep, p.replies = p.replies[0], p.replies[1:]
	}
	hold := p.hold
	p.mu.Unlock()
	p.arrived <- req
	if hold != nil {
		<-hold
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// next returns the next request, failing after 5s.
func (p *provider) next(t *testing.T) providerRequest {
	t.Helper()
	select {
	case r := <-p.arrived:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the provider got no request within 5s")
	}
	return providerRequest{}
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

type env struct {
	srv   *xmppdtest.Server
	prov  *provider
	alice *xmppdtest.Client
	bob   *xmppdtest.Client
	base  string
}

// start runs a server with the gateway pointed at a fake provider, and
// alice and bob online; bob is the default route.
func start(t *testing.T, prov *provider, configure ...func(*sms.Extension)) *env {
	t.Helper()
	return startIn(t, t.TempDir(), prov, configure...)
}

// startIn is start on the data directory dir (restart tests); users are
// created only if they do not exist yet.
func startIn(t *testing.T, dir string, prov *provider, configure ...func(*sms.Extension)) *env {
	t.Helper()
	ext := sms.New()
	c := &ext.Config
	c.ProviderURL = prov.URL + "/send"
	c.Token = "provider-token"
	c.Sender = sender
	c.InboundSecret = secret
	c.DefaultRoute = "bob@localhost"
	c.MaxAttempts = 3
	c.RetryBackoff = config.Duration{Duration: 10 * time.Millisecond}
	c.Timeout = config.Duration{Duration: 2 * time.Second}
	for _, fn := range configure {
		fn(ext)
	}
	srv := xmppdtest.Start(t, xmppdtest.WithDataDir(dir),
		xmppdtest.WithExtensions(disco.New(), roster.New(), offline.New(), mam.New(), muc.New(), ext))
	for _, u := range []string{"alice", "bob", "carol"} { // carol is never online unless a test logs her in
		if !srv.Accounts().Exists(u) {
			srv.AddUser(t, u, u+"-pw")
		}
	}
	e := &env{srv: srv, prov: prov, base: "http://" + srv.HTTPAddr().String()}
	e.alice = srv.Login(t, "alice", "alice-pw")
	e.alice.Available()
	e.bob = srv.Login(t, "bob", "bob-pw")
	e.bob.Available()
	return e
}

// text sends an SMS from c to number with message id id.
func text(c *xmppdtest.Client, to, id, body string) {
	c.Sendf("<message type='chat' to='%s' id='%s'><body>%s</body><request xmlns='urn:xmpp:receipts'/></message>", to, id, body)
}

// post sends a webhook with the given signature header ("" for none).
func (e *env) post(t *testing.T, path, ctype, body, sig string) (int, string) {
	t.Helper()
	if sig == "" {
		return e.do(t, path, ctype, body)
	}
	return e.do(t, path, ctype, body, sms.SignatureHeader, sig)
}

// postHeader sends a form webhook with one extra header.
func (e *env) postHeader(t *testing.T, path, body, name, value string) (int, string) {
	t.Helper()
	return e.do(t, path, "application/x-www-form-urlencoded", body, name, value)
}

func (e *env) do(t *testing.T, path, ctype, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sign(body string) string { return hex.EncodeToString(sms.Sign([]byte(secret), []byte(body))) }

// signed posts a correctly signed webhook.
func (e *env) signed(t *testing.T, path, ctype, body string) (int, string) {
	t.Helper()
	return e.post(t, path, ctype, body, sign(body))
}

// signedJSON posts v as a signed JSON webhook.
func (e *env) signedJSON(t *testing.T, path string, v any) (int, string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return e.signed(t, path, "application/json", string(b))
}

// messageError waits for a message error from from and returns its
// error element.
func messageError(c *xmppdtest.Client, from string) *wire.Element {
	el := c.Expect("message error from "+from, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "error" && el.Attr("from") == from
	})
	return el.Child("error", "jabber:client")
}

// errorText is the text of an error element.
func errorText(e *wire.Element) string {
	if e == nil {
		return ""
	}
	return e.ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
}

func hasCondition(e *wire.Element, cond string) bool {
	return e != nil && e.Child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas") != nil
}

func isMessageFrom(from string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Name == "message" && el.Attr("from") == from }
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// waitRecorded waits until the gateway recorded the SMS the provider
// accepted under id (the worker does so after the provider's answer):
// a non-final report for it is then answered 200.
func (e *env) waitRecorded(t *testing.T, id string) {
	t.Helper()
	for range 100 {
		if status, _ := e.signedJSON(t, "/sms/status", map[string]string{"id": id, "status": "sent"}); status == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("SMS %s not recorded within 1s", id)
}
