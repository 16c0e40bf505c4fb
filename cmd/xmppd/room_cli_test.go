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

// TestRoomCLIEnquiryAndCalls: `room create --kind enquiry --context k=v`
// stores the context (offline and live) and `room info` shows it; a live
// call in a conference room shows up in `room info` as the call log.
func TestRoomCLIEnquiryAndCalls(t *testing.T) {
	in := newInstance(t, "")
	in.mustCLI("", "user", "add", "alice", "--password", "pw-a")

	out := in.mustCLI("", "room", "create", "enq-1", "--kind", "enquiry", "--owner", "alice@localhost",
		"--context", "channel=weblink", "--context", "utm_source=news", "--context", "utm_campaign=spring,summer",
		"--context", "visitor_first_name=Jane", "--context", "visitor_last_name=Doe", "--context", "visitor_email=jane@example.com",
		"--context", "visitor_loyalty_id=L-77", "--context", "device_screen=390x844", "--context", "destination_name=Support")
	if !strings.Contains(out, "created enq-1@conference.localhost (enquiry, public)") {
		t.Fatalf("room create: %q", out)
	}
	out = in.mustCLI("", "room", "info", "enq-1")
	for k, want := range map[string]string{
		"channel": "weblink", "utm_campaign": "spring,summer", "utm_source": "news", "visitor_first_name": "Jane",
		"visitor_loyalty_id": "L-77", "device_screen": "390x844", "history": "1 messages", "destination_name": "Support",
	} {
		if got := infoValue(out, k); got != want {
			t.Fatalf("room info %s = %q, want %q:\n%s", k, got, want, out)
		}
	}
	if !strings.Contains(out, "enquiry context") || infoValue(out, "start_time") == "" {
		t.Fatalf("room info:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"room", "create", "x", "--kind", "enquiry", "--context", "channel=pigeon"}, "channel"},
		{[]string{"room", "create", "x", "--kind", "enquiry", "--context", "shoe_size=42"}, "shoe_size"},
		{[]string{"room", "create", "x", "--kind", "enquiry", "--context", "novalue"}, "key=value"},
		{[]string{"room", "create", "x", "--kind", "space", "--context", "channel=tag"}, "--kind enquiry"},
	} {
		if out, err := in.cli("", c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: err=%v out=%q, want an error naming %q", c.args, err, out, c.want)
		}
	}
	in.mustCLI("", "room", "create", "call", "--kind", "conference", "--owner", "alice@localhost")

	// Live: alice joins the enquiry room (the opening message is history),
	// then holds a call alone.
	in.start()
	alice, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a", xmppdtest.DialOptions{Resource: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	alice.Send("<presence to='enq-1@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	alice.Expect("opening message", func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("from") == "enq-1@conference.localhost" &&
			el.ChildText("body", "") == "New enquiry via weblink (utm_source=news, utm_campaign=spring,summer) from Jane Doe, jane@example.com, loyalty id: L-77 to Support"
	})
	in.mustCLI("", "room", "create", "enq-2", "--kind", "enquiry", "--context", "channel=social", "--context", "visitor_phone=+4930")
	if out := in.mustCLI("", "room", "info", "enq-2@conference.localhost"); infoValue(out, "visitor_phone") != "+4930" {
		t.Fatalf("live enquiry info: %q", out)
	}
	alice.Send("<presence to='call@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	alice.Expect("in the call", func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == "call@conference.localhost/alice" && el.Attr("type") == ""
	})
	if out := in.mustCLI("", "room", "info", "call"); infoValue(out, "call log") != "1 calls" || !strings.Contains(out, "in progress, host alice@localhost") ||
		!strings.Contains(out, "alice (alice@localhost)") || !strings.Contains(out, "still in the call") {
		t.Fatalf("call in progress:\n%s", out)
	}
	alice.Send("<presence to='call@conference.localhost/alice' type='unavailable'/>")
	alice.Expect("left the call", func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == "call@conference.localhost/alice" && el.Attr("type") == "unavailable"
	})
	in.stop()
	out = in.mustCLI("", "room", "info", "call")
	if !strings.Contains(out, "call 1") || strings.Contains(out, "in progress") || strings.Contains(out, "still in the call") ||
		!strings.Contains(out, "alice (alice@localhost)") {
		t.Fatalf("call log after the call:\n%s", out)
	}
}

// infoValue returns the value on the line of `room info` output that
// starts with key ("" if none).
func infoValue(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), key+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
