package sms

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// A room as sms.default_route: a room takes group chat only from its
// occupants (a normal message to a room is refused by XEP-0045 services),
// so the number joins the room as an occupant, nick = the number, real
// JID +E164@sms.<domain>/sms, and speaks there. It stays in the room, so
// later texts need no join; a kick, a ban or the room's end (unavailable
// self-presence) makes the next text join again.

const (
	nsMUC       = "http://jabber.org/protocol/muc"
	nsMUCUser   = "http://jabber.org/protocol/muc#user"
	occupantRes = "sms" // the resource of a number's occupant JID
	joinTimeout = 5 * time.Second
)

type joinKey struct {
	room   xmppd.JID // bare
	number string
}

// roomJoins tracks the numbers that are occupants of rooms.
type roomJoins struct {
	speaking sync.Mutex // one text (and join) at a time, so answers match
	mu       sync.Mutex // guards the maps; the room's answers take it
	joined   map[joinKey]bool
	waiting  map[joinKey]chan error
}

// say posts text from number in room, joining first if needed. The room
// answers synchronously today (one routing call), but a join is awaited
// with a timeout in case it ever does not.
func (rj *roomJoins) say(e *Extension, room xmppd.JID, number, text string) error {
	key := joinKey{room: room.Bare(), number: number}
	rj.speaking.Lock()
	defer rj.speaking.Unlock()
	if !rj.isJoined(key) {
		if err := rj.join(e, key); err != nil {
			return err
		}
	}
	occupant := e.occupant(number)
	b := append(make([]byte, 0, 128+len(text)), "<message type='groupchat'"...)
	b = wire.AppendAttr(b, "id", e.srv.NextID())
	b = wire.AppendAttr(b, "from", occupant.String())
	b = wire.AppendAttr(b, "to", key.room.String())
	b = append(b, "><body>"...)
	b = wire.AppendEscaped(b, text)
	b = append(b, "</body></message>"...)
	ch := rj.expect(key)
	defer rj.forget(key)
	if err := e.routeMessage(occupant, key.room, b); err != nil {
		return err
	}
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("room %s refused the text of %s: %w", key.room, number, err)
		}
	default:
	}
	return nil
}

// join enters the room as the number and waits for the room's answer.
func (rj *roomJoins) join(e *Extension, key joinKey) error {
	occupant := e.occupant(key.number)
	nick := key.room
	nick.Resource = key.number
	b := append(make([]byte, 0, 256), "<presence"...)
	b = wire.AppendAttr(b, "from", occupant.String())
	b = wire.AppendAttr(b, "to", nick.String())
	b = append(b, "><x xmlns='"+nsMUC+"'><history maxstanzas='0'/></x></presence>"...)
	st, err := wire.ParseStanza(b)
	if err != nil {
		return fmt.Errorf("building the join presence: %w", err)
	}
	ch := rj.expect(key)
	defer rj.forget(key)
	e.srv.RoutePresence(xmppd.NewPacket(st, occupant, nick))
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("room %s refused %s: %w", key.room, key.number, err)
		}
		return nil
	case <-time.After(joinTimeout):
		return fmt.Errorf("room %s did not answer the join of %s within %s", key.room, key.number, joinTimeout)
	}
}

func (rj *roomJoins) isJoined(key joinKey) bool {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	return rj.joined[key]
}

// expect registers for the room's next answer about key.
func (rj *roomJoins) expect(key joinKey) chan error {
	ch := make(chan error, 1)
	rj.mu.Lock()
	if rj.waiting == nil {
		rj.waiting = make(map[joinKey]chan error)
		rj.joined = make(map[joinKey]bool)
	}
	rj.waiting[key] = ch
	rj.mu.Unlock()
	return ch
}

func (rj *roomJoins) forget(key joinKey) {
	rj.mu.Lock()
	delete(rj.waiting, key)
	rj.mu.Unlock()
}

// presence takes what a room sends a number's occupant: the self-presence
// that completes a join or tells it left, or the error refusing it.
func (rj *roomJoins) presence(e *Extension, p *xmppd.Packet) {
	room, ok := e.roomOf(p)
	if !ok || p.To.Local == "" {
		return
	}
	key := joinKey{room: room, number: p.To.Local}
	switch p.Type() {
	case "error":
		rj.finish(key, false, errors.New(errorText(p.Stanza)))
	case "":
		if selfPresence(p.Stanza) {
			rj.finish(key, true, nil)
		}
	case "unavailable":
		if selfPresence(p.Stanza) {
			e.log.Info("SMS number left room", "number", key.number, "room", room.String())
			rj.finish(key, false, nil)
		}
	}
}

// messageError takes a room's refusal of a number's text (the number is
// no longer an occupant, or may not speak): say reports it, and the next
// text joins again.
func (rj *roomJoins) messageError(e *Extension, p *xmppd.Packet) {
	room, ok := e.roomOf(p)
	if !ok {
		return
	}
	rj.finish(joinKey{room: room, number: p.To.Local}, false, errors.New(errorText(p.Stanza)))
}

func (rj *roomJoins) finish(key joinKey, in bool, err error) {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	if rj.joined == nil {
		return
	}
	if in {
		rj.joined[key] = true
	} else {
		delete(rj.joined, key)
	}
	if ch := rj.waiting[key]; ch != nil {
		select {
		case ch <- err:
		default:
		}
	}
}

// roomOf is the room a stanza comes from. Rooms send through the core
// (Server.SendRaw), so the stanza's own 'from' is the room's; a client's
// stanza (Origin set) is not trusted to name one, and a room is never at
// the server's own domain.
func (e *Extension) roomOf(p *xmppd.Packet) (xmppd.JID, bool) {
	if p.Origin != nil || p.Stanza.From == "" {
		return xmppd.JID{}, false
	}
	j, err := xmppd.ParseJID(p.Stanza.From)
	if err != nil || j.Local == "" || e.srv.IsLocal(j) {
		return xmppd.JID{}, false
	}
	return j.Bare(), true
}

// selfPresence reports status 110 (XEP-0045 §7.2.2).
func selfPresence(st *wire.Stanza) bool {
	c, ok := st.Child("x", nsMUCUser)
	if !ok {
		return false
	}
	x, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		return false
	}
	for _, s := range x.ChildrenNamed("status", nsMUCUser) {
		if s.Attr("code") == "110" {
			return true
		}
	}
	return false
}

// errorText is the condition and text of an error stanza.
func errorText(st *wire.Stanza) string {
	c, ok := st.Child("error", "")
	if !ok {
		return "error"
	}
	el, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		return "error"
	}
	const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	cond, text := "error", el.ChildText("text", nsStanzas)
	for _, k := range el.Children {
		if k.NS == nsStanzas && k.Name != "text" {
			cond = k.Name
		}
	}
	if text != "" {
		return cond + ": " + text
	}
	return cond
}

// occupant is the real JID a number has in rooms.
func (e *Extension) occupant(number string) xmppd.JID {
	return xmppd.JID{Local: number, Domain: e.domain, Resource: occupantRes}
}
