package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/shortcuts"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestShortcutCLI: domain-wide and per-user shortcuts are added, listed
// and deleted with the server stopped (store opened directly) and running
// (admin socket); a running client sees what the operator did, and errors
// name the shortcut or the JID.
func TestShortcutCLI(t *testing.T) {
	in := newInstance(t, "[shortcuts]\nmax_domain = 3\n")
	in.mustCLI("", "user", "add", "alice", "--password", "pw-a")

	// Stopped.
	if out := in.mustCLI("", "shortcut", "add", "/Support", "https://help.example.org"); out != "added /Support (domain-wide)\n" {
		t.Fatalf("add: %q", out)
	}
	if out := in.mustCLI("", "shortcut", "add", "support", "https://help.example.org/v2"); out != "changed /support (domain-wide)\n" {
		t.Fatalf("change: %q", out)
	}
	if out := in.mustCLI("", "shortcut", "add", "home", "https://alice.example", "--user", "alice"); out != "added /home (for alice@localhost)\n" {
		t.Fatalf("add for alice: %q", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"shortcut", "add", "two words", "x"}, `"two words"`},
		{[]string{"shortcut", "add", "empty", " "}, "/empty: the text is empty"},
		{[]string{"shortcut", "add", "x", "y", "--user", "carol@localhost"}, "carol@localhost: no such account"},
		{[]string{"shortcut", "add", "x", "y", "--user", "bob@elsewhere"}, "bob@elsewhere"},
		{[]string{"shortcut", "del", "nope"}, "shortcut /nope: localhost has none"},
		{[]string{"shortcut", "del", "support", "--user", "alice"}, "shortcut /support: alice@localhost has none"},
	} {
		if out, err := in.cli("", c.args...); err == nil || !strings.Contains(out, c.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%q: err=%v out=%q, want one line naming %q", c.args, err, out, c.want)
		}
	}
	if out := in.mustCLI("", "shortcut", "list"); out != "/support  https://help.example.org/v2\n" {
		t.Fatalf("list: %q", out)
	}

	// Running: the operator's changes reach a client through ad-hoc commands.
	in.start()
	in.mustCLI("", "shortcut", "add", "hotline", "+1 800 555 0100")
	out := in.mustCLI("", "shortcut", "list", "--json")
	var l []shortcuts.Shortcut
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l) != 2 || l[0].Name != "hotline" || l[0].Owner != "localhost" || l[1].Text != "https://help.example.org/v2" {
		t.Fatalf("list --json: %v %q", err, out)
	}
	alice, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a", xmppdtest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := alice.IQ("set", "localhost", "<command xmlns='http://jabber.org/protocol/commands' node='shortcuts/list' action='execute'/>")
	var rows []string
	if x := res.Child("command", "http://jabber.org/protocol/commands").Child("x", "jabber:x:data"); x != nil {
		for _, it := range x.ChildrenNamed("item", "jabber:x:data") {
			rows = append(rows, it.Children[0].ChildText("value", "jabber:x:data"))
		}
	}
	if strings.Join(rows, " ") != "/home /hotline /support" {
		t.Fatalf("alice's list: %q in %s", rows, res)
	}
	if out := in.mustCLI("", "shortcut", "list", "--user", "alice@localhost"); out != "/home  https://alice.example\n" {
		t.Fatalf("list --user: %q", out)
	}
	// The domain's limit (3) is kept live too.
	in.mustCLI("", "shortcut", "add", "third", "3")
	if out, err := in.cli("", "shortcut", "add", "fourth", "4"); err == nil || !strings.Contains(out, "/fourth") || !strings.Contains(out, "most allowed") {
		t.Fatalf("over the limit: err=%v out=%q", err, out)
	}
	if out := in.mustCLI("", "shortcut", "del", "/Hotline"); out != "deleted /hotline (domain-wide)\n" {
		t.Fatalf("del: %q", out)
	}
	res = alice.IQ("set", "localhost", "<command xmlns='http://jabber.org/protocol/commands' node='shortcuts/list' action='execute'/>")
	if s := res.String(); strings.Contains(s, "hotline") || !strings.Contains(s, "third") {
		t.Fatalf("alice's list after del: %s", res)
	}

	// Stopped again: what was done live is in the store.
	in.stop()
	if out := in.mustCLI("", "shortcut", "list"); out != "/support  https://help.example.org/v2\n/third    3\n" {
		t.Fatalf("list after restart: %q", out)
	}
	in.mustCLI("", "shortcut", "del", "home", "--user", "alice")
	if out := in.mustCLI("", "shortcut", "list", "--user", "alice"); out != "no shortcuts (for alice)\n" {
		t.Fatalf("offline del for alice: %q", out)
	}
}
