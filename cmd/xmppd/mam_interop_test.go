package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSlixmppMAMAgainstBinary: slixmpp's XEP-0313 plugin reads the built
// binary's archives: the whole archive, RSM pages forwards and backwards,
// a 'with' filter and the metadata, and the stanza-id a message arrives
// with is its archive id.
func TestSlixmppMAMAgainstBinary(t *testing.T) {
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
	cmd := exec.CommandContext(ctx, py, "testdata/slixmpp_mam.py", host, port, "localhost", "secret-1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("slixmpp script: %v\n%s\n%s\nserver log:\n%s", err, out, stderr.String(), in.logs)
	}
	type bodies struct {
		slixmppStep
		Bodies []string `json:"bodies"`
	}
	var res struct {
		AliceLogin *string `json:"alice_login"`
		BobLogin   *string `json:"bob_login"`
		Features   struct {
			slixmppStep
			Features []string `json:"features"`
		} `json:"features"`
		Converse struct {
			slixmppStep
			StanzaID   string `json:"stanza_id"`
			StanzaIDBy string `json:"stanza_id_by"`
		} `json:"converse"`
		All struct {
			bodies
			IDs []string `json:"ids"`
		} `json:"all"`
		Forward  bodies `json:"forward"`
		Backward bodies `json:"backward"`
		With     bodies `json:"with"`
		Metadata struct {
			slixmppStep
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"metadata"`
		Bob bodies `json:"bob"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("slixmpp output %q: %v\n%s", out, err, stderr.String())
	}
	t.Logf("slixmpp saw: %s", out)
	if res.AliceLogin != nil || res.BobLogin != nil {
		t.Fatalf("login failed: alice=%v bob=%v\n%s", deref(res.AliceLogin), deref(res.BobLogin), in.logs)
	}
	for name, s := range map[string]slixmppStep{
		"features": res.Features.slixmppStep, "converse": res.Converse.slixmppStep, "all": res.All.slixmppStep,
		"forward": res.Forward.slixmppStep, "backward": res.Backward.slixmppStep, "with": res.With.slixmppStep,
		"metadata": res.Metadata.slixmppStep, "bob": res.Bob.slixmppStep,
	} {
		if s.Error != "" {
			t.Errorf("%s step failed in slixmpp: %s", name, s.Error)
		}
	}
	if !slices.Contains(res.Features.Features, "urn:xmpp:mam:2") || !slices.Contains(res.Features.Features, "urn:xmpp:mam:2#extended") {
		t.Errorf("account features: %v", res.Features.Features)
	}
	want := []string{"m0", "m1", "m2", "m3", "m4", "answer"}
	if !slices.Equal(res.All.Bodies, want) || len(res.All.IDs) != len(want) {
		t.Fatalf("alice's archive: %v (ids %v), want %v", res.All.Bodies, res.All.IDs, want)
	}
	if res.Converse.StanzaIDBy != "alice@localhost" || res.Converse.StanzaID != res.All.IDs[5] {
		t.Errorf("alice received stanza-id %q by %q; its archive id is %q", res.Converse.StanzaID, res.Converse.StanzaIDBy, res.All.IDs[5])
	}
	if !slices.Equal(res.Forward.Bodies, want) {
		t.Errorf("paging forwards: %v", res.Forward.Bodies)
	}
	// slixmpp yields a backward iteration newest first.
	back := slices.Clone(want)
	slices.Reverse(back)
	if !slices.Equal(res.Backward.Bodies, back) {
		t.Errorf("paging backwards: %v, want %v", res.Backward.Bodies, back)
	}
	if !slices.Equal(res.With.Bodies, []string{"answer"}) {
		t.Errorf("with bob@localhost/bot: %v", res.With.Bodies)
	}
	if res.Metadata.Start != res.All.IDs[0] || res.Metadata.End != res.All.IDs[5] {
		t.Errorf("metadata %s..%s, archive %s..%s", res.Metadata.Start, res.Metadata.End, res.All.IDs[0], res.All.IDs[5])
	}
	if !slices.Equal(res.Bob.Bodies, want) {
		t.Errorf("bob's archive: %v", res.Bob.Bodies)
	}
}
