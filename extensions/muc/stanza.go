package muc

import (
	"strconv"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Building stanzas: the room writes its own stanzas as bytes (an
// attribute header per recipient plus a body shared by all of them), so a
// broadcast costs one small allocation per recipient and no element trees.

func appendTextEl(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = wire.AppendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// item describes the <item/> of a muc#user payload.
type item struct {
	aff, role string
	jid       string // real JID, when the recipient may see it
	nick      string // new nick (303)
	actor     string // nick of the moderator who acted
	reason    string
}

// userX is a muc#user payload.
type userX struct {
	item    *item
	codes   []int
	destroy *destroyInfo
}

type destroyInfo struct {
	jid, reason string
}

func (x userX) append(b []byte) []byte {
	b = append(b, "<x xmlns='"+NSUser+"'>"...)
	if it := x.item; it != nil {
		b = append(b, "<item"...)
		b = wire.AppendAttr(b, "affiliation", it.aff)
		b = wire.AppendAttr(b, "role", it.role)
		if it.jid != "" {
			b = wire.AppendAttr(b, "jid", it.jid)
		}
		if it.nick != "" {
			b = wire.AppendAttr(b, "nick", it.nick)
		}
		if it.actor == "" && it.reason == "" {
			b = append(b, "/>"...)
		} else {
			b = append(b, '>')
			if it.actor != "" {
				b = append(b, "<actor"...)
				b = wire.AppendAttr(b, "nick", it.actor)
				b = append(b, "/>"...)
			}
			if it.reason != "" {
				b = appendTextEl(b, "reason", it.reason)
			}
			b = append(b, "</item>"...)
		}
	}
	if d := x.destroy; d != nil {
		b = append(b, "<destroy"...)
		if d.jid != "" {
			b = wire.AppendAttr(b, "jid", d.jid)
		}
		b = append(b, '>')
		if d.reason != "" {
			b = appendTextEl(b, "reason", d.reason)
		}
		b = append(b, "</destroy>"...)
	}
	for _, c := range x.codes {
		b = append(b, "<status code='"...)
		b = strconv.AppendInt(b, int64(c), 10)
		b = append(b, "'/>"...)
	}
	return append(b, "</x>"...)
}

func appendOccupantID(b []byte, id string) []byte {
	b = append(b, "<occupant-id xmlns='"+NSOccupantID+"'"...)
	b = wire.AppendAttr(b, "id", id)
	return append(b, "/>"...)
}

// presenceBody is everything of an occupant's presence after the start
// tag: the client's own payload (show, status, caps ...), the muc#user
// payload and the occupant id.
func presenceBody(o *occupant, x userX) []byte {
	b := make([]byte, 0, len(o.presence)+256)
	b = append(b, o.presence...)
	b = x.append(b)
	b = appendOccupantID(b, o.id)
	return append(b, "</presence>"...)
}

// presenceTo prefixes body with a start tag.
func presenceTo(from, to, typ string, body []byte) []byte {
	b := make([]byte, 0, len(body)+len(from)+len(to)+48)
	b = append(b, "<presence"...)
	b = wire.AppendAttr(b, "from", from)
	b = wire.AppendAttr(b, "to", to)
	if typ != "" {
		b = wire.AppendAttr(b, "type", typ)
	}
	b = append(b, '>')
	return append(b, body...)
}

// send delivers b to one session of an occupant.
func (e *Extension) send(s *occSession, b []byte) {
	if s.s != nil {
		s.s.Send(b)
		return
	}
	e.srv.SendRaw(s.full, b)
}

// sendAll delivers b to every session of an occupant.
func (e *Extension) sendAll(o *occupant, b []byte) {
	for _, s := range o.sessions {
		e.send(s, b)
	}
}

// reply sends raw XML answering p to its sender.
func (e *Extension) reply(p *xmppd.Packet, b []byte) {
	if p.Origin != nil {
		p.Origin.Send(b)
		return
	}
	e.srv.SendRaw(p.From, b)
}

// bounce answers p with a stanza error.
func (e *Extension) bounce(p *xmppd.Packet, cond stanza.Condition, typ stanza.ErrorType, text string) {
	e.srv.Bounce(p, xmppd.StanzaError(typ, cond, text))
}

func appendDelay(b []byte, from string, at time.Time) []byte {
	b = append(b, "<delay xmlns='"+nsDelay+"'"...)
	b = wire.AppendAttr(b, "from", from)
	b = wire.AppendAttr(b, "stamp", at.UTC().Format("2006-01-02T15:04:05.000Z"))
	return append(b, "/>"...)
}

// payloadExcept concatenates the raw first-level children of st except
// those named in skip ("name ns").
func payloadExcept(st *wire.Stanza, skip func(name, ns string) bool) []byte {
	var b []byte
	for _, c := range st.Children {
		if skip(c.Name, c.NS) {
			continue
		}
		b = append(b, st.ChildBytes(c)...)
	}
	return b
}

// childElement parses st's first child name/ns, nil when absent or bad.
func childElement(st *wire.Stanza, name, ns string) *wire.Element {
	c, ok := st.Child(name, ns)
	if !ok {
		return nil
	}
	el, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		return nil
	}
	return el
}
