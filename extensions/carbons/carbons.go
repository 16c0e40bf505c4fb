// Package carbons implements XEP-0280 Message Carbons (urn:xmpp:carbons:2)
// with the XEP-0334 <no-copy/> hint: every carbons-enabled resource of a
// user sees both sides of the user's 1:1 conversations, whichever
// resource sent or received them.
//
// Enabling: IQ set <enable/> / <disable/> (xmppd.TargetAccount, only for
// the sender's own account, else not-allowed) sets a per-session flag;
// repeating either is not an error (XEP-0280 §9.1). The server domain
// announces urn:xmpp:carbons:2.
//
// Received copies: a handler on xmppd.MessageToAccount at
// xmppd.PriorityCarbons (after the stanza-id rewrite, before delivery) asks
// the core which sessions its delivery hands the message to
// (Server.AppendDeliveryTargets, the one place RFC 6121 §8.5.2 lives) and
// sends every other carbons-enabled available resource of the recipient
//
//	<message from='user@domain' to='user@domain/other' type='…'>
//	  <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
//	    the message exactly as delivered
//	  </forwarded></received></message>
//
// A handler on xmppd.MessageToFull does the same for a message to one
// online resource. Sent copies: a handler on xmppd.MessageOut sends every
// other carbons-enabled available resource of the sender a <sent/> copy
// of what the sending client sent (as stamped), with <stanza-id
// by='sender'/> when the archive (XEP-0313) stored it for the sender
// (Packet.SentStanzaID, set at xmppd.PriorityArchive). A message a user sends to
// their own account gets received copies only, never to the sending
// resource, so no resource sees it twice.
//
// Eligibility (XEP-0280 §6, as Prosody's mod_carbons reads it):
//   - never: groupchat; a <private xmlns='urn:xmpp:carbons:2'/> or a
//     <no-copy xmlns='urn:xmpp:hints'/> (XEP-0334 §4.3); a message that
//     itself carries <sent/> or <received/> (a carbon is never copied); a
//     message from elsewhere to a bare JID with a muc#user <x/> (a room's
//     mediated invitation);
//   - chat: always, including MUC private messages (which carry a
//     muc#user <x/> and go to the full JID that joined), so a user's other
//     devices follow them;
//   - normal: with a <body/>, or with an IM payload (chat state, receipt,
//     chat marker, XEP-0353 call);
//   - error: when it comes from a bare JID (the bounce of a message a user
//     sent to an account), so the devices that saw the message see it
//     fail; the core's own bounces go straight to the sending session and
//     are not copied;
//   - headline and anything else: never.
//
// Private messages: the receiving side removes <private/> before delivery
// (XEP-0280 §7, SHOULD); the hint stays.
//
// Trust (XEP-0280 §11): the server stamps 'from' on everything a client
// sends, so a carbon always comes from the user's own bare JID and nothing
// a client sends can: clients accept <sent/>/<received/> only from their
// own bare JID, and a client wrapping a fake carbon gets it delivered from
// its full JID, which they reject. Such a message is never copied itself.
//
// No store: the flag lives in the session and ends with it.
package carbons

import (
	"bytes"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS        = "urn:xmpp:carbons:2"
	NSForward = "urn:xmpp:forward:0"
	nsHints   = "urn:xmpp:hints"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsClient  = "jabber:client"
	nsSID     = "urn:xmpp:sid:0"
)

// Payloads that make a type='normal' message without a body part of a
// conversation (XEP-0085, XEP-0184, XEP-0333, XEP-0353).
var imPayloads = map[string]bool{
	"http://jabber.org/protocol/chatstates": true,
	"urn:xmpp:receipts":                     true,
	"urn:xmpp:chat-markers:0":               true,
	"urn:xmpp:jingle-message:0":             true,
	"urn:xmpp:jingle-message:1":             true,
}

// Extension copies messages to a user's carbons-enabled resources.
type Extension struct {
	srv *xmppd.Server
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the carbons extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "carbons" }

// enabledKey marks a session with carbons enabled (Session.Value: bool).
type enabledKey struct{}

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.srv = r.Server()
	r.Feature(NS)
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "enable", e.setEnabled(true)); err != nil {
		return err
	}
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "disable", e.setEnabled(false)); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityCarbons, e.sent)
	xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityCarbons, e.toAccount)
	xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityCarbons, e.toFull)
	return nil
}

func (e *Extension) setEnabled(on bool) xmppd.IQHandler {
	return func(iq *xmppd.IQ) (*wire.Element, error) {
		if iq.Session == nil || iq.To != iq.From.Bare() {
			return nil, xmppd.StanzaError(stanza.Cancel, stanza.NotAllowed, "carbons are enabled by a client of the account for itself")
		}
		iq.Session.SetValue(enabledKey{}, on)
		return nil, nil
	}
}

// enabled reports whether s has carbons enabled.
func enabled(s *xmppd.Session) bool {
	on, _ := s.Value(enabledKey{}).(bool)
	return on
}

// direction says which side of the server a message is seen on.
type direction int

const (
	outgoing direction = iota // a local client sent it (MessageOut)
	incoming                  // it is being delivered to a local account
)

// eligible applies XEP-0280 §6 (see the package doc).
func eligible(p *xmppd.Packet, dir direction) bool {
	st := p.Stanza
	typ := st.Type
	if typ == "groupchat" {
		return false
	}
	var body, imPayload, mucUser bool
	for _, c := range st.Children {
		switch {
		case c.NS == NS && (c.Name == "private" || c.Name == "sent" || c.Name == "received"):
			return false
		case c.NS == nsHints && c.Name == "no-copy":
			return false
		case c.NS == nsClient && c.Name == "body":
			body = true
		case c.NS == nsMUCUser && c.Name == "x":
			mucUser = true
		case imPayloads[c.NS]:
			imPayload = true
		}
	}
	if dir == incoming && mucUser && p.To.Resource == "" {
		return false
	}
	switch typ {
	case "chat":
		return true
	case "", "normal":
		return body || imPayload
	case "error":
		return dir == incoming && p.From.Resource == ""
	}
	return false
}

// sent copies what a local client sends to the user's other resources.
func (e *Extension) sent(p *xmppd.Packet) xmppd.Verdict {
	if p.Origin == nil || !eligible(p, outgoing) {
		return xmppd.Pass
	}
	user := p.From.Bare()
	if p.To.Bare() == user {
		// To one's own account: the received copies cover it.
		return xmppd.Pass
	}
	var orig []byte
	for _, s := range e.srv.Sessions(user) {
		if s == p.Origin || !enabled(s) || !s.Available() {
			continue
		}
		if orig == nil {
			// The copy is a delivery: what the hooks stored about the
			// message goes to disk first (Packet.Persist).
			if !e.srv.Commit(p) {
				return xmppd.Done
			}
			orig = withSentStanzaID(p, user)
		}
		s.Send(wrap("sent", user, s.JID(), p.Type(), orig))
	}
	return xmppd.Pass
}

// withSentStanzaID returns the message as sent, plus, when the archive
// stored it (Packet.SentStanzaID), <stanza-id by='user'/> with its id in
// the sender's archive (XEP-0313 §3.3): the recipient never sees that id,
// the sender's other devices need it to line up carbons with the archive.
func withSentStanzaID(p *xmppd.Packet, user xmppd.JID) []byte {
	orig := p.Bytes()
	if p.SentStanzaID == "" {
		return orig
	}
	c := make([]byte, 0, 96)
	c = append(c, "<stanza-id xmlns='"+nsSID+"' id='"...)
	c = wire.AppendEscaped(c, p.SentStanzaID)
	c = append(c, "' by='"...)
	c = wire.AppendEscaped(c, user.BareString())
	c = append(c, "'/>"...)
	return wire.InsertChild(orig, c)
}

// toAccount copies a message for a local account to the resources the
// core's delivery leaves out.
func (e *Extension) toAccount(p *xmppd.Packet) xmppd.Verdict {
	if !e.incoming(p) {
		return xmppd.Pass
	}
	var buf [4]*xmppd.Session
	e.copyReceived(p, e.srv.AppendDeliveryTargets(buf[:0], p))
	return xmppd.Pass
}

// toFull copies a message for one online resource to the others.
func (e *Extension) toFull(p *xmppd.Packet) xmppd.Verdict {
	if !e.incoming(p) {
		return xmppd.Pass
	}
	e.copyReceived(p, []*xmppd.Session{e.srv.Session(p.To)})
	return xmppd.Pass
}

// incoming strips <private/> from a message being delivered and reports
// whether it is to be copied.
func (e *Extension) incoming(p *xmppd.Packet) bool {
	if _, ok := p.Stanza.Child("private", NS); ok {
		p.RemoveChildren("private", NS)
		return false
	}
	return eligible(p, incoming)
}

// copyReceived sends a <received/> copy of p to each carbons-enabled
// available resource of the recipient that is not in got (the sessions
// that get the original) and did not send it.
func (e *Extension) copyReceived(p *xmppd.Packet, got []*xmppd.Session) {
	user := p.To.Bare()
	var orig []byte
	for _, s := range e.srv.Sessions(user) {
		if s == p.Origin || !enabled(s) || !s.Available() || contains(got, s) {
			continue
		}
		if orig == nil {
			if !e.srv.Commit(p) {
				return
			}
			orig = p.Bytes()
		}
		s.Send(wrap("received", user, s.JID(), p.Type(), orig))
	}
}

func contains(l []*xmppd.Session, s *xmppd.Session) bool {
	for _, o := range l {
		if o == s {
			return true
		}
	}
	return false
}

// wrap builds the carbon <message from='user' to='to' type='typ'><kind
// xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>orig
// </forwarded></kind></message>. The forwarded message keeps its own
// namespace: orig inherited jabber:client from the stream, inside
// <forwarded/> it has to say so.
func wrap(kind string, user, to xmppd.JID, typ string, orig []byte) []byte {
	b := make([]byte, 0, len(orig)+256)
	b = append(b, "<message from='"...)
	b = wire.AppendEscaped(b, user.BareString())
	b = append(b, "' to='"...)
	b = wire.AppendEscaped(b, to.String())
	b = append(b, '\'')
	if typ != "" {
		b = append(b, " type='"...)
		b = wire.AppendEscaped(b, typ)
		b = append(b, '\'')
	}
	b = append(b, "><"...)
	b = append(b, kind...)
	b = append(b, " xmlns='"+NS+"'><forwarded xmlns='"+NSForward+"'>"...)
	if hasDefaultNS(orig) {
		b = append(b, orig...)
	} else {
		n := nameEnd(orig)
		b = append(b, orig[:n]...)
		b = append(b, " xmlns='"+nsClient+"'"...)
		b = append(b, orig[n:]...)
	}
	b = append(b, "</forwarded></"...)
	b = append(b, kind...)
	return append(b, "></message>"...)
}

// nameEnd returns the index just after the element name of the start tag
// at the beginning of el.
func nameEnd(el []byte) int {
	i := 1
	for i < len(el) && !isSpace(el[i]) && el[i] != '/' && el[i] != '>' {
		i++
	}
	return i
}

// hasDefaultNS reports whether the start tag at the beginning of el (a
// well-formed element the server serialised) declares xmlns='…'.
func hasDefaultNS(el []byte) bool {
	i := nameEnd(el)
	for i < len(el) {
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] == '/' || el[i] == '>' {
			return false
		}
		start := i
		for i < len(el) && el[i] != '=' && !isSpace(el[i]) {
			i++
		}
		name := el[start:i]
		for i < len(el) && el[i] != '\'' && el[i] != '"' {
			i++
		}
		if i >= len(el) {
			return false
		}
		q := el[i]
		end := bytes.IndexByte(el[i+1:], q)
		if end < 0 {
			return false
		}
		i += end + 2
		if string(name) == "xmlns" {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
