package xmppd

// XEP-0198 Stream Management (urn:xmpp:sm:3), in the core because it
// changes a session's lifecycle.
//
//   - Advertised after authentication as <sm xmlns='urn:xmpp:sm:3'/>.
//   - <enable resume='true' max='…'/> after bind: answered <enabled/> with an
//     unguessable id when resumption is offered (c2s.resume_timeout > 0;
//     a client's max may shorten it). From then on the session counts the
//     stanzas it handled (answering <r/> with <a h/>) and keeps every stanza
//     queued to it, the same []byte, until the client's <a h/> covers it.
//     The server asks with <r/> once smRequestAfter stanzas are unacked, or
//     smRequestDelay after the first one, and never while a request is
//     outstanding: under load that is one <r/> per round trip.
//   - The read loop counts a stanza only after handling it returned, and
//     handling commits (fsync'd, group commit) what the stanza stored
//     (archive, offline queue, inbox) or bounces it: so an <a h/> never
//     covers a message a crash, kill -9 or full disk could still lose
//     (SPEC §7; cmd/xmppd's TestKill9LosesNoAcknowledgedMessage and
//     TestDiskFullBouncesAndRecovers check it on the built binary).
//   - An <a h/> acknowledging more than was sent ends the stream with
//     undefined-condition and <handled-count-too-high/>.
//   - A connection that breaks without </stream:stream> (read or write error,
//     idle timeout) leaves a resumable session hibernating: still bound and
//     available, stanzas for it collect in its unacknowledged list.
//   - <resume previd h/> instead of bind on a new stream (after SASL, as the
//     same user) takes the session over: the old connection, if the server
//     had not noticed it died, is closed; stanzas the client acknowledged with
//     h are dropped; <resumed h/> goes out, then every unacknowledged stanza
//     in order, then what arrives afterwards. A failed resumption answers
//     <failed><item-not-found/></failed> and the client may bind on the same
//     stream.
//   - A session that ends for good (resume timeout, server shutdown, a new
//     login replacing the resource, </stream:stream>, max_unacked exceeded)
//     reroutes what it held unacknowledged: chat and normal messages to the
//     account's other resources or offline storage, IQ requests answered
//     service-unavailable; presence and other messages are dropped (SPEC §7).
//
// A session without SM pays one atomic load per stanza read and nothing on
// the outbound path but a nil check under the queue lock it already takes.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

// NSStreamManagement is the XEP-0198 namespace.
const NSStreamManagement = "urn:xmpp:sm:3"

const (
	// smRequestAfter unacknowledged stanzas make the server ask for an ack
	// at once; fewer are asked for after smRequestDelay.
	smRequestAfter = 10
	smRequestDelay = time.Second
	// smTakeoverWait bounds how long a resumption waits for the old
	// connection's reader to stop.
	smTakeoverWait = 5 * time.Second
)

var smRequest = []byte("<r xmlns='urn:xmpp:sm:3'/>")

// smSession is a session's XEP-0198 state outside the outbound queue.
type smSession struct {
	handled   atomic.Uint32 // inbound stanzas handled (h sent in <a/>, <resumed/>)
	id        string        // resumption id; "" if not resumable
	resumable bool
	timeout   time.Duration

	// rerouteMu keeps rerouting in order: the stanzas a session held go
	// first, those that reached it after it ended follow.
	rerouteMu sync.Mutex

	mu          sync.Mutex
	hibernating bool // no connection; waiting for resumption
	resuming    bool // a new connection is taking the session over
	ended       bool // over for good; never resumable again
	timer       *time.Timer
}

// smQueue is the outbound half, guarded by outQueue.mu.
type smQueue struct {
	unacked    [][]byte // stanzas sent (or queued) and not yet acknowledged
	bytes      int      // their size
	acked      uint32   // the client's last h
	max        int
	resumable  bool
	requested  bool // an <r/> is outstanding
	timerArmed bool
	timer      *time.Timer
}

// isStanza reports whether b is a message, presence or IQ (what XEP-0198
// counts), as opposed to a nonza or a stream error.
func isStanza(b []byte) bool {
	if len(b) < 4 || b[0] != '<' {
		return false
	}
	var name string
	switch b[1] {
	case 'm':
		name = "message"
	case 'p':
		name = "presence"
	case 'i':
		name = "iq"
	default:
		return false
	}
	n := 1 + len(name)
	if len(b) <= n || string(b[1:n]) != name {
		return false
	}
	switch b[n] {
	case ' ', '>', '/', '\t', '\r', '\n':
		return true
	}
	return false
}

// maybeRequestLocked asks the client for an ack now or soon, unless a
// request is outstanding. It may append to q.bufs (caller starts writing).
func (q *outQueue) maybeRequestLocked() {
	sm := q.sm
	if sm.requested || len(sm.unacked) == 0 || q.detached {
		return
	}
	if len(sm.unacked) >= smRequestAfter {
		q.bufs = append(q.bufs, smRequest)
		q.bytes += len(smRequest)
		sm.requested = true
		return
	}
	if !sm.timerArmed {
		sm.timerArmed = true
		if sm.timer == nil {
			sm.timer = time.AfterFunc(smRequestDelay, q.requestAck)
		} else {
			sm.timer.Reset(smRequestDelay)
		}
	}
}

// requestAck sends the delayed <r/>.
func (q *outQueue) requestAck() {
	q.mu.Lock()
	sm := q.sm
	if sm == nil {
		q.mu.Unlock()
		return
	}
	sm.timerArmed = false
	if sm.requested || len(sm.unacked) == 0 || q.detached || q.closing || q.dead {
		q.mu.Unlock()
		return
	}
	q.bufs = append(q.bufs, smRequest)
	q.bytes += len(smRequest)
	sm.requested = true
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

// enableSM queues <enabled/> and starts counting with the next stanza.
func (q *outQueue) enableSM(enabled []byte, resumable bool, max int) bool {
	q.mu.Lock()
	if q.sm != nil || q.dead || q.closing {
		q.mu.Unlock()
		return false
	}
	q.bufs = append(q.bufs, enabled)
	q.bytes += len(enabled)
	q.sm = &smQueue{max: max, resumable: resumable}
	start := q.startLocked()
	q.mu.Unlock()
	if start {
		go q.flush()
	}
	return true
}

// ackLocked applies the client's h. It fails if h acknowledges stanzas
// never sent; an h older than the last one is ignored.
func (q *outQueue) ackLocked(h uint32) bool {
	sm := q.sm
	n := h - sm.acked
	if n > uint32(len(sm.unacked)) {
		// An h behind the last one (mod 2^32) is stale, not an error.
		return sm.acked-h < 1<<31
	}
	for _, b := range sm.unacked[:n] {
		sm.bytes -= len(b)
	}
	clear(sm.unacked[:n])
	sm.unacked = sm.unacked[n:]
	if len(sm.unacked) == 0 {
		sm.unacked = nil // let the backing array go
	}
	sm.acked = h
	return true
}

// ack handles <a h/> from the client.
func (q *outQueue) ack(h uint32) (ok bool, sent uint32) {
	q.mu.Lock()
	sm := q.sm
	if sm == nil {
		q.mu.Unlock()
		return true, 0
	}
	sent = sm.acked + uint32(len(sm.unacked))
	if !q.ackLocked(h) {
		q.mu.Unlock()
		return false, sent
	}
	sm.requested = false
	n := len(q.bufs)
	q.maybeRequestLocked()
	start := len(q.bufs) > n && q.startLocked()
	q.mu.Unlock()
	if start {
		go q.flush()
	}
	return true, sent
}

// validAck reports whether h could be applied (for <resume/>).
func (q *outQueue) validAck(h uint32) (ok bool, sent uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sm == nil {
		return false, 0
	}
	sm := q.sm
	sent = sm.acked + uint32(len(sm.unacked))
	n := h - sm.acked
	return n <= uint32(len(sm.unacked)) || sm.acked-h < 1<<31, sent
}

// detachLocked drops the connection: stanzas only collect in sm.unacked.
func (q *outQueue) detachLocked() {
	q.detached = true
	q.bufs = nil
	q.bytes = 0
	q.gen++
	if q.sm != nil {
		q.sm.requested = false
	}
}

// detach disconnects a resumable queue and closes its connection.
func (q *outQueue) detach() {
	q.mu.Lock()
	conn := q.conn
	q.detachLocked()
	q.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// attach moves the queue to a resumed connection, held until the caller
// releases it: first every stanza h does not acknowledge, in order, then
// an <r/>, then whatever is pushed afterwards.
func (q *outQueue) attach(conn net.Conn, h uint32) {
	q.mu.Lock()
	old := q.conn
	q.ackLocked(h)
	q.conn = conn
	q.gen++
	q.detached = false
	q.held = true
	q.bufs = append(q.bufs[:0:0], q.sm.unacked...)
	q.bytes = 0
	for _, b := range q.bufs {
		q.bytes += len(b)
	}
	q.sm.requested = false
	q.maybeRequestLocked()
	q.mu.Unlock()
	if old != nil && old != conn {
		_ = old.Close()
	}
}

// takeUnacked ends the queue for good and returns what the client never
// acknowledged, for rerouting. Later pushes fail (and are rerouted by
// SendUnfiltered). The caller calls finish after rerouting.
func (q *outQueue) takeUnacked() [][]byte {
	q.mu.Lock()
	q.dead = true
	q.detached = false
	q.bufs = nil
	var u [][]byte
	if q.sm != nil {
		u = q.sm.unacked
		q.sm.unacked, q.sm.bytes = nil, 0
		if q.sm.timer != nil {
			q.sm.timer.Stop()
		}
	}
	q.mu.Unlock()
	return u
}

// smTracker counts expiries in flight so Shutdown can wait for them
// (a WaitGroup would forbid timers adding to it while Shutdown waits).
type smTracker struct {
	mu   sync.Mutex
	n    int
	cond *sync.Cond
}

func (t *smTracker) start() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *smTracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.cond != nil {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

func (t *smTracker) wait() {
	t.mu.Lock()
	if t.cond == nil {
		t.cond = sync.NewCond(&t.mu)
	}
	for t.n > 0 {
		t.cond.Wait()
	}
	t.mu.Unlock()
}

// Hibernating reports whether the session lost its connection and waits
// for the client to resume it (XEP-0198). It is still bound and available;
// what is sent to it is kept for the resumption (a push notification,
// XEP-0357, is what such a session wants).
func (s *Session) Hibernating() bool {
	sm := s.sm.Load()
	if sm == nil {
		return false
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.hibernating && !sm.ended
}

// handleSM takes the XEP-0198 nonzas of a bound session.
func (srv *Server) handleSM(s *Session, st *wire.Stanza) {
	sm := s.sm.Load()
	switch st.Name {
	case "enable":
		srv.enableSM(s, st)
	case "r":
		if sm == nil {
			s.out.push(smFailed("unexpected-request", "stream management is not enabled"))
			return
		}
		s.out.push([]byte("<a xmlns='urn:xmpp:sm:3' h='" + strconv.FormatUint(uint64(sm.handled.Load()), 10) + "'/>"))
	case "a":
		if sm == nil {
			s.out.push(smFailed("unexpected-request", "stream management is not enabled"))
			return
		}
		h, ok := smH(st)
		if !ok {
			s.CloseWithError("bad-format", "<a/> needs a numeric h")
			return
		}
		if ok, sent := s.out.ack(h); !ok {
			s.log.Info("client acknowledged more stanzas than were sent", "h", h, "sent", sent)
			s.closeWithStreamError("undefined-condition", "you acknowledged more stanzas than the server sent",
				fmt.Appendf(nil, "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='%d' send-count='%d'/>", h, sent))
		}
	case "resume", "enabled", "resumed", "failed":
		s.out.push(smFailed("unexpected-request", "<"+st.Name+"/> is not allowed here"))
	default:
		s.CloseWithError("unsupported-stanza-type", "unexpected element <"+st.Name+"> in namespace "+st.NS)
	}
}

// smH reads the h attribute of <a/> or <resume/>.
func smH(st *wire.Stanza) (uint32, bool) {
	el, err := st.Element()
	if err != nil {
		return 0, false
	}
	h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	return uint32(h), err == nil
}

func smFailed(cond, text string) []byte {
	b := []byte("<failed xmlns='urn:xmpp:sm:3'><" + cond + " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>")
	if text != "" {
		b = append(b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>"...)
		b = wire.AppendEscaped(b, text)
		b = append(b, "</text>"...)
	}
	return append(b, "</failed>"...)
}

func (srv *Server) enableSM(s *Session, st *wire.Stanza) {
	if s.sm.Load() != nil {
		s.out.push(smFailed("unexpected-request", "stream management is already enabled"))
		return
	}
	el, err := st.Element()
	if err != nil {
		s.CloseWithError("bad-format", "unparsable <enable/>")
		return
	}
	sm := &smSession{timeout: srv.cfg.C2S.ResumeTimeout.Duration}
	// A guest can never resume: a new ANONYMOUS login is a new JID.
	if r := el.Attr("resume"); (r == "true" || r == "1") && sm.timeout > 0 && !s.guest {
		sm.resumable = true
		if m, err := strconv.ParseUint(el.Attr("max"), 10, 32); err == nil && m > 0 && time.Duration(m)*time.Second < sm.timeout {
			sm.timeout = time.Duration(m) * time.Second
		}
		sm.id = newResumptionID()
	}
	b := []byte("<enabled xmlns='urn:xmpp:sm:3'")
	if sm.resumable {
		b = wire.AppendAttr(b, "id", sm.id)
		b = append(b, " resume='true'"...)
		b = wire.AppendAttr(b, "max", strconv.Itoa(int(sm.timeout/time.Second)))
	}
	b = append(b, "/>"...)
	if !s.out.enableSM(b, sm.resumable, srv.cfg.C2S.MaxUnacked) {
		return
	}
	s.sm.Store(sm)
	if sm.resumable {
		srv.smMu.Lock()
		srv.smIDs[sm.id] = s
		srv.smMu.Unlock()
	}
	s.log.Debug("stream management enabled", "resumable", sm.resumable, "timeout", sm.timeout)
}

func newResumptionID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (srv *Server) forgetSM(s *Session) {
	sm := s.sm.Load()
	if sm == nil || sm.id == "" {
		return
	}
	srv.smMu.Lock()
	if srv.smIDs[sm.id] == s {
		delete(srv.smIDs, sm.id)
	}
	srv.smMu.Unlock()
}

// smKeep decides, once the read loop on link returned err, whether the
// session lives on: taken over by a resumption, or hibernating until one.
// Otherwise it marks the session ended, so no resumption can take it.
func (srv *Server) smKeep(s *Session, link *sessionLink, err error) bool {
	sm := s.sm.Load()
	if sm == nil {
		return false
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.resuming || s.link.Load() != link {
		return true
	}
	if !sm.resumable || sm.ended || s.closing.Load() || !srv.running.Load() ||
		errors.Is(err, errStreamClosed) || isConditionError(err) {
		sm.ended = true
		return false
	}
	sm.hibernating = true
	s.out.detach()
	sm.timer = time.AfterFunc(sm.timeout, func() {
		srv.smInflight.start()
		defer srv.smInflight.done()
		srv.expireSM(s, "resume timeout")
	})
	s.log.Info("connection lost; session kept for resumption", "err", err, "timeout", sm.timeout)
	return true
}

// endHibernating ends a hibernating session for Close (a new login took
// its resource, the account was deleted, a limit was hit); it reports
// false for a session with a connection.
func (s *Session) endHibernating() bool {
	sm := s.sm.Load()
	if sm == nil {
		return false
	}
	sm.mu.Lock()
	hib := sm.hibernating && !sm.resuming && !sm.ended
	if hib {
		sm.ended = true
		if sm.timer != nil {
			sm.timer.Stop()
		}
	}
	sm.mu.Unlock()
	if !hib {
		return false
	}
	// Close may be called with locks held (routing, hooks): finish apart.
	s.srv.smInflight.start()
	go func() {
		defer s.srv.smInflight.done()
		s.srv.finishHibernated(s, "closed")
	}()
	return true
}

// expireSM ends a hibernating session nobody resumed.
func (srv *Server) expireSM(s *Session, reason string) {
	sm := s.sm.Load()
	sm.mu.Lock()
	if !sm.hibernating || sm.resuming || sm.ended {
		sm.mu.Unlock()
		return
	}
	sm.ended = true
	if sm.timer != nil {
		sm.timer.Stop()
	}
	sm.mu.Unlock()
	s.closing.Store(true)
	srv.finishHibernated(s, reason)
}

// finishHibernated unbinds an ended hibernating session and reroutes what
// it held.
func (srv *Server) finishHibernated(s *Session, reason string) {
	srv.forgetSM(s)
	// Reroute while still bound: what is routed to s meanwhile is
	// rerouted after (rerouteLate), so offline storage keeps the order.
	sm := s.sm.Load()
	sm.rerouteMu.Lock()
	unacked := s.out.takeUnacked()
	s.log.Info("hibernating session ended", "reason", reason, "unacked", len(unacked))
	srv.rerouteAll(s, unacked)
	removed := srv.sessions.remove(s)
	sm.rerouteMu.Unlock()
	if removed {
		srv.sessionEnded(s)
	}
	s.out.finish() // Done: everything it held went elsewhere
}

// endSM reroutes what a stream-managed session that ended with a
// connection (or was replaced) left unacknowledged, and what was routed to
// it while it closed; call it while the session is still bound.
func (srv *Server) endSM(s *Session) {
	sm := s.sm.Load()
	if sm == nil {
		return
	}
	sm.mu.Lock()
	sm.ended = true
	sm.mu.Unlock()
	srv.forgetSM(s)
	sm.rerouteMu.Lock()
	srv.rerouteAll(s, s.out.takeUnacked())
	sm.rerouteMu.Unlock()
	s.out.finish()
}

// expireAllHibernating ends every hibernating session (shutdown).
func (srv *Server) expireAllHibernating() {
	srv.smMu.Lock()
	var all []*Session
	for _, s := range srv.smIDs {
		all = append(all, s)
	}
	srv.smMu.Unlock()
	for _, s := range all {
		srv.expireSM(s, "server shutdown")
	}
}

// rerouteLate reroutes a stanza that reached s after its queue closed.
func (srv *Server) rerouteLate(s *Session, sm *smSession, b []byte) {
	sm.rerouteMu.Lock()
	defer sm.rerouteMu.Unlock()
	srv.rerouteStanza(s, b)
}

func (srv *Server) rerouteAll(s *Session, stanzas [][]byte) {
	for _, b := range stanzas {
		srv.rerouteStanza(s, b)
	}
}

// rerouteStanza handles a stanza that was queued for s but which s never
// acknowledged and never will, as if s had gone before it arrived: chat
// and normal messages go to the account's other resources or offline
// storage (MessageUndeliverable), IQ requests are answered
// service-unavailable; presence, IQ responses and other messages are
// dropped (presence is current elsewhere, room messages are in the room).
func (srv *Server) rerouteStanza(s *Session, b []byte) {
	st, err := wire.ParseStanza(b)
	if err != nil {
		s.log.Error("unacknowledged stanza unparsable; dropped", "err", err)
		return
	}
	from, err := ParseJID(st.From)
	if err != nil || st.From == "" {
		from = JID{Domain: srv.domain}
	}
	p := NewPacket(st, from, s.jid)
	switch st.Name {
	case "message":
		switch st.Type {
		case "", "normal", "chat":
		default:
			return
		}
		if !srv.accounts.Exists(s.jid.Local) {
			srv.Bounce(p, errServiceUnavailable)
			return
		}
		var buf [4]*Session
		n := 0
		for _, t := range srv.AppendDeliveryTargets(buf[:0], p) {
			if t != s && !t.closing.Load() {
				srv.deliver(t, p)
				n++
			}
		}
		if n == 0 && RunHook(srv, MessageUndeliverable, p) == Pass && srv.Commit(p) {
			srv.Bounce(p, StanzaError(stanza.Cancel, stanza.ServiceUnavailable, s.bare.String()+" is not available"))
		}
		srv.Commit(p) // what the fallback queued (the offline copy)
	case "iq":
		if st.Type != "get" && st.Type != "set" {
			return
		}
		reply := errorReply(p, errServiceUnavailable, nil)
		if rs, err := wire.ParseStanza(reply); err == nil && srv.pending.resolveID(rs) {
			return // the server itself asked (SendIQ)
		}
		srv.SendRaw(from, reply)
	}
}

// smFeature is XEP-0198 in the stream features after authentication. It
// negotiates only <resume/> (a client sends <enable/> after bind, to the
// read loop). mellium picks a feature by the namespace of the client's
// element, so <resume/> sent instead of the bind IQ lands here. List
// reports the feature as required to mellium only (nothing is written),
// so that negotiating it ends the feature loop like bind does; a failed
// resumption then runs bind itself on the same stream.
func (srv *Server) smFeature(c *streamConn, out *auth.Outcome, bind xmpp.StreamFeature, log *slog.Logger, resumed func(*Session)) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: NSStreamManagement, Local: "sm"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			if err := e.EncodeToken(start); err != nil {
				return true, err
			}
			return true, e.EncodeToken(start.End())
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			r := session.TokenReader()
			d := xml.NewTokenDecoder(r)
			tok, err := d.Token()
			if err != nil {
				r.Close()
				return 0, nil, err
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				r.Close()
				return 0, nil, fmt.Errorf("sm: expected an element, got %T", tok)
			}
			var previd, hAttr string
			for _, a := range start.Attr {
				switch a.Name.Local {
				case "previd":
					previd = a.Value
				case "h":
					hAttr = a.Value
				}
			}
			err = d.Skip()
			r.Close()
			if err != nil {
				return 0, nil, err
			}
			var failure []byte
			if start.Name.Local != "resume" {
				failure = smFailed("unexpected-request", "bind a resource before enabling stream management")
			} else if h, err := strconv.ParseUint(hAttr, 10, 32); err != nil || previd == "" {
				failure = smFailed("bad-request", "<resume/> needs previd and a numeric h")
			} else {
				s, fail := srv.resume(c, out, previd, uint32(h), log)
				if s != nil {
					resumed(s)
					return xmpp.Ready, nil, nil
				}
				failure = fail
			}
			if _, err := c.Write(failure); err != nil {
				return 0, nil, err
			}
			return bind.Negotiate(ctx, session, nil)
		},
	}
}

// resume takes over the session previd for the connection c (XEP-0198
// §5), or returns the <failed/> to answer.
func (srv *Server) resume(c *streamConn, out *auth.Outcome, previd string, h uint32, log *slog.Logger) (*Session, []byte) {
	notFound := smFailed("item-not-found", "no session to resume")
	srv.smMu.Lock()
	s := srv.smIDs[previd]
	srv.smMu.Unlock()
	if s == nil || out.User == "" || s.bare != (JID{Local: out.User, Domain: c.host}) {
		log.Info("resumption failed: unknown session", "user", out.User)
		return nil, notFound
	}
	if ok, sent := s.out.validAck(h); !ok {
		return nil, fmt.Appendf(nil, "<failed xmlns='urn:xmpp:sm:3' h='%d'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"+
			"<handled-count-too-high xmlns='urn:xmpp:sm:3' h='%d' send-count='%d'/></failed>", s.sm.Load().handled.Load(), h, sent)
	}
	sm := s.sm.Load()
	sm.mu.Lock()
	if sm.ended || sm.resuming {
		sm.mu.Unlock()
		return nil, notFound
	}
	sm.resuming = true
	if sm.timer != nil {
		sm.timer.Stop()
	}
	hibernating := sm.hibernating
	old := s.link.Load()
	sm.mu.Unlock()

	if !hibernating {
		// The server had not noticed the old connection died: end it and
		// wait for its reader, so the handled count is final.
		s.out.detach()
		select {
		case <-old.readerDone:
		case <-time.After(smTakeoverWait):
			log.Warn("resumption: old connection's reader did not stop in time")
		}
	}
	handled := sm.handled.Load()
	resumed := fmt.Appendf(nil, "<resumed xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>", wire.AppendEscaped(nil, previd), handled)
	if _, err := c.Write(resumed); err != nil {
		// The new connection broke at once: back to hibernation.
		sm.mu.Lock()
		sm.resuming = false
		sm.hibernating = true
		sm.timer = time.AfterFunc(sm.timeout, func() {
			srv.smInflight.start()
			defer srv.smInflight.done()
			srv.expireSM(s, "resume timeout")
		})
		sm.mu.Unlock()
		s.out.detach()
		return nil, notFound
	}
	s.link.Store(&sessionLink{conn: c, r: c.r, readerDone: make(chan struct{})})
	s.out.attach(c.Conn, h)
	sm.mu.Lock()
	sm.resuming = false
	sm.hibernating = false
	sm.mu.Unlock()
	if s.closing.Load() {
		// Closed while the resumption ran: close it on the new stream.
		s.out.push(streamEnd)
		s.out.closeAfterFlush()
	}
	return s, nil
}
