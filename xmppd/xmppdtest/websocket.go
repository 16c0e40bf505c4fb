package xmppdtest

import (
	"context"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	mws "mellium.im/xmpp/websocket"
)

// WebSocketURL is the test server's ws:// endpoint (RFC 7395).
func (s *Server) WebSocketURL() string {
	return "ws://" + s.HTTPAddr().String() + xmppd.WebSocketPath
}

// LoginWS connects user over WebSocket, failing the test on error.
func (s *Server) LoginWS(t testing.TB, user, password string) *Client {
	t.Helper()
	c, err := s.DialWS(t, user, password, DialOptions{})
	if err != nil {
		t.Fatalf("WebSocket login %s: %v", user, err)
	}
	return c
}

// DialWS logs in over WebSocket with mellium's WebSocket client
// (mellium.im/xmpp/websocket: its dialer and its RFC 7395 negotiator) and
// the same SASL and bind as Dial. The connection is ws:// on loopback,
// which the server treats as secure, so the client is told so too
// (mellium only assumes it for wss://). DirectTLS is ignored.
func (s *Server) DialWS(t testing.TB, user, password string, o DialOptions) (*Client, error) {
	t.Helper()
	domain := s.Domain()
	if o.Domain != "" {
		domain = o.Domain
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := mws.Dialer{Origin: "http://" + s.HTTPAddr().String(), InsecureNoTLS: true}
	conn, err := d.DialDirect(ctx, s.WebSocketURL())
	if err != nil {
		return nil, err
	}
	var answer *wire.Element
	features := authFeatures(o, password, &answer)
	origin, err := jid.New(user, domain, o.Resource)
	if err != nil {
		conn.Close()
		return nil, err
	}
	neg := mws.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: features}
	})
	sess, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, xmpp.Secure, neg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return newClient(t, sess, conn, answer, o), nil
}
