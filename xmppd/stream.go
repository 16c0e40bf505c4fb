package xmppd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp"
)

// transport is an accepted client connection about to negotiate an XMPP
// stream. TCP (STARTTLS), direct TLS (XEP-0368) and WebSocket (RFC 7395)
// connections all go through serveStream: same negotiation, limits,
// session and routing; they differ only in these fields.
type transport struct {
	conn net.Conn // the stream's bytes (a WebSocket conn frames them itself)
	ip   string   // the client's address, for limits and throttling
	// directTLS: the TLS handshake runs first (XEP-0368).
	directTLS bool
	// secure: the connection is confidential without STARTTLS (a
	// WebSocket the server trusts, see websocketSecure).
	secure bool
	// startTLS offers STARTTLS: plain TCP only; RFC 7395 §3.5 forbids it on
	// WebSocket, whose TLS is the HTTP layer's.
	startTLS bool
	log      *slog.Logger
}

// serveStream negotiates one client stream (TLS, SASL, bind or XEP-0198
// resumption) under the pre-authentication deadline and byte budget, then
// runs its session. The caller holds the connection's slot in the
// per-address limit.
func (srv *Server) serveStream(t transport) {
	srv.metrics.connections.Add(1)
	defer srv.metrics.connections.Add(-1)
	// The TLS handshake, mellium's XML codec, SASL and the SessionBound
	// hooks grow a goroutine's stack to 16-32 KB, and Go returns that only
	// when a garbage collection finds it mostly unused, which an idle server
	// rarely runs. So they run on a goroutine that exits once the session
	// has started, and this one, which then waits for the client for hours,
	// keeps the small stack it started with.
	var s *Session
	var link *sessionLink
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, link = srv.negotiate(t)
	}()
	<-done
	if s != nil {
		srv.serveSession(s, link)
	}
}

// negotiate runs negotiation for serveStream and starts the session; it
// returns nil when the stream ended during negotiation.
func (srv *Server) negotiate(t transport) (*Session, *sessionLink) {
	log := t.log

	// The pre-auth timeout is a deadline on the socket only. mellium given
	// a context with a deadline races it against ours (it sets a past
	// deadline, then clears it), which can leave a read with none at all.
	_ = t.conn.SetDeadline(time.Now().Add(srv.limits.PreauthTimeout.Duration))
	ctx := context.Background()
	var boundSession atomic.Pointer[Session]
	srv.negotiating.Store(t.conn, &boundSession)
	defer srv.negotiating.Delete(t.conn)
	conn := t.conn
	if t.directTLS {
		tc := tls.Server(t.conn, srv.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Debug("TLS handshake failed", "err", err)
			_ = t.conn.Close()
			return nil, nil
		}
		conn = tc
	}
	maxStanza := int(srv.limits.MaxStanzaSize)
	r := wire.NewReader(conn, wire.Limits{MaxStanzaSize: maxStanza})
	r.SetSkipNegotiationWhitespace(true)
	c := &streamConn{Conn: conn, r: r, budget: 4 * maxStanza, secure: t.secure}
	out := auth.Outcome{OnFailure: func(o *auth.Outcome) {
		srv.metrics.authFailures.Add(1)
		if o.Mechanism == "ANONYMOUS" {
			return // a guest refused by its rate limit is no password guess
		}
		srv.failIP.add(t.ip)
		srv.failAccount.add(o.Attempted)
	}}
	var bound *Session
	resumed := false
	bind := srv.bindFeature(c, &out, func(j JID) (*Session, error) {
		sess, err := srv.register(c, r, j, log)
		bound = sess
		boundSession.Store(sess)
		return sess, err
	})
	sm := srv.smFeature(c, &out, bind, log, func(s *Session) {
		bound, resumed = s, true
		boundSession.Store(s)
	})
	// One feature list per host: accounts on the main domain, guests
	// (SASL ANONYMOUS only) on the guest domain. mellium asks for the list
	// after reading each stream header, so the stream's 'to' picks it.
	userFeatures := srv.streamFeatureList(t, c, srv.saslFeature(c, &out, t.ip), bind, sm)
	var guestFeatures []xmpp.StreamFeature
	if srv.guestDomain != "" {
		guestFeatures = srv.streamFeatureList(t, c, srv.guestSASLFeature(c, &out, t.ip), bind, sm)
	}
	neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
		if s != nil && guestFeatures != nil && s.LocalAddr().Domainpart() == srv.guestDomain {
			return xmpp.StreamConfig{Features: guestFeatures}
		}
		return xmpp.StreamConfig{Features: userFeatures}
	})
	var state xmpp.SessionState
	if t.directTLS || t.secure {
		state |= xmpp.Secure
	}
	_, err := xmpp.ReceiveSession(ctx, c, state, neg)
	if err == nil && bound == nil {
		err = errors.New("negotiation ended without a bound resource")
	}
	if err != nil && resumed {
		// Resumption is the last step; nothing can fail after it.
		err = nil
	}
	if err != nil {
		if bound != nil {
			srv.unbind(bound)
		}
		srv.negotiationFailed(c, &out, log, err)
		return nil, nil
	}
	srv.negotiating.Delete(t.conn)
	_ = t.conn.SetDeadline(time.Time{})
	r.SetSkipNegotiationWhitespace(false)
	srv.failAccount.reset(out.User)
	srv.metrics.logins.Add(1)
	return bound, srv.startSession(bound, out.Mechanism, resumed)
}

// streamFeatureList is the features of one host: STARTTLS where the
// transport allows it, SASL, bind, XEP-0198 and what extensions add.
func (srv *Server) streamFeatureList(t transport, c *streamConn, sasl, bind, sm xmpp.StreamFeature) []xmpp.StreamFeature {
	var fs []xmpp.StreamFeature
	if t.startTLS {
		fs = append(fs, srv.startTLSFeature(c))
	}
	fs = append(fs, sasl, bind, sm)
	return append(fs, srv.streamFeatures...)
}

// conditionError is an error that names the RFC 6120 stream error
// condition to close with: bad input from the byte reader (*wire.Error)
// or from a transport (a WebSocket binary message).
type conditionError interface {
	error
	Condition() string
}

// conditionOf returns the stream error condition and text err names, if
// it is a conditionError.
func conditionOf(err error) (cond, text string, ok bool) {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Condition(), we.Msg, true
	}
	var ce conditionError
	if errors.As(err, &ce) {
		return ce.Condition(), ce.Error(), true
	}
	return "", "", false
}

func isConditionError(err error) bool {
	_, _, ok := conditionOf(err)
	return ok
}
