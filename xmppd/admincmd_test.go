package xmppd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

// adminExt registers operator commands through the Registrar.
type adminExt struct{ names []string }

func (*adminExt) Name() string { return "adminext" }

func (e *adminExt) Register(r *xmppd.Registrar) error {
	for _, n := range e.names {
		if err := r.AdminCommand(n, func(_ context.Context, args map[string]string) (any, error) {
			return "hello " + args["who"], nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// An extension's admin command is dispatched by Server.AdminCommand; it
// cannot take a core command's name or another extension's.
func TestExtensionAdminCommands(t *testing.T) {
	newServer := func(exts ...xmppd.Extension) (*xmppd.Server, error) {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		return xmppd.New(xmppd.Options{Config: cfg, Extensions: exts})
	}
	srv, err := newServer(&adminExt{names: []string{"thing.greet"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := srv.AdminCommand(context.Background(), "thing.greet", map[string]string{"who": "ops"})
	if err != nil || res != "hello ops" {
		t.Fatalf("extension command: %v, %v", res, err)
	}
	if _, err := srv.AdminCommand(context.Background(), "thing.other", nil); err == nil || !strings.Contains(err.Error(), "unknown admin command") {
		t.Fatalf("unknown command: %v", err)
	}
	if _, err := newServer(&adminExt{names: []string{"user.add"}}); err == nil || !strings.Contains(err.Error(), "core command") {
		t.Fatalf("core name taken: %v", err)
	}
	if _, err := newServer(&adminExt{names: []string{"x.y", "x.y"}}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate: %v", err)
	}
}
