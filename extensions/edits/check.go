package edits

import (
	"errors"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// reference is the edit a message asks for.
type reference struct {
	retract bool
	id      string
}

func (r reference) verb() string {
	if r.retract {
		return "retract"
	}
	return "correct"
}

// editOf finds a correction or retraction request in a message.
func editOf(st *wire.Stanza) (reference, bool) {
	if c, ok := st.Child("replace", NSCorrect); ok {
		return reference{id: attrOf(st, c, "id")}, true
	}
	if c, ok := st.Child("retract", NSRetract); ok {
		return reference{retract: true, id: attrOf(st, c, "id")}, true
	}
	if c, ok := st.Child("apply-to", NSFasten); ok {
		el, err := wire.Parse(st.ChildBytes(c))
		if err == nil && el.Child("retract", NSRetract0) != nil {
			return reference{retract: true, id: el.Attr("id")}, true
		}
	}
	return reference{}, false
}

func attrOf(st *wire.Stanza, c wire.Child, name string) string {
	el, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		return ""
	}
	return el.Attr(name)
}

// conversation names the conversation a message belongs to for the index:
// the room for group chat, the pair of bare JIDs (in a fixed order, so
// both sides find the same records) for a 1:1 message to a local account.
// Other messages (to components, MUC private messages) are not indexed.
func (e *Extension) conversation(p *xmppd.Packet) (string, bool) {
	switch p.Type() {
	case "groupchat":
		if p.To.Resource != "" || e.srv.IsLocal(p.To) {
			return "", false
		}
		return p.To.BareString(), true
	case "", "chat", "normal":
		if !e.srv.IsLocal(p.To) || p.To.Local == "" || p.From.IsZero() {
			return "", false
		}
		return pairKey(p.From.BareString(), p.To.BareString()), true
	}
	return "", false
}

func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + " " + b
}

// check is the MessageOut filter: an edit that breaks the rules is
// bounced and goes no further; an accepted one carries Packet.Edit.
func (e *Extension) check(p *xmppd.Packet) xmppd.Verdict {
	ref, ok := editOf(p.Stanza)
	if !ok {
		return xmppd.Pass
	}
	conv, ok := e.conversation(p)
	if !ok {
		return xmppd.Pass
	}
	if ref.id == "" {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "the request to "+ref.verb()+" a message names no message id"))
		return xmppd.Done
	}
	rec, err := e.lookup(conv, ref.id)
	if errors.Is(err, store.ErrNotFound) {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound,
			"cannot "+ref.verb()+" message "+ref.id+": no such message in this conversation"))
		return xmppd.Done
	}
	if err != nil {
		e.log.Error("reading the edit index failed", "conversation", conv, "id", ref.id, "err", err)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Wait, stanza.InternalServerError, "the server could not check the message to "+ref.verb()))
		return xmppd.Done
	}
	if rec.Sender != p.From.BareString() {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Auth, stanza.Forbidden,
			"cannot "+ref.verb()+" message "+ref.id+": only its author may"))
		return xmppd.Done
	}
	if rec.Retracted {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
			"cannot "+ref.verb()+" message "+ref.id+": it was retracted"))
		return xmppd.Done
	}
	window := e.Config.CorrectionWindow.Duration
	if ref.retract {
		window = e.Config.RetractionWindow.Duration
	}
	at := time.UnixMicro(rec.At)
	if window > 0 && e.Now().Sub(at) >= window {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
			"cannot "+ref.verb()+" message "+ref.id+": it was sent at "+at.UTC().Format(time.RFC3339)+
				" and may only be changed within "+window.String()))
		return xmppd.Done
	}
	p.Edit = &xmppd.MessageEdit{
		Retract:  ref.retract,
		Target:   ref.id,
		Sender:   p.From.Bare(),
		At:       at,
		Archived: rec.Archived,
		URLs:     rec.URLs,
	}
	return xmppd.Pass
}

// lookup reads the record a conversation's id points to.
func (e *Extension) lookup(conv, id string) (record, error) {
	val, err := e.sent.Get(indexKey(conv, id))
	if err != nil {
		return record{}, err
	}
	return decodeRecord(val)
}

// Lookup implements xmppd.MessageIndex for rooms.
func (e *Extension) Lookup(room xmppd.JID, id string) (*xmppd.MessageEdit, bool) {
	rec, err := e.lookup(room.BareString(), id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Error("reading the edit index failed", "room", room.BareString(), "id", id, "err", err)
		}
		return nil, false
	}
	sender, err := xmppd.ParseJID(rec.Sender)
	if err != nil {
		return nil, false
	}
	return &xmppd.MessageEdit{
		Retract: rec.Retracted, Target: id, Sender: sender, At: time.UnixMicro(rec.At),
		Archived: rec.Archived, URLs: rec.URLs,
	}, true
}
