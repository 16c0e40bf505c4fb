package muc

import (
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

const nsClient = "jabber:client"

func (e *Extension) handleMessage(p *xmppd.Packet) {
	to := p.To
	if to.Local == "" {
		e.bounce(p, stanza.ServiceUnavailable, stanza.Cancel, "messages go to rooms, not to the service")
		return
	}
	r := e.room(to.Local)
	if r == nil {
		e.bounce(p, stanza.ItemNotFound, stanza.Cancel, "no such room: "+to.Bare().String())
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.destroyed {
		e.bounce(p, stanza.ItemNotFound, stanza.Cancel, "no such room: "+to.Bare().String())
		return
	}
	o := r.byReal[p.From]
	if to.Resource != "" {
		e.privateMessage(r, o, p)
		return
	}
	if p.Type() == "groupchat" {
		if o == nil {
			e.bounce(p, stanza.NotAcceptable, stanza.Modify, "you are not in the room "+r.jid.String())
			return
		}
		if !e.allowMessage(o, p) {
			return // a message flood: refused, not fanned out
		}
		e.groupchat(r, o, p)
		return
	}
	if x := childElement(p.Stanza, "x", NSUser); x != nil {
		if len(x.ChildrenNamed("invite", NSUser)) > 0 {
			e.invite(r, o, p, x)
			return
		}
		if d := x.Child("decline", NSUser); d != nil {
			e.decline(r, p, d)
			return
		}
	}
	e.bounce(p, stanza.BadRequest, stanza.Modify, "only groupchat messages and invitations go to the room itself")
}

// dropFromClient says which children of an occupant's message the room
// removes: ids and markers only the room may set.
func dropFromClient(c wire.Child) bool {
	switch {
	case c.Name == "stanza-id" && c.NS == NSStanzaID:
		return true
	case c.NS == NSOccupantID:
		return true
	case c.Name == "x" && c.NS == NSUser:
		return true
	}
	return false
}

// rebuild returns st with 'to' and 'from' set, the children drop selects
// removed and add appended. st must have children (so an end tag).
func rebuild(st *wire.Stanza, to, from string, drop func(wire.Child) bool, add []byte) []byte {
	out := st.Rewrite(make([]byte, 0, len(st.Raw)+len(to)+len(from)+len(add)+32), to, from)
	delta := len(out) - len(st.Raw)
	removed := false
	for _, c := range st.Children {
		if drop(c) {
			removed = true
			break
		}
	}
	if removed {
		kept := make([]byte, 0, len(out)+len(add))
		pos := 0
		for _, c := range st.Children {
			if drop(c) {
				kept = append(kept, out[pos:c.Start+delta]...)
				pos = c.End + delta
			}
		}
		out = append(kept, out[pos:]...)
	}
	if len(add) == 0 {
		return out
	}
	return wire.InsertChild(out, add)
}

// groupchat fans an occupant's message out to the room (XEP-0045 §7.4).
// r.mu is held (an archived message lets go of it during its commit,
// commit.go), so every occupant sees the room's messages in one order.
func (e *Extension) groupchat(r *room, o *occupant, p *xmppd.Packet) {
	st := p.Stanza
	if p.Modified() {
		// Hooks at MessageOut added payloads (link previews, file
		// metadata): the room stores and fans out what they made.
		var err error
		if st, err = parseStanza(p.Bytes()); err != nil {
			e.log.Error("reading a rewritten groupchat message failed", "room", r.jid.String(), "err", err)
			e.bounce(p, stanza.InternalServerError, stanza.Wait, "")
			return
		}
	}
	if len(st.Children) == 0 {
		return
	}
	_, hasBody := st.Child("body", nsClient)
	// A checked correction or retraction (Packet.Edit, by the edits
	// extension) is archived even without a body: clients that were
	// away learn of it from the archive (XEP-0424 §5).
	archived := hasBody || p.Edit != nil
	if subj, ok := st.Child("subject", nsClient); ok && !hasBody {
		e.changeSubject(r, o, p, subj)
		return
	}
	if o.role == roleVisitor || o.role == roleNone {
		e.bounce(p, stanza.Forbidden, stanza.Auth, "visitors may not speak in this room")
		return
	}
	mentioned, err := e.mentionsOf(r, o, st)
	if err != nil {
		e.bounce(p, stanza.BadRequest, stanza.Modify, err.Error())
		return
	}
	// The stored stanza: from the nick, addressed to the room, with the
	// room's stanza-id (XEP-0359) and occupant id (XEP-0421). It is
	// parsed once more here (not per occupant) so that every copy, live or
	// replayed as history, is a single Rewrite of it.
	add := make([]byte, 0, 192)
	now := time.Now()
	id := ""
	if archived {
		id = e.srv.NextID()
		add = append(add, "<stanza-id xmlns='"+NSStanzaID+"'"...)
		add = wire.AppendAttr(add, "id", id)
		add = wire.AppendAttr(add, "by", r.jid.String())
		add = append(add, "/>"...)
	}
	add = appendOccupantID(add, o.id)
	stored, err := parseStanza(rebuild(st, r.jid.String(), o.from, dropFromClient, add))
	if err != nil {
		e.log.Error("rebuilding a groupchat message failed", "room", r.jid.String(), "err", err)
		e.bounce(p, stanza.InternalServerError, stanza.Wait, "")
		return
	}
	if !archived {
		e.deliverMessage(r, stored, mentioned, now)
		return
	}
	// The archive write and what the RoomMessage hook's handlers queue
	// (inbox, edits) commit in one transaction before fan-out (commit.go).
	pkt := xmppd.NewPacket(stored, o.jid, r.jid)
	pkt.StanzaID = id
	pkt.Edit = p.Edit
	e.queueArchive(pkt, r.jid.String(), id, now, o.from, stored.Raw)
	m := &pendingMessage{p: p, pkt: pkt, stored: stored, id: id, at: now, sender: o.bare, mentioned: mentioned}
	if p.Edit != nil && p.Edit.Retract {
		m.ret = &mamproto.Retracted{ID: st.ID, At: now}
		e.queueTombstones(pkt, p.Edit.Archived, *m.ret)
	}
	ev := roomEvent(r, o, pkt)
	ev.Mentions = mentioned
	xmppd.RunHook(e.srv, xmppd.RoomMessage, ev)
	e.commitAndFanOut(r, m)
}

// deliverMessage fans a group chat message out and tells the mentioned
// users who are not in the room. r.mu is held.
func (e *Extension) deliverMessage(r *room, stored *wire.Stanza, mentioned []xmppd.JID, at time.Time) {
	e.fanout(r, stored)
	if len(mentioned) > 0 {
		e.notifyAbsent(r, mentioned, stored, at)
	}
}

// roomEvent describes an archived group chat message for the RoomMessage
// hook point. r.mu is held.
func roomEvent(r *room, o *occupant, pkt *xmppd.Packet) *xmppd.RoomMessageEvent {
	ev := &xmppd.RoomMessageEvent{Room: r.jid, Packet: pkt, Sender: o.bare, Nick: o.nick}
	for j, a := range r.rec.Affiliations {
		switch a {
		case affOwner, affAdmin, affMember:
			if jj, err := xmppd.ParseJID(j); err == nil {
				ev.Members = append(ev.Members, jj.Bare())
			}
		}
	}
	seen := make(map[xmppd.JID]struct{}, len(r.occupants))
	for _, oc := range r.occupants {
		if _, ok := seen[oc.bare]; !ok {
			seen[oc.bare] = struct{}{}
			ev.Occupants = append(ev.Occupants, oc.bare)
		}
	}
	return ev
}

// fanout delivers a stored stanza to every occupant session: one Rewrite
// (to = the session's real JID, from unchanged) per copy.
func (e *Extension) fanout(r *room, stored *wire.Stanza) {
	from := stored.From
	for _, oc := range r.occupants {
		for _, s := range oc.sessions {
			e.send(s, stored.Rewrite(nil, s.to, from))
		}
	}
}

// changeSubject sets the room subject (XEP-0045 §8.1): moderators always,
// participants when the room allows it.
func (e *Extension) changeSubject(r *room, o *occupant, p *xmppd.Packet, c wire.Child) {
	allowed := o.role == roleModerator || o.role == roleParticipant && r.rec.Config.ChangeSubject
	if !allowed {
		e.bounce(p, stanza.Forbidden, stanza.Auth, "you may not change the subject of this room")
		return
	}
	el, err := wire.Parse(p.Stanza.ChildBytes(c))
	if err != nil {
		e.bounce(p, stanza.BadRequest, stanza.Modify, "unreadable subject")
		return
	}
	if n := utf8.RuneCountInString(el.Text); n > e.Config.MaxSubjectLength {
		e.bounce(p, stanza.NotAcceptable, stanza.Modify, "the subject is longer than the room allows")
		return
	}
	r.rec.Subject = el.Text
	r.rec.SubjectFrom = o.nick
	if err := e.save(r); err != nil {
		e.log.Error("saving room subject failed", "room", r.jid.String(), "err", err)
	}
	stored, err := parseStanza(rebuild(p.Stanza, r.jid.String(), o.from, dropFromClient, appendOccupantID(nil, o.id)))
	if err != nil {
		return
	}
	e.fanout(r, stored)
}

// privateMessage relays a message between occupants (XEP-0045 §7.5): the
// sender is always named by its own nick, whatever it claims.
func (e *Extension) privateMessage(r *room, o *occupant, p *xmppd.Packet) {
	if o == nil {
		e.bounce(p, stanza.NotAcceptable, stanza.Modify, "only occupants may send private messages in "+r.jid.String())
		return
	}
	if p.Type() == "groupchat" {
		e.bounce(p, stanza.BadRequest, stanza.Modify, "groupchat messages go to the room, not to an occupant")
		return
	}
	target := r.occupants[p.To.Resource]
	if target == nil {
		e.bounce(p, stanza.ItemNotFound, stanza.Cancel, "no occupant "+p.To.Resource+" in the room")
		return
	}
	st := p.Stanza
	if len(st.Children) == 0 {
		return
	}
	stored, err := parseStanza(rebuild(st, target.from, o.from, dropFromClient, []byte("<x xmlns='"+NSUser+"'/>")))
	if err != nil {
		return
	}
	for _, s := range target.sessions {
		e.send(s, stored.Rewrite(nil, s.to, o.from))
	}
}

// invite relays mediated invitations (XEP-0045 §7.8.2).
func (e *Extension) invite(r *room, o *occupant, p *xmppd.Packet, x *wire.Element) {
	if o == nil {
		e.bounce(p, stanza.NotAcceptable, stanza.Modify, "only occupants may invite to "+r.jid.String())
		return
	}
	aff := r.affiliation(o.bare)
	cfg := r.rec.Config
	if cfg.MembersOnly && !cfg.AllowInvites && affRank(aff) < affRank(affAdmin) {
		e.bounce(p, stanza.Forbidden, stanza.Auth, "only admins may invite to this members-only room")
		return
	}
	changed := false
	for _, inv := range x.ChildrenNamed("invite", NSUser) {
		to, err := xmppd.ParseJID(inv.Attr("to"))
		if err != nil {
			e.bounce(p, stanza.JIDMalformed, stanza.Modify, "bad invitee: "+inv.Attr("to"))
			return
		}
		if cfg.MembersOnly && r.affiliation(to.Bare()) == affNone {
			r.setAffiliation(to.Bare(), affMember)
			changed = true
		}
		b := make([]byte, 0, 256)
		b = append(b, "<message"...)
		b = wire.AppendAttr(b, "from", r.jid.String())
		b = wire.AppendAttr(b, "to", to.String())
		b = wire.AppendAttr(b, "id", e.srv.NextID())
		b = append(b, "><x xmlns='"+NSUser+"'><invite"...)
		b = wire.AppendAttr(b, "from", o.bare.String())
		b = append(b, '>')
		reason := inv.ChildText("reason", NSUser)
		if reason != "" {
			b = appendTextEl(b, "reason", reason)
		}
		b = append(b, "</invite>"...)
		if cfg.Password != "" {
			b = appendTextEl(b, "password", cfg.Password)
		}
		b = append(b, "</x>"...)
		body := o.bare.String() + " invites you to the room " + r.jid.String()
		if reason != "" {
			body += ": " + reason
		}
		b = appendTextEl(b, "body", body)
		b = append(b, "</message>"...)
		e.route(r.jid, to, b)
	}
	if changed {
		if err := e.save(r); err != nil {
			e.log.Error("saving room members failed", "room", r.jid.String(), "err", err)
		}
	}
}

// decline tells the inviter that the invitation was declined.
func (e *Extension) decline(r *room, p *xmppd.Packet, d *wire.Element) {
	to, err := xmppd.ParseJID(d.Attr("to"))
	if err != nil {
		e.bounce(p, stanza.JIDMalformed, stanza.Modify, "bad inviter: "+d.Attr("to"))
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, "<message"...)
	b = wire.AppendAttr(b, "from", r.jid.String())
	b = wire.AppendAttr(b, "to", to.String())
	b = wire.AppendAttr(b, "id", e.srv.NextID())
	b = append(b, "><x xmlns='"+NSUser+"'><decline"...)
	b = wire.AppendAttr(b, "from", p.From.Bare().String())
	b = append(b, '>')
	if reason := d.ChildText("reason", NSUser); reason != "" {
		b = appendTextEl(b, "reason", reason)
	}
	b = append(b, "</decline></x></message>"...)
	e.route(r.jid, to, b)
}

// route sends a message the room generated through the core's routing, so
// an invitation to an offline user waits in the offline store.
func (e *Extension) route(from, to xmppd.JID, b []byte) {
	if to.Domain == e.domain {
		return // rooms do not invite rooms (and the room's lock is held)
	}
	st, err := parseStanza(b)
	if err != nil {
		e.log.Error("building a room message failed", "err", err)
		return
	}
	e.srv.RouteMessage(xmppd.NewPacket(st, from, to))
}
