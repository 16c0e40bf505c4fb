package xmppd_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

type sharedKey struct{}

// nodeExt registers disco nodes and counts itself in a shared value.
type nodeExt struct {
	nodes []string
	count *int // the shared counter it saw
}

func (*nodeExt) Name() string { return "nodeext" }

func (e *nodeExt) Register(r *xmppd.Registrar) error {
	e.count = r.Shared(sharedKey{}, func() any { return new(int) }).(*int)
	*e.count++
	for _, n := range e.nodes {
		if err := r.ServerNode(n, xmppd.DiscoNode{}); err != nil {
			return err
		}
	}
	return nil
}

// Server-domain disco nodes are found by name and taken once; Shared
// keeps one value per server for every extension.
func TestServerNodeAndShared(t *testing.T) {
	newServer := func(exts ...xmppd.Extension) (*xmppd.Server, error) {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		return xmppd.New(xmppd.Options{Config: cfg, Extensions: exts})
	}
	ea, eb := &nodeExt{nodes: []string{"a"}}, &nodeExt{nodes: []string{"b"}}
	srv, err := newServer(ea, eb)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, ok := srv.ServerNode("a"); !ok {
		t.Error("node a not found")
	}
	if _, ok := srv.ServerNode("c"); ok {
		t.Error("node c found")
	}
	if _, err := newServer(&nodeExt{nodes: []string{"a"}}, &nodeExt{nodes: []string{"a"}}); err == nil || !strings.Contains(err.Error(), "disco node a is already served") {
		t.Fatalf("duplicate node: %v", err)
	}
	if _, err := newServer(&nodeExt{nodes: []string{""}}); err == nil {
		t.Fatal("a node without a name")
	}
	// Two extensions saw one counter; another server has its own.
	if ea.count != eb.count || *ea.count != 2 {
		t.Errorf("shared counter: %p %p, %d", ea.count, eb.count, *ea.count)
	}
	ec := &nodeExt{}
	other, err := newServer(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ec.count == ea.count || *ec.count != 1 {
		t.Errorf("the other server's counter: %d", *ec.count)
	}
}
