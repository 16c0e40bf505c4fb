package sms_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/sms"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

// newFromTOML builds (never starts) a server with the gateway from a
// config file holding table.
func newFromTOML(t *testing.T, table string) (*sms.Extension, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	ext := sms.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{ext}, Logger: log})
	if err == nil {
		srv.Close()
	}
	return ext, err
}

func TestConfig(t *testing.T) {
	ext, err := newFromTOML(t, `[sms]
domain          = "text.localhost"
provider_url    = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
provider_format = "twilio"
inbound_secret  = "s"
token           = ""
account_sid     = "AC1"
auth_token      = "t"
sender          = "+15550001111"
default_route   = "support@conference.localhost"
timeout         = "5s"
max_attempts    = 2
retry_backoff   = "500ms"
queue_size      = 10
workers         = 1
`)
	if err != nil {
		t.Fatalf("a full [sms] table was refused: %v", err)
	}
	if ext.Domain() != "text.localhost" || ext.Config.MaxAttempts != 2 {
		t.Fatalf("decoded %+v", ext.Config)
	}
	// No provider: off, whatever else is set.
	if ext, err := newFromTOML(t, "[sms]\ninbound_secret = \"s\"\n"); err != nil || ext.Domain() != "" {
		t.Fatalf("SMS without provider_url: %v, domain %q", err, ext.Domain())
	}
}

func TestBadConfig(t *testing.T) {
	const base = "[sms]\nprovider_url = \"https://sms.example/send\"\n"
	for name, c := range map[string]struct{ table, want string }{
		"unknown key":    {base + "provider_ulr = \"x\"\n", "provider_ulr"},
		"wrong type":     {base + "max_attempts = \"three\"\n", "max_attempts"},
		"bad duration":   {base + "retry_backoff = \"soon\"\n", "retry_backoff"},
		"format":         {base + "provider_format = \"xml\"\n", "sms.provider_format"},
		"twilio no auth": {base + "provider_format = \"twilio\"\nsender = \"+1555\"\n", "sms.account_sid"},
		"twilio no from": {base + "provider_format = \"twilio\"\naccount_sid = \"A\"\nauth_token = \"B\"\n", "sms.sender"},
		"url":            {"[sms]\nprovider_url = \"ftp://sms.example\"\n", "sms.provider_url"},
		"route":          {base + "default_route = \"conference.localhost\"\n", "sms.default_route"},
		"domain":         {base + "domain = \"a@b\"\n", "sms.domain"},
		"attempts":       {base + "max_attempts = 0\n", "sms.max_attempts"},
		"queue":          {base + "queue_size = 0\n", "sms.queue_size"},
		"workers":        {base + "workers = -1\n", "sms.workers"},
		"zero timeout":   {base + "timeout = \"0s\"\n", "sms.timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newFromTOML(t, c.table)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %s, got %v", c.want, err)
			}
		})
	}
}
