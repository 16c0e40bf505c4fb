package edits_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/edits"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const pw = "secret-pw"

type env struct {
	srv        *xmppdtest.Server
	clock      *xmppdtest.Clock
	retracted  *xmppdtest.Recorder[*xmppd.RetractedEvent]
	alice, bob *xmppdtest.Client
}

// start runs a server with the edits and MAM extensions, windows of one
// minute on a test clock, and alice and bob online.
func start(t *testing.T, opts ...xmppdtest.Option) *env {
	t.Helper()
	clk := xmppdtest.NewClock(time.Now())
	ed := edits.New()
	ed.Now = clk.Now
	ed.Config.CorrectionWindow = config.Duration{Duration: time.Minute}
	ed.Config.RetractionWindow = config.Duration{Duration: 2 * time.Minute}
	ret := xmppdtest.Record(xmppd.MessageRetracted)
	opts = append([]xmppdtest.Option{xmppdtest.WithExtensions(ed, mam.New(), ret)}, opts...)
	srv := xmppdtest.Start(t, opts...)
	for _, u := range []string{"alice", "bob", "carol"} {
		if !srv.Accounts().Exists(u) { // a restart on the same data
			srv.AddUser(t, u, pw)
		}
	}
	return &env{srv: srv, clock: clk, retracted: ret, alice: online(t, srv, "alice"), bob: online(t, srv, "bob")}
}

func online(t *testing.T, srv *xmppdtest.Server, user string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, pw, xmppdtest.DialOptions{Resource: "res"})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c.Available()
	return c
}

var seq atomic.Int64

// send sends a chat message with the given id and inner XML from c to to.
func send(c *xmppdtest.Client, to, id, inner string) {
	c.Sendf("<message to='%s' type='chat' id='%s'>%s</message>", to, id, inner)
}

func withID(id string) func(*wire.Element) bool {
	return func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == id }
}

// expectError waits for the message error for id and returns its
// condition and text.
func expectError(t *testing.T, c *xmppdtest.Client, id string) (string, string) {
	t.Helper()
	el := c.Expect("error for "+id, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "error" && el.Attr("id") == id
	})
	e := el.Child("error", "")
	if e == nil || len(e.Children) == 0 {
		t.Fatalf("error without condition: %s", el)
	}
	return e.Children[0].Name, e.ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
}

// archive returns the messages of owner's archive, oldest first.
func archive(t *testing.T, c *xmppdtest.Client) []*wire.Element {
	t.Helper()
	n := seq.Add(1)
	id, qid := fmt.Sprintf("q%d", n), fmt.Sprintf("qid%d", n)
	c.Sendf("<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'/></iq>", id, qid)
	var out []*wire.Element
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query failed: %s", el)
			}
			return out
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); r != nil && r.Attr("queryid") == qid {
			out = append(out, r.Child("forwarded", "urn:xmpp:forward:0").Child("message", ""))
		}
	}
}

func bodies(msgs []*wire.Element) []string {
	var out []string
	for _, m := range msgs {
		switch {
		case m.Child("retracted", edits.NSRetract) != nil:
			out = append(out, "<tombstone>")
		case m.Child("body", "") != nil:
			out = append(out, m.ChildText("body", ""))
		default:
			out = append(out, "<"+m.Children[0].Name+">")
		}
	}
	return out
}

func replace(id, body string) string {
	return "<body>" + body + "</body><replace xmlns='urn:xmpp:message-correct:0' id='" + id + "'/>"
}

func retract(id string) string {
	return "<retract xmlns='urn:xmpp:message-retract:1' id='" + id + "'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>/me retracted a message</body><store xmlns='urn:xmpp:hints'/>"
}

func retract0(id string) string {
	return "<apply-to xmlns='urn:xmpp:fasten:0' id='" + id + "'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>retracted</body>"
}

func TestCorrectionWithinWindowIsDeliveredAndArchived(t *testing.T) {
	e := start(t)
	send(e.alice, "bob@localhost", "o1", "<body>helo</body>")
	e.bob.Expect("original", withID("o1"))
	e.clock.Advance(50 * time.Second)
	send(e.alice, "bob@localhost", "c1", replace("o1", "hello"))
	got := e.bob.Expect("correction", withID("c1"))
	if r := got.Child("replace", edits.NSCorrect); r == nil || r.Attr("id") != "o1" || got.ChildText("body", "") != "hello" {
		t.Fatalf("correction not delivered intact: %s", got)
	}
	// A correction of the correction, by the correction's id, is still
	// inside the window counted from the original.
	e.clock.Advance(5 * time.Second)
	send(e.alice, "bob@localhost", "c2", replace("c1", "hello!"))
	e.bob.Expect("second correction", withID("c2"))
	for who, c := range map[string]*xmppdtest.Client{"alice": e.alice, "bob": e.bob} {
		if got, want := strings.Join(bodies(archive(t, c)), "|"), "helo|hello|hello!"; got != want {
			t.Errorf("%s's archive = %s, want %s (original followed by its corrections)", who, got, want)
		}
	}
}

func TestLateCorrectionIsRefusedAndNotDelivered(t *testing.T) {
	e := start(t)
	send(e.alice, "bob@localhost", "o1", "<body>first</body>")
	e.bob.Expect("original", withID("o1"))
	send(e.alice, "bob@localhost", "c1", replace("o1", "second"))
	e.bob.Expect("correction in time", withID("c1"))
	e.clock.Advance(61 * time.Second)
	// Late, whether it names the original or the (recent) correction: the
	// window counts from the original.
	for _, target := range []string{"o1", "c1"} {
		id := "late-" + target
		send(e.alice, "bob@localhost", id, replace(target, "third"))
		cond, text := expectError(t, e.alice, id)
		if cond != "not-acceptable" || !strings.Contains(text, "1m0s") {
			t.Errorf("late correction of %s: %s %q, want not-acceptable naming the 1m0s window", target, cond, text)
		}
	}
	e.bob.ExpectNothing(300*time.Millisecond, func(el *wire.Element) bool { return strings.HasPrefix(el.Attr("id"), "late-") })
	if got, want := strings.Join(bodies(archive(t, e.bob)), "|"), "first|second"; got != want {
		t.Errorf("bob's archive = %s, want %s", got, want)
	}
}

func TestEditingSomeoneElsesOrAnUnknownMessageIsRefused(t *testing.T) {
	e := start(t)
	send(e.bob, "alice@localhost", "b1", "<body>bob's words</body>")
	e.alice.Expect("bob's message", withID("b1"))
	for _, tc := range []struct {
		id, inner, cond string
	}{
		{"x1", replace("b1", "alice's words"), "forbidden"},
		{"x2", retract("b1"), "forbidden"},
		{"x3", replace("nope", "what?"), "item-not-found"},
		{"x4", retract0("nope"), "item-not-found"},
		{"x5", "<body>x</body><replace xmlns='urn:xmpp:message-correct:0'/>", "bad-request"},
	} {
		send(e.alice, "bob@localhost", tc.id, tc.inner)
		if cond, text := expectError(t, e.alice, tc.id); cond != tc.cond || text == "" {
			t.Errorf("%s: got %s %q, want %s with a text", tc.id, cond, text, tc.cond)
		}
	}
	e.bob.ExpectNothing(300*time.Millisecond, func(el *wire.Element) bool { return strings.HasPrefix(el.Attr("id"), "x") })
	if got, want := strings.Join(bodies(archive(t, e.bob)), "|"), "bob's words"; got != want {
		t.Errorf("bob's archive = %s, want %s", got, want)
	}
	// A message from carol to bob with the same id is another
	// conversation: alice's edit of "b1" to carol finds nothing.
	send(e.alice, "carol@localhost", "x6", replace("b1", "?"))
	if cond, _ := expectError(t, e.alice, "x6"); cond != "item-not-found" {
		t.Errorf("edit across conversations: %s, want item-not-found", cond)
	}
}

func TestRetractionTombstonesEveryCopyAndTellsTheUploadService(t *testing.T) {
	e := start(t)
	send(e.alice, "bob@localhost", "o1", "<body>see https://files.example/a.png</body><x xmlns='jabber:x:oob'><url>https://files.example/a.png</url></x>")
	e.bob.Expect("original", withID("o1"))
	send(e.alice, "bob@localhost", "c1", replace("o1", "see https://files.example/b.png"))
	e.bob.Expect("correction", withID("c1"))
	e.clock.Advance(90 * time.Second) // past the correction window, inside the retraction window
	send(e.alice, "bob@localhost", "r1", retract("o1"))
	got := e.bob.Expect("retraction", withID("r1"))
	if got.Child("retract", edits.NSRetract) == nil {
		t.Fatalf("retraction not delivered intact: %s", got)
	}
	for who, c := range map[string]*xmppdtest.Client{"alice": e.alice, "bob": e.bob} {
		msgs := archive(t, c)
		if got, want := strings.Join(bodies(msgs), "|"), "<tombstone>|<tombstone>|/me retracted a message"; got != want {
			t.Fatalf("%s's archive = %s, want %s", who, got, want)
		}
		tomb := msgs[0]
		if r := tomb.Child("retracted", edits.NSRetract); r.Attr("id") != "r1" || r.Attr("stamp") == "" {
			t.Errorf("%s's tombstone lacks the retraction id or stamp: %s", who, tomb)
		}
		if tomb.Child("x", "jabber:x:oob") != nil || tomb.Attr("id") != "o1" {
			t.Errorf("%s's tombstone keeps content or lost its id: %s", who, tomb)
		}
	}
	evs := e.retracted.Events()
	if len(evs) != 1 {
		t.Fatalf("MessageRetracted ran %d times, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Sender.String() != "alice@localhost" || ev.Where.String() != "bob@localhost" ||
		strings.Join(ev.URLs, " ") != "https://files.example/a.png https://files.example/b.png" {
		t.Errorf("retraction event = %+v", ev)
	}
	// Retracted is final: no correction, no second retraction.
	send(e.alice, "bob@localhost", "c2", replace("o1", "back"))
	if cond, text := expectError(t, e.alice, "c2"); cond != "not-acceptable" || !strings.Contains(text, "retracted") {
		t.Errorf("correction after retraction: %s %q", cond, text)
	}
}

func TestLateRetractionAndTheOlderFasteningForm(t *testing.T) {
	e := start(t)
	send(e.alice, "bob@localhost", "o1", "<body>one</body><origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/>")
	send(e.alice, "bob@localhost", "o2", "<body>two</body>")
	e.bob.Expect("two", withID("o2"))
	// The :0 form inside XEP-0422 fastening, by origin-id, as slixmpp sends it.
	send(e.alice, "bob@localhost", "r1", retract0("origin-1"))
	e.bob.Expect("old-style retraction", withID("r1"))
	e.clock.Advance(2 * time.Minute)
	send(e.alice, "bob@localhost", "r2", retract("o2"))
	if cond, _ := expectError(t, e.alice, "r2"); cond != "not-acceptable" {
		t.Errorf("late retraction: %s, want not-acceptable", cond)
	}
	if got, want := strings.Join(bodies(archive(t, e.bob)), "|"), "<tombstone>|two|retracted"; got != want {
		t.Errorf("bob's archive = %s, want %s", got, want)
	}
}

func TestEditIndexSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, xmppdtest.WithDataDir(dir))
	send(e.alice, "bob@localhost", "o1", "<body>before</body>")
	e.bob.Expect("original", withID("o1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	e2 := start(t, xmppdtest.WithDataDir(dir))
	send(e2.alice, "bob@localhost", "c1", replace("o1", "after"))
	e2.bob.Expect("correction after restart", withID("c1"))
}

// TestCorrectionRightBehindItsOriginal: a client that writes a message,
// its correction and its retraction at once (no wait for delivery) gets
// all three accepted: the correction is checked only once the original is
// stored, although a session's plain messages are handled while earlier
// ones wait for the disk.
func TestCorrectionRightBehindItsOriginal(t *testing.T) {
	e := start(t)
	e.alice.Send("<message to='bob@localhost' type='chat' id='q1'><body>helo</body></message>" +
		"<message to='bob@localhost' type='chat' id='q2'>" + replace("q1", "hello") + "</message>" +
		"<message to='bob@localhost' type='chat' id='q3'>" + retract("q1") + "</message>")
	for _, id := range []string{"q1", "q2", "q3"} {
		e.bob.Expect(id, withID(id))
	}
	e.alice.ExpectNothing(100*time.Millisecond, xmppdtest.Is("message", "error"))
}
