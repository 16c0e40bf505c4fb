package xmppd

import (
	"net"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// AttachSession binds an available session for full JID j that writes to
// conn and reads nothing: the caller feeds it stanzas with Receive. It
// exists for benchmarks and tests of extensions, which need many sessions
// without the cost of real streams; a server never creates one itself.
func (srv *Server) AttachSession(j JID, conn net.Conn) *Session {
	s := &Session{srv: srv, jid: j, full: j.String(), bare: j.Bare(), log: srv.log, done: make(chan struct{})}
	s.link.Store(&sessionLink{conn: conn, readerDone: make(chan struct{})})
	s.out = outQueue{conn: conn, limit: int(srv.limits.OutboundQueue), onClose: func() {}}
	srv.sessions.add(s, 0)
	s.setAvailability(true, 0)
	return s
}

// Receive handles st as if the session's client had sent it on its
// stream (stamping, hooks, routing). For sessions made by AttachSession.
func (s *Session) Receive(st *wire.Stanza) { s.srv.handleFromClient(s, st) }
