package xmppd

import (
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// NSDiscoInfo is XEP-0030's info namespace.
const NSDiscoInfo = "http://jabber.org/protocol/disco#info"

// ReplyIQ answers the IQ request p with a result carrying payload (nil:
// an empty result), to the session that sent it or, for a request the
// server generated, through SendRaw. Components answer with it the
// requests their HandleStanza gets; the core answers its IQ handlers'
// results the same way.
func (srv *Server) ReplyIQ(p *Packet, payload *wire.Element) {
	reply := resultIQ(p, payload)
	if p.Origin != nil {
		p.Origin.Send(reply)
		return
	}
	srv.SendRaw(p.From, reply)
}

// AnswerIQ answers the IQ request p with h the way the core answers its
// own IQ handlers: exactly one payload element, parsed into IQ.Payload;
// h's result, or its error (a stanza.Error or AppError as it is, anything
// else logged and answered internal-server-error). IQ results and errors
// are ignored. Components (Registrar.HandleDomain) answer their IQs with it.
func (srv *Server) AnswerIQ(p *Packet, h IQHandler) {
	if p.Type() != "get" && p.Type() != "set" {
		return // answers: the component asked nothing, or waits elsewhere
	}
	if len(p.Stanza.Children) != 1 {
		srv.Bounce(p, StanzaError(stanza.Modify, stanza.BadRequest, "an IQ request carries exactly one payload element"))
		return
	}
	srv.runIQHandler(p, h)
}

// DiscoInfo is a component's disco#info answer (XEP-0030 §3.1): one
// identity and its features, disco#info itself included.
func DiscoInfo(id Identity, features ...string) *wire.Element {
	res := wire.NewElement("query", NSDiscoInfo)
	res.Append(wire.NewElement("identity", NSDiscoInfo,
		wire.Attr{Name: "category", Value: id.Category}, wire.Attr{Name: "type", Value: id.Type},
		wire.Attr{Name: "name", Value: id.Name}))
	res.Append(wire.NewElement("feature", NSDiscoInfo, wire.Attr{Name: "var", Value: NSDiscoInfo}))
	for _, f := range features {
		if f != NSDiscoInfo {
			res.Append(wire.NewElement("feature", NSDiscoInfo, wire.Attr{Name: "var", Value: f}))
		}
	}
	return res
}
