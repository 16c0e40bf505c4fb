package main

import (
	"slices"
	"testing"
)

// TestSlixmppMAMAgainstBinary: slixmpp's XEP-0313 plugin reads the built
// binary's archives: the whole archive, RSM pages forwards and backwards,
// a 'with' filter and the metadata, and the stanza-id a message arrives
// with is its archive id.
func TestSlixmppMAMAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob")
	type bodies struct {
		Bodies []string `json:"bodies"`
	}
	var res struct {
		Features struct {
			Features []string `json:"features"`
		} `json:"features"`
		Converse struct {
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
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"metadata"`
		Bob bodies `json:"bob"`
	}
	// runSlixmpp fails the test for any step with an error.
	runSlixmpp(t, in, "slixmpp_mam.py", &res)
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
