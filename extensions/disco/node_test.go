package disco_test

import (
	"testing"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// nodeExt serves disco#info (not items) at one node of the server domain.
type nodeExt struct{}

func (nodeExt) Name() string { return "node" }

func (nodeExt) Register(r *xmppd.Registrar) error {
	return r.ServerNode("urn:example:node", xmppd.DiscoNode{Info: func(iq *xmppd.IQ) (*wire.Element, error) {
		return wire.NewElement("query", disco.NSInfo, wire.Attr{Name: "node", Value: "urn:example:node"}).
			Append(wire.NewElement("feature", disco.NSInfo, wire.Attr{Name: "var", Value: "asked-by:" + iq.From.BareString()})), nil
	}})
}

// TestServerNode: a node another extension registered is answered by it;
// what it does not serve, and unknown nodes, are item-not-found.
func TestServerNode(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(disco.New(), nodeExt{}))
	srv.AddUser(t, "alice", "pw")
	alice := srv.Login(t, "alice", "pw")
	res := alice.IQ("get", "localhost", "<query xmlns='"+disco.NSInfo+"' node='urn:example:node'/>")
	if q := res.Child("query", disco.NSInfo); q == nil || q.Attr("node") != "urn:example:node" ||
		q.Child("feature", disco.NSInfo).Attr("var") != "asked-by:alice@localhost" {
		t.Fatalf("info at the node: %s", res)
	}
	for _, q := range []string{
		"<query xmlns='" + disco.NSItems + "' node='urn:example:node'/>",
		"<query xmlns='" + disco.NSInfo + "' node='urn:example:other'/>",
		"<query xmlns='" + disco.NSItems + "' node='urn:example:other'/>",
	} {
		res := alice.IQ("get", "localhost", q)
		if res.Attr("type") != "error" || res.Child("error", "").Child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Errorf("%s: %s", q, res)
		}
	}
}
