package xmppd

import (
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Commit pipelining. A message is delivered only once what its hooks
// stored (archive copies, inbox, offline copy) is on disk, and a group
// commit takes everyone who arrived during the previous fsync. If each
// session waited for its message's commit before reading the next one, a
// commit could hold at most one message per session, so a busy sender
// would pay a whole commit per message. Instead a session's consecutive
// messages are handled each on its own goroutine: the read loop moves on
// to the next one as soon as the previous one waits for its commit
// (parked), so one commit takes a session's whole burst.
//
// Order is kept by a ticket per message: a message passes its gate (its
// first Commit, the point before which nothing carrying it is sent) only
// after its predecessor finished, so everything a session sends is
// delivered in the order sent, and XEP-0198's handled count, bumped when a
// message finished, never covers a message that is not stored yet. A
// stanza that is not a plain message (presence, IQ, a nonza such as <r/>,
// or a message that refers to an earlier one: a correction or a
// retraction, whose check reads what the earlier one stored) waits until
// every earlier message finished and is handled on the read loop, as
// before.

// maxInFlight bounds the messages of one session being handled at once.
const maxInFlight = 64

// ticket is one message's place in its session's order.
type ticket struct {
	prev     *ticket       // the session's previous message; nil once passed
	parked   chan struct{} // closed when it waits for its commit (or finished)
	finished chan struct{} // closed when its handling returned
	gated    bool          // passed the gate (only its own goroutine reads it)
	isParked bool
}

func newTicket(prev *ticket) *ticket {
	return &ticket{prev: prev, parked: make(chan struct{}), finished: make(chan struct{})}
}

// park lets the read loop go on to the next stanza.
func (t *ticket) park() {
	if !t.isParked {
		t.isParked = true
		close(t.parked)
	}
}

// gate waits until the previous message finished, once.
func (t *ticket) gate() {
	if t == nil || t.gated {
		return
	}
	t.gated = true
	if t.prev != nil {
		<-t.prev.finished
		t.prev = nil // let the chain be collected
	}
}

// pipeline is a read loop's state: the last message handed out and a
// bound on those still running.
type pipeline struct {
	last  *ticket
	slots chan struct{}
}

// waitIdle returns once every message handed out finished.
func (pl *pipeline) waitIdle() {
	if pl.last != nil {
		<-pl.last.finished
		pl.last = nil
	}
}

// handleMessage handles message p on its own goroutine and returns once
// that goroutine parked on its commit or finished.
func (s *Session) handleMessage(pl *pipeline, p *Packet) {
	if pl.slots == nil {
		pl.slots = make(chan struct{}, maxInFlight)
	}
	pl.slots <- struct{}{}
	t := newTicket(pl.last)
	pl.last = t
	p.ticket = t
	go func() {
		s.srv.handlePacket(s, p)
		t.gate() // in order even if nothing called Commit
		if sm := s.sm.Load(); sm != nil {
			sm.handled.Add(1)
		}
		t.park()
		close(t.finished)
		<-pl.slots
	}()
	<-t.parked
}

// pipelined reports whether a stanza may be handled while earlier ones
// still wait for their commits: a message that does not refer to an
// earlier message (Registrar.RefersToEarlierMessages).
func (srv *Server) pipelined(st *wire.Stanza) bool {
	if st.Name != "message" || st.NS != nsClient {
		return false
	}
	for _, c := range st.Children {
		if srv.refersToEarlier[childKey{c.Name, c.NS}] {
			return false
		}
	}
	return true
}

type childKey struct{ name, ns string }

// RefersToEarlierMessages declares that a message carrying a child
// element name in namespace ns refers to an earlier message of the same
// sender (a correction, a retraction) and must be checked only after that
// message is stored: it is handled once every earlier message of its
// session finished, never alongside them. Call it during Register.
func (r *Registrar) RefersToEarlierMessages(name, ns string) {
	if r.srv.refersToEarlier == nil {
		r.srv.refersToEarlier = make(map[childKey]bool)
	}
	r.srv.refersToEarlier[childKey{name, ns}] = true
}

// Park tells p's session that p has its place in the order of whatever
// handles it now and only waits for the disk: the session reads and
// handles its next message meanwhile. A component that orders and
// commits what it is handed itself (a MUC room queues a message for its
// next group commit) calls it before it waits; the core calls it in
// Commit. It does nothing for a packet no session is pipelining.
func (p *Packet) Park() {
	if p.ticket != nil {
		p.ticket.park()
	}
}
