package roster

import (
	"sync"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// stateKey stores a session's *sessState.
type stateKey struct{}

// sessState is the roster's per-session state.
type sessState struct {
	mu         sync.Mutex
	interested bool   // fetched the roster: gets pushes (RFC 6121 §2.1.6)
	available  bool   // sent available broadcast presence, not yet unavailable
	presence   []byte // the last broadcast available presence, as contacts got it
	// directed holds the entities the session sent available directed
	// presence to (RFC 6121 §4.6): they get its unavailable presence.
	directed map[xmppd.JID]struct{}
}

// stateOf returns the session's state; nil (which every method accepts)
// only before SessionBound has run.
func stateOf(s *xmppd.Session) *sessState {
	st, _ := s.Value(stateKey{}).(*sessState)
	return st
}

func (e *Extension) sessionBound(s *xmppd.Session) xmppd.Verdict {
	s.SetValue(stateKey{}, &sessState{})
	return xmppd.Pass
}

func (st *sessState) isInterested() bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.interested
}

func (st *sessState) setInterested() {
	if st == nil {
		return
	}
	st.mu.Lock()
	st.interested = true
	st.mu.Unlock()
}

// lastPresence returns the last available presence, nil if unavailable.
func (st *sessState) lastPresence() []byte {
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.presence
}

func (st *sessState) isAvailable() bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.available
}

// setAvailable records a broadcast available presence; it reports whether
// it is initial presence (the first since the session started or since its
// last unavailable presence).
func (st *sessState) setAvailable(b []byte) (initial bool) {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	initial = !st.available
	st.available, st.presence = true, b
	return initial
}

// setUnavailable records unavailable presence (or the session's end) and
// hands back, and forgets, the directed presence recipients.
func (st *sessState) setUnavailable() (wasAvailable bool, directed []xmppd.JID) {
	if st == nil {
		return false, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	wasAvailable = st.available
	st.available, st.presence = false, nil
	for j := range st.directed {
		directed = append(directed, j)
	}
	st.directed = nil
	return wasAvailable, directed
}

func (st *sessState) addDirected(j xmppd.JID) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.directed == nil {
		st.directed = make(map[xmppd.JID]struct{})
	}
	st.directed[j] = struct{}{}
}

func (st *sessState) dropDirected(j xmppd.JID) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.directed, j)
}

// presenceOut handles presence a local client sends (RFC 6121 §3, §4).
func (e *Extension) presenceOut(p *xmppd.Packet) xmppd.Verdict {
	s := p.Origin
	if s == nil {
		return xmppd.Pass
	}
	st := p.Stanza
	switch st.Type {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		e.outbound(p)
		return xmppd.Done
	case "probe":
		// Probes are the server's business (RFC 6121 §4.3): a client's
		// are dropped.
		return xmppd.Done
	case "", "unavailable":
		if st.To == "" {
			e.broadcast(p)
			return xmppd.Done
		}
		e.trackDirected(p)
		return xmppd.Pass
	case "error":
		return xmppd.Pass
	default:
		// Not a presence type (RFC 6121 §4.7.1): drop it.
		return xmppd.Done
	}
}

// trackDirected records directed presence (RFC 6121 §4.6.2): available
// presence to an entity that is not a subscriber adds it to the set that
// gets the session's unavailable presence; unavailable removes it.
func (e *Extension) trackDirected(p *xmppd.Packet) {
	st := stateOf(p.Origin)
	if p.Type() == "unavailable" {
		st.dropDirected(p.To)
		return
	}
	if p.To.Bare() == p.From.Bare() || e.HasSubscriber(p.From.Bare(), p.To.Bare()) {
		return
	}
	st.addDirected(p.To)
}

// broadcast distributes a client's broadcast presence (RFC 6121 §4.2.2,
// §4.4.2, §4.5.2) and, for initial presence, brings the session up to date.
func (e *Extension) broadcast(p *xmppd.Packet) {
	s := p.Origin
	st := stateOf(s)
	b := p.Bytes()
	available := p.Type() == ""
	var initial bool
	var directed []xmppd.JID
	if available {
		initial = st.setAvailable(b)
	} else {
		_, directed = st.setUnavailable()
	}
	e.distribute(s, b, directed)
	if initial {
		e.initialPresence(s)
	}
}

// distribute sends the session's broadcast presence b to the user's
// subscribers, to all of the user's available resources (including the
// session itself, RFC 6121 §4.2.2) and, for unavailable presence, to the
// session's directed presence recipients.
func (e *Extension) distribute(s *xmppd.Session, b []byte, directed []xmppd.JID) {
	user := s.Bare()
	if subs := e.Subscribers(user); len(subs) > 0 {
		// One parsed stanza serves every subscriber; each packet is routed
		// through PresenceIn so that filters (blocking) apply per contact.
		if shared, err := wire.ParseStanza(b); err != nil {
			e.log.Error("re-parsing presence failed", "jid", s.JID().String(), "err", err)
		} else {
			for _, c := range subs {
				e.srv.RoutePresence(xmppd.NewPacket(shared, s.JID(), c))
			}
		}
	}
	for _, o := range e.srv.Sessions(user) {
		if o == s || o.Available() {
			o.Send(b)
		}
	}
	for _, to := range directed {
		e.routeStamped(b, s.JID(), to)
	}
}

// initialPresence answers the probes RFC 6121 §4.2.2 has the server send
// for a new available session: the contacts the user is subscribed to are
// local, so their current presence is delivered right away. The user's
// other resources' presence and pending subscription requests (RFC 6121
// §3.1.3) follow.
func (e *Extension) initialPresence(s *xmppd.Session) {
	user := s.Bare()
	for _, c := range e.contactsWhere(user, hasTo) {
		for _, cs := range e.srv.Sessions(c) {
			if b := stateOf(cs).lastPresence(); b != nil {
				e.routeStamped(b, cs.JID(), s.JID())
			}
		}
	}
	for _, o := range e.srv.Sessions(user) {
		if o == s {
			continue
		}
		if b := stateOf(o).lastPresence(); b != nil {
			s.Send(b)
		}
	}
	_ = e.db.Map(storePending).All(user.String(), func(_ string, raw []byte) error {
		s.Send(raw)
		return nil
	})
}

// sessionClosed sends unavailable presence for a session that ended
// without saying so (RFC 6121 §4.5.2); the core has already taken it out
// of routing.
func (e *Extension) sessionClosed(s *xmppd.Session) xmppd.Verdict {
	wasAvailable, directed := stateOf(s).setUnavailable()
	if !wasAvailable && len(directed) == 0 {
		return xmppd.Pass
	}
	b := make([]byte, 0, 96)
	b = append(b, "<presence type='unavailable' from='"...)
	b = wire.AppendEscaped(b, s.JID().String())
	b = append(b, "'/>"...)
	if !wasAvailable {
		for _, to := range directed {
			e.routeStamped(b, s.JID(), to)
		}
		return xmppd.Pass
	}
	e.distribute(s, b, directed)
	return xmppd.Pass
}

// sendPresenceOf routes the current presence of each of owner's available
// resources to 'to' (after an approval, RFC 6121 §3.1.5, or a probe).
func (e *Extension) sendPresenceOf(owner, to xmppd.JID) {
	for _, s := range e.srv.Sessions(owner) {
		if b := stateOf(s).lastPresence(); b != nil {
			e.routeStamped(b, s.JID(), to)
		}
	}
}

// sendUnavailableOf routes unavailable presence from each of owner's
// available resources to 'to' (after a cancellation, RFC 6121 §3.2.2).
func (e *Extension) sendUnavailableOf(owner, to xmppd.JID) {
	for _, s := range e.srv.Sessions(owner) {
		if !stateOf(s).isAvailable() {
			continue
		}
		b := make([]byte, 0, 96)
		b = append(b, "<presence type='unavailable' from='"...)
		b = wire.AppendEscaped(b, s.JID().String())
		b = append(b, "'/>"...)
		e.routeStamped(b, s.JID(), to)
	}
}

// routeStamped routes presence b from 'from' to 'to', with both addresses
// written into the stanza.
func (e *Extension) routeStamped(b []byte, from, to xmppd.JID) {
	st, err := wire.ParseStanza(b)
	if err != nil {
		e.log.Error("re-parsing presence failed", "from", from.String(), "err", err)
		return
	}
	st, err = wire.ParseStanza(st.Rewrite(nil, to.String(), from.String()))
	if err != nil {
		e.log.Error("re-parsing presence failed", "from", from.String(), "err", err)
		return
	}
	e.srv.RoutePresence(xmppd.NewPacket(st, from, to))
}
