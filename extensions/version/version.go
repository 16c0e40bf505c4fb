// Package version implements XEP-0092 Software Version for the server.
//
// It answers <query xmlns='jabber:iq:version'/> addressed to the server's
// domain with the name "xmppd" and xmppd.Version, and advertises the
// jabber:iq:version feature. The operating system is withheld by default,
// since it tells an attacker more than it helps a user (XEP-0092 §4).
// No hooks, no stores.
//
// Configuration:
//
//	[version]
//	show_os = false   # also answer <os/> (GOOS/GOARCH of the binary)
package version

import (
	"runtime"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// NS is the XEP-0092 namespace.
const NS = "jabber:iq:version"

// Config is the [version] table.
type Config struct {
	ShowOS bool `toml:"show_os"`
}

// Extension answers software version requests.
type Extension struct {
	cfg Config
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the version extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "version" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("version", &e.cfg); err != nil {
		return err
	}
	r.Feature(NS)
	return r.HandleIQ(xmppd.TargetServer, "get", NS, "query", e.answer)
}

func (e *Extension) answer(*xmppd.IQ) (*wire.Element, error) {
	q := wire.NewElement("query", NS).Append(
		wire.NewElement("name", NS).SetText("xmppd"),
		wire.NewElement("version", NS).SetText(xmppd.Version),
	)
	if e.cfg.ShowOS {
		q.Append(wire.NewElement("os", NS).SetText(runtime.GOOS + "/" + runtime.GOARCH))
	}
	return q, nil
}
