package xmppd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// streamConn is the connection mellium negotiates on. Reads go through our
// wire.Reader, which is an io.ByteReader, so encoding/xml adds no buffer of
// its own and no byte is lost when our stanza reader takes over after
// bind. It also caps what an unauthenticated client may send.
type streamConn struct {
	net.Conn // the transport: TCP, or TLS once negotiated
	r        *wire.Reader
	budget   int // bytes a client may send before it is bound
	written  int
	hostErr  bool
	host     string // the served domain the stream is addressed to, once checked
	// secure: confidential without our TLS (a trusted WebSocket), so PLAIN
	// may be offered; never -PLUS.
	secure bool
}

var errPreauthBudget = errors.New("too much data before authentication")

func (c *streamConn) Read(p []byte) (int, error) {
	if c.budget <= 0 {
		return 0, errPreauthBudget
	}
	if len(p) > c.budget {
		p = p[:c.budget]
	}
	n, err := c.r.Read(p)
	c.budget -= n
	return n, err
}

func (c *streamConn) ReadByte() (byte, error) {
	if c.budget <= 0 {
		return 0, errPreauthBudget
	}
	c.budget--
	return c.r.ReadByte()
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.written += len(p)
	return c.Conn.Write(p)
}

// ConnectionState lets mellium and the SASL mechanisms see the TLS state
// (channel binding) through the wrapper.
func (c *streamConn) ConnectionState() tls.ConnectionState {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// checkHost fails negotiation for a stream addressed to a domain the
// server does not serve to clients (mellium does not check the stream's
// 'to'): the main domain, and the guest domain when there is one.
func (srv *Server) checkHost(c *streamConn, s *xmpp.Session) error {
	to := s.LocalAddr().Domainpart()
	if to != srv.domain && (srv.guestDomain == "" || to != srv.guestDomain) {
		c.hostErr = true
		return fmt.Errorf("stream addressed to unknown host %q", to)
	}
	c.host = to
	return nil
}

// startTLSFeature is RFC 6120 §5 STARTTLS, ours rather than mellium's so
// that the TLS conn ends up below our reader, and so that bytes a client
// pipelined after <starttls/> (a command-injection trick) are refused.
func (srv *Server) startTLSFeature(c *streamConn) xmpp.StreamFeature {
	const ns = "urn:ietf:params:xml:ns:xmpp-tls"
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: ns, Local: "starttls"},
		Prohibited: xmpp.Secure,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			req := xml.StartElement{Name: xml.Name{Local: "required"}}
			for _, t := range []xml.Token{start, req, req.End(), start.End()} {
				if err := e.EncodeToken(t); err != nil {
					return true, err
				}
			}
			return true, nil
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			if err := srv.checkHost(c, s); err != nil {
				return 0, nil, err
			}
			if !c.r.DiscardWhitespace() {
				return 0, nil, errors.New("data pipelined after <starttls/>")
			}
			if _, err := c.Conn.Write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
				return 0, nil, err
			}
			tc := tls.Server(c.Conn, srv.tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				return 0, nil, fmt.Errorf("TLS handshake: %w", err)
			}
			c.Conn = tc
			c.r.SetSource(tc)
			return xmpp.Secure, c, nil
		},
	}
}

// saslFeature offers the SASL mechanisms of xmppd/auth under the server's
// policy, with failed-login throttling per account and per IP address.
func (srv *Server) saslFeature(c *streamConn, out *auth.Outcome, ip string) xmpp.StreamFeature {
	lookup := func(user string) (auth.Credentials, bool, error) {
		if srv.failIP.blocked(ip) {
			return auth.Credentials{}, false, fmt.Errorf("address %s: %w", ip, auth.ErrThrottled)
		}
		if srv.failAccount.blocked(user) {
			return auth.Credentials{}, false, fmt.Errorf("account %s: %w", user, auth.ErrThrottled)
		}
		return srv.accounts.Credentials(user)
	}
	// Read when the features are listed, i.e. after STARTTLS has replaced
	// c.Conn (or at once for direct TLS): what -PLUS and PLAIN depend on.
	tlsState := func() *tls.ConnectionState {
		cs := c.ConnectionState()
		if cs.Version == 0 {
			if c.secure {
				return auth.SecureState()
			}
			return nil
		}
		return &cs
	}
	f := auth.StreamFeatureTLS(srv.authPolicy, tlsState, lookup, out)
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		if err := srv.checkHost(c, s); err != nil {
			return 0, nil, err
		}
		return inner(ctx, s, data)
	}
	return f
}

// The SASL unknown-user secret lives in the store rather than in a file of
// its own so that it travels with backups: a restored server must answer
// unknown names with the same salts as before.
const (
	secretsStore    = "core.secrets"
	saslDecoyKey    = "sasl-decoy"
	saslDecoyKeyLen = 32
)

// loadAuthPolicy builds the server's SASL policy from [auth], with the
// unknown-user secret read from the store, or created there on first start.
func loadAuthPolicy(db *store.DB, cfg *config.Config, log *slog.Logger) (*auth.Policy, error) {
	secret, err := db.KV(secretsStore).Get(saslDecoyKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading the SASL secret (%s %q) from %s: %w", secretsStore, saslDecoyKey, db.Path(), err)
	}
	if err == nil && len(secret) < auth.MinDecoySecretLen {
		// Only a damaged store gets here; a new secret costs nothing but
		// the stability of unknown users' salts.
		log.Warn("SASL secret in the store is too short; replacing it", "store", secretsStore, "key", saslDecoyKey, "len", len(secret))
		err = store.ErrNotFound
	}
	if err != nil {
		secret = make([]byte, saslDecoyKeyLen)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails.
		if err := db.KV(secretsStore).Put(saslDecoyKey, secret); err != nil {
			return nil, fmt.Errorf("storing a new SASL secret (%s %q) in %s: %w", secretsStore, saslDecoyKey, db.Path(), err)
		}
	}
	p := &auth.Policy{
		ChannelBinding: cfg.Auth.ChannelBinding,
		AllowPlain:     cfg.Auth.AllowPlain,
		DecoySecret:    secret,
		Iterations:     cfg.Auth.SCRAMIterations,
	}
	if it := p.Iterations; it < auth.MinIterations || it > auth.MaxIterations {
		return nil, cfg.Errorf("auth.scram_iterations", "%d is out of range [%d, %d]", it, auth.MinIterations, auth.MaxIterations)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// bindFeature binds a resource for the authenticated user (never the
// stream's unauthenticated 'from', which mellium's BindResource trusts) at
// the host SASL ran on (a guest's JID is at the guest domain); bind
// registers the session under the chosen JID.
func (srv *Server) bindFeature(c *streamConn, out *auth.Outcome, bind func(JID) (*Session, error)) xmpp.StreamFeature {
	return xmpp.BindCustom(func(_ jid.JID, res string) (jid.JID, error) {
		if out.User == "" || c.host == "" {
			return jid.JID{}, StanzaError(stanza.Auth, stanza.NotAuthorized, "not authenticated")
		}
		j := JID{Local: out.User, Domain: c.host}
		if res != "" {
			parsed, err := ParseJID(out.User + "@" + c.host + "/" + res)
			if err != nil || parsed.Resource == "" {
				return jid.JID{}, StanzaError(stanza.Modify, stanza.BadRequest, "invalid resource")
			}
			j = parsed
		} else {
			j.Resource = randomResource()
		}
		if _, err := bind(j); err != nil {
			return jid.JID{}, err
		}
		return jid.New(j.Local, j.Domain, j.Resource)
	})
}

func randomResource() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "xmppd-" + hex.EncodeToString(b[:])
}

// negotiationCondition picks the stream error for a failed negotiation.
func negotiationCondition(c *streamConn, out *auth.Outcome, err error) (cond, text string) {
	var ne net.Error
	switch {
	case c.hostErr:
		return "host-unknown", "this server does not serve that domain"
	case isConditionError(err):
		cond, text, _ := conditionOf(err)
		return cond, text
	case out.Mechanism == "ANONYMOUS" && out.Failure == errGuestRate.Error():
		return "policy-violation", "too many guest logins from your address; try again later"
	case errors.Is(err, errPreauthBudget):
		return "policy-violation", "too much data before authentication"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "connection-timeout", "login did not complete in time"
	case out.Attempted != "" && out.User == "":
		return "not-authorized", "authentication failed"
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) || strings.Contains(err.Error(), "XML syntax") {
		return "not-well-formed", ""
	}
	if out.User == "" {
		return "not-authorized", "authenticate first"
	}
	return "undefined-condition", ""
}
