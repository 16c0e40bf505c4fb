package muc

import (
	"strconv"

	"github.com/xmppd/xmppd/xmppd"
)

// SeatOccupants puts each session into the existing room as a participant
// named nick<i>, without the join protocol: N joins exchange O(N²)
// presences (every newcomer learns of everyone, everyone of the
// newcomer), which is XEP-0045's cost, not what the scale test measures.
func (e *Extension) SeatOccupants(room, nick string, ss []*xmppd.Session) {
	r := e.room(room)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range ss {
		n := nick + strconv.Itoa(i)
		o := &occupant{
			nick:     n,
			jid:      xmppd.JID{Local: r.name, Domain: e.domain, Resource: n},
			bare:     s.JID().Bare(),
			role:     roleParticipant,
			id:       e.occupantID(r.name, s.JID().Bare()),
			sessions: []*occSession{{full: s.JID(), to: s.JID().String(), s: s}},
		}
		o.from = o.jid.String()
		r.occupants[n] = o
		r.byReal[s.JID()] = o
		e.markJoined(s.JID(), r, true)
	}
}

// QueuedMessages is how many of the room's archived messages wait for
// the commit after the one running (commit.go).
func (e *Extension) QueuedMessages(room string) int {
	r := e.room(room)
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commitQ)
}
