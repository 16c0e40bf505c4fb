package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestSlixmppChatFunctionsAgainstBinary: slixmpp's XEP-0308, XEP-0424,
// XEP-0461 and XEP-0425 plugins against the built binary with a
// 3-second correction window; then the archives, read by a Go client,
// hold tombstones where slixmpp retracted.
func TestSlixmppChatFunctionsAgainstBinary(t *testing.T) {
	in := newSlixmppInstanceWith(t, "\n[messages]\ncorrection_window = \"3s\"\n", "alice", "bob")
	var res struct {
		Correct struct {
			ReplaceID string `json:"replace_id"`
			Body      string `json:"body"`
		} `json:"correct"`
		Forbidden []string `json:"forbidden"`
		Late      []string `json:"late"`
		Retract   struct {
			ApplyTo string `json:"apply_to"`
			From    string `json:"from"`
		} `json:"retract"`
		Reply struct {
			ReplyID string `json:"reply_id"`
			ReplyTo string `json:"reply_to"`
			Body    string `json:"body"`
		} `json:"reply"`
		Room struct {
			Corrected string `json:"corrected"`
			Retracted string `json:"retracted"`
			Moderated struct {
				ID     bool   `json:"id"`
				By     string `json:"by"`
				Reason string `json:"reason"`
			} `json:"moderated"`
		} `json:"room"`
	}
	runSlixmpp(t, in, "slixmpp_chatfn.py", &res)
	if res.Correct.ReplaceID != "m1" || res.Correct.Body != "hello" {
		t.Errorf("correction as bob's slixmpp saw it: %+v", res.Correct)
	}
	if len(res.Forbidden) != 2 || res.Forbidden[0] != "forbidden" || res.Forbidden[1] == "" {
		t.Errorf("editing someone else's message: %v, want forbidden with a text", res.Forbidden)
	}
	if len(res.Late) != 2 || res.Late[0] != "not-acceptable" || res.Late[1] == "" {
		t.Errorf("late correction: %v, want not-acceptable with a text", res.Late)
	}
	if res.Retract.ApplyTo != "m1" || res.Retract.From != "alice@localhost" {
		t.Errorf("retraction as bob's slixmpp saw it: %+v", res.Retract)
	}
	if res.Reply.ReplyID != "m2" || res.Reply.ReplyTo != "alice@localhost" || res.Reply.Body != "yes" {
		t.Errorf("reply as alice's slixmpp saw it: %+v", res.Reply)
	}
	if res.Room.Corrected != "fixed" || res.Room.Retracted != "g1" || !res.Room.Moderated.ID ||
		res.Room.Moderated.By != "chatfn@conference.localhost/alice" || res.Room.Moderated.Reason != "no spam" {
		t.Errorf("room: %+v", res.Room)
	}

	// bob's archive: m1 and its correction became tombstones, the
	// retraction is kept, the late correction is absent.
	bob, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "bob", slixmppPassword, xmppdtest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	bob.Send("<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='x'/></iq>")
	for {
		el := bob.Next(5 * time.Second)
		if el.Name == "iq" {
			break
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); r != nil {
			m := r.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")
			got = append(got, describeArchived(m))
		}
	}
	want := []string{"tombstone", "tombstone", "m2: slow", "retraction of m1", "reply to m2: yes"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bob's archive:\n got %q\nwant %q", got, want)
	}
}

func describeArchived(m *wire.Element) string {
	switch {
	case m.Child("retracted", "urn:xmpp:message-retract:1") != nil:
		return "tombstone"
	case m.Child("replace", "urn:xmpp:message-correct:0") != nil:
		return "correction of " + m.Child("replace", "urn:xmpp:message-correct:0").Attr("id") + ": " + m.ChildText("body", "")
	case m.Child("apply-to", "urn:xmpp:fasten:0") != nil:
		return "retraction of " + m.Child("apply-to", "urn:xmpp:fasten:0").Attr("id")
	case m.Child("reply", "urn:xmpp:reply:0") != nil:
		return "reply to " + m.Child("reply", "urn:xmpp:reply:0").Attr("id") + ": " + m.ChildText("body", "")
	}
	return m.Attr("id") + ": " + m.ChildText("body", "")
}
