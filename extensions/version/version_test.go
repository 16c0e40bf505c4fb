package version_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/version"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const query = "<query xmlns='jabber:iq:version'/>"

// loadConfig writes toml to a file and loads it like `xmppd serve` would.
func loadConfig(t *testing.T, toml string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "xmppd.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

// withFile runs the test server on the [version] table of a config file,
// keeping the test harness's ports and data directory.
func withFile(t *testing.T, toml string) xmppdtest.Option {
	loaded := loadConfig(t, toml)
	return xmppdtest.WithConfig(func(c *config.Config) {
		loaded.DataDir, loaded.C2S, loaded.HTTP, loaded.Auth = c.DataDir, c.C2S, c.HTTP, c.Auth
		*c = *loaded
	})
}

func TestAliceAsksServerVersion(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(version.New()))
	srv.AddUser(t, "alice", "alice-pw")
	alice := srv.Login(t, "alice", "alice-pw")

	res := alice.IQ("get", "localhost", query)
	if res.Attr("type") != "result" || res.Attr("from") != "localhost" {
		t.Fatalf("want result from localhost, got %s", res)
	}
	q := res.Child("query", version.NS)
	if q == nil {
		t.Fatalf("no query in %s", res)
	}
	if got := q.ChildText("name", version.NS); got != "xmppd" {
		t.Errorf("name = %q, want xmppd", got)
	}
	if got := q.ChildText("version", version.NS); got != xmppd.Version {
		t.Errorf("version = %q, want %q", got, xmppd.Version)
	}
	if os := q.Child("os", version.NS); os != nil {
		t.Errorf("os is shown by default: %s", res)
	}
	if !slices.Contains(srv.ServerFeatures(), version.NS) {
		t.Errorf("feature %s not announced: %v", version.NS, srv.ServerFeatures())
	}
}

func TestShowOS(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(version.New()), withFile(t, "[version]\nshow_os = true\n"))
	srv.AddUser(t, "alice", "alice-pw")
	alice := srv.Login(t, "alice", "alice-pw")

	q := alice.IQ("get", "localhost", query).Child("query", version.NS)
	if got := q.ChildText("os", version.NS); !strings.HasPrefix(got, runtime.GOOS) {
		t.Fatalf("os = %q, want it to start with %q", got, runtime.GOOS)
	}
}

func TestVersionOfAccountIsNotAnswered(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(version.New()))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	// A bare JID has no software; only its clients do.
	res := alice.IQ("get", "bob@localhost", query)
	if res.Attr("type") != "error" {
		t.Fatalf("want error, got %s", res)
	}
}

func TestBadConfig(t *testing.T) {
	for name, toml := range map[string]string{
		"wrong type":  "[version]\nshow_os = \"yes\"\n",
		"unknown key": "[version]\nshow_oss = true\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, toml)
			cfg.DataDir = t.TempDir()
			srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{version.New()}})
			if err == nil {
				srv.Close()
				t.Fatal("server accepted a bad [version] table")
			}
			if !strings.Contains(err.Error(), "show_os") {
				t.Fatalf("error does not name the key: %v", err)
			}
			t.Log(err)
		})
	}
}
