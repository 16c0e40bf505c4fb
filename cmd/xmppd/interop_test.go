package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestSlixmppAgainstBinary: two slixmpp bots (a client nobody here wrote)
// log in to the built binary and chat, ping, query version, disco and
// vCards.
func TestSlixmppAgainstBinary(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		requireTool(t, "python3-slixmpp (import slixmpp failed)")
	}
	// slixmpp 1.8 knows only tls-unique channel binding, which TLS 1.3
	// lacks; with -PLUS offered it cannot use SCRAM (README, [auth]).
	in := newInstance(t, "channel_binding = false\n")
	in.start()
	in.mustCLI("secret-1\n", "user", "add", "alice@localhost", "--password-stdin")
	in.mustCLI("secret-1\n", "user", "add", "bob", "--password-stdin")

	host, port, _ := strings.Cut(in.c2s, ":")
	cmd := exec.Command(py, "testdata/slixmpp_core.py", host, port, "localhost", "secret-1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("slixmpp script: %v\n%s\nserver log:\n%s", err, out, in.logs)
	}
	var res struct {
		AliceLogin *string  `json:"alice_login"`
		BobLogin   *string  `json:"bob_login"`
		AliceJID   string   `json:"alice_jid"`
		Mechanism  string   `json:"mechanism"`
		Roster     string   `json:"roster"`
		EchoFrom   string   `json:"echo_from"`
		EchoBody   *string  `json:"echo_body"`
		Ping       string   `json:"ping"`
		Version    string   `json:"version"`
		Disco      any      `json:"disco"`
		VCard      any      `json:"vcard"`
		Features   []string `json:"-"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("slixmpp output %q: %v", out, err)
	}
	t.Logf("slixmpp saw: %s", out)
	if res.AliceLogin != nil || res.BobLogin != nil {
		t.Fatalf("login failed: alice=%v bob=%v\n%s", deref(res.AliceLogin), deref(res.BobLogin), in.logs)
	}
	if res.AliceJID != "alice@localhost/bot" {
		t.Errorf("alice bound %q, want alice@localhost/bot", res.AliceJID)
	}
	if !strings.HasPrefix(res.Mechanism, "SCRAM-SHA-") {
		t.Errorf("mechanism %q, want SCRAM", res.Mechanism)
	}
	if res.EchoBody == nil || *res.EchoBody != "echo: hello from slixmpp" || res.EchoFrom != "bob@localhost/bot" {
		t.Errorf("chat round trip: from %q body %v", res.EchoFrom, deref(res.EchoBody))
	}
	checkFeature := func(step string, v any, want string) {
		t.Helper()
		l, ok := v.([]any)
		if !ok || !slices.ContainsFunc(l, func(x any) bool { return x == want }) {
			t.Errorf("%s: %v lacks %s", step, v, want)
		}
	}
	if res.Ping != "ok" {
		t.Errorf("ping: %s", res.Ping)
	}
	if res.Version != "xmppd" {
		t.Errorf("version: %s", res.Version)
	}
	checkFeature("disco", res.Disco, "urn:xmpp:ping")
	if res.Roster != "ok" {
		t.Errorf("roster: %s", res.Roster)
	}
	vc, _ := res.VCard.(map[string]any)
	if vc["given"] != "Alice" || vc["family"] != "Example" || vc["tz"] != "+01:00" || vc["tel"] != "+4930123456" {
		t.Errorf("vcard: %v", res.VCard)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestGoSendxmppAgainstBinary: go-sendxmpp (another client nobody here
// wrote, on a different XMPP library) sends a message that a mellium
// client receives, over STARTTLS and over direct TLS.
func TestGoSendxmppAgainstBinary(t *testing.T) {
	bin := requireTool(t, "go-sendxmpp")
	in := newInstance(t, "")
	in.start()
	in.mustCLI("", "user", "add", "alice", "--password", "pw-alice")
	in.mustCLI("", "user", "add", "bob", "--password", "pw-bob")

	bob, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "bob", "pw-bob", xmppdtest.DialOptions{Resource: "desk"})
	if err != nil {
		t.Fatalf("bob login: %v", err)
	}
	bob.Send("<presence/>")
	time.Sleep(100 * time.Millisecond)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"starttls", []string{"-j", in.c2s}},
		{"direct-tls", []string{"-t", "-j", in.tls}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "hello via go-sendxmpp " + tc.name
			args := append([]string{"-n", "-u", "alice@localhost", "-p", "pw-alice"}, tc.args...)
			args = append(args, "bob@localhost")
			cmd := exec.Command(bin, args...)
			cmd.Stdin = strings.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s\nserver:\n%s", err, out, in.logs)
			}
			got := bob.Expect("go-sendxmpp's message", func(el *wireElement) bool {
				return el.Name == "message" && el.ChildText("body", "") == body
			})
			if from := got.Attr("from"); !strings.HasPrefix(from, "alice@localhost/") {
				t.Fatalf("from = %q", from)
			}
		})
	}
}
