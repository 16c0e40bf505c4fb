package adhoc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/adhoc"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

var (
	alice      = xmppd.JID{Local: "alice", Domain: "example.org", Resource: "laptop"}
	alicePhone = xmppd.JID{Local: "alice", Domain: "example.org", Resource: "phone"}
	bob        = xmppd.JID{Local: "bob", Domain: "example.org", Resource: "pc"}
	dom        = xmppd.JID{Domain: "example.org"}
)

// clock is a time the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// wizard asks a name (stage 0), then a colour (stage 1), and completes
// with both; the state carries the name between the stages.
func wizard() adhoc.Command {
	return adhoc.Command{
		Node: "wizard", Name: "Two questions",
		Allowed: func(from, _ xmppd.JID) bool { return from.Local != "mallory" },
		Run: func(req *adhoc.Request) (*adhoc.Response, error) {
			switch req.Stage {
			case 0:
				return &adhoc.Response{Form: dataform.New("form", "").Field("name", "text-single", "Name").Element(),
					Actions: []string{adhoc.ActionNext}}, nil
			case 1:
				if req.Form == nil || req.Form.Value("name") == "" {
					return nil, adhoc.BadPayload("a name, please")
				}
				req.State = req.Form.Value("name")
				return &adhoc.Response{Form: dataform.New("form", "").Field("colour", "text-single", "Colour").Element(),
					Actions: []string{adhoc.ActionComplete}}, nil
			}
			return &adhoc.Response{Completed: true,
				Notes: []adhoc.Note{adhoc.Info(req.State.(string) + " likes " + req.Form.Value("colour") + " (" + req.Action + ")")}}, nil
		},
	}
}

func newRegistry(t *testing.T, c *clock, opt adhoc.Options) *adhoc.Registry {
	t.Helper()
	opt.Now = c.now
	g := adhoc.New(opt)
	if err := g.Add(wizard(), adhoc.Command{Node: "hello", Name: "Say hello",
		Run: func(req *adhoc.Request) (*adhoc.Response, error) {
			return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info("hello " + req.From.BareString())}}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	return g
}

func cmd(t *testing.T, node, action, sid string, fields ...string) *wire.Element {
	t.Helper()
	s := "<command xmlns='" + adhoc.NS + "' node='" + node + "'"
	if action != "" {
		s += " action='" + action + "'"
	}
	if sid != "" {
		s += " sessionid='" + sid + "'"
	}
	s += ">"
	if len(fields) > 0 {
		s += "<x xmlns='jabber:x:data' type='submit'>"
		for i := 0; i+1 < len(fields); i += 2 {
			s += "<field var='" + fields[i] + "'><value>" + fields[i+1] + "</value></field>"
		}
		s += "</x>"
	}
	el, err := wire.Parse([]byte(s + "</command>"))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func mustRun(t *testing.T, g *adhoc.Registry, from xmppd.JID, q *wire.Element) *wire.Element {
	t.Helper()
	res, err := g.Handle(from, dom, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

// wantErr checks the stanza condition and XEP-0050's specific one ("" for none).
func wantErr(t *testing.T, err error, cond stanza.Condition, specific string) {
	t.Helper()
	var se stanza.Error
	if !errors.As(err, &se) || se.Condition != cond {
		t.Fatalf("error %v, want %s", err, cond)
	}
	var ae xmppd.AppError
	got := ""
	if errors.As(err, &ae) {
		got = ae.App.Name
		if ae.App.NS != adhoc.NS {
			t.Errorf("specific condition in %s", ae.App.NS)
		}
	}
	if got != specific {
		t.Fatalf("specific condition %q, want %q (%v)", got, specific, err)
	}
}

func actions(el *wire.Element) string {
	a := el.Child("actions", adhoc.NS)
	if a == nil {
		return ""
	}
	var l []string
	for _, c := range a.Children {
		l = append(l, c.Name)
	}
	return a.Attr("execute") + ":" + strings.Join(l, ",")
}

func TestMultiStage(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	g := newRegistry(t, c, adhoc.Options{})
	res := mustRun(t, g, alice, cmd(t, "wizard", "", ""))
	sid := res.Attr("sessionid")
	if res.Attr("status") != "executing" || sid == "" || actions(res) != "next:next" || res.Child("x", dataform.NS) == nil {
		t.Fatalf("stage 0: %s", res)
	}
	// complete is not offered at stage 0.
	_, err := g.Handle(alice, dom, cmd(t, "wizard", "complete", sid, "name", "Alice"))
	wantErr(t, err, stanza.BadRequest, "bad-action")
	// A bad form: an error, the session goes on.
	_, err = g.Handle(alice, dom, cmd(t, "wizard", "next", sid))
	wantErr(t, err, stanza.BadRequest, "bad-payload")
	res = mustRun(t, g, alice, cmd(t, "wizard", "execute", sid, "name", "Eve"))
	if res.Attr("status") != "executing" || actions(res) != "complete:prev,complete" {
		t.Fatalf("stage 1: %s", res)
	}
	// prev shows stage 0 again; then a new name.
	res = mustRun(t, g, alice, cmd(t, "wizard", "prev", sid))
	if actions(res) != "next:next" || res.Child("x", dataform.NS).Child("field", dataform.NS).Attr("var") != "name" {
		t.Fatalf("prev: %s", res)
	}
	mustRun(t, g, alice, cmd(t, "wizard", "next", sid, "name", "Alice"))
	res = mustRun(t, g, alice, cmd(t, "wizard", "complete", sid, "colour", "green"))
	if res.Attr("status") != "completed" || res.Attr("sessionid") != sid || actions(res) != "" ||
		res.ChildText("note", adhoc.NS) != "Alice likes green (complete)" {
		t.Fatalf("completed: %s", res)
	}
	// The session is gone.
	_, err = g.Handle(alice, dom, cmd(t, "wizard", "complete", sid, "colour", "red"))
	wantErr(t, err, stanza.BadRequest, "bad-sessionid")
	if n := g.Sessions(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	// A single-stage command completes at once with a session id.
	res = mustRun(t, g, bob, cmd(t, "hello", "execute", ""))
	if res.Attr("status") != "completed" || res.Attr("sessionid") == "" || res.ChildText("note", adhoc.NS) != "hello bob@example.org" {
		t.Fatalf("hello: %s", res)
	}
}

func TestCancel(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	g := newRegistry(t, c, adhoc.Options{})
	sid := mustRun(t, g, alice, cmd(t, "wizard", "", "")).Attr("sessionid")
	res := mustRun(t, g, alice, cmd(t, "wizard", "cancel", sid))
	if res.Attr("status") != "canceled" || res.Attr("sessionid") != sid {
		t.Fatalf("cancel: %s", res)
	}
	_, err := g.Handle(alice, dom, cmd(t, "wizard", "next", sid, "name", "x"))
	wantErr(t, err, stanza.BadRequest, "bad-sessionid")
}

func TestBadRequests(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	g := newRegistry(t, c, adhoc.Options{})
	sid := mustRun(t, g, alice, cmd(t, "wizard", "", "")).Attr("sessionid")
	for _, tc := range []struct {
		name     string
		from     xmppd.JID
		q        *wire.Element
		cond     stanza.Condition
		specific string
	}{
		{"unknown action", alice, cmd(t, "wizard", "jump", sid), stanza.BadRequest, "malformed-action"},
		{"made-up session", alice, cmd(t, "wizard", "next", "abc-def"), stanza.BadRequest, "bad-sessionid"},
		{"next without session", alice, cmd(t, "wizard", "next", ""), stanza.BadRequest, "bad-sessionid"},
		{"someone else's session", bob, cmd(t, "wizard", "next", sid, "name", "Bob"), stanza.BadRequest, "bad-sessionid"},
		{"the user's other resource", alicePhone, cmd(t, "wizard", "cancel", sid), stanza.BadRequest, "bad-sessionid"},
		{"another command's node", alice, cmd(t, "hello", "next", sid), stanza.BadRequest, "bad-sessionid"},
		{"another entity", alice, nil, stanza.BadRequest, "bad-sessionid"},
		{"unknown command", alice, cmd(t, "nope", "", ""), stanza.ItemNotFound, ""},
		{"not allowed", xmppd.JID{Local: "mallory", Domain: "example.org", Resource: "x"}, cmd(t, "wizard", "", ""), stanza.Forbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := dom
			if tc.q == nil {
				tc.q, to = cmd(t, "wizard", "next", sid, "name", "A"), xmppd.JID{Local: "room", Domain: "conference.example.org"}
			}
			_, err := g.Handle(tc.from, to, tc.q)
			wantErr(t, err, tc.cond, tc.specific)
		})
	}
	// Alice's session survived all that.
	res := mustRun(t, g, alice, cmd(t, "wizard", "next", sid, "name", "Alice"))
	if res.Attr("status") != "executing" {
		t.Fatalf("after the bad requests: %s", res)
	}
}

func TestExpiredSession(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	g := newRegistry(t, c, adhoc.Options{TTL: time.Minute})
	sid := mustRun(t, g, alice, cmd(t, "wizard", "", "")).Attr("sessionid")
	c.t = c.t.Add(61 * time.Second)
	_, err := g.Handle(alice, dom, cmd(t, "wizard", "next", sid, "name", "Alice"))
	wantErr(t, err, stanza.NotAllowed, "session-expired")
	// Still expired once it has been dropped.
	_, err = g.Handle(alice, dom, cmd(t, "wizard", "next", sid, "name", "Alice"))
	wantErr(t, err, stanza.NotAllowed, "session-expired")
}

func TestSessionBounds(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	g := newRegistry(t, c, adhoc.Options{MaxPerUser: 2, MaxSessions: 3, TTL: time.Minute})
	var sids []string
	for range 3 {
		sids = append(sids, mustRun(t, g, alice, cmd(t, "wizard", "", "")).Attr("sessionid"))
		c.t = c.t.Add(time.Second)
	}
	// Alice's oldest session made room for her third.
	if _, err := g.Handle(alice, dom, cmd(t, "wizard", "cancel", sids[0])); err == nil {
		t.Fatal("the oldest session outlived the per-user bound")
	}
	mustRun(t, g, alice, cmd(t, "wizard", "cancel", sids[2]))
	mustRun(t, g, bob, cmd(t, "wizard", "", ""))
	mustRun(t, g, alicePhone, cmd(t, "wizard", "", ""))
	_, err := g.Handle(xmppd.JID{Local: "carol", Domain: "example.org", Resource: "r"}, dom, cmd(t, "wizard", "", ""))
	wantErr(t, err, stanza.ResourceConstraint, "")
	// Expired sessions are swept to make room.
	c.t = c.t.Add(2 * time.Minute)
	mustRun(t, g, xmppd.JID{Local: "carol", Domain: "example.org", Resource: "r"}, cmd(t, "wizard", "", ""))
	if n := g.Sessions(); n != 1 {
		t.Errorf("%d sessions after the sweep, want 1", n)
	}
}

func TestDisco(t *testing.T) {
	g := newRegistry(t, &clock{time.Now()}, adhoc.Options{})
	items := g.Items(alice, dom)
	if got := items.ChildrenNamed("item", "http://jabber.org/protocol/disco#items"); len(got) != 2 ||
		got[0].Attr("node") != "wizard" || got[0].Attr("jid") != "example.org" || got[1].Attr("name") != "Say hello" {
		t.Fatalf("items: %s", items)
	}
	mallory := xmppd.JID{Local: "mallory", Domain: "example.org", Resource: "x"}
	if got := g.Items(mallory, dom).ChildrenNamed("item", "http://jabber.org/protocol/disco#items"); len(got) != 1 {
		t.Fatalf("mallory sees %d commands", len(got))
	}
	info, err := g.Info("wizard", alice, dom)
	if err != nil || !strings.Contains(info.String(), "command-node") || !strings.Contains(info.String(), "jabber:x:data") {
		t.Fatalf("info: %v %s", err, info)
	}
	_, err = g.Info("wizard", mallory, dom)
	wantErr(t, err, stanza.Forbidden, "")
	_, err = g.Info("nope", alice, dom)
	wantErr(t, err, stanza.ItemNotFound, "")
	if err := g.Add(adhoc.Command{Node: "wizard", Name: "again", Run: wizard().Run}); err == nil {
		t.Error("a node added twice")
	}
}
