// Package ping implements XEP-0199 XMPP Ping for the server.
//
// It answers <iq type='get'><ping xmlns='urn:xmpp:ping'/></iq> addressed to
// the server's domain and, like Prosody, to any local account's bare JID
// (the server answers on the account's behalf: a bare JID is not a
// resource that could answer itself). It advertises the urn:xmpp:ping
// feature. It has no hooks, no stores and no configuration; server-side
// keepalive pings are not sent (idle connections are handled by the core's
// idle timeout).
package ping

import (
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// NS is the XEP-0199 namespace.
const NS = "urn:xmpp:ping"

// Extension answers pings.
type Extension struct{}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the ping extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "ping" }

// Register implements xmppd.Extension.
func (*Extension) Register(r *xmppd.Registrar) error {
	r.Feature(NS)
	if err := r.HandleIQ(xmppd.TargetServer, "get", NS, "ping", pong); err != nil {
		return err
	}
	return r.HandleIQ(xmppd.TargetAccount, "get", NS, "ping", pong)
}

// pong is the XEP-0199 §4.2/§4.3 answer: an empty result. The core has
// already checked that the addressed account exists.
func pong(*xmppd.IQ) (*wire.Element, error) { return nil, nil }
