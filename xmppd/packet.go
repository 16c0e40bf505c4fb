package xmppd

import (
	"bytes"
	"slices"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

var zeroMelliumJID jid.JID

// Packet is one stanza travelling through the pipeline. It is parsed once
// (Stanza) and serialised once (Bytes): the wire form with the stamped
// 'from', minus removed children and plus added ones, is built on first
// use and shared by every recipient.
type Packet struct {
	Origin *Session     // the local session that sent it; nil if generated
	Stanza *wire.Stanza // as received, never modified
	From   JID          // stamped sender
	To     JID          // resolved recipient (sender's bare JID when 'to' was absent)
	// StanzaID is the XEP-0359 id the server assigned, once assigned.
	StanzaID string
	// SentStanzaID is the id of the message in the sender's own archive,
	// set by the archive at MessageOut. XEP-0313 §3.3 forbids showing it to
	// the recipient, so it is not in Bytes(); carbons put it, as
	// <stanza-id by='sender's bare JID'/>, into the 'sent' copies.
	SentStanzaID string
	// Edit is set on an accepted correction or retraction by the filter
	// that checked it (MessageEdit); nil otherwise.
	Edit *MessageEdit

	stanza  wire.Stanza // storage for Stanza when the read loop parsed into it
	scratch [160]byte   // room for the stanza-id element, saving an allocation
	toAttr  string      // the 'to' written on the wire
	sidBy   JID         // the entity a StanzaID is stamped for ("by"); zero: none
	remove  []wire.Child
	add     [][]byte
	wireOut []byte

	persist    []func(tx *store.Tx) error // queued store changes (Persist)
	persistErr error                      // their commit failed: never delivered
	ticket     *ticket                    // its place in its session's order (pipeline.go); nil if not pipelined
}

// NewPacket wraps a stanza sent by an entity of the server itself (an
// extension or component). The stanza's own from/to attributes are used.
func NewPacket(st *wire.Stanza, from, to JID) *Packet {
	return &Packet{Stanza: st, From: from, To: to, toAttr: st.To}
}

// Persist queues a store change that belongs to this stanza (an archive
// copy, an inbox entry). The core commits every change queued on a packet
// in one group-committed transaction (store.DB.Batch) right before the
// packet is first delivered anywhere, or after it was handled when it is
// never delivered, so a message costs one commit and one fsync however
// many extensions store something about it, and what a client receives is
// already on disk (SPEC §7). If that commit fails, none of the changes is
// stored, the packet is not delivered and its sender gets a wait /
// internal-server-error, or, when fn returned a stanza.Error, that error
// (a refusal only found inside the transaction, such as a full offline
// queue).
//
// fn may run more than once (see store.DB.Batch): it must only read and
// write through tx. It runs with no lock held; a read-modify-write inside
// fn is atomic because write transactions are serialised.
func (p *Packet) Persist(fn func(tx *store.Tx) error) {
	p.persist = append(p.persist, fn)
}

// Kind returns "message", "presence" or "iq".
func (p *Packet) Kind() string { return p.Stanza.Name }

// Type returns the stanza's type attribute.
func (p *Packet) Type() string { return p.Stanza.Type }

// AddChild appends a serialised child element to the outgoing stanza.
func (p *Packet) AddChild(xml []byte) {
	p.add = append(p.add, xml)
	p.wireOut = nil
}

// RemoveChildren drops every first-level child named name in namespace ns
// from the outgoing stanza, e.g. a client-forged stanza-id. Several hooks
// may remove the same child; build needs each once, in document order.
func (p *Packet) RemoveChildren(name, ns string) {
	for _, c := range p.Stanza.Children {
		if c.Name == name && c.NS == ns && !slices.Contains(p.remove, c) {
			p.remove = append(p.remove, c)
			p.wireOut = nil
		}
	}
	slices.SortFunc(p.remove, func(a, b wire.Child) int { return a.Start - b.Start })
}

// Modified reports whether hooks added or removed children, so the
// outgoing form differs from Stanza.Raw beyond the addresses: a component
// that rebuilds the stanza itself (a MUC room) starts from Bytes then.
func (p *Packet) Modified() bool { return len(p.add) > 0 || len(p.remove) > 0 }

// Bytes returns the stanza as it goes on the wire to recipients. The
// returned slice is shared: never modify it.
func (p *Packet) Bytes() []byte {
	if p.wireOut == nil {
		p.wireOut = p.build()
	}
	return p.wireOut
}

// SetStanzaID stamps the XEP-0359 stanza-id assigned by 'by' into the
// outgoing stanza (built straight into the wire form: no extra allocation
// on the routing path).
func (p *Packet) SetStanzaID(id string, by JID) {
	p.StanzaID = id
	p.sidBy = by
	p.wireOut = nil
}

// fromString is the stamped sender as text, precomputed for sessions.
func (p *Packet) fromString() string {
	if p.Origin != nil && p.From == p.Origin.jid {
		return p.Origin.full
	}
	return p.From.String()
}

func (p *Packet) build() []byte {
	st := p.Stanza
	var kidsBuf [4][]byte
	kids := append(kidsBuf[:0], p.add...)
	if p.StanzaID != "" && !p.sidBy.IsZero() {
		kids = append(kids, appendStanzaID(p.scratch[:0], p.StanzaID, p.sidBy))
	}
	extra := 0
	for _, a := range kids {
		extra += len(a)
	}
	from := p.fromString()
	// Room for escaping, the added children and a self-closing tag's
	// end tag, so the splices below need no second allocation.
	out := st.Rewrite(make([]byte, 0, len(st.Raw)+2*(len(from)+len(p.toAttr))+extra+len(st.Name)+32), p.toAttr, from)
	if len(p.remove) == 0 && len(kids) == 0 {
		return out
	}
	// Child offsets are relative to Raw; only the start tag changed length.
	delta := len(out) - len(st.Raw)
	if len(p.remove) > 0 {
		kept := make([]byte, 0, len(out)+extra+len(st.Name)+4)
		pos := 0
		for _, c := range p.remove {
			kept = append(kept, out[pos:c.Start+delta]...)
			pos = c.End + delta
		}
		kept = append(kept, out[pos:]...)
		out = kept
	}
	if len(kids) == 0 {
		return out
	}
	return insertChildren(out, kids)
}

// appendStanzaID appends <stanza-id xmlns='urn:xmpp:sid:0' id by/>.
func appendStanzaID(b []byte, id string, by JID) []byte {
	b = append(b, "<stanza-id xmlns='urn:xmpp:sid:0' id='"...)
	b = wire.AppendEscaped(b, id)
	b = append(b, "' by='"...)
	if by.Local != "" {
		b = wire.AppendEscaped(b, by.Local)
		b = append(b, '@')
	}
	b = wire.AppendEscaped(b, by.Domain)
	return append(b, "'/>"...)
}

// insertChildren splices children before the element's end tag, turning a
// self-closing <message/> into <message>…</message>. It works in place when
// el has the capacity (build reserves it), so a routed stanza costs one
// allocation.
func insertChildren(el []byte, children [][]byte) []byte {
	n := 0
	for _, c := range children {
		n += len(c)
	}
	last := bytes.LastIndexByte(el, '<')
	if last > 0 && el[last+1] == '/' {
		tail := len(el) - last
		el = slices.Grow(el, n)[:len(el)+n]
		copy(el[last+n:], el[last:last+tail])
		pos := last
		for _, c := range children {
			pos += copy(el[pos:], c)
		}
		return el
	}
	// Self-closing: "<name ... />" becomes "<name ...>children</name>".
	end := bytes.LastIndexByte(el, '/')
	nameEnd := bytes.IndexAny(el[1:], " \t\r\n/>") + 1
	name := slices.Clone(el[1:nameEnd])
	el = append(el[:end], '>')
	for _, c := range children {
		el = append(el, c...)
	}
	el = append(el, "</"...)
	el = append(el, name...)
	return append(el, '>')
}

// errorReply builds the error stanza answering p (RFC 6120 §8.3): to and
// from swapped, same id, the original payload elements kept.
func errorReply(p *Packet, se stanza.Error, app *wire.Element) []byte {
	st := p.Stanza
	b := make([]byte, 0, len(st.Raw)+256)
	b = append(b, '<')
	b = append(b, st.Name...)
	b = wire.AppendAttr(b, "type", "error")
	if st.ID != "" {
		b = wire.AppendAttr(b, "id", st.ID)
	}
	if !p.From.IsZero() {
		b = wire.AppendAttr(b, "to", p.From.String())
	}
	if !p.To.IsZero() {
		b = wire.AppendAttr(b, "from", p.To.String())
	}
	b = append(b, '>')
	for _, c := range st.Children {
		if c.Name == "error" {
			continue
		}
		b = append(b, st.Raw[c.Start:c.End]...)
	}
	b = appendStanzaError(b, se, app)
	b = append(b, "</"...)
	b = append(b, st.Name...)
	return append(b, '>')
}

func appendStanzaError(b []byte, se stanza.Error, app *wire.Element) []byte {
	typ := se.Type
	if typ == "" {
		typ = stanza.Cancel
	}
	cond := se.Condition
	if cond == "" {
		cond = stanza.UndefinedCondition
	}
	b = append(b, "<error"...)
	b = wire.AppendAttr(b, "type", string(typ))
	if !se.By.Equal(zeroMelliumJID) {
		b = wire.AppendAttr(b, "by", se.By.String())
	}
	b = append(b, '>', '<')
	b = append(b, cond...)
	b = append(b, " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"...)
	for lang, text := range se.Text {
		b = append(b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'"...)
		if lang != "" {
			b = wire.AppendAttr(b, "xml:lang", lang)
		}
		b = append(b, '>')
		b = wire.AppendEscaped(b, text)
		b = append(b, "</text>"...)
	}
	if app != nil {
		b = app.AppendXML(b)
	}
	return append(b, "</error>"...)
}

// AppError is a stanza error with an application-specific condition element
// (RFC 6120 §8.3.3.2), e.g. XEP-0060's <precondition-not-met/>. IQ handlers
// return it like a stanza.Error; errors.As still finds the stanza.Error.
type AppError struct {
	Err stanza.Error
	App *wire.Element
}

func (e AppError) Error() string { return e.Err.Error() }

// Unwrap returns the stanza error.
func (e AppError) Unwrap() error { return e.Err }

// StanzaError builds a stanza error with an English text.
func StanzaError(typ stanza.ErrorType, cond stanza.Condition, text string) stanza.Error {
	se := stanza.Error{Type: typ, Condition: cond}
	if text != "" {
		se.Text = map[string]string{"": text}
	}
	return se
}
