// Package disco implements XEP-0030 Service Discovery and XEP-0115 Entity
// Capabilities for the server.
//
// IQ handlers:
//   - disco#info to the server's domain: the identities and features every
//     extension announced through the Registrar (core: server/im). A node
//     equal to "<CapsNode>#<ver>" returns the same answer (XEP-0115 §6.2);
//     a node another extension registered (Registrar.ServerNode, e.g.
//     XEP-0050 commands) is answered by it; any other is item-not-found.
//   - disco#items to the server's domain: the domains served by components
//     (Registrar.HandleDomain), e.g. the MUC service; at a node, as for
//     disco#info.
//   - disco#info to a local account's bare JID, answered by the server on
//     the account's behalf to anyone (as Prosody does): identity
//     account/registered plus the account identities and features other
//     extensions announced (Registrar.AccountIdentity, AccountFeature: PEP).
//     A node on an account is item-not-found; disco#items on an account
//     belongs to PEP.
//
// Stream feature: after authentication the server advertises
// <c xmlns='http://jabber.org/protocol/caps'/> with the XEP-0115 §5
// verification string of its own disco#info, so clients can cache it.
// It is informational (never negotiated). The string is computed on first
// use, when every extension has registered.
//
// No hooks, no stores, no configuration.
package disco

import (
	"context"
	"crypto/sha1"
	"encoding/xml"
	"sync"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/crypto"
	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NSInfo  = mdisco.NSInfo
	NSItems = mdisco.NSItems
	NSCaps  = mdisco.NSCaps
)

// CapsNode is the XEP-0115 node naming this software.
const CapsNode = "https://xmppd.example/caps"

// Extension answers service discovery for the server and its accounts.
type Extension struct {
	srv *xmppd.Server

	verOnce sync.Once
	ver     string
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the disco extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "disco" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.srv = r.Server()
	r.Feature(NSInfo)
	r.Feature(NSItems)
	r.AccountFeature(NSInfo)
	for _, h := range []struct {
		target xmppd.Target
		ns     string
		fn     xmppd.IQHandler
	}{
		{xmppd.TargetServer, NSInfo, e.serverInfo},
		{xmppd.TargetServer, NSItems, e.serverItems},
		{xmppd.TargetAccount, NSInfo, e.accountInfo},
	} {
		if err := r.HandleIQ(h.target, "get", h.ns, "query", h.fn); err != nil {
			return err
		}
	}
	r.StreamFeature(e.capsFeature())
	return nil
}

// serverDisco is the server's disco#info, the one source of both the
// answer and the caps hash, so the two cannot disagree.
func (e *Extension) serverDisco() mdisco.Info {
	var in mdisco.Info
	for _, id := range e.srv.ServerIdentities() {
		in.Identity = append(in.Identity, info.Identity{Category: id.Category, Type: id.Type, Name: id.Name})
	}
	for _, f := range e.srv.ServerFeatures() {
		in.Features = append(in.Features, info.Feature{Var: f})
	}
	return in
}

// capsVer returns the XEP-0115 §5 verification string (SHA-1) of the
// server's disco#info. Extensions only register before the server starts,
// so it is computed once, on first use.
func (e *Extension) capsVer() string {
	e.verOnce.Do(func() { e.ver = verString(e.serverDisco()) })
	return e.ver
}

// verString hashes in per XEP-0115 §5.1 (mellium sorts and hashes; it
// sorts in place, so in must not be shared).
func verString(in mdisco.Info) string { return in.Hash(sha1.New()) }

func (e *Extension) serverInfo(iq *xmppd.IQ) (*wire.Element, error) {
	node := iq.Payload.Attr("node")
	if node != "" && node != CapsNode+"#"+e.capsVer() {
		return e.nodeQuery(iq, node, func(h xmppd.DiscoNode) xmppd.IQHandler { return h.Info })
	}
	return infoElement(node, e.serverDisco()), nil
}

func (e *Extension) serverItems(iq *xmppd.IQ) (*wire.Element, error) {
	if node := iq.Payload.Attr("node"); node != "" {
		return e.nodeQuery(iq, node, func(h xmppd.DiscoNode) xmppd.IQHandler { return h.Items })
	}
	q := wire.NewElement("query", NSItems)
	for _, d := range e.srv.ComponentDomains() {
		q.Append(wire.NewElement("item", NSItems, wire.Attr{Name: "jid", Value: d}))
	}
	return q, nil
}

// accountInfo answers for a bare JID (XEP-0030 §3.1, RFC 6120 §10.3.3):
// anyone may ask, the answer reveals nothing specific to the account.
func (e *Extension) accountInfo(iq *xmppd.IQ) (*wire.Element, error) {
	if node := iq.Payload.Attr("node"); node != "" {
		return nil, errNoNode(node)
	}
	in := mdisco.Info{Identity: []info.Identity{{Category: "account", Type: "registered"}}}
	for _, id := range e.srv.AccountIdentities() {
		in.Identity = append(in.Identity, info.Identity{Category: id.Category, Type: id.Type, Name: id.Name})
	}
	for _, f := range e.srv.AccountFeatures() {
		in.Features = append(in.Features, info.Feature{Var: f})
	}
	return infoElement("", in), nil
}

// nodeQuery hands a query at node to the extension that registered it
// (Registrar.ServerNode), e.g. XEP-0050's command list.
func (e *Extension) nodeQuery(iq *xmppd.IQ, node string, pick func(xmppd.DiscoNode) xmppd.IQHandler) (*wire.Element, error) {
	h, ok := e.srv.ServerNode(node)
	if !ok || pick(h) == nil {
		return nil, errNoNode(node)
	}
	return pick(h)(iq)
}

func errNoNode(node string) error {
	return xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such node: "+node)
}

// infoElement renders a disco#info result, echoing the queried node.
func infoElement(node string, in mdisco.Info) *wire.Element {
	q := wire.NewElement("query", NSInfo)
	if node != "" {
		q.SetAttr("node", node)
	}
	for _, id := range in.Identity {
		el := wire.NewElement("identity", NSInfo,
			wire.Attr{Name: "category", Value: id.Category},
			wire.Attr{Name: "type", Value: id.Type})
		if id.Name != "" {
			el.SetAttr("name", id.Name)
		}
		q.Append(el)
	}
	for _, f := range in.Features {
		q.Append(wire.NewElement("feature", NSInfo, wire.Attr{Name: "var", Value: f.Var}))
	}
	return q
}

// capsFeature advertises the caps hash in the stream features after
// authentication. Negotiate is nil: mellium lists it and, should a client
// try to select it, ends the stream with policy-violation; it never counts
// as required, so bind still completes negotiation.
func (e *Extension) capsFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:      xml.Name{Space: NSCaps, Local: "c"},
		Necessary: xmpp.Authn,
		List: func(_ context.Context, w xmlstream.TokenWriter, _ xml.StartElement) (bool, error) {
			c := mdisco.Caps{Hash: crypto.SHA1, Node: CapsNode, Ver: e.capsVer()}
			_, err := c.WriteXML(w)
			return false, err
		},
	}
}
