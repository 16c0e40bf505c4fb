package muc

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Status codes (XEP-0045 §15.6).
const (
	codeNonAnonymous  = 100
	codeConfigChanged = 104
	codeSelf          = 110
	codeLogged        = 170
	codeCreated       = 201
	codeNickRewritten = 210
	codeBanned        = 301
	codeNickChange    = 303
	codeKicked        = 307
	codeAffRemoved    = 321
	codeMembersOnly   = 322
)

func (e *Extension) handlePresence(p *xmppd.Packet) {
	to := p.To
	if to.Local == "" {
		return
	}
	typ := p.Type()
	if typ != "" && typ != "unavailable" {
		return // subscriptions and probes mean nothing to a room
	}
	if to.Resource == "" {
		if typ == "" {
			e.bounce(p, stanza.JIDMalformed, stanza.Modify, "a room nickname is required: send presence to room@service/nick")
		}
		return
	}
	if typ == "unavailable" {
		if r := e.room(to.Local); r != nil {
			e.leave(r, p.From, p.Origin, p)
		}
		return
	}
	for range 3 { // a room destroyed under us is looked up (or made) again
		if r := e.room(to.Local); r != nil {
			r.mu.Lock()
			if r.destroyed {
				r.mu.Unlock()
				continue
			}
			if o := r.byReal[p.From]; o != nil {
				switch {
				case !e.allowPresence(o, p):
					// A presence flood: refused, nothing broadcast.
				case o.nick == to.Resource:
					e.updatePresence(r, o, p)
				default:
					e.changeNick(r, o, p)
				}
				r.mu.Unlock()
				return
			}
			e.join(r, p, false)
			r.mu.Unlock()
			return
		}
		if p.From.Domain != e.srv.Domain() || p.From.Local == "" {
			e.bounce(p, stanza.NotAllowed, stanza.Cancel, "only users of "+e.srv.Domain()+" may create rooms")
			return
		}
		e.mu.Lock()
		if e.rooms[to.Local] != nil {
			e.mu.Unlock()
			continue
		}
		r := newRoom(to.Local, e.domain)
		r.rec.Config = e.defaultConfig()
		r.setAffiliation(p.From.Bare(), affOwner)
		r.rec.Creator = p.From.Bare().String()
		r.locked = true
		e.rooms[to.Local] = r
		r.mu.Lock()
		e.mu.Unlock()
		e.join(r, p, true)
		r.mu.Unlock()
		return
	}
}

// presencePayload keeps what a client put in its presence for the other
// occupants (show, status, caps, avatar hash), without MUC payloads, which
// only the room may write.
func presencePayload(st *wire.Stanza) []byte {
	return payloadExcept(st, func(name, ns string) bool {
		return (name == "x" && (ns == NS || ns == NSUser)) || ns == NSOccupantID
	})
}

// join lets p's sender into r (XEP-0045 §7.2). r.mu is held.
func (e *Extension) join(r *room, p *xmppd.Packet, created bool) {
	nick := p.To.Resource
	bare := p.From.Bare()
	aff := r.affiliation(bare)
	cfg := &r.rec.Config
	mx := childElement(p.Stanza, "x", NS)
	fail := func(cond stanza.Condition, typ stanza.ErrorType, text string) {
		e.bounce(p, cond, typ, text)
		if created {
			e.dropIfEmpty(r)
		}
	}
	switch {
	case r.locked && aff != affOwner:
		fail(stanza.ItemNotFound, stanza.Cancel, "the room is locked until its owner configures it")
		return
	case aff == affOutcast:
		fail(stanza.Forbidden, stanza.Auth, "you are banned from this room")
		return
	case cfg.MembersOnly && aff == affNone:
		fail(stanza.RegistrationRequired, stanza.Auth, "this room is members-only")
		return
	case e.srv.IsGuest(bare) && (cfg.Kind != KindEnquiry || aff == affNone):
		// A web visitor sees its own enquiry room only, never the staff's
		// spaces, however open they are to staff.
		fail(stanza.Forbidden, stanza.Auth, "guests may only enter an enquiry room they were added to")
		return
	}
	other := r.occupants[nick]
	if other != nil && other.bare != bare {
		fail(stanza.Conflict, stanza.Cancel, "the nickname "+nick+" is in use")
		return
	}
	if cfg.Password != "" && affRank(aff) < affRank(affAdmin) {
		if mx == nil || mx.ChildText("password", NS) != cfg.Password {
			fail(stanza.NotAuthorized, stanza.Auth, "a password is required to enter this room")
			return
		}
	}
	if other == nil && len(r.occupants) >= cfg.MaxUsers && affRank(aff) < affRank(affAdmin) {
		fail(stanza.ServiceUnavailable, stanza.Wait, "the room is full")
		return
	}

	sess := &occSession{full: p.From, to: p.From.String(), s: p.Origin}
	o := other
	if o == nil {
		o = &occupant{
			nick: nick,
			jid:  xmppd.JID{Local: r.name, Domain: e.domain, Resource: nick},
			bare: bare,
			role: r.defaultRole(aff),
			id:   e.occupantID(r.name, bare),
		}
		o.from = o.jid.String()
		r.occupants[nick] = o
		e.callJoin(r, o)
	}
	o.sessions = append(o.sessions, sess)
	o.presence = presencePayload(p.Stanza)
	r.byReal[p.From] = o
	e.markJoined(p.From, r, true)

	// 1. Everyone already there, to the newcomer.
	seeJIDs := r.canSeeJIDs(o.role)
	for _, n := range sortedNicks(r) {
		oc := r.occupants[n]
		if oc == o {
			continue
		}
		x := userX{item: &item{aff: r.affiliation(oc.bare), role: oc.role}}
		if seeJIDs {
			x.item.jid = oc.sessions[len(oc.sessions)-1].to
		}
		e.send(sess, presenceTo(oc.from, p.From.String(), "", presenceBody(oc, x)))
	}
	// 2. The newcomer, to everyone else (a second session of a present
	// occupant changes nothing for them).
	if other == nil {
		e.broadcastPresenceExcept(r, o, "", userX{item: &item{aff: aff, role: o.role}}, nil, true)
	}
	// 3. Self-presence with its status codes.
	codes := []int{codeSelf}
	if cfg.NonAnonymous {
		codes = append(codes, codeNonAnonymous)
	}
	// Every room archives its messages (MAM at the room's JID): the
	// newcomer is told the room is logged (XEP-0045 §7.2.12).
	codes = append(codes, codeLogged)
	if created {
		codes = append(codes, codeCreated)
	}
	if rawNick(p.Stanza.To) != nick {
		codes = append(codes, codeNickRewritten)
	}
	self := userX{item: &item{aff: aff, role: o.role, jid: p.From.String()}, codes: codes}
	e.send(sess, presenceTo(o.from, p.From.String(), "", presenceBody(o, self)))
	// 4. History, then 5. the subject (always, so clients know the join is
	// complete).
	e.sendHistory(r, sess, mx)
	e.sendSubject(r, sess)
}

// rawNick is the resource of a 'to' as the client wrote it.
func rawNick(to string) string {
	if i := strings.IndexByte(to, '/'); i >= 0 {
		return to[i+1:]
	}
	return ""
}

func sortedNicks(r *room) []string {
	l := make([]string, 0, len(r.occupants))
	for n := range r.occupants {
		l = append(l, n)
	}
	slices.Sort(l)
	return l
}

// broadcastPresence sends o's presence to every occupant: with the real
// JID to those who may see it, with status 110 to o's own sessions.
// extraSelf are codes only o sees. r.mu is held.
func (e *Extension) broadcastPresence(r *room, o *occupant, typ string, x userX, extraSelf []int) {
	e.broadcastPresenceExcept(r, o, typ, x, extraSelf, false)
}

// broadcastPresenceExcept is broadcastPresence, leaving o itself out when
// skipSelf (a joining occupant gets its self-presence separately).
func (e *Extension) broadcastPresenceExcept(r *room, o *occupant, typ string, x userX, extraSelf []int, skipSelf bool) {
	plain := presenceBody(o, x)
	var withJID, self []byte
	// Map order: each recipient gets one copy, so the order among them
	// does not matter, and sorting thousands of nicks per presence would.
	for _, oc := range r.occupants {
		var body []byte
		switch {
		case oc == o:
			if skipSelf {
				continue
			}
			if self == nil {
				sx := x
				it := *x.item
				it.jid = o.sessions[len(o.sessions)-1].to
				sx.item = &it
				sx.codes = append(append([]int{codeSelf}, x.codes...), extraSelf...)
				self = presenceBody(o, sx)
			}
			body = self
		case r.canSeeJIDs(oc.role):
			if withJID == nil {
				jx := x
				it := *x.item
				it.jid = o.sessions[len(o.sessions)-1].to
				jx.item = &it
				withJID = presenceBody(o, jx)
			}
			body = withJID
		default:
			body = plain
		}
		for _, s := range oc.sessions {
			e.send(s, presenceTo(o.from, s.to, typ, body))
		}
	}
}

// updatePresence rebroadcasts a changed presence (show, status). r.mu held.
func (e *Extension) updatePresence(r *room, o *occupant, p *xmppd.Packet) {
	o.presence = presencePayload(p.Stanza)
	e.broadcastPresence(r, o, "", userX{item: &item{aff: r.affiliation(o.bare), role: o.role}}, nil)
}

// changeNick moves o to a new nick (XEP-0045 §7.6). r.mu is held.
func (e *Extension) changeNick(r *room, o *occupant, p *xmppd.Packet) {
	nick := p.To.Resource
	if other := r.occupants[nick]; other != nil {
		e.bounce(p, stanza.Conflict, stanza.Cancel, "the nickname "+nick+" is in use")
		return
	}
	aff := r.affiliation(o.bare)
	e.broadcastPresence(r, o, "unavailable", userX{item: &item{aff: aff, role: o.role, nick: nick}, codes: []int{codeNickChange}}, nil)
	delete(r.occupants, o.nick)
	oldNick := o.nick
	o.nick = nick
	o.jid.Resource = nick
	o.from = o.jid.String()
	r.occupants[nick] = o
	e.callRename(r, o, oldNick)
	o.presence = presencePayload(p.Stanza)
	var extra []int
	if rawNick(p.Stanza.To) != nick {
		extra = []int{codeNickRewritten}
	}
	e.broadcastPresence(r, o, "", userX{item: &item{aff: aff, role: o.role}}, extra)
}

// leave takes one session out of r (unavailable presence, or the session
// ended). sess, when not nil, must be the session that joined, so the end
// of a replaced session does not take its successor out. p is the
// unavailable presence, nil on disconnect.
func (e *Extension) leave(r *room, full xmppd.JID, sess *xmppd.Session, p *xmppd.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.byReal[full]
	if o == nil {
		return
	}
	i := slices.IndexFunc(o.sessions, func(s *occSession) bool { return s.full == full })
	if sess != nil && o.sessions[i].s != nil && o.sessions[i].s != sess {
		return
	}
	gone := o.sessions[i]
	if p != nil {
		o.presence = presencePayload(p.Stanza)
	} else {
		o.presence = nil
	}
	aff := r.affiliation(o.bare)
	if len(o.sessions) > 1 {
		// Another session keeps the nick: only this one hears it left.
		x := userX{item: &item{aff: aff, role: roleNone, jid: full.String()}, codes: []int{codeSelf}}
		e.send(gone, presenceTo(o.from, full.String(), "unavailable", presenceBody(o, x)))
		o.sessions = slices.Delete(o.sessions, i, i+1)
		delete(r.byReal, full)
		e.markJoined(full, r, false)
		return
	}
	e.broadcastPresence(r, o, "unavailable", userX{item: &item{aff: aff, role: roleNone}}, nil)
	e.removeOccupant(r, o)
	e.dropIfEmpty(r)
}

// removeOccupant forgets o entirely. r.mu is held.
func (e *Extension) removeOccupant(r *room, o *occupant) {
	delete(r.occupants, o.nick)
	for _, s := range o.sessions {
		delete(r.byReal, s.full)
		e.markJoined(s.full, r, false)
	}
	o.sessions = nil
	e.callLeave(r, o)
}

// evict removes o with a reason code (kick, ban, affiliation change),
// telling everyone. r.mu is held.
func (e *Extension) evict(r *room, o *occupant, aff string, code int, actor, reason string) {
	e.broadcastPresence(r, o, "unavailable", userX{item: &item{aff: aff, role: roleNone, actor: actor, reason: reason}, codes: []int{code}}, nil)
	e.removeOccupant(r, o)
	e.dropIfEmpty(r)
}

// dropIfEmpty destroys a temporary room once its last occupant left.
// r.mu is held; anyone else holding r sees destroyed and looks the room
// up again.
func (e *Extension) dropIfEmpty(r *room) {
	if len(r.occupants) > 0 || r.rec.Config.Persistent && !r.locked || r.committing {
		return // a room with messages in commit is dropped once they are stored
	}
	r.destroyed = true
	e.dropArchive(r)
	e.unlist(r)
}

// unlist removes a destroyed room from the table. It takes e.mu while r.mu
// is held: safe, because e.mu is never held while waiting for the lock of
// a room already in the table (only of one being created).
func (e *Extension) unlist(r *room) {
	e.mu.Lock()
	if e.rooms[r.name] == r {
		delete(e.rooms, r.name)
	}
	e.mu.Unlock()
}

// sendHistory sends the part of the history the joining client asked for
// (XEP-0045 §7.2.13), each message with a XEP-0203 delay from the room.
func (e *Extension) sendHistory(r *room, s *occSession, mx *wire.Element) {
	h := e.recent(r)
	maxStanzas := e.Config.DefaultHistory
	maxChars := -1
	var since time.Time
	if hx := mx.Child("history", NS); hx != nil {
		if v, err := strconv.Atoi(hx.Attr("maxstanzas")); err == nil && v >= 0 {
			maxStanzas = v
		} else if hx.Attr("maxstanzas") == "" {
			maxStanzas = len(h)
		}
		if v, err := strconv.Atoi(hx.Attr("maxchars")); err == nil && v >= 0 {
			maxChars = v
		}
		if v, err := strconv.Atoi(hx.Attr("seconds")); err == nil && v >= 0 {
			since = time.Now().Add(-time.Duration(v) * time.Second)
		}
		if t, err := time.Parse(time.RFC3339Nano, hx.Attr("since")); err == nil && t.After(since) {
			since = t
		}
	}
	start := len(h) - maxStanzas
	if start < 0 {
		start = 0
	}
	h = h[start:]
	for len(h) > 0 && h[0].at.Before(since) {
		h = h[1:]
	}
	if maxChars >= 0 {
		total := 0
		i := len(h)
		for i > 0 && total+h[i-1].length <= maxChars {
			total += h[i-1].length
			i--
		}
		h = h[i:]
	}
	to := s.to
	room := r.jid.String()
	for _, m := range h {
		b := m.st.Rewrite(nil, to, m.st.From)
		e.send(s, wire.InsertChild(b, appendDelay(nil, room, m.at)))
	}
}

// sendSubject sends the current subject, an empty <subject/> if none.
func (e *Extension) sendSubject(r *room, s *occSession) {
	from := r.jid.String()
	if r.rec.SubjectFrom != "" {
		from += "/" + r.rec.SubjectFrom
	}
	b := make([]byte, 0, 128+len(r.rec.Subject))
	b = append(b, "<message type='groupchat'"...)
	b = wire.AppendAttr(b, "from", from)
	b = wire.AppendAttr(b, "to", s.to)
	b = wire.AppendAttr(b, "id", e.srv.NextID())
	b = append(b, '>')
	if r.rec.Subject == "" {
		b = append(b, "<subject/>"...)
	} else {
		b = appendTextEl(b, "subject", r.rec.Subject)
	}
	e.send(s, append(b, "</message>"...))
}
