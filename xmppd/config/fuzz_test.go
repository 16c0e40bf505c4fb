package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: any bytes in the config file give a valid configuration or
// one *Error whose message is a single line naming the file; never a
// panic. A configuration Load accepts passes Validate again, decodes an
// extension's section without panicking and loads the same way twice.
func FuzzLoad(f *testing.F) {
	if ex, err := os.ReadFile("../../config.example.toml"); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{
		"",
		`domain = "example.org"`,
		"domain = \"a.example\"\n[c2s]\nlisten = \"127.0.0.1:5222\"\nresume_timeout = \"30s\"\n[limits]\nmax_stanza_size = \"64KB\"\noffline_messages = 10\n",
		"[limits]\nmax_stanza_size = -1\n",
		"[limits]\nmax_stanza_size = \"12 parsecs\"\n",
		"[c2s\nlisten = 1",
		"[mam]\nretention = \"8760h\"\nmax_messages_per_user = 5\n[muc]\ndomain = \"conference.localhost\"\n",
		"domain = 5\n",
		"log = { level = \"loud\" }\n",
		"[[limits]]\n",
		"a.b.c = 1\na = 2\n",
		"\"\\u0000\" = 1\n",
		"[tls]\ncert = \"missing.pem\"\nkey = \"missing.key\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Contains(data, []byte("/dev/")) || bytes.Contains(data, []byte("/proc/")) {
			// A certificate path naming a device would read forever;
			// that is the operator's choice, not a parser bug.
			return
		}
		path := filepath.Join(t.TempDir(), "xmppd.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load(%q): error of type %T: %v", data, err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.Contains(msg, path) {
				t.Fatalf("Load(%q): error %q is not one line naming the file", data, msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load(%q) accepted a config that Validate rejects: %v", data, err)
		}
		var section struct {
			Retention Duration `toml:"retention"`
			Max       int      `toml:"max_messages_per_user"`
			Size      Size     `toml:"size"`
			Names     []string `toml:"names"`
		}
		_ = c.Section("mam", &section)
		_ = c.CheckUnknown()
		c2, err := Load(path)
		if err != nil || c2.Domain != c.Domain || c2.Limits != c.Limits || c2.C2S != c.C2S {
			t.Fatalf("Load(%q) twice: %v, %+v vs %+v", data, err, c2, c)
		}
	})
}
