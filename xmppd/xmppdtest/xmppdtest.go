// Package xmppdtest starts a real in-process xmppd on free loopback ports
// with a temporary data directory, and drives it with real mellium client
// sessions (STARTTLS, SASL, bind), so tests read as "alice sends / bob
// receives".
package xmppdtest

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Server is a running test server.
type Server struct {
	*xmppd.Server
	Config *config.Config
	Dir    string
}

// Option adjusts the test server before it starts.
type Option func(*options)

type options struct {
	exts      []xmppd.Extension
	configure []func(*config.Config)
	dir       string
}

// WithDataDir runs the server on dir instead of a fresh temporary
// directory, so a test can stop a server and start another on the same
// data (restart tests). The caller owns dir (use t.TempDir()).
func WithDataDir(dir string) Option {
	return func(o *options) { o.dir = dir }
}

// WithExtensions sets the extensions (default: none but the core).
func WithExtensions(exts ...xmppd.Extension) Option {
	return func(o *options) { o.exts = append(o.exts, exts...) }
}

// WithConfig changes the configuration before start.
func WithConfig(fn func(*config.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, fn) }
}

// Start runs a server on 127.0.0.1 with random ports; it stops at the end
// of the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	srv, err := TryStart(t, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TryStart is Start that returns a failure to start instead of ending the
// test: for a test that fixed a port in the config (say, picked free
// before) and tries again when another process took it meanwhile.
func TryStart(t testing.TB, opts ...Option) (*Server, error) {
	t.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.DirectTLSListen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Auth.SCRAMIterations = 4096
	for _, fn := range o.configure {
		fn(cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("XMPPD_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: o.exts, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("xmppd.New: %w", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &Server{Server: srv, Config: cfg, Dir: dir}, nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// AddUser creates an account.
func (s *Server) AddUser(t testing.TB, user, password string) {
	t.Helper()
	if _, err := s.CreateAccount(user, password); err != nil {
		t.Fatalf("create %s: %v", user, err)
	}
}

// Client is a logged-in mellium client session.
type Client struct {
	t       testing.TB
	Session *xmpp.Session
	JID     jid.JID
	in      chan *wire.Element
	errc    chan error
	raw     net.Conn

	// ResumeAnswer is the server's <resumed/> or <failed/> when the client
	// logged in with DialOptions.Resume.
	ResumeAnswer *wire.Element

	// XEP-0198, client side: counting starts at <enabled/> (or <resumed/>).
	smOn      atomic.Bool
	smH       atomic.Uint32
	smAutoAck atomic.Bool
}

// DialOptions choose how a client logs in.
type DialOptions struct {
	Resource   string
	Mechanisms []sasl.Mechanism // default SCRAM-SHA-256
	DirectTLS  bool
	// Resume, if set, sends XEP-0198 <resume/> instead of binding; the
	// answer is in Client.ResumeAnswer. After <failed/> the client binds
	// Resource on the same stream, as a real client would.
	Resume *SMResume
	// Domain is the stream's 'to' (default: the server's domain), e.g. the
	// guest domain with Mechanisms = sasl.Anonymous and no user.
	Domain string
}

// SMResume is what a client resuming a XEP-0198 session sends.
type SMResume struct {
	PrevID string
	H      uint32 // stanzas the client handled on the old stream
}

// NSSM is the XEP-0198 namespace.
const NSSM = "urn:xmpp:sm:3"

// Login connects user with password, failing the test on error.
func (s *Server) Login(t testing.TB, user, password string) *Client {
	t.Helper()
	c, err := s.Dial(t, user, password, DialOptions{})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Dial connects and logs in; it returns the negotiation error, if any.
func (s *Server) Dial(t testing.TB, user, password string, o DialOptions) (*Client, error) {
	t.Helper()
	addr := s.C2SAddr().String()
	if o.DirectTLS {
		addr = s.DirectTLSAddr().String()
	}
	domain := s.Domain()
	if o.Domain != "" {
		domain = o.Domain
	}
	return DialAddr(t, addr, domain, user, password, o)
}

// DialAddr logs in to any server at addr (e.g. the built binary in
// interop tests) serving domain.
func DialAddr(t testing.TB, addr, domain, user, password string, o DialOptions) (*Client, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: domain, MinVersion: tls.VersionTLS12}
	var rw io.ReadWriter = raw
	var features []xmpp.StreamFeature
	if o.DirectTLS {
		rw = tls.Client(raw, tlsCfg)
	} else {
		features = append(features, xmpp.StartTLS(tlsCfg))
	}
	var answer *wire.Element
	features = append(features, authFeatures(o, password, &answer)...)
	origin, err := jid.New(user, domain, o.Resource)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := xmpp.NewClientSession(ctx, origin, rw, features...)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return newClient(t, sess, raw, answer, o), nil
}

// authFeatures are the client's SASL and bind (or resume) features.
func authFeatures(o DialOptions, password string, answer **wire.Element) []xmpp.StreamFeature {
	mechs := o.Mechanisms
	if len(mechs) == 0 {
		mechs = []sasl.Mechanism{sasl.ScramSha256}
	}
	if o.Resume != nil {
		return []xmpp.StreamFeature{xmpp.SASL("", password, mechs...), smResume(o, answer)}
	}
	return []xmpp.StreamFeature{xmpp.SASL("", password, mechs...), bindResource(o.Resource)}
}

// newClient starts reading a negotiated session.
func newClient(t testing.TB, sess *xmpp.Session, raw net.Conn, answer *wire.Element, o DialOptions) *Client {
	c := &Client{t: t, Session: sess, JID: sess.LocalAddr(), in: make(chan *wire.Element, 256), errc: make(chan error, 1), raw: raw, ResumeAnswer: answer}
	if answer != nil && answer.Name == "resumed" {
		c.smOn.Store(true)
		c.smH.Store(o.Resume.H)
	}
	go c.readLoop()
	t.Cleanup(func() { _ = sess.Close(); _ = sess.Conn().Close() })
	return c
}

// bindResource is a client-side bind that sends the wanted resource
// (mellium v0.22's client BindResource always sends an empty one).
func bindResource(resource string) xmpp.StreamFeature {
	const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: nsBind, Local: "bind"},
		Necessary: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			req := "<iq type='set' id='bind-1'><bind xmlns='" + nsBind + "'/></iq>"
			if resource != "" {
				req = "<iq type='set' id='bind-1'><bind xmlns='" + nsBind + "'><resource>" +
					string(wire.AppendEscaped(nil, resource)) + "</resource></bind></iq>"
			}
			if _, err := s.Conn().Write([]byte(req)); err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			defer r.Close()
			d := xml.NewTokenDecoder(r)
			for {
				tok, err := d.Token()
				if err != nil {
					return 0, nil, err
				}
				start, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				el, err := decodeElement(d, start)
				if err != nil {
					return 0, nil, err
				}
				if el.Attr("type") != "result" {
					return 0, nil, fmt.Errorf("bind failed: %s", el)
				}
				j, err := jid.Parse(el.Child("bind", nsBind).ChildText("jid", ""))
				if err != nil {
					return 0, nil, err
				}
				s.UpdateAddr(j)
				return xmpp.Ready, nil, nil
			}
		},
	}
}

// smResume is a client-side XEP-0198 feature that resumes a session
// instead of binding, and binds after <failed/>.
func smResume(o DialOptions, answer **wire.Element) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: NSSM, Local: "sm"},
		Necessary: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			req := "<resume xmlns='" + NSSM + "' previd='" + string(wire.AppendEscaped(nil, o.Resume.PrevID)) +
				"' h='" + strconv.FormatUint(uint64(o.Resume.H), 10) + "'/>"
			if _, err := s.Conn().Write([]byte(req)); err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			d := xml.NewTokenDecoder(r)
			var el *wire.Element
			for el == nil {
				tok, err := d.Token()
				if err != nil {
					r.Close()
					return 0, nil, err
				}
				if start, ok := tok.(xml.StartElement); ok {
					if el, err = decodeElement(d, start); err != nil {
						r.Close()
						return 0, nil, err
					}
				}
			}
			r.Close()
			*answer = el
			if el.Name == "resumed" {
				return xmpp.Ready, nil, nil
			}
			return bindResource(o.Resource).Negotiate(ctx, s, nil)
		},
	}
}

// EnableSM sends XEP-0198 <enable/> and returns the server's <enabled/>
// (or <failed/>).
func (c *Client) EnableSM(resume bool) *wire.Element {
	c.t.Helper()
	if resume {
		c.Send("<enable xmlns='" + NSSM + "' resume='true'/>")
	} else {
		c.Send("<enable xmlns='" + NSSM + "'/>")
	}
	return c.Expect("<enabled/>", func(el *wire.Element) bool {
		return el.NS == NSSM && (el.Name == "enabled" || el.Name == "failed")
	})
}

// SMHandled returns how many stanzas the client received since stream
// management was enabled (its h), counted as they arrive, before Next or
// Expect hand them out.
func (c *Client) SMHandled() uint32 { return c.smH.Load() }

// SetSMAutoAck makes the client answer every <r/> with <a h/> at once
// (off by default: a test acks with AckSM when it wants to).
func (c *Client) SetSMAutoAck(on bool) { c.smAutoAck.Store(on) }

// AckSM sends <a h/> with everything received so far.
func (c *Client) AckSM() {
	c.t.Helper()
	c.Send("<a xmlns='" + NSSM + "' h='" + strconv.FormatUint(uint64(c.smH.Load()), 10) + "'/>")
}

// Drain returns the elements still received until the stream ends (after
// Drop, what the client read before its connection went).
func (c *Client) Drain(timeout time.Duration) []*wire.Element {
	c.t.Helper()
	var els []*wire.Element
	deadline := time.After(timeout)
	for {
		select {
		case el, ok := <-c.in:
			if !ok {
				return els
			}
			els = append(els, el)
		case <-deadline:
			c.t.Fatalf("%s: stream still open after %v", c.JID, timeout)
			return nil
		}
	}
}

// Drop cuts the TCP connection without closing the stream (a phone losing
// its network).
func (c *Client) Drop() { _ = c.raw.Close() }

// readLoop turns every top-level element into a wire.Element.
func (c *Client) readLoop() {
	d := xml.NewTokenDecoder(c.Session.TokenReader())
	for {
		tok, err := d.Token()
		if err != nil {
			c.errc <- err
			close(c.in)
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		el, err := decodeElement(d, start)
		if err != nil {
			c.errc <- err
			close(c.in)
			return
		}
		switch {
		case el.NS == NSSM && (el.Name == "enabled" || el.Name == "resumed"):
			c.smOn.Store(true)
		case el.NS == NSSM && el.Name == "r" && c.smAutoAck.Load():
			_, _ = c.Session.Conn().Write([]byte("<a xmlns='" + NSSM + "' h='" + strconv.FormatUint(uint64(c.smH.Load()), 10) + "'/>"))
		case c.smOn.Load() && (el.Name == "message" || el.Name == "presence" || el.Name == "iq"):
			c.smH.Add(1)
		}
		c.in <- el
	}
}

// decodeElement builds a wire.Element from the tokens of one element
// (mellium's token reader has no raw bytes to re-parse).
func decodeElement(d *xml.Decoder, start xml.StartElement) (*wire.Element, error) {
	el := &wire.Element{Name: start.Name.Local, NS: start.Name.Space}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		name := a.Name.Local
		if a.Name.Space == "http://www.w3.org/XML/1998/namespace" || a.Name.Space == "xml" {
			name = "xml:" + name
		}
		el.Attrs = append(el.Attrs, wire.Attr{Name: name, Value: a.Value})
	}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			child, err := decodeElement(d, t)
			if err != nil {
				return nil, err
			}
			el.Children = append(el.Children, child)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			el.Text = text.String()
			return el, nil
		}
	}
}

// Send writes raw XML to the server.
func (c *Client) Send(xmlText string) {
	c.t.Helper()
	if _, err := c.Session.Conn().Write([]byte(xmlText)); err != nil {
		c.t.Fatalf("%s send: %v", c.JID, err)
	}
}

// TrySend writes raw XML and returns the write's error instead of failing
// the test: for input the server is expected to cut off.
func (c *Client) TrySend(xmlText string) error {
	_, err := c.Session.Conn().Write([]byte(xmlText))
	return err
}

// Sendf formats and sends raw XML.
func (c *Client) Sendf(format string, args ...any) {
	c.t.Helper()
	c.Send(fmt.Sprintf(format, args...))
}

// Next returns the next element received, failing after timeout.
func (c *Client) Next(timeout time.Duration) *wire.Element {
	c.t.Helper()
	select {
	case el, ok := <-c.in:
		if !ok {
			c.t.Fatalf("%s: stream ended: %v", c.JID, <-c.errc)
		}
		return el
	case <-time.After(timeout):
		c.t.Fatalf("%s: nothing received within %v", c.JID, timeout)
	}
	return nil
}

// Expect returns the first element (within 5s) for which match is true,
// skipping others.
func (c *Client) Expect(what string, match func(*wire.Element) bool) *wire.Element {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case el, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: stream ended while waiting for %s: %v", c.JID, what, <-c.errc)
			}
			if match(el) {
				return el
			}
		case <-deadline:
			c.t.Fatalf("%s: did not receive %s within 5s", c.JID, what)
			return nil
		}
	}
}

// ExpectNothing fails if any element matching match arrives within d.
func (c *Client) ExpectNothing(d time.Duration, match func(*wire.Element) bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case el, ok := <-c.in:
			if !ok {
				return
			}
			if match(el) {
				c.t.Fatalf("%s: unexpectedly received %s", c.JID, el.String())
			}
		case <-deadline:
			return
		}
	}
}

// IQ sends an IQ with a fresh id and returns the matching response.
func (c *Client) IQ(typ, to, payload string) *wire.Element {
	c.t.Helper()
	id := fmt.Sprintf("iq%d", time.Now().UnixNano())
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Sendf("<iq type='%s' id='%s'%s>%s</iq>", typ, id, toAttr, payload)
	return c.Expect("IQ response "+id, func(el *wire.Element) bool {
		return el.Name == "iq" && el.Attr("id") == id
	})
}

// Closed waits until the server ends the stream and returns the error the
// client saw (a stream error, or io.EOF).
func (c *Client) Closed(timeout time.Duration) error {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-c.in:
			if !ok {
				return <-c.errc
			}
		case <-deadline:
			c.t.Fatalf("%s: stream still open after %v", c.JID, timeout)
			return nil
		}
	}
}

// Is matches a stanza by element name and type attribute.
func Is(name, typ string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Name == name && el.Attr("type") == typ }
}

// HasChild matches an element with a child name in namespace ns.
func HasChild(name, ns string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Child(name, ns) != nil }
}

// Sync returns once the server has processed everything this client sent
// before: a session handles its stanzas in order, so the answer to a
// round-trip IQ (legacy session establishment, which the core always
// answers) proves it.
func (c *Client) Sync() {
	c.t.Helper()
	if res := c.IQ("set", "", "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>"); res.Attr("type") != "result" {
		c.t.Fatalf("%s: sync IQ failed: %s", c.JID, res)
	}
}

// Available sends initial presence and waits until the server processed it.
func (c *Client) Available() {
	c.t.Helper()
	c.Send("<presence/>")
	c.Sync()
}
