package adhoc

import (
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Disco namespaces.
const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// Items is the disco#items answer at node NS: the commands from may run
// at to (XEP-0050 §2.2).
func (g *Registry) Items(from, to xmppd.JID) *wire.Element {
	q := wire.NewElement("query", nsDiscoItems, wire.Attr{Name: "node", Value: NS})
	for _, c := range g.cmds {
		if c.allows(from, to) {
			q.Append(wire.NewElement("item", nsDiscoItems, wire.Attr{Name: "jid", Value: to.String()},
				wire.Attr{Name: "node", Value: c.Node}, wire.Attr{Name: "name", Value: c.Name}))
		}
	}
	return q
}

// Info is the disco#info answer at node of to: the command list or a
// command (XEP-0050 §2.3). An unknown node is item-not-found, a command
// from may not run forbidden.
func (g *Registry) Info(node string, from, to xmppd.JID) (*wire.Element, error) {
	q := wire.NewElement("query", nsDiscoInfo, wire.Attr{Name: "node", Value: node})
	identity := func(typ, name string) {
		q.Append(wire.NewElement("identity", nsDiscoInfo, wire.Attr{Name: "category", Value: "automation"},
			wire.Attr{Name: "type", Value: typ}, wire.Attr{Name: "name", Value: name}))
	}
	if node == NS {
		identity("command-list", "Commands")
		return q, nil
	}
	c := g.command(node)
	if c == nil {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no command "+node+" at "+to.String())
	}
	if !c.allows(from, to) {
		return nil, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, from.BareString()+" may not run the command "+node)
	}
	identity("command-node", c.Name)
	for _, f := range []string{NS, dataform.NS} {
		q.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: f}))
	}
	return q, nil
}
