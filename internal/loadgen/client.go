package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

const (
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsPing    = "urn:xmpp:ping"
	readLimit = 1 << 20 // the generator trusts the server under test; only a sanity bound
)

// Conn is a minimal XMPP client connection: TLS, the byte-level stanza
// splitter of xmppd/wire for reading, and a bufio.Writer so that callers
// put several stanzas into one TLS record and one write syscall (Flush per
// batch). It is not a general client: it understands exactly what the
// scenarios need.
type Conn struct {
	nc  net.Conn // the TLS connection after STARTTLS
	raw net.Conn
	r   *wire.Reader
	JID string // full JID bound by the server

	wmu sync.Mutex
	w   *bufio.Writer

	// XEP-0198, once EnableSM succeeded: ReadLoop answers the server's
	// <r/> with smIn and records the server's h.
	sm      bool
	smIn    atomic.Uint32 // stanzas received since SM was enabled
	smH     atomic.Int64  // the server's latest h: stanzas it handled from us
	smExtra atomic.Int64  // stanzas ReadLoop sent on its own (IQ answers)
}

// Login dials addr, negotiates STARTTLS, authenticates user (the localpart)
// with SCRAM-SHA-256 (SCRAM-SHA-1 if the server offers only that) and binds a server-chosen resource. The whole
// negotiation is bounded by timeout.
func Login(ctx context.Context, addr, domain, user, password string, tlsCfg *tls.Config, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{raw: raw, nc: raw}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	if err := c.negotiate(domain, user, password, tlsCfg); err != nil {
		raw.Close()
		return nil, fmt.Errorf("%s@%s: %w", user, domain, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) negotiate(domain, user, password string, tlsCfg *tls.Config) error {
	c.r = wire.NewReader(c.raw, wire.Limits{MaxStanzaSize: readLimit, MaxDepth: 256, MaxAttrs: 256})
	c.w = bufio.NewWriterSize(c.raw, 2048)
	var st wire.Stanza

	// Plain stream, STARTTLS.
	feats, err := c.openStream(domain, &st)
	if err != nil {
		return err
	}
	if _, ok := feats.Child("starttls", nsTLS); !ok {
		return errors.New("server does not offer STARTTLS")
	}
	if err := c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
		return err
	}
	if err := c.r.Next(&st); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if st.Name != "proceed" {
		return fmt.Errorf("starttls: server answered <%s>", st.Name)
	}
	cfg := tlsCfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = domain
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c.nc = tc
	c.r = wire.NewReader(tc, wire.Limits{MaxStanzaSize: readLimit, MaxDepth: 256, MaxAttrs: 256})
	c.w.Reset(tc)

	// SASL SCRAM-SHA-256, else SCRAM-SHA-1.
	feats, err = c.openStream(domain, &st)
	if err != nil {
		return err
	}
	mechs, ok := feats.Child("mechanisms", nsSASL)
	var sc *scram
	for _, m := range scramHashes {
		if ok && bytes.Contains(feats.ChildBytes(mechs), []byte(">"+m.mech+"<")) {
			sc = newSCRAM(m.mech, m.hash, user, password)
			break
		}
	}
	if sc == nil {
		return errors.New("server offers neither SCRAM-SHA-256 nor SCRAM-SHA-1")
	}
	if err := c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + sc.mech + `'>` + b64(sc.first()) + `</auth>`); err != nil {
		return err
	}
	data, err := c.saslStep(&st, "challenge")
	if err != nil {
		return err
	}
	resp, err := sc.final(data)
	if err != nil {
		return err
	}
	if err := c.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(resp) + `</response>`); err != nil {
		return err
	}
	if data, err = c.saslStep(&st, "success"); err != nil {
		return err
	}
	if err := sc.verify(data); err != nil {
		return err
	}

	// Resource binding.
	feats, err = c.openStream(domain, &st)
	if err != nil {
		return err
	}
	if _, ok := feats.Child("bind", nsBind); !ok {
		return errors.New("server does not offer resource binding")
	}
	if err := c.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`); err != nil {
		return err
	}
	for {
		if err := c.r.Next(&st); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		if st.Name == "iq" && st.ID == "bind" {
			break
		}
	}
	if st.Type != "result" {
		return fmt.Errorf("bind failed: %s", st.Raw)
	}
	c.JID = string(elementText(st.Raw, "jid"))
	if c.JID == "" {
		return fmt.Errorf("bind result without a jid: %s", st.Raw)
	}
	return nil
}

// NSStreamManagement is the XEP-0198 namespace.
const NSStreamManagement = "urn:xmpp:sm:3"

// EnableSM enables XEP-0198 stream management (without resumption) on a
// bound connection and waits for <enabled/>. From then on the server
// counts the stanzas it handled from this client and answers <r/> with
// <a h/>; the client must answer the server's <r/> with its own count
// (the caller's read loop does). Call it before any other goroutine reads.
func (c *Conn) EnableSM() error {
	if err := c.send(`<enable xmlns='urn:xmpp:sm:3'/>`); err != nil {
		return err
	}
	var st wire.Stanza
	for {
		if err := c.r.Next(&st); err != nil {
			return fmt.Errorf("sm: %w", err)
		}
		if st.NS != NSStreamManagement {
			continue // nothing but a presence or a ping can precede it
		}
		if st.Name != "enabled" {
			return fmt.Errorf("sm: server answered %s", truncate(st.Raw))
		}
		c.sm = true
		return nil
	}
}

// openStream sends a stream header, skips the server's and returns its
// stream features (a copy the next Next call does not touch).
func (c *Conn) openStream(domain string, st *wire.Stanza) (*wire.Stanza, error) {
	err := c.send(`<?xml version='1.0'?><stream:stream to='` + domain +
		`' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)
	if err != nil {
		return nil, err
	}
	if err := c.skipHeader(); err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	if err := c.r.Next(st); err != nil {
		return nil, fmt.Errorf("stream features: %w", err)
	}
	if st.Name != "features" {
		return nil, fmt.Errorf("expected stream features, got %s", truncate(st.Raw))
	}
	return st.Clone(), nil
}

// skipHeader consumes the server's optional XML declaration and its
// <stream:stream> start tag byte by byte (it is not a complete element, so
// the splitter cannot return it).
func (c *Conn) skipHeader() error {
outer:
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return err
		}
		if b != '<' {
			continue
		}
		if b, err = c.r.ReadByte(); err != nil {
			return err
		}
		decl := b == '?'
		var quote byte
		prev := b
		for {
			b, err = c.r.ReadByte()
			if err != nil {
				return err
			}
			switch {
			case quote != 0:
				if b == quote {
					quote = 0
				}
			case b == '\'' || b == '"':
				quote = b
			case b == '>':
				if !decl {
					return nil
				}
				if prev == '?' {
					continue outer
				}
			}
			prev = b
		}
	}
}

// saslStep reads the next SASL element, which must be want, and returns
// its decoded payload.
func (c *Conn) saslStep(st *wire.Stanza, want string) ([]byte, error) {
	if err := c.r.Next(st); err != nil {
		return nil, fmt.Errorf("sasl: %w", err)
	}
	if st.Name != want {
		if st.Name == "failure" {
			return nil, fmt.Errorf("authentication failed: %s", truncate(st.Raw))
		}
		return nil, fmt.Errorf("sasl: expected <%s>, got %s", want, truncate(st.Raw))
	}
	txt := elementText(st.Raw, st.Name)
	if len(txt) == 0 || string(txt) == "=" {
		return nil, nil
	}
	return base64.StdEncoding.AppendDecode(nil, txt)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// send writes s and flushes (negotiation: one element per round trip).
func (c *Conn) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.WriteString(s)
	return c.w.Flush()
}

// Send writes raw stanzas and flushes.
func (c *Conn) Send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.Write(b)
	return c.w.Flush()
}

// Next reads the next stanza. Only the goroutine that owns the reading
// side may call it.
func (c *Conn) Next(st *wire.Stanza) error { return c.r.Next(st) }

// ReadLoop reads stanzas until the connection ends, answering pings and
// other IQ requests (so a server's idle check does not close a bench
// connection), and hands everything else to fn. It returns nil when the
// stream ended cleanly.
func (c *Conn) ReadLoop(fn func(st *wire.Stanza)) error {
	var st wire.Stanza
	for {
		if err := c.r.Next(&st); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c.sm {
			if st.NS == NSStreamManagement {
				c.handleSM(&st)
				continue
			}
			if st.NS == "jabber:client" {
				c.smIn.Add(1)
			}
		}
		if st.Name == "iq" && (st.Type == "get" || st.Type == "set") {
			c.answerIQ(&st)
			continue
		}
		fn(&st)
	}
}

// handleSM answers the server's <r/> and records its <a h/>.
func (c *Conn) handleSM(st *wire.Stanza) {
	switch st.Name {
	case "r":
		b := make([]byte, 0, 48)
		b = append(b, "<a xmlns='urn:xmpp:sm:3' h='"...)
		b = strconv.AppendUint(b, uint64(c.smIn.Load()), 10)
		_ = c.Send(append(b, "'/>"...))
	case "a":
		if h, err := strconv.ParseInt(string(attrValue(st.Raw, "h")), 10, 64); err == nil {
			c.smH.Store(h)
		}
	}
}

// attrValue returns the raw value of attribute name in the start tag that
// begins raw (values the scenarios read contain no references).
func attrValue(raw []byte, name string) []byte {
	end := bytes.IndexByte(raw, '>')
	if end < 0 {
		return nil
	}
	tag := raw[:end]
	for i := 0; ; {
		k := bytes.Index(tag[i:], []byte(name+"="))
		if k < 0 {
			return nil
		}
		i += k
		if i > 0 && !isSpace(tag[i-1]) || i+len(name)+2 > len(tag) {
			i += len(name)
			continue
		}
		q := tag[i+len(name)+1]
		v := tag[i+len(name)+2:]
		if j := bytes.IndexByte(v, q); j >= 0 {
			return v[:j]
		}
		return nil
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (c *Conn) answerIQ(st *wire.Stanza) {
	if c.sm {
		c.smExtra.Add(1)
	}
	b := make([]byte, 0, 256)
	b = append(b, "<iq type='"...)
	if _, ok := st.Child("ping", nsPing); ok {
		b = append(b, "result'"...)
	} else {
		b = append(b, "error'"...)
	}
	b = append(b, " id='"...)
	b = wire.AppendEscaped(b, st.ID)
	if st.From != "" {
		b = append(b, "' to='"...)
		b = wire.AppendEscaped(b, st.From)
	}
	if _, ok := st.Child("ping", nsPing); ok {
		b = append(b, "'/>"...)
	} else {
		b = append(b, "'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"...)
	}
	_ = c.Send(b)
}

// Close ends the stream politely: it sends </stream:stream>, waits up to
// wait for the server's (unless another goroutine owns the reading side:
// then pass 0) and closes the connection.
func (c *Conn) Close(wait time.Duration) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	err := c.send(`</stream:stream>`)
	if wait > 0 && err == nil {
		_ = c.nc.SetReadDeadline(time.Now().Add(wait))
		var st wire.Stanza
		for c.r.Next(&st) == nil {
		}
	}
	if cerr := c.nc.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort closes the connection without a stream close.
func (c *Conn) Abort() { _ = c.nc.Close() }

// elementText returns the character data of the first <name ...> element
// in raw (not unescaped: the values the scenarios read contain no
// references).
func elementText(raw []byte, name string) []byte {
	i := 0
	for {
		k := bytes.Index(raw[i:], []byte("<"+name))
		if k < 0 {
			return nil
		}
		i += k + 1 + len(name)
		if i < len(raw) && (raw[i] == '>' || raw[i] == ' ' || raw[i] == '/') {
			break
		}
	}
	gt := bytes.IndexByte(raw[i:], '>')
	if gt < 0 || raw[i+gt-1] == '/' {
		return nil
	}
	start := i + gt + 1
	end := bytes.IndexByte(raw[start:], '<')
	if end < 0 {
		return nil
	}
	return raw[start : start+end]
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
