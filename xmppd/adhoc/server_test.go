package adhoc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/adhoc"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// echoExt offers one command on the server's domain.
type echoExt struct{ node string }

func (e echoExt) Name() string { return "echo-" + e.node }

func (e echoExt) Register(r *xmppd.Registrar) error {
	_, err := adhoc.ServerCommands(r, adhoc.Command{Node: e.node, Name: "Echo " + e.node,
		Allowed: func(from, _ xmppd.JID) bool { return from.Local != "bob" },
		Run: func(req *adhoc.Request) (*adhoc.Response, error) {
			return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info(e.node + " for " + req.From.String())}}, nil
		}})
	return err
}

// TestServerCommands: two extensions share the server domain's commands:
// one feature, one command list, each command runs; the list and the
// commands follow Allowed.
func TestServerCommands(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(disco.New(), echoExt{"one"}, echoExt{"two"}))
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	alice := srv.Login(t, "alice", "pw")
	bob := srv.Login(t, "bob", "pw")

	info := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>").String()
	if strings.Count(info, adhoc.NS) != 1 {
		t.Fatalf("disco#info: %s", info)
	}
	items := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items' node='"+adhoc.NS+"'/>").String()
	if !strings.Contains(items, "Echo one") || !strings.Contains(items, "Echo two") {
		t.Fatalf("command list: %s", items)
	}
	if items := bob.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items' node='"+adhoc.NS+"'/>").String(); strings.Contains(items, "Echo") {
		t.Fatalf("bob's command list: %s", items)
	}
	res := alice.IQ("set", "localhost", "<command xmlns='"+adhoc.NS+"' node='two' action='execute'/>")
	if cmd := res.Child("command", adhoc.NS); cmd == nil || cmd.Attr("status") != "completed" || cmd.ChildText("note", adhoc.NS) != "two for "+alice.JID.String() {
		t.Fatalf("run two: %s", res)
	}
	res = bob.IQ("set", "localhost", "<command xmlns='"+adhoc.NS+"' node='one' action='execute'/>")
	if res.Attr("type") != "error" || res.Child("error", "").Child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("bob runs one: %s", res)
	}
	node := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#info' node='one'/>").String()
	if !strings.Contains(node, "command-node") {
		t.Fatalf("disco#info at one: %s", node)
	}
	// A node offered twice stops the server from being built.
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	s, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{echoExt{"x"}, echoExt{"x"}}})
	if err == nil {
		s.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "command x is already registered") {
		t.Fatalf("a command node registered twice: %v", err)
	}
}
