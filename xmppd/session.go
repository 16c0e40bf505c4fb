package xmppd

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// Session is one bound client stream. Its reader goroutine parses and
// routes what the client sends; everything addressed to it goes through
// its outbound queue, which a writer goroutine drains in batches, so a slow
// reader never blocks a sender.
type Session struct {
	srv  *Server
	link atomic.Pointer[sessionLink] // the connection; replaced on XEP-0198 resumption
	jid  JID                         // full JID
	full string                      // jid as text, stamped on everything it sends
	bare JID
	log  *slog.Logger

	out    outQueue
	filter atomic.Pointer[OutboundFilter] // nil: Send queues at once
	rate   *tokenBucket                   // per-connection read rate; nil = unlimited

	mu            sync.Mutex
	available     bool
	everAvailable bool
	priority      int
	presence      []byte // last broadcast presence (stamped), answered to probes
	values        []sessionValue
	closeReason   string

	closing atomic.Bool
	done    chan struct{}
	guest   bool // bound on the guest domain with SASL ANONYMOUS (guest.go)

	sm atomic.Pointer[smSession] // XEP-0198 state; nil until the client enables it
}

// sessionLink is the connection a session reads from and writes to. A
// resumed session (XEP-0198) gets a new link on the same Session.
type sessionLink struct {
	conn       net.Conn
	r          *wire.Reader
	readerDone chan struct{} // closed when the read loop on this link returned
}

// JID returns the session's full JID.
func (s *Session) JID() JID { return s.jid }

// Bare returns the session's bare JID.
func (s *Session) Bare() JID { return s.bare }

// Logger returns the session's logger.
func (s *Session) Logger() *slog.Logger { return s.log }

// RemoteAddr returns the client's network address.
func (s *Session) RemoteAddr() net.Addr { return s.link.Load().conn.RemoteAddr() }

// TLSState returns the connection's TLS state, if any.
func (s *Session) TLSState() *tls.ConnectionState {
	if tc, ok := s.link.Load().conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// Available reports whether the session has sent available presence.
func (s *Session) Available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available
}

// Priority returns the priority of the session's last presence.
func (s *Session) Priority() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.priority
}

// Presence returns the last available presence broadcast by the session
// (nil when unavailable).
func (s *Session) Presence() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

// setAvailability records the session's availability and priority from
// its broadcast presence; it returns whether this is the session's
// initial presence (RFC 6121 §4.2).
func (s *Session) setAvailability(available bool, priority int) (initial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	initial = available && !s.everAvailable
	s.everAvailable = s.everAvailable || available
	s.available = available
	s.priority = priority
	if !available {
		s.presence = nil
	}
	return initial
}

func (s *Session) setPresenceBytes(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.available {
		s.presence = b
	}
}

// sessionValue is one of Session.values: extensions keep a few per
// session, and a slice of them costs a quarter of a map's memory.
type sessionValue struct{ key, v any }

// Value returns per-session state an extension stored under key.
func (s *Session) Value(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.values {
		if e.key == key {
			return e.v
		}
	}
	return nil
}

// SetValue stores per-session state for an extension; use an unexported
// key type so extensions cannot collide.
func (s *Session) SetValue(key, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.values {
		if e.key == key {
			s.values[i].v = v
			return
		}
	}
	s.values = append(s.values, sessionValue{key, v})
}

// OutboundFilter looks at each stanza queued for a session with Send,
// on the sender's goroutine (so concurrently with other senders). It
// returns true to queue b now, or false when it keeps b (to queue it later
// with SendUnfiltered) or drops it. b must not be modified.
type OutboundFilter func(b []byte) bool

// SetOutboundFilter installs f as the session's outbound filter, or
// removes it with nil (XEP-0352 client state indication holds presence
// for an inactive client this way). One filter per session; the last one
// set wins. Without a filter, Send costs one atomic load more.
func (s *Session) SetOutboundFilter(f OutboundFilter) {
	if f == nil {
		s.filter.Store(nil)
		return
	}
	s.filter.Store(&f)
}

// Send queues serialised XML for the client, through the outbound filter
// if one is set. b must not be modified afterwards (it may be shared with
// other recipients).
func (s *Session) Send(b []byte) {
	if f := s.filter.Load(); f != nil && !(*f)(b) {
		return
	}
	s.SendUnfiltered(b)
}

// SendUnfiltered queues b without consulting the outbound filter: for the
// filter itself, releasing what it held.
func (s *Session) SendUnfiltered(b []byte) {
	if !s.out.push(b) {
		if sm := s.sm.Load(); sm != nil {
			// A stream-managed session that is ending: what it can no longer
			// take goes where its unacknowledged stanzas go (SPEC §7).
			s.srv.rerouteLate(s, sm, b)
		}
		return
	}
	if s.out.overLimit() && !s.closing.Load() {
		if s.sm.Load() != nil {
			s.log.Warn("too many stanzas unacknowledged or waiting for resumption, ending the session", "max_unacked", s.srv.cfg.C2S.MaxUnacked)
			s.CloseWithError("policy-violation", "too many unacknowledged stanzas")
			return
		}
		s.log.Warn("outbound queue full, disconnecting slow client", "queued_bytes", s.out.size())
		s.CloseWithError("policy-violation", "outbound queue limit exceeded: the client reads too slowly")
	}
}

// SendElement serialises and queues an element.
func (s *Session) SendElement(e *wire.Element) { s.Send(e.AppendXML(nil)) }

// CloseWithError ends the stream with a stream error condition (RFC 6120
// §4.9) after what is already queued.
func (s *Session) CloseWithError(condition, text string) {
	s.closeWithStreamError(condition, text, nil)
}

// closeWithStreamError is CloseWithError with an application-specific
// condition element (serialised) after the text.
func (s *Session) closeWithStreamError(condition, text string, app []byte) {
	b := []byte("<stream:error><" + condition + " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>")
	if text != "" {
		b = append(b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"...)
		b = wire.AppendEscaped(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, app...)
	b = append(b, "</stream:error>"...)
	s.mu.Lock()
	if s.closeReason == "" {
		s.closeReason = condition
	}
	s.mu.Unlock()
	s.out.push(b)
	s.Close()
}

// Close ends the stream politely: queued stanzas are written, then
// </stream:stream>, then the connection is closed.
func (s *Session) Close() {
	if s.closing.Swap(true) {
		return
	}
	if s.endHibernating() {
		return
	}
	s.out.push(streamEnd)
	s.out.closeAfterFlush()
}

var streamEnd = []byte("</stream:stream>")

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// outQueue is a session's outbound queue. Producers append under a short
// lock; one writer goroutine, started on demand and exiting when the queue
// is empty, writes everything queued in one batch per syscall.
//
// With XEP-0198 enabled (sm != nil) every stanza pushed is also kept, the
// same slice, in sm.unacked until the client acknowledges it; a session
// waiting for resumption is detached: stanzas only go to sm.unacked, and
// attach puts them back in front of the queue on the new connection.
type outQueue struct {
	mu       sync.Mutex
	bufs     [][]byte
	bytes    int
	limit    int
	writing  bool
	held     bool // queue but do not write (the stream is still negotiating)
	closing  bool
	dead     bool
	finished bool   // finish ran (connection closed, onClose called)
	detached bool   // no connection: a XEP-0198 session waiting for resumption
	gen      uint64 // bumped whenever conn is replaced or detached
	conn     net.Conn
	onClose  func()
	writeTTL time.Duration
	sm       *smQueue
}

// push queues b; it returns false if the queue is closed.
func (q *outQueue) push(b []byte) bool {
	q.mu.Lock()
	if q.dead || q.closing && !isStreamEnd(b) {
		if !q.dead && q.sm != nil && isStanza(b) {
			// A stream-managed session that is closing: kept with the
			// unacknowledged stanzas, which are rerouted in order.
			q.sm.unacked = append(q.sm.unacked, b)
			q.sm.bytes += len(b)
			q.mu.Unlock()
			return true
		}
		q.mu.Unlock()
		return false
	}
	counted := q.sm != nil && isStanza(b)
	if counted {
		// XEP-0198: kept, the same slice, until the client acknowledges it.
		q.sm.unacked = append(q.sm.unacked, b)
		q.sm.bytes += len(b)
	}
	if q.detached {
		// Waiting for resumption; nonzas and stream errors mean nothing to
		// a connection that is gone.
		q.mu.Unlock()
		return true
	}
	q.bufs = append(q.bufs, b)
	q.bytes += len(b)
	if counted {
		q.maybeRequestLocked()
	}
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		go q.flush()
	}
	return true
}

// startLocked reports whether the caller must start a writer goroutine.
func (q *outQueue) startLocked() bool {
	start := !q.writing && !q.held && !q.detached
	q.writing = q.writing || start
	return start
}

func isStreamEnd(b []byte) bool { return len(b) > 0 && &b[0] == &streamEnd[0] }

func (q *outQueue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *outQueue) overLimit() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && q.bytes > q.limit {
		return true
	}
	// XEP-0198: what waits for an ack (or a resumption) is bounded too.
	return q.sm != nil && (q.sm.max > 0 && len(q.sm.unacked) > q.sm.max || q.limit > 0 && q.sm.bytes > q.limit)
}

// release starts writing a queue created held.
func (q *outQueue) release() {
	q.mu.Lock()
	q.held = false
	start := !q.writing && !q.detached && (len(q.bufs) > 0 || q.closing)
	q.writing = q.writing || start
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

func (q *outQueue) closeAfterFlush() {
	q.mu.Lock()
	q.closing = true
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// flush writes batches until the queue is empty. Stanzas queued together
// go out in one Write: one TLS record and one syscall for many stanzas.
func (q *outQueue) flush() {
	var local [][]byte
	for {
		q.mu.Lock()
		if q.held || q.detached {
			// Resumption is attaching a new connection (it releases the
			// queue), or the connection is gone.
			q.writing = false
			q.mu.Unlock()
			return
		}
		if len(q.bufs) == 0 {
			q.writing = false
			closing := q.closing && !q.dead
			if closing {
				q.dead = true
			}
			q.mu.Unlock()
			if closing {
				q.finish()
			}
			return
		}
		local, q.bufs = q.bufs, local[:0]
		q.bytes = 0
		conn, gen := q.conn, q.gen
		q.mu.Unlock()

		bp := batchPool.Get().(*[]byte)
		batch := (*bp)[:0]
		var err error
		for i, b := range local {
			if len(batch)+len(b) > cap(batch) && len(batch) > 0 {
				if err = q.write(conn, batch); err != nil {
					break
				}
				batch = batch[:0]
			}
			if len(b) > cap(batch) {
				if err = q.write(conn, b); err != nil {
					break
				}
			} else {
				batch = append(batch, b...)
			}
			local[i] = nil
		}
		if err == nil && len(batch) > 0 {
			err = q.write(conn, batch)
		}
		*bp = batch[:0]
		batchPool.Put(bp)
		clear(local)
		if err != nil {
			q.mu.Lock()
			if q.gen != gen {
				// The connection was replaced (resumption) or detached: what
				// failed here is still unacknowledged and goes out again.
				q.mu.Unlock()
				continue
			}
			if q.sm != nil && q.sm.resumable && !q.closing {
				// Keep everything for resumption; the read loop sees the
				// closed connection and hibernates the session.
				q.detachLocked()
				q.writing = false
				q.mu.Unlock()
				_ = conn.Close()
				return
			}
			q.dead = true
			q.writing = false
			q.bufs = nil
			q.mu.Unlock()
			q.finish()
			return
		}
	}
}

func (q *outQueue) write(conn net.Conn, b []byte) error {
	if q.writeTTL > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(q.writeTTL))
	}
	_, err := conn.Write(b)
	return err
}

// finish closes the connection and reports the end once.
func (q *outQueue) finish() {
	q.mu.Lock()
	if q.finished {
		q.mu.Unlock()
		return
	}
	q.finished = true
	conn := q.conn
	q.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	if q.onClose != nil {
		q.onClose()
	}
}

// errStreamClosed marks a clean end of the client's stream
// (</stream:stream>); errConnectionLost an end without it.
var (
	errStreamClosed   = errors.New("stream closed by client")
	errConnectionLost = errors.New("connection lost")
)

// readLoop parses and dispatches what the client sends on link until the
// stream ends. It runs on the connection's goroutine. A client silent for
// the idle timeout is pinged (XEP-0199) and closed if it stays silent for
// a quarter of that again, so dead TCP connections do not linger.
func (s *Session) readLoop(link *sessionLink) error {
	var pl pipeline
	defer pl.waitIdle() // the session ends (or hibernates) with every stanza handled
	// Parsed into a stanza on the stack and moved into a new packet only
	// once it arrived, so an idle session holds no packet.
	var st wire.Stanza
	idle := s.srv.limits.IdleTimeout.Duration
	pinged := false
	for {
		if idle > 0 {
			wait := idle
			if pinged {
				wait = idle / 4
			}
			_ = link.conn.SetReadDeadline(time.Now().Add(wait))
		}
		err := link.r.Next(&st)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged && !s.closing.Load() {
				pinged = true
				s.Send([]byte("<iq type='get' id='idle-" + s.srv.ids.Next() + "' from='" + s.srv.domain + "' to='" +
					string(wire.AppendEscaped(nil, s.full)) + "'><ping xmlns='urn:xmpp:ping'/></iq>"))
				continue
			}
			if errors.Is(err, io.EOF) {
				if link.r.PeerClosed() {
					return errStreamClosed
				}
				return errConnectionLost
			}
			return err
		}
		pinged = false
		if s.rate != nil {
			s.rate.wait(len(st.Raw))
		}
		// The packet lives on in queues and hooks: it takes the stanza.
		p := &Packet{stanza: st}
		st = wire.Stanza{} // the packet owns what st held, Children too
		p.Stanza = &p.stanza
		if s.srv.pipelined(p.Stanza) {
			s.handleMessage(&pl, p) // pipeline.go
			continue
		}
		pl.waitIdle()
		counted := p.stanza.NS == nsClient
		s.srv.handlePacket(s, p)
		if sm := s.sm.Load(); sm != nil && counted {
			sm.handled.Add(1) // XEP-0198 counts every stanza handled
		}
	}
}
