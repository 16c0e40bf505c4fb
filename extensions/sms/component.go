package sms

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	nsClient     = "jabber:client"
	nsDiscoInfo  = xmppd.NSDiscoInfo
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsGateway    = "jabber:iq:gateway"
	nsReceipts   = "urn:xmpp:receipts"
)

// maxText bounds one outbound SMS in characters (Twilio's limit; longer
// texts are split by the provider into at most 10 segments).
const maxText = 1600

// HandleStanza implements xmppd.DomainHandler.
func (e *Extension) HandleStanza(p *xmppd.Packet) {
	switch p.Kind() {
	case "message":
		e.handleMessage(p)
	case "presence":
		if !e.answerSubscription(p) {
			e.rooms.presence(e, p)
		}
	case "iq":
		e.handleIQ(p)
	}
}

// handleMessage takes a message to a number: checked here, sent later by
// a worker (never on the sender's read loop).
func (e *Extension) handleMessage(p *xmppd.Packet) {
	switch p.Type() {
	case "error":
		e.rooms.messageError(e, p)
		return
	case "groupchat":
		return // room traffic the number sees as an occupant
	}
	to := p.To
	if to.Local == "" {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable,
			"send SMS to a phone number: +<country code><number>@"+e.domain))
		return
	}
	if err := checkNumber(to.Local); err != nil {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, err.Error()))
		return
	}
	if !e.srv.IsLocal(p.From) || p.From.Local == "" {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only users of "+e.srv.Domain()+" may send SMS"))
		return
	}
	st := p.Stanza
	c, ok := st.Child("body", nsClient)
	if !ok {
		return // chat states, markers: nothing to text
	}
	body, err := wire.Parse(st.ChildBytes(c))
	if err != nil || strings.TrimSpace(body.Text) == "" {
		return
	}
	if n := utf8.RuneCountInString(body.Text); n > maxText {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
			"SMS to "+to.Local+" not sent: the text has "+strconv.Itoa(n)+" characters, at most "+strconv.Itoa(maxText)+" fit"))
		return
	}
	_, receipt := st.Child("request", nsReceipts)
	e.enqueue(p, &job{
		sender:  p.From,
		number:  to.Local,
		text:    body.Text,
		msgID:   st.ID,
		receipt: receipt,
		orig:    st.Clone(),
	})
}

func (e *Extension) handleIQ(p *xmppd.Packet) {
	e.srv.AnswerIQ(p, func(iq *xmppd.IQ) (*wire.Element, error) {
		q := iq.Payload
		switch {
		case p.To.Local != "" || p.To.Resource != "":
			return nil, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
		case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoInfo:
			return e.discoInfo(q)
		case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoItems:
			return wire.NewElement("query", nsDiscoItems), nil
		case p.Type() == "get" && q.Name == "query" && q.NS == nsGateway:
			return wire.NewElement("query", nsGateway).Append(
				wire.NewElement("desc", nsGateway).SetText("Enter the phone number in international format, e.g. +4915123456789"),
				wire.NewElement("prompt", nsGateway).SetText("Phone number")), nil
		case p.Type() == "set" && q.Name == "query" && q.NS == nsGateway:
			return e.translate(q.ChildText("prompt", nsGateway))
		}
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
	})
}

func (e *Extension) discoInfo(q *wire.Element) (*wire.Element, error) {
	if q.Attr("node") != "" {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such node")
	}
	return xmppd.DiscoInfo(xmppd.Identity{Category: "gateway", Type: "sms", Name: "SMS gateway"},
		nsDiscoItems, nsGateway, nsReceipts), nil
}

// translate is XEP-0100 §6.3: a phone number as people write it
// ("+49 (151) 234-567", "0049…") to the number's JID.
func (e *Extension) translate(prompt string) (*wire.Element, error) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(prompt) {
		switch r {
		case ' ', '-', '.', '(', ')', '/':
		default:
			b.WriteRune(r)
		}
	}
	n := b.String()
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if err := checkNumber(n); err != nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, err.Error())
	}
	return wire.NewElement("query", nsGateway).Append(
		wire.NewElement("jid", nsGateway).SetText(n + "@" + e.domain)), nil
}

// answerSubscription approves a user's subscription to a number at once,
// as a XEP-0100 gateway does for its legacy contacts, so the number sits in
// the roster like any contact (it never shows as online). It reports
// whether p was a subscription stanza or probe (never a room's business).
func (e *Extension) answerSubscription(p *xmppd.Packet) bool {
	var answer string
	switch p.Type() {
	case "subscribe":
		answer = "subscribed"
	case "unsubscribe":
		answer = "unsubscribed"
	case "subscribed", "unsubscribed", "probe":
		return true // nothing to do: numbers have no presence
	default:
		return false
	}
	if !e.srv.IsLocal(p.From) || p.From.Local == "" || checkNumber(p.To.Local) != nil {
		return true
	}
	from, to := e.numberJID(p.To.Local), p.From.Bare()
	b := append(make([]byte, 0, 128), "<presence"...)
	b = wire.AppendAttr(b, "type", answer)
	b = wire.AppendAttr(b, "from", from.String())
	b = wire.AppendAttr(b, "to", to.String())
	b = append(b, "/>"...)
	st, err := wire.ParseStanza(b)
	if err != nil {
		e.log.Error("building a subscription answer failed", "number", p.To.Local, "err", err)
		return true
	}
	e.srv.RoutePresence(xmppd.NewPacket(st, from, to))
	return true
}
