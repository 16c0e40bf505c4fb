package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// slixmppCarbon is a forwarded message as slixmpp's xep_0280 plugin hands
// it over (it checks the carbon came from the user's own bare JID).
type slixmppCarbon struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Body      string `json:"body"`
	Type      string `json:"type"`
	OuterFrom string `json:"outer_from"`
}

// TestSlixmppCarbonsAgainstBinary: slixmpp's XEP-0280 plugin on two of
// alice's devices sees the built binary's 'sent' and 'received' carbons,
// and none for a <private/> message.
func TestSlixmppCarbonsAgainstBinary(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		requireTool(t, "python3-slixmpp (import slixmpp failed)")
	}
	in := newInstance(t, "channel_binding = false\n")
	in.start()
	in.mustCLI("secret-1\n", "user", "add", "alice@localhost", "--password-stdin")
	in.mustCLI("secret-1\n", "user", "add", "bob", "--password-stdin")

	host, port, _ := strings.Cut(in.c2s, ":")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/slixmpp_carbons.py", host, port, "localhost", "secret-1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("slixmpp script: %v\n%s\n%s\nserver log:\n%s", err, out, stderr.String(), in.logs)
	}
	var res struct {
		LaptopLogin *string `json:"laptop_login"`
		PhoneLogin  *string `json:"phone_login"`
		BobLogin    *string `json:"bob_login"`
		Feature     struct {
			slixmppStep
			HasFeature bool `json:"has_feature"`
		} `json:"feature"`
		Enable slixmppStep `json:"enable"`
		Sent   struct {
			slixmppStep
			BobGot string        `json:"bob_got"`
			Carbon slixmppCarbon `json:"carbon"`
		} `json:"sent"`
		Received struct {
			slixmppStep
			LaptopGot string        `json:"laptop_got"`
			Carbon    slixmppCarbon `json:"carbon"`
		} `json:"received"`
		Private struct {
			slixmppStep
			BobGot     []string      `json:"bob_got"`
			NextCarbon slixmppCarbon `json:"next_carbon"`
		} `json:"private"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("slixmpp output %q: %v\n%s", out, err, stderr.String())
	}
	t.Logf("slixmpp saw: %s", out)
	if res.LaptopLogin != nil || res.PhoneLogin != nil || res.BobLogin != nil {
		t.Fatalf("login failed: laptop=%v phone=%v bob=%v\n%s", deref(res.LaptopLogin), deref(res.PhoneLogin), deref(res.BobLogin), in.logs)
	}
	for name, s := range map[string]slixmppStep{
		"feature": res.Feature.slixmppStep, "enable": res.Enable, "sent": res.Sent.slixmppStep,
		"received": res.Received.slixmppStep, "private": res.Private.slixmppStep,
	} {
		if s.Error != "" {
			t.Errorf("%s step failed in slixmpp: %s", name, s.Error)
		}
	}
	if !res.Feature.HasFeature {
		t.Errorf("disco#info of localhost lacks urn:xmpp:carbons:2")
	}
	if s := res.Sent; s.BobGot != "from the laptop" ||
		s.Carbon != (slixmppCarbon{From: "alice@localhost/laptop", To: "bob@localhost", Body: "from the laptop", Type: "chat", OuterFrom: "alice@localhost"}) {
		t.Errorf("sent carbon: bob got %q, phone got %+v", s.BobGot, s.Carbon)
	}
	if r := res.Received; r.LaptopGot != "to the laptop" ||
		r.Carbon != (slixmppCarbon{From: "bob@localhost/bot", To: "alice@localhost/laptop", Body: "to the laptop", Type: "chat", OuterFrom: "alice@localhost"}) {
		t.Errorf("received carbon: laptop got %q, phone got %+v", r.LaptopGot, r.Carbon)
	}
	if p := res.Private; len(p.BobGot) != 2 || p.BobGot[0] != "off the record" || p.NextCarbon.Body != "on the record" {
		t.Errorf("private: bob got %q, the phone's next carbon is %+v (want the one after the private message)", p.BobGot, p.NextCarbon)
	}
}
