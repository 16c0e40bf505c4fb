package adhoc

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"mellium.im/xmpp/stanza"
)

// session is a command waiting for its next stage.
type session struct {
	id      string
	node    string
	from    xmppd.JID // the full JID that started it
	to      xmppd.JID // the entity it runs at
	started time.Time
	state   any
	// shown are the executing answers sent so far, for prev; the last
	// is the current stage.
	shown []*Response
}

// newID makes a session id: its start time (base 36 seconds), so a
// session that has gone can be told expired, and a random part.
func newID(now time.Time) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(now.Unix(), 36) + "-" + hex.EncodeToString(b[:])
}

// idStart reads the start time from an id; ok is false for an id this
// package did not make.
func idStart(id string) (time.Time, bool) {
	t, r, ok := strings.Cut(id, "-")
	sec, err := strconv.ParseInt(t, 36, 64)
	if _, herr := hex.DecodeString(r); !ok || err != nil || herr != nil || len(r) != 18 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// take removes from's session id for node at to from the table and returns it,
// or the XEP-0050 error saying why it cannot be used. The caller puts it
// back (keep) unless the command ended.
func (g *Registry) take(id, node string, from, to xmppd.JID) (*session, error) {
	now := g.opt.Now()
	g.mu.Lock()
	s := g.sessions[id]
	if s != nil && (s.from != from || s.to != to || s.node != node) {
		s = nil
	}
	if s != nil {
		delete(g.sessions, id)
	}
	g.mu.Unlock()
	if s == nil {
		if t, ok := idStart(id); ok && now.Sub(t) > g.opt.TTL {
			return nil, errExpired
		}
		return nil, Err(stanza.Modify, stanza.BadRequest, "bad-sessionid", "no command session "+id+" of "+from.String()+" for "+node)
	}
	if now.Sub(s.started) > g.opt.TTL {
		return nil, errExpired
	}
	return s, nil
}

var errExpired = Err(stanza.Cancel, stanza.NotAllowed, "session-expired", "the command session has expired; start the command again")

// keep stores s, the first time checking the bounds: beyond MaxPerUser
// the user's oldest session goes, beyond MaxSessions (once expired ones
// are swept) the request is refused.
func (g *Registry) keep(s *session, isNew bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if isNew {
		now := g.opt.Now()
		g.created++
		if len(g.sessions) >= g.opt.MaxSessions || g.created >= 64 {
			g.sweep(now)
		}
		if len(g.sessions) >= g.opt.MaxSessions {
			return xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint, "too many command sessions; try again later")
		}
		var oldest *session
		n := 0
		for _, o := range g.sessions {
			if o.from.Bare() == s.from.Bare() {
				n++
				if oldest == nil || o.started.Before(oldest.started) {
					oldest = o
				}
			}
		}
		if n >= g.opt.MaxPerUser {
			delete(g.sessions, oldest.id)
		}
	}
	g.sessions[s.id] = s
	return nil
}

// sweep drops expired sessions. g.mu is held.
func (g *Registry) sweep(now time.Time) {
	g.created = 0
	for id, s := range g.sessions {
		if now.Sub(s.started) > g.opt.TTL {
			delete(g.sessions, id)
		}
	}
}

// Sessions is the number of sessions kept, expired ones not yet swept
// included.
func (g *Registry) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}
