package framing

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/xmppd/xmppd/xmppd/wire"
)

const (
	nsClient  = "jabber:client"
	closeElem = "<close xmlns='" + NS + "'/>"
)

// Writer turns the server's side of an XMPP byte stream into RFC 7395
// messages: every complete top-level element becomes one call of Send, so
// no stanza is ever split across WebSocket messages, whatever sizes the
// writes come in (encoding/xml flushes every 4 KiB; the outbound queue
// writes many stanzas at once). The stream header becomes <open/>, the
// stream end <close/>; XML declarations are dropped. Each element is made
// a standalone document: a stanza without a default namespace gets
// xmlns='jabber:client' and <stream:features/> or <stream:error/> an
// xmlns:stream declaration, which the stream header used to provide.
//
// Writer is safe for concurrent use; writes are framed in order.
type Writer struct {
	// Send writes one WebSocket text message.
	Send func(msg []byte) error
	// MaxPending bounds the bytes of an incomplete element held; 0 means
	// 1 MiB. The server never writes a larger element than its queue
	// allows, so hitting it means a bug, reported as an error.
	MaxPending int

	mu  sync.Mutex
	buf []byte
	sp  splitter
}

// Write frames p. It returns len(p) once every complete element in the
// pending bytes has been sent.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		skip := trimLeft(w.buf)
		if skip > 0 {
			w.buf = w.buf[skip:]
			w.sp.i = max(w.sp.i-skip, 0)
		}
		if len(w.buf) == 0 {
			w.buf = nil
			return len(p), nil
		}
		n, k, err := w.sp.next(w.buf)
		if err != nil {
			w.buf = nil
			return 0, err
		}
		if n == 0 {
			max := w.MaxPending
			if max <= 0 {
				max = 1 << 20
			}
			if len(w.buf) > max {
				w.buf = nil
				return 0, fmt.Errorf("framing: element larger than %d bytes", max)
			}
			return len(p), nil
		}
		msg, err := outbound(w.buf[:n], k)
		if err != nil {
			return 0, err
		}
		if msg != nil {
			if err := w.Send(msg); err != nil {
				return 0, err
			}
		}
		w.buf = w.buf[n:]
	}
}

// outbound converts one unit the server wrote into its message (nil: none).
func outbound(unit []byte, k Kind) ([]byte, error) {
	switch k {
	case Declaration:
		return nil, nil
	case StreamEnd:
		return []byte(closeElem), nil
	case StreamStart:
		name := tagName(unit[1:])
		el, err := wire.Parse(append(append(append(bytes.Clone(unit), "</"...), name...), '>'))
		if err != nil {
			return nil, fmt.Errorf("framing: stream header: %w", err)
		}
		b := []byte("<open xmlns='" + NS + "'")
		for _, a := range el.Attrs {
			b = wire.AppendAttr(b, a.Name, a.Value)
		}
		return append(b, "/>"...), nil
	}
	name := tagName(unit[1:])
	prefix, decl, uri := "", "xmlns", nsClient
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		prefix = string(name[:i])
		decl = "xmlns:" + prefix
		if prefix != "stream" {
			return unit, nil // declared in the element itself, or not ours to fix
		}
		uri = nsStream
	}
	if hasAttr(unit, decl) {
		return unit, nil
	}
	at := 1 + len(name)
	out := make([]byte, 0, len(unit)+len(decl)+len(uri)+4)
	out = append(out, unit[:at]...)
	out = wire.AppendAttr(out, decl, uri)
	return append(out, unit[at:]...), nil
}

// hasAttr reports whether the start tag at the beginning of el has an
// attribute called name (quoted values are skipped, so text inside them
// never matches).
func hasAttr(el []byte, name string) bool {
	i := 1 + len(tagName(el[1:]))
	for i < len(el) {
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] == '>' || el[i] == '/' {
			return false
		}
		s := i
		for i < len(el) && el[i] != '=' && !isSpace(el[i]) {
			i++
		}
		if string(el[s:i]) == name {
			return true
		}
		for i < len(el) && el[i] != '\'' && el[i] != '"' {
			i++
		}
		if i >= len(el) {
			return false
		}
		k := bytes.IndexByte(el[i+1:], el[i])
		if k < 0 {
			return false
		}
		i += k + 2
	}
	return false
}

// ErrNotOneElement is what Unframe reports for a message that is not
// exactly one complete XML element (RFC 7395 §3.3.3).
var ErrNotOneElement = errors.New("a WebSocket message must hold exactly one complete XML element (RFC 7395 §3.3.3)")

// Unframe converts one message a client sent into stream bytes for the
// server's reader: <open/> becomes a stream header, <close/> the stream end
// tag, any other element passes unchanged. A message holding only
// whitespace returns nil; an XML declaration before the element is
// dropped. The message must be exactly one complete element
// (ErrNotOneElement otherwise); the element's own well-formedness is the
// stream reader's business.
func Unframe(msg []byte) ([]byte, error) {
	skip := trimLeft(msg)
	msg = msg[skip:]
	if len(msg) == 0 {
		return nil, nil
	}
	var sp splitter
	n, k, err := sp.next(msg)
	if err == nil && n > 0 && k == Declaration {
		// Some clients put an XML declaration before <open/>: harmless.
		msg = msg[n:]
		msg = msg[trimLeft(msg):]
		n, k, err = sp.next(msg)
	}
	if err != nil || n == 0 || k != Element || trimLeft(msg[n:]) != len(msg)-n {
		return nil, ErrNotOneElement
	}
	msg = msg[:n]
	switch string(tagName(msg[1:])) {
	case "open":
		el, err := wire.Parse(msg)
		if err != nil || el.NS != NS {
			break
		}
		b := []byte("<stream:stream xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'")
		for _, a := range el.Attrs {
			b = wire.AppendAttr(b, a.Name, a.Value)
		}
		return append(b, '>'), nil
	case "close":
		if el, err := wire.Parse(msg); err == nil && el.NS == NS {
			return []byte("</stream:stream>"), nil
		}
	}
	return msg, nil
}
