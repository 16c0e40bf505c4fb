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
	in := newSlixmppInstance(t, "alice", "bob")
	var res struct {
		AliceJID  string   `json:"alice_jid"`
		Mechanism string   `json:"mechanism"`
		Roster    string   `json:"roster"`
		EchoFrom  string   `json:"echo_from"`
		EchoBody  *string  `json:"echo_body"`
		Ping      string   `json:"ping"`
		Version   string   `json:"version"`
		Disco     any      `json:"disco"`
		VCard     any      `json:"vcard"`
		Features  []string `json:"-"`
	}
	runSlixmpp(t, in, "slixmpp_core.py", &res)
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

type slixmppBounce struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	Condition string `json:"condition"`
	Blocked   bool   `json:"blocked"`
}

type slixmppEvent struct {
	From    string  `json:"from"`
	Node    string  `json:"node"`
	ID      string  `json:"id"`
	Delayed bool    `json:"delayed"`
	Payload *string `json:"payload"`
}

// TestSlixmppFeaturesAgainstBinary: two slixmpp bots go through every
// user-facing feature of the built binary with slixmpp's own plugins:
// roster subscription and presence, offline messages, blocking, private
// storage, PEP avatars with +notify from caps, and vCard avatar hashes.
func TestSlixmppFeaturesAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob")
	var res struct {
		Roster struct {
			AliceHasBob          string `json:"alice_has_bob"`
			BobHasAlice          string `json:"bob_has_alice"`
			AliceGotBobReady     bool   `json:"alice_got_bob_ready"`
			BobGotAliceReady     bool   `json:"bob_got_alice_ready"`
			BobGotAliceBroadcast bool   `json:"bob_got_alice_broadcast"`
			AliceGotBobBroadcast bool   `json:"alice_got_bob_broadcast"`
		} `json:"roster"`
		Offline struct {
			AliceSawBobLeave    bool    `json:"alice_saw_bob_leave"`
			Body                string  `json:"body"`
			Stamp               *string `json:"stamp"`
			From                string  `json:"from"`
			Type                string  `json:"type"`
			Count               int     `json:"count"`
			BobRosterAfterLogin string  `json:"bob_roster_after_login"`
			BobGotAlicePresence bool    `json:"bob_got_alice_presence"`
			AliceSawBobBack     bool    `json:"alice_saw_bob_back"`
		} `json:"offline"`
		Blocking struct {
			Blocklist           []string       `json:"blocklist"`
			AliceSawUnavailable bool           `json:"alice_saw_unavailable"`
			Bounce              *slixmppBounce `json:"bounce"`
			Outbound            *slixmppBounce `json:"outbound"`
			BlocklistAfter      []string       `json:"blocklist_after"`
			AliceSawAvailable   bool           `json:"alice_saw_available"`
			AfterUnblock        *string        `json:"after_unblock"`
			BobGotBlocked       bool           `json:"bob_got_blocked"`
			AliceGotBlocked     bool           `json:"alice_got_blocked"`
		} `json:"blocking"`
		Private struct {
			Read0 map[string]string `json:"read_0"`
			Read1 map[string]string `json:"read_1"`
		} `json:"private"`
		PEP struct {
			First         *slixmppEvent `json:"first"`
			Second        *slixmppEvent `json:"second"`
			WantID        string        `json:"want_id"`
			OwnItems      []string      `json:"own_items"`
			OwnDataOK     bool          `json:"own_data_ok"`
			BobDataOK     bool          `json:"bob_data_ok"`
			BobDataEvents int           `json:"bob_data_events"`
		} `json:"pep"`
		Avatar struct {
			ClientHashes bool    `json:"alice_has_xep_0153"`
			PhotoBefore  *string `json:"photo_before"`
			Want         string  `json:"want"`
			Photo        *string `json:"photo"`
			VCardPhotoOK bool    `json:"vcard_photo_ok"`
		} `json:"avatar"`
	}
	// runSlixmpp fails the test for any step with an error.
	runSlixmpp(t, in, "slixmpp_features.py", &res)

	// 1. RFC 6121 subscription handshake, as slixmpp's roster sees it.
	r := res.Roster
	if r.AliceHasBob != "both" || r.BobHasAlice != "both" {
		t.Errorf("roster: alice has bob %q, bob has alice %q; want both", r.AliceHasBob, r.BobHasAlice)
	}
	if !r.AliceGotBobReady || !r.BobGotAliceReady {
		t.Errorf("roster: available presence after approval: alice got bob's %v, bob got alice's %v", r.AliceGotBobReady, r.BobGotAliceReady)
	}
	if !r.BobGotAliceBroadcast || !r.AliceGotBobBroadcast {
		t.Errorf("roster: broadcast presence with new status: bob got alice's %v, alice got bob's %v", r.BobGotAliceBroadcast, r.AliceGotBobBroadcast)
	}

	// 2. XEP-0160 offline storage, XEP-0203 delay.
	o := res.Offline
	if !o.AliceSawBobLeave {
		t.Errorf("offline: alice did not get bob's unavailable presence")
	}
	if o.Count != 1 || o.Body != "while you were away" || o.Type != "chat" || !strings.HasPrefix(o.From, "alice@localhost/") {
		t.Errorf("offline: bob got %d copies, body %q type %q from %q", o.Count, o.Body, o.Type, o.From)
	}
	if o.Stamp == nil {
		t.Errorf("offline: message without a <delay/> stamp")
	} else if ts, err := time.Parse(time.RFC3339Nano, *o.Stamp); err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Second {
		t.Errorf("offline: delay stamp %q (%v) is not just now", *o.Stamp, err)
	}
	if o.BobRosterAfterLogin != "both" || !o.BobGotAlicePresence || !o.AliceSawBobBack {
		t.Errorf("offline: after bob's return: roster %q, got alice's presence %v, alice saw bob %v", o.BobRosterAfterLogin, o.BobGotAlicePresence, o.AliceSawBobBack)
	}

	// 3. XEP-0191 blocking, both directions.
	b := res.Blocking
	if !slices.Equal(b.Blocklist, []string{"alice@localhost"}) {
		t.Errorf("blocking: blocklist %v, want [alice@localhost]", b.Blocklist)
	}
	if !b.AliceSawUnavailable {
		t.Errorf("blocking: alice did not get bob's unavailable presence on block")
	}
	if bo := b.Bounce; bo == nil || bo.Type != "error" || bo.Condition != "service-unavailable" || bo.From != "bob@localhost" {
		t.Errorf("blocking: alice's message to bob bounced as %+v, want type error service-unavailable from bob@localhost", bo)
	}
	if bo := b.Outbound; bo == nil || bo.Type != "error" || bo.Condition != "not-acceptable" || !bo.Blocked {
		t.Errorf("blocking: bob's message to alice bounced as %+v, want not-acceptable with <blocked/>", bo)
	}
	if b.BobGotBlocked || b.AliceGotBlocked {
		t.Errorf("blocking: delivered anyway: to bob %v, to alice %v", b.BobGotBlocked, b.AliceGotBlocked)
	}
	if len(b.BlocklistAfter) != 0 || !b.AliceSawAvailable || deref(b.AfterUnblock) != "and now?" {
		t.Errorf("blocking: after unblock: list %v, alice saw bob %v, bob got %q", b.BlocklistAfter, b.AliceSawAvailable, deref(b.AfterUnblock))
	}

	// 4. XEP-0049 private storage.
	p := res.Private
	if p.Read0["color"] != "blue" || p.Read0["body"] != "remember the milk" || p.Read1["color"] != "red" || p.Read1["body"] != "milk bought" {
		t.Errorf("private: read back %v then %v", p.Read0, p.Read1)
	}

	// 5. XEP-0163 PEP with XEP-0084 avatars.
	pe := res.PEP
	if pe.First == nil || pe.First.Node != "urn:xmpp:avatar:metadata" || deref(pe.First.Payload) != "{urn:xmpp:avatar:metadata}metadata" {
		t.Errorf("pep: bob's first notification %+v", pe.First)
	}
	if s := pe.Second; s == nil || s.ID != pe.WantID || s.Node != "urn:xmpp:avatar:metadata" || s.Delayed || deref(s.Payload) != "{urn:xmpp:avatar:metadata}metadata" {
		t.Errorf("pep: bob's live notification %+v, want item %s without delay", s, pe.WantID)
	}
	if !slices.Contains(pe.OwnItems, pe.WantID) {
		t.Errorf("pep: alice's own metadata items %v lack %s", pe.OwnItems, pe.WantID)
	}
	if !pe.OwnDataOK || !pe.BobDataOK {
		t.Errorf("pep: avatar data read back by alice %v, by bob %v", pe.OwnDataOK, pe.BobDataOK)
	}
	if pe.BobDataEvents != 0 {
		t.Errorf("pep: bob got %d urn:xmpp:avatar:data notifications without +notify for it", pe.BobDataEvents)
	}

	// 6. XEP-0153: the server adds the hash to alice's presence.
	a := res.Avatar
	if a.ClientHashes {
		t.Errorf("avatar: alice's slixmpp loaded xep_0153 and would add the hash itself")
	}
	if a.PhotoBefore != nil {
		t.Errorf("avatar: presence before any vCard carried photo %q", *a.PhotoBefore)
	}
	if len(a.Want) != 40 || deref(a.Photo) != a.Want {
		t.Errorf("avatar: bob saw photo %q in alice's presence, want sha1 %s", deref(a.Photo), a.Want)
	}
	if !a.VCardPhotoOK {
		t.Errorf("avatar: bob's copy of alice's vCard lacks the PHOTO")
	}
}

// TestSlixmppMUCAgainstBinary: slixmpp's XEP-0045 plugin creates and
// configures a room, joins, chats, is refused by a members-only room and
// kicks, against the built binary.
func TestSlixmppMUCAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob", "carol")
	var res struct {
		Create      json.RawMessage
		BobJoin     json.RawMessage `json:"bob_join"`
		Fanout      json.RawMessage
		MembersOnly json.RawMessage `json:"members_only"`
		Kick        json.RawMessage
	}
	runSlixmpp(t, in, "slixmpp_muc.py", &res)
	var create struct {
		Codes       []int
		Affiliation string
		FormHasKind bool `json:"form_has_kind"`
	}
	if err := json.Unmarshal(res.Create, &create); err != nil || !slices.Contains(create.Codes, 201) ||
		!slices.Contains(create.Codes, 110) || create.Affiliation != "owner" || !create.FormHasKind {
		t.Errorf("create: %s (%v)", res.Create, err)
	}
	var join struct {
		Codes     []int
		Role      string
		Occupants []string
	}
	if err := json.Unmarshal(res.BobJoin, &join); err != nil || join.Role != "participant" || !slices.Contains(join.Occupants, "alice") {
		t.Errorf("bob's join: %s (%v)", res.BobJoin, err)
	}
	var fan struct {
		From, Body string
		StanzaIDBy string `json:"stanza_id_by"`
	}
	if err := json.Unmarshal(res.Fanout, &fan); err != nil || fan.From != "interop@conference.localhost/alice" ||
		fan.Body != "hello room" || fan.StanzaIDBy != "interop@conference.localhost" {
		t.Errorf("fan-out: %s (%v)", res.Fanout, err)
	}
	if string(res.MembersOnly) != `"registration-required"` {
		t.Errorf("members-only refusal: %s", res.MembersOnly)
	}
	var kicked []int
	if err := json.Unmarshal(res.Kick, &kicked); err != nil || !slices.Contains(kicked, 307) {
		t.Errorf("kick: %s (%v)", res.Kick, err)
	}
}
