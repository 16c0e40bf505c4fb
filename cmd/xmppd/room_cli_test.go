package main

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestRoomCLI: rooms are created, listed, described and destroyed with
// the server stopped (store opened directly) and running (admin socket);
// a room made offline is there for clients once the server starts.
func TestRoomCLI(t *testing.T) {
	in := newInstance(t, "")
	in.mustCLI("", "user", "add", "alice", "--password", "pw-a")
	in.mustCLI("", "user", "add", "bob", "--password", "pw-b")

	// Stopped.
	out := in.mustCLI("", "room", "create", "staff@conference.localhost", "--kind", "space", "--name", "Staff room",
		"--description", "Staff only", "--private", "--member", "alice@localhost", "--member", "carol@localhost")
	if !strings.Contains(out, "created staff@conference.localhost (space, private)") {
		t.Fatalf("room create: %q", out)
	}
	if out, err := in.cli("", "room", "create", "staff", "--kind", "party"); err == nil || !strings.Contains(out, "party") {
		t.Fatalf("bad kind: err=%v out=%q", err, out)
	}
	if out, err := in.cli("", "room", "create", "staff"); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate: err=%v out=%q", err, out)
	}
	in.mustCLI("", "room", "create", "lobby", "--kind", "conference", "--name", "Lobby")
	out = in.mustCLI("", "room", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		!strings.Contains(lines[0], "lobby@conference.localhost") || !strings.Contains(lines[0], "public") ||
		!strings.Contains(lines[1], "staff@conference.localhost") || !strings.Contains(lines[1], "private") {
		t.Fatalf("room list: %q", out)
	}
	out = in.mustCLI("", "room", "info", "staff")
	for _, want := range []string{"Staff room", "Staff only", "private", "persistent", "alice@localhost, carol@localhost"} {
		if !strings.Contains(out, want) {
			t.Fatalf("room info lacks %q: %q", want, out)
		}
	}

	// Running: alice (a member) joins the room made offline; bob may not.
	in.start()
	alice, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a", xmppdtest.DialOptions{Resource: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	alice.Send("<presence to='staff@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	alice.Expect("self-presence", func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == "staff@conference.localhost/alice" && el.Attr("type") == ""
	})
	bob, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "bob", "pw-b", xmppdtest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bob.Send("<presence to='staff@conference.localhost/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	if el := bob.Expect("refusal", xmppdtest.Is("presence", "error")); !strings.Contains(el.String(), "registration-required") {
		t.Fatalf("bob entered a private room: %s", el)
	}
	if out := in.mustCLI("", "room", "info", "staff@conference.localhost"); !strings.Contains(out, "occupants    alice") {
		t.Fatalf("live room info: %q", out)
	}
	in.mustCLI("", "room", "create", "live", "--kind", "enquiry")
	if out := in.mustCLI("", "room", "list"); !strings.Contains(out, "live@conference.localhost") || !strings.Contains(out, "enquiry") {
		t.Fatalf("live room list: %q", out)
	}
	if out := in.mustCLI("", "room", "destroy", "staff", "--reason", "reorganised"); !strings.Contains(out, "destroyed staff@conference.localhost") {
		t.Fatalf("room destroy: %q", out)
	}
	alice.Expect("destroy notice", func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("type") == "unavailable" && strings.Contains(el.String(), "reorganised")
	})
	if out, err := in.cli("", "room", "info", "staff"); err == nil || !strings.Contains(out, "no room") {
		t.Fatalf("info on destroyed room: err=%v out=%q", err, out)
	}

	// Stopped again: what was done live is in the store.
	in.stop()
	out = in.mustCLI("", "room", "list")
	if strings.Contains(out, "staff@") || !strings.Contains(out, "live@") || !strings.Contains(out, "lobby@") {
		t.Fatalf("room list after restart: %q", out)
	}
	in.mustCLI("", "room", "destroy", "lobby")
	if out := in.mustCLI("", "room", "list"); strings.Contains(out, "lobby@") {
		t.Fatalf("offline destroy: %q", out)
	}
}
