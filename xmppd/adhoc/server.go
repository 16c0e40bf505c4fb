package adhoc

import (
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// serverKey keeps the server domain's registry (Registrar.Shared).
type serverKey struct{}

// ServerCommands adds cmds to the commands of the server's domain, which
// every extension shares, and returns that registry. The first call wires
// it up: the feature NS on the server's disco#info, the <command/> IQ to
// the domain, and the disco node NS; each command's node is registered
// for disco#info under r's extension.
func ServerCommands(r *xmppd.Registrar, cmds ...Command) (*Registry, error) {
	g := r.Shared(serverKey{}, func() any { return New(Options{}) }).(*Registry)
	if g.wired.CompareAndSwap(false, true) {
		r.Feature(NS)
		if err := r.HandleIQ(xmppd.TargetServer, "set", NS, "command", func(iq *xmppd.IQ) (*wire.Element, error) {
			return g.Handle(iq.From, iq.To, iq.Payload)
		}); err != nil {
			return nil, err
		}
		if err := r.ServerNode(NS, xmppd.DiscoNode{
			Info:  func(iq *xmppd.IQ) (*wire.Element, error) { return g.Info(NS, iq.From, iq.To) },
			Items: func(iq *xmppd.IQ) (*wire.Element, error) { return g.Items(iq.From, iq.To), nil },
		}); err != nil {
			return nil, err
		}
	}
	if err := g.Add(cmds...); err != nil {
		return nil, err
	}
	for _, c := range cmds {
		node := c.Node
		if err := r.ServerNode(node, xmppd.DiscoNode{
			Info: func(iq *xmppd.IQ) (*wire.Element, error) { return g.Info(node, iq.From, iq.To) },
			Items: func(*xmppd.IQ) (*wire.Element, error) {
				return wire.NewElement("query", nsDiscoItems, wire.Attr{Name: "node", Value: node}), nil
			},
		}); err != nil {
			return nil, err
		}
	}
	return g, nil
}
