package xmppd

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

const nsClient = "jabber:client"

var (
	errServiceUnavailable = StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
	errRemoteNotFound     = StanzaError(stanza.Cancel, stanza.RemoteServerNotFound, "this server does not federate with other domains")
	errNotStored          = StanzaError(stanza.Wait, stanza.InternalServerError, "the server could not store the message, so it was not delivered; try again later")
)

// handleFromClient takes one top-level element a bound session sent:
// stamps 'from' (a client can never choose its sender), resolves 'to',
// runs the outbound hooks and routes it.
func (srv *Server) handleFromClient(s *Session, st *wire.Stanza) {
	srv.handlePacket(s, &Packet{Stanza: st})
}

// handlePacket is handleFromClient for a packet whose Stanza is set; the
// read loop parses straight into a packet's own storage (one allocation
// for both).
func (srv *Server) handlePacket(s *Session, p *Packet) {
	st := p.Stanza
	srv.metrics.stanzasIn.Add(1)
	srv.metrics.stanzasByKind[kindIndex(st.Name)].Add(1)
	start := time.Now()
	defer func() { srv.metrics.routing.Observe(time.Since(start)) }()
	if st.NS != nsClient {
		if h, ok := srv.nonzas[st.NS]; ok {
			h(s, st)
			return
		}
		s.CloseWithError("unsupported-stanza-type", "unexpected element <"+st.Name+"> in namespace "+st.NS)
		return
	}
	p.Origin, p.From, p.toAttr = s, s.jid, st.To
	switch st.Name {
	case "message", "presence", "iq":
	default:
		s.CloseWithError("unsupported-stanza-type", "unknown stanza <"+st.Name+">")
		return
	}
	if st.To == "" {
		p.To = s.bare
	} else {
		to, err := ParseJID(st.To)
		if err != nil {
			srv.Bounce(p, StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed 'to' address: "+st.To))
			return
		}
		p.To = to
	}
	switch st.Name {
	case "message":
		if RunHook(srv, MessageOut, p) == Pass && p.persistErr == nil {
			srv.RouteMessage(p)
		}
	case "presence":
		srv.handlePresenceFromClient(p)
	case "iq":
		if RunHook(srv, IQOut, p) == Pass {
			srv.RouteIQ(p)
		}
	}
	// A packet that was never delivered still stores what its hooks
	// queued (a message to a remote domain, bounced; one a filter dropped
	// after the archive ran).
	srv.Commit(p)
}

// Commit writes the store changes queued on p (Packet.Persist), if any, in
// one group commit and reports whether p may be delivered. The core calls
// it before it first delivers p; an extension that sends something
// carrying p on its own (carbons' copies) calls it before sending. When
// the commit fails, the sender gets a wait / internal-server-error once,
// the failure is logged once, and Commit reports false from then on. A
// queued change that returns a stanza.Error refuses the message: the
// sender gets that error instead, and nothing is logged.
func (srv *Server) Commit(p *Packet) bool {
	answered := p.persistErr != nil // an earlier Commit bounced it already
	err := srv.CommitQueued(p)
	switch {
	case err == nil:
		return true
	case answered:
		return false
	}
	var refused stanza.Error
	if errors.As(err, &refused) {
		// A change refused the message for a reason its sender should
		// hear (offline storage full, found only inside the transaction).
		srv.Bounce(p, refused)
		return false
	}
	srv.log.Error("storing a message failed, not delivered", "from", p.From.String(), "to", p.To.String(), "err", err)
	srv.Bounce(p, errNotStored)
	return false
}

// CommitQueued writes the store changes queued on p (Packet.Persist) in
// one group commit, like Commit, but leaves the failure to the caller: it
// neither logs nor answers the sender. A component that stores and
// delivers a stanza itself (a MUC room's archive write and the RoomMessage
// hook's changes) uses it. After a failure, p is never committed again
// and Commit reports false.
//
// For a message its session handles in a pipeline (pipeline.go), the first
// Commit is also the message's place in order: the read loop goes on to
// the next message while this one waits for the disk, and Commit returns
// only after the session's previous message finished.
func (srv *Server) CommitQueued(p *Packet) error {
	if p.persistErr != nil {
		p.persist = nil
		p.ticket.gate()
		return p.persistErr
	}
	if p.persist == nil {
		p.ticket.gate()
		return nil
	}
	fns := p.persist
	p.persist = nil
	start := time.Now()
	done := srv.store.BatchStart(func(tx *store.Tx) error {
		for _, fn := range fns {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	p.Park()
	err := <-done
	srv.metrics.commit.Observe(time.Since(start))
	p.ticket.gate()
	p.persistErr = err
	return err
}

// IsLocal reports whether j is at the server's own domain.
func (srv *Server) IsLocal(j JID) bool { return j.Domain == srv.domain }

// RouteMessage delivers a message per RFC 6121 §8.5. The store changes
// its hooks queue (Packet.Persist) are committed before the first delivery,
// or before RouteMessage returns when it delivers nothing.
func (srv *Server) RouteMessage(p *Packet) {
	srv.routeMessage(p)
	srv.Commit(p)
}

func (srv *Server) routeMessage(p *Packet) {
	to := p.To
	if !srv.IsLocal(to) {
		srv.routeElsewhere(p)
		return
	}
	if to.Local == "" {
		RunHook(srv, MessageToServer, p)
		return
	}
	if to.Resource != "" {
		if target := srv.sessions.full(to); target != nil {
			if RunHook(srv, MessageToFull, p) == Pass {
				srv.deliver(target, p)
			}
			return
		}
		// RFC 6121 §8.5.3.2.1: the resource is gone.
		switch p.Type() {
		case "groupchat":
			srv.Bounce(p, errServiceUnavailable)
			return
		case "headline", "error":
			return
		}
	}
	if !srv.accounts.Exists(to.Local) {
		srv.Bounce(p, errServiceUnavailable)
		return
	}
	RunHook(srv, MessageToAccount, p)
}

// deliverToAccount is the core's default delivery (PriorityDeliver) of a
// message to a local account's resources (RFC 6121 §8.5.2).
func (srv *Server) deliverToAccount(p *Packet) Verdict {
	switch p.Type() {
	case "groupchat":
		srv.Bounce(p, errServiceUnavailable)
		return Done
	case "error":
		// Errors go to the resource that caused them; without one, drop.
		return Done
	}
	// Almost every account has few resources: the targets stay on the stack.
	var buf [4]*Session
	targets := srv.AppendDeliveryTargets(buf[:0], p)
	for _, s := range targets {
		srv.deliver(s, p)
	}
	if len(targets) == 0 {
		// The fallback (offline storage) queues its change on p too, so
		// the archive copies and the offline copy commit in one
		// transaction (the caller's Commit): both or neither. A message
		// nobody takes is bounced once what its hooks queued is stored
		// (a failed commit is the sender's error then).
		if RunHook(srv, MessageUndeliverable, p) == Pass && srv.Commit(p) {
			srv.Bounce(p, StanzaError(stanza.Cancel, stanza.ServiceUnavailable, p.To.BareString()+" is not available"))
		}
	}
	return Done
}

// AppendDeliveryTargets appends to dst the sessions the core's default
// delivery of message p to a local account (MessageToAccount) hands it to,
// by RFC 6121 §8.5.2: a headline to every available resource with
// non-negative priority, a chat or normal message to the available
// resources of the highest non-negative priority, a groupchat or error
// message to none. It is the one place the rule lives, so extensions that
// must know who got the original (carbons) agree with the delivery.
func (srv *Server) AppendDeliveryTargets(dst []*Session, p *Packet) []*Session {
	switch p.Type() {
	case "groupchat", "error":
		return dst
	}
	sessions := srv.sessions.sessions(p.To.Bare())
	if p.Type() == "headline" {
		for _, s := range sessions {
			if s.Available() && s.Priority() >= 0 {
				dst = append(dst, s)
			}
		}
		return dst
	}
	best := -1
	for _, s := range sessions {
		if s.Available() && s.Priority() > best {
			best = s.Priority()
		}
	}
	if best < 0 {
		return dst
	}
	for _, s := range sessions {
		if s.Available() && s.Priority() == best {
			dst = append(dst, s)
		}
	}
	return dst
}

// assignStanzaID adds the server's XEP-0359 stanza-id to a message for a
// local account (PriorityRewrite). Any stanza-id a client put in is
// removed first, so ids claiming to be ours are always ours.
func (srv *Server) assignStanzaID(p *Packet) Verdict {
	switch p.Type() {
	case "error", "groupchat":
		return Pass
	}
	p.RemoveChildren("stanza-id", "urn:xmpp:sid:0")
	p.SetStanzaID(srv.ids.Next(), p.To.Bare())
	return Pass
}

// deliver queues p for one session, once what its hooks queued for the
// store is on disk.
func (srv *Server) deliver(s *Session, p *Packet) {
	if !srv.Commit(p) {
		return
	}
	srv.metrics.stanzasOut.Add(1)
	s.Send(p.Bytes())
}

// routeElsewhere handles stanzas for other domains: a component of this
// server, or a remote domain (no federation: remote-server-not-found).
func (srv *Server) routeElsewhere(p *Packet) {
	if h, ok := srv.domains[p.To.Domain]; ok {
		if p.persist == nil && p.persistErr == nil {
			// Nothing of the sender's to store first: the component gets
			// the message without waiting for the session's previous one
			// (pipeline.go). It keeps its own order (a room's queue), and a
			// session's stanzas to the component arrive in order anyway, as
			// the next is handed out only once this one parked or finished.
			h.HandleStanza(p)
			return
		}
		if srv.Commit(p) {
			h.HandleStanza(p)
		}
		return
	}
	if p.Kind() == "presence" {
		return
	}
	srv.Bounce(p, errRemoteNotFound)
}

// Bounce answers p with a stanza error, never an error to an error.
func (srv *Server) Bounce(p *Packet, se stanza.Error) { srv.bounce(p, se, nil) }

// BounceApp is Bounce with an application-specific condition (a component's
// answer such as XEP-0363's <file-too-large/>).
func (srv *Server) BounceApp(p *Packet, e AppError) { srv.bounce(p, e.Err, e.App) }

// bounce is Bounce with an optional application-specific condition.
func (srv *Server) bounce(p *Packet, se stanza.Error, app *wire.Element) {
	if p.Type() == "error" {
		return
	}
	if p.Kind() == "presence" && p.Type() != "" && p.Type() != "unavailable" && p.Type() != "probe" &&
		p.Type() != "subscribe" && p.Type() != "subscribed" && p.Type() != "unsubscribe" && p.Type() != "unsubscribed" {
		return
	}
	reply := errorReply(p, se, app)
	if p.Origin != nil {
		p.Origin.Send(reply)
		return
	}
	srv.SendRaw(p.From, reply)
}

// SendRaw delivers serialised XML addressed to a local full or bare JID
// (all resources) or to a component domain. Used for server-generated
// stanzas that need no pipeline (errors, results, pushes).
func (srv *Server) SendRaw(to JID, b []byte) {
	if srv.IsGuest(to) {
		srv.sendRawToGuest(to, b)
		return
	}
	if !srv.IsLocal(to) {
		if h, ok := srv.domains[to.Domain]; ok {
			if st, err := wire.ParseStanza(b); err == nil {
				h.HandleStanza(NewPacket(st, JID{Domain: srv.domain}, to))
			}
		}
		return
	}
	if to.Resource != "" {
		if s := srv.sessions.full(to); s != nil {
			s.Send(b)
		}
		return
	}
	if to.Local == "" {
		// To the server itself: a component's answer to the server's own
		// request (SendIQ); nothing else is addressed to it this way.
		if st, err := wire.ParseStanza(b); err == nil && st.Name == "iq" && (st.Type == "result" || st.Type == "error") {
			srv.pending.resolveID(st)
		}
		return
	}
	for _, s := range srv.sessions.sessions(to) {
		s.Send(b)
	}
}

// RouteIQ dispatches an IQ per RFC 6120 §10: requests to the server or an
// account go to the registered handlers, requests to an online full JID
// are delivered, everything else gets an error.
func (srv *Server) RouteIQ(p *Packet) {
	st := p.Stanza
	to := p.To
	isRequest := st.Type == "get" || st.Type == "set"
	if !isRequest && st.Type != "result" && st.Type != "error" {
		srv.Bounce(p, StanzaError(stanza.Modify, stanza.BadRequest, "IQ type must be get, set, result or error"))
		return
	}
	if st.ID == "" {
		srv.Bounce(p, StanzaError(stanza.Modify, stanza.BadRequest, "IQ without id"))
		return
	}
	if !srv.IsLocal(to) {
		srv.routeElsewhere(p)
		return
	}
	if to.Resource != "" {
		if s := srv.sessions.full(to); s != nil {
			if RunHook(srv, IQToFull, p) == Pass {
				srv.deliver(s, p)
			}
			return
		}
		if isRequest {
			srv.Bounce(p, errServiceUnavailable)
		}
		return
	}
	if !isRequest {
		srv.pending.resolve(p)
		return
	}
	if len(st.Children) != 1 {
		srv.Bounce(p, StanzaError(stanza.Modify, stanza.BadRequest, "an IQ request carries exactly one payload element"))
		return
	}
	target := TargetAccount
	if to.Local == "" {
		target = TargetServer
	} else if !srv.accounts.Exists(to.Local) {
		srv.Bounce(p, errServiceUnavailable)
		return
	}
	c := st.Children[0]
	h, ok := srv.iqHandlers[iqKey{target: target, typ: st.Type, ns: c.NS, name: c.Name}]
	if !ok {
		srv.Bounce(p, errServiceUnavailable)
		return
	}
	srv.runIQHandler(p, h)
}

func (srv *Server) runIQHandler(p *Packet, h IQHandler) {
	st := p.Stanza
	payload, err := wire.Parse(st.ChildBytes(st.Children[0]))
	if err != nil {
		srv.Bounce(p, StanzaError(stanza.Modify, stanza.BadRequest, "unparsable payload"))
		return
	}
	iq := &IQ{Server: srv, Session: p.Origin, From: p.From, To: p.To, Stanza: st, Payload: payload}
	res, err := h(iq)
	if err != nil {
		var se stanza.Error
		var ae AppError
		var app *wire.Element
		if errors.As(err, &ae) {
			se, app = ae.Err, ae.App
		} else if !errors.As(err, &se) {
			srv.log.Error("IQ handler failed", "payload", payload.NS+" "+payload.Name, "from", p.From.String(), "err", err)
			se = StanzaError(stanza.Wait, stanza.InternalServerError, "the server could not process the request")
		}
		srv.bounce(p, se, app)
		return
	}
	srv.ReplyIQ(p, res)
}

// resultIQ builds <iq type='result'/> for request p. When the client sent
// no 'to', the reply carries no 'from' (RFC 6120 §10.3.3).
func resultIQ(p *Packet, payload *wire.Element) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "<iq type='result'"...)
	b = wire.AppendAttr(b, "id", p.Stanza.ID)
	b = wire.AppendAttr(b, "to", p.From.String())
	if p.toAttr != "" {
		b = wire.AppendAttr(b, "from", p.To.String())
	}
	if payload == nil {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = payload.AppendXML(b)
	return append(b, "</iq>"...)
}

// handlePresenceFromClient records the session's own availability for
// broadcast presence (no 'to'), lets the roster logic broadcast it, and
// delivers directed presence. The stored copy (answered to probes) is
// taken after the hooks, so payloads they add (avatar hash) are in it.
func (srv *Server) handlePresenceFromClient(p *Packet) {
	s := p.Origin
	st := p.Stanza
	broadcast := st.To == "" && (st.Type == "" || st.Type == "unavailable")
	initial := false
	if broadcast {
		p.toAttr = ""
		initial = s.setAvailability(st.Type == "", presencePriority(st))
	}
	if RunHook(srv, PresenceOut, p) == Pass && st.To != "" {
		srv.RoutePresence(p)
	}
	if broadcast && st.Type == "" {
		s.setPresenceBytes(p.Bytes())
	}
	if initial {
		RunHook(srv, SessionInitialPresence, s)
	}
}

// presencePriority reads <priority/> (RFC 6121 §4.7.2.3), default 0.
func presencePriority(st *wire.Stanza) int {
	c, ok := st.Child("priority", nsClient)
	if !ok {
		return 0
	}
	el, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(el.Text))
	if err != nil || n < -128 || n > 127 {
		return 0
	}
	return n
}

// RoutePresence delivers a presence addressed to someone (RFC 6121 §4.6
// directed presence, and subscription stanzas not taken by a hook).
func (srv *Server) RoutePresence(p *Packet) {
	to := p.To
	if !srv.IsLocal(to) {
		srv.routeElsewhere(p)
		return
	}
	if to.Local == "" {
		return
	}
	if RunHook(srv, PresenceIn, p) == Done {
		return
	}
	if to.Resource != "" {
		if s := srv.sessions.full(to); s != nil {
			srv.deliver(s, p)
		}
		return
	}
	for _, s := range srv.sessions.sessions(to) {
		if s.Available() {
			srv.deliver(s, p)
		}
	}
}
