package mam_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const pw = "secret-pw"

func start(t *testing.T, opts ...xmppdtest.Option) *xmppdtest.Server {
	t.Helper()
	if len(opts) == 0 {
		opts = []xmppdtest.Option{xmppdtest.WithExtensions(mam.New())}
	}
	srv := xmppdtest.Start(t, opts...)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, pw)
	}
	return srv
}

// online logs user in with a resource and sends initial presence.
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

// chat sends a chat message with body from c to to and waits until the
// recipient rc has it; it returns what rc received.
func chat(t *testing.T, c *xmppdtest.Client, to string, rc *xmppdtest.Client, body string) *wire.Element {
	t.Helper()
	c.Sendf("<message to='%s' type='chat' id='m%d'><body>%s</body></message>", to, seq.Add(1), body)
	return rc.Expect("message "+body, func(el *wire.Element) bool {
		return el.Name == "message" && el.ChildText("body", "") == body
	})
}

// result is one forwarded archive result.
type result struct {
	id, queryID, stamp string
	msg                *wire.Element
}

func (r result) body() string { return r.msg.ChildText("body", "") }

// query sends a MAM IQ (type set, payload inside <query/>) and returns the
// result messages in the order received and the IQ response.
func query(t *testing.T, c *xmppdtest.Client, to, inner string) ([]result, *wire.Element) {
	t.Helper()
	n := seq.Add(1)
	id, qid := fmt.Sprintf("q%d", n), fmt.Sprintf("qid%d", n)
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Sendf("<iq type='set' id='%s'%s><query xmlns='urn:xmpp:mam:2' queryid='%s'>%s</query></iq>", id, toAttr, qid, inner)
	var out []result
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == id {
			return out, el
		}
		res := el.Child("result", mam.NS)
		if el.Name != "message" || res == nil {
			continue
		}
		if res.Attr("queryid") != qid {
			t.Fatalf("result with queryid %q, want %q", res.Attr("queryid"), qid)
		}
		fwd := res.Child("forwarded", "urn:xmpp:forward:0")
		msg := fwd.Child("message", "jabber:client")
		if msg == nil {
			t.Fatalf("forwarded stanza is not a jabber:client message: %s", el)
		}
		out = append(out, result{id: res.Attr("id"), queryID: qid, stamp: fwd.Child("delay", "urn:xmpp:delay").Attr("stamp"), msg: msg})
	}
}

func mustQuery(t *testing.T, c *xmppdtest.Client, inner string) ([]result, *wire.Element) {
	t.Helper()
	rs, iq := query(t, c, "", inner)
	if iq.Attr("type") != "result" {
		t.Fatalf("query %s failed: %s", inner, iq)
	}
	return rs, iq.Child("fin", mam.NS)
}

func bodies(rs []result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.body()
	}
	return out
}

func form(fields ...string) string {
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>")
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "<field var='%s'>", fields[i])
		for _, v := range strings.Split(fields[i+1], ",") {
			fmt.Fprintf(&b, "<value>%s</value>", v)
		}
		b.WriteString("</field>")
	}
	b.WriteString("</x>")
	return b.String()
}

func rsm(inner string) string {
	return "<set xmlns='http://jabber.org/protocol/rsm'>" + inner + "</set>"
}

func stanzaID(el *wire.Element, by string) string {
	for _, c := range el.ChildrenNamed("stanza-id", "urn:xmpp:sid:0") {
		if c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

func errCondition(iq *wire.Element) string {
	if e := iq.Child("error", ""); e != nil && len(e.Children) > 0 {
		return e.Children[0].Name
	}
	return ""
}

// Alice chats with bob: both archives hold the message, and the stanza-id
// bob receives is its id in his archive.
func TestChatIsInBothArchives(t *testing.T) {
	srv := start(t, xmppdtest.WithExtensions(mam.New(), disco.New()))
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")

	got := chat(t, alice, "bob@localhost", bob, "hello bob")
	bobID := stanzaID(got, "bob@localhost")
	if bobID == "" {
		t.Fatalf("bob's message has no stanza-id by bob@localhost: %s", got)
	}
	if id := stanzaID(got, "alice@localhost"); id != "" {
		t.Fatalf("bob sees alice's archive id (XEP-0313 §3.3 forbids it): %s", got)
	}

	rs, fin := mustQuery(t, bob, "")
	if len(rs) != 1 || rs[0].id != bobID || rs[0].body() != "hello bob" {
		t.Fatalf("bob's archive: %+v", rs)
	}
	if m := rs[0].msg; m.Attr("from") != "alice@localhost/res" || m.Attr("to") != "bob@localhost" || stanzaID(m, "bob@localhost") != bobID {
		t.Fatalf("bob's archived stanza is not what he received: %s", m)
	}
	if _, err := time.Parse(time.RFC3339, rs[0].stamp); err != nil {
		t.Fatalf("delay stamp %q: %v", rs[0].stamp, err)
	}
	if fin.Attr("complete") != "true" || fin.Child("set", "").ChildText("count", "") != "1" ||
		fin.Child("set", "").ChildText("first", "") != bobID {
		t.Fatalf("fin: %s", fin)
	}

	rs, _ = mustQuery(t, alice, "")
	if len(rs) != 1 || rs[0].body() != "hello bob" || rs[0].id == bobID || rs[0].msg.Attr("from") != "alice@localhost/res" {
		t.Fatalf("alice's archive: %+v", rs)
	}

	// Bob answers to alice's full JID: archived for both too.
	got = chat(t, bob, "alice@localhost/res", alice, "hi alice")
	aliceID := stanzaID(got, "alice@localhost")
	rs, _ = mustQuery(t, alice, "")
	if len(rs) != 2 || rs[1].id != aliceID || aliceID == "" || rs[1].body() != "hi alice" {
		t.Fatalf("alice's archive after the reply to her full JID: %+v (stanza-id %q)", rs, aliceID)
	}

	// The account advertises MAM.
	info := alice.IQ("get", "alice@localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	var feats []string
	for _, f := range info.Child("query", "").ChildrenNamed("feature", "") {
		feats = append(feats, f.Attr("var"))
	}
	if !slices.Contains(feats, mam.NS) || !slices.Contains(feats, mam.NSExtended) {
		t.Fatalf("account features %v lack MAM", feats)
	}
}

// archiveOf fills alice's archive: to bob m0..m5, to carol c0..c3, and a
// reply from bob's full JID r0; it returns alice's archive in order.
func fillAlice(t *testing.T, srv *xmppdtest.Server) (alice *xmppdtest.Client, all []result) {
	alice, bob, carol := online(t, srv, "alice"), online(t, srv, "bob"), online(t, srv, "carol")
	for i := range 6 {
		chat(t, alice, "bob@localhost", bob, fmt.Sprintf("m%d", i))
		if i < 4 {
			chat(t, alice, "carol@localhost", carol, fmt.Sprintf("c%d", i))
		}
	}
	chat(t, bob, "alice@localhost", alice, "r0")
	all, _ = mustQuery(t, alice, "")
	want := []string{"m0", "c0", "m1", "c1", "m2", "c2", "m3", "c3", "m4", "m5", "r0"}
	if !slices.Equal(bodies(all), want) {
		t.Fatalf("alice's archive %v, want %v", bodies(all), want)
	}
	return alice, all
}

func TestQueryFilters(t *testing.T) {
	srv := start(t)
	alice, all := fillAlice(t, srv)
	id := func(i int) string { return all[i].id }

	for _, tc := range []struct {
		name, inner string
		want        []string
		complete    bool
	}{
		{"with bare", form("with", "bob@localhost"), []string{"m0", "m1", "m2", "m3", "m4", "m5", "r0"}, true},
		{"with full", form("with", "bob@localhost/res"), []string{"r0"}, true},
		{"with carol", form("with", "carol@localhost"), []string{"c0", "c1", "c2", "c3"}, true},
		{"start", form("start", all[7].stamp), []string{"c3", "m4", "m5", "r0"}, true},
		{"start end", form("start", all[2].stamp, "end", all[4].stamp), []string{"m1", "c1", "m2"}, true},
		{"end with", form("end", all[4].stamp, "with", "carol@localhost"), []string{"c0", "c1"}, true},
		{"after-id", form("after-id", id(7)), []string{"m4", "m5", "r0"}, true},
		{"before-id after-id", form("after-id", id(1), "before-id", id(4)), []string{"m1", "c1"}, true},
		{"ids", form("ids", id(5)+","+id(0)), []string{"m0", "c2"}, true},
		{"max", rsm("<max>3</max>"), []string{"m0", "c0", "m1"}, false},
		{"after", rsm("<max>3</max><after>" + id(2) + "</after>"), []string{"c1", "m2", "c2"}, false},
		{"after to the end", rsm("<max>3</max><after>" + id(7) + "</after>"), []string{"m4", "m5", "r0"}, true},
		{"last page", rsm("<max>3</max><before/>"), []string{"m4", "m5", "r0"}, false},
		{"before", rsm("<max>3</max><before>" + id(4) + "</before>"), []string{"c0", "m1", "c1"}, false},
		{"before to the start", rsm("<max>3</max><before>" + id(3) + "</before>"), []string{"m0", "c0", "m1"}, true},
		{"with, last page", form("with", "carol@localhost") + rsm("<max>2</max><before/>"), []string{"c2", "c3"}, false},
		{"flip-page", rsm("<max>3</max>") + "<flip-page/>", []string{"m1", "c0", "m0"}, false},
		{"flip-page last page", rsm("<max>3</max><before/>") + "<flip-page/>", []string{"r0", "m5", "m4"}, false},
		{"form and rsm after", form("after-id", id(1)) + rsm("<max>2</max><after>"+id(5)+"</after>"), []string{"m3", "c3"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, fin := mustQuery(t, alice, tc.inner)
			if got := bodies(rs); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if (fin.Attr("complete") == "true") != tc.complete {
				t.Errorf("complete = %q, want %v", fin.Attr("complete"), tc.complete)
			}
			// first/last are chronological, whatever the transmission order.
			ids := make([]string, len(rs))
			for i, r := range rs {
				ids[i] = r.id
			}
			slices.Sort(ids)
			set := fin.Child("set", "http://jabber.org/protocol/rsm")
			if set.ChildText("first", "") != ids[0] || set.ChildText("last", "") != ids[len(ids)-1] {
				t.Errorf("first/last %s/%s, want %s/%s", set.ChildText("first", ""), set.ChildText("last", ""), ids[0], ids[len(ids)-1])
			}
		})
	}

	// Paging backwards from the last page reaches the start, each message once.
	var back []string
	before := ""
	for range 10 {
		rs, fin := mustQuery(t, alice, rsm("<max>4</max><before>"+before+"</before>"))
		back = append(bodies(rs), back...)
		if set := fin.Child("set", ""); set.ChildText("count", "") != "11" {
			t.Fatalf("count %q, want 11", set.ChildText("count", ""))
		}
		if fin.Attr("complete") == "true" {
			break
		}
		before = rs[0].id
	}
	if !slices.Equal(back, bodies(all)) {
		t.Fatalf("paging backwards: %v", back)
	}

	// max=0 only counts.
	rs, fin := mustQuery(t, alice, rsm("<max>0</max>"))
	if len(rs) != 0 || fin.Child("set", "").ChildText("count", "") != "11" {
		t.Fatalf("max 0: %d results, fin %s", len(rs), fin)
	}

	for _, tc := range []struct{ name, inner, cond string }{
		{"unknown after", rsm("<after>nope</after>"), "item-not-found"},
		{"unknown before", rsm("<before>nope</before>"), "item-not-found"},
		{"unknown after-id", form("after-id", "nope"), "item-not-found"},
		{"unknown before-id", form("before-id", "nope"), "item-not-found"},
		{"unknown id in ids", form("ids", id(0)+",nope"), "item-not-found"},
		{"unknown rsm after beside after-id", form("after-id", id(0)) + rsm("<after>nope</after>"), "item-not-found"},
		{"unknown field", form("{urn:example}search", "x"), "feature-not-implemented"},
		{"bad start", form("start", "yesterday"), "bad-request"},
		{"bad with", form("with", "@@"), "jid-malformed"},
		{"bad max", rsm("<max>-1</max>"), "bad-request"},
		{"rsm index", rsm("<index>3</index>"), "feature-not-implemented"},
		{"wrong FORM_TYPE", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>", "bad-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, iq := query(t, alice, "", tc.inner)
			if iq.Attr("type") != "error" || errCondition(iq) != tc.cond || len(rs) != 0 {
				t.Fatalf("got %s with %d results, want %s", iq, len(rs), tc.cond)
			}
		})
	}
}

// Only the owner may read an archive, its metadata or its preferences.
func TestOnlyOwnerQueries(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	chat(t, alice, "bob@localhost", bob, "private")
	rs, iq := query(t, bob, "alice@localhost", "")
	if iq.Attr("type") != "error" || errCondition(iq) != "forbidden" || len(rs) != 0 {
		t.Fatalf("bob querying alice's archive: %s (%d results)", iq, len(rs))
	}
	for _, payload := range []string{"<metadata xmlns='urn:xmpp:mam:2'/>", "<prefs xmlns='urn:xmpp:mam:2'/>", "<query xmlns='urn:xmpp:mam:2'/>"} {
		if iq := bob.IQ("get", "alice@localhost", payload); errCondition(iq) != "forbidden" {
			t.Fatalf("bob get %s on alice: %s", payload, iq)
		}
	}
	if iq := bob.IQ("set", "alice@localhost", "<prefs xmlns='urn:xmpp:mam:2' default='never'/>"); errCondition(iq) != "forbidden" {
		t.Fatalf("bob setting alice's prefs: %s", iq)
	}
	// Addressed to herself explicitly, alice gets her results from her bare JID.
	rs, iq = query(t, alice, "alice@localhost", "")
	if iq.Attr("type") != "result" || len(rs) != 1 {
		t.Fatalf("alice's own query: %s (%d results)", iq, len(rs))
	}
}

func TestPreferences(t *testing.T) {
	srv := start(t)
	alice, bob, carol := online(t, srv, "alice"), online(t, srv, "bob"), online(t, srv, "carol")

	iq := alice.IQ("get", "", "<prefs xmlns='urn:xmpp:mam:2'/>")
	if p := iq.Child("prefs", mam.NS); p == nil || p.Attr("default") != "always" {
		t.Fatalf("default prefs: %s", iq)
	}
	iq = alice.IQ("set", "", "<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>carol@localhost/x</jid></always><never/></prefs>")
	p := iq.Child("prefs", mam.NS)
	if iq.Attr("type") != "result" || p.Attr("default") != "never" || p.Child("always", "").ChildText("jid", "") != "carol@localhost" {
		t.Fatalf("set prefs: %s", iq)
	}
	if iq := alice.IQ("get", "", "<prefs xmlns='urn:xmpp:mam:2'/>"); iq.Child("prefs", mam.NS).Attr("default") != "never" {
		t.Fatalf("prefs not stored: %s", iq)
	}
	if iq := alice.IQ("set", "", "<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>"); errCondition(iq) != "bad-request" {
		t.Fatalf("bad default: %s", iq)
	}

	chat(t, alice, "bob@localhost", bob, "not for alice's archive")
	chat(t, bob, "alice@localhost", alice, "nor this")
	chat(t, alice, "carol@localhost", carol, "carol is always archived")
	rs, _ := mustQuery(t, alice, "")
	if !slices.Equal(bodies(rs), []string{"carol is always archived"}) {
		t.Fatalf("alice (default never, always carol): %v", bodies(rs))
	}
	// Bob's own preferences still archive both directions for him.
	if rs, _ := mustQuery(t, bob, ""); len(rs) != 2 {
		t.Fatalf("bob's archive: %v", bodies(rs))
	}
	// default='roster' without any subscription (no roster service here).
	alice.IQ("set", "", "<prefs xmlns='urn:xmpp:mam:2' default='roster'><never><jid>carol@localhost</jid></never></prefs>")
	chat(t, alice, "carol@localhost", carol, "carol is now never archived")
	chat(t, alice, "bob@localhost", bob, "bob is no contact")
	if rs, _ := mustQuery(t, alice, ""); len(rs) != 1 {
		t.Fatalf("alice (roster, never carol): %v", bodies(rs))
	}
}

// What is archived: hints, chat states, headlines, markers.
func TestArchivingRules(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	send := func(xml string) {
		alice.Send(xml)
	}
	send("<message to='bob@localhost' type='chat'><body>no-store</body><no-store xmlns='urn:xmpp:hints'/></message>")
	send("<message to='bob@localhost' type='chat'><body>no-permanent-store</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>")
	send("<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	send("<message to='bob@localhost' type='headline'><body>headline</body></message>")
	send("<message to='bob@localhost' type='chat'><received xmlns='urn:xmpp:chat-markers:0' id='x'/></message>")
	send("<message to='bob@localhost' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>")
	send("<message to='bob@localhost' type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted></message>")
	send("<message to='bob@localhost' type='chat'><retract xmlns='urn:xmpp:message-retract:1' id='x'/></message>")
	send("<message to='bob@localhost'><body>normal</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/></message>")
	bob.Expect("the last message", func(el *wire.Element) bool { return el.ChildText("body", "") == "normal" })

	rs, _ := mustQuery(t, bob, "")
	var kinds []string
	for _, r := range rs {
		kinds = append(kinds, r.msg.Children[0].Name)
	}
	want := []string{"displayed", "encrypted", "retract", "body"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("bob's archive holds %v, want %v", kinds, want)
	}
	rs, _ = mustQuery(t, alice, "")
	if len(rs) != 4 {
		t.Fatalf("alice's archive holds %d messages, want 4", len(rs))
	}
	if last := rs[3].msg; stanzaID(last, "alice@localhost") == "forged" {
		t.Fatalf("forged stanza-id archived: %s", last)
	}
}

func TestMetadataAndForm(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	iq := alice.IQ("get", "", "<metadata xmlns='urn:xmpp:mam:2'/>")
	if md := iq.Child("metadata", mam.NS); md == nil || len(md.Children) != 0 {
		t.Fatalf("empty archive metadata: %s", iq)
	}
	first := stanzaID(chat(t, bob, "alice@localhost", alice, "one"), "alice@localhost")
	last := stanzaID(chat(t, bob, "alice@localhost", alice, "two"), "alice@localhost")
	iq = alice.IQ("get", "", "<metadata xmlns='urn:xmpp:mam:2'/>")
	md := iq.Child("metadata", mam.NS)
	if md.Child("start", "").Attr("id") != first || md.Child("end", "").Attr("id") != last {
		t.Fatalf("metadata %s, want start %s end %s", iq, first, last)
	}
	for _, el := range []*wire.Element{md.Child("start", ""), md.Child("end", "")} {
		if _, err := time.Parse(time.RFC3339, el.Attr("timestamp")); err != nil {
			t.Fatalf("timestamp %q: %v", el.Attr("timestamp"), err)
		}
	}

	iq = alice.IQ("get", "", "<query xmlns='urn:xmpp:mam:2'/>")
	var vars []string
	for _, f := range iq.Child("query", mam.NS).Child("x", "jabber:x:data").ChildrenNamed("field", "") {
		vars = append(vars, f.Attr("var"))
	}
	if !slices.Equal(vars, []string{"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"}) {
		t.Fatalf("form fields %v", vars)
	}
}

func TestRetention(t *testing.T) {
	ext := mam.New()
	ext.Config.MaxMessagesPerUser = 3
	srv := start(t, xmppdtest.WithExtensions(ext))
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	for i := range 5 {
		chat(t, alice, "bob@localhost", bob, fmt.Sprintf("n%d", i))
	}
	rs, fin := mustQuery(t, bob, "")
	if !slices.Equal(bodies(rs), []string{"n2", "n3", "n4"}) || fin.Child("set", "").ChildText("count", "") != "3" {
		t.Fatalf("bob's archive limited to 3: %v", bodies(rs))
	}
	// Expiry: with a retention of a millisecond, a sweep drops everything.
	ext.Config.Retention.Duration = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	ext.Sweep(context.Background())
	if rs, _ := mustQuery(t, alice, ""); len(rs) != 0 {
		t.Fatalf("alice's archive after expiry: %v", bodies(rs))
	}
}

func TestArchiveSurvivesRestartAndAccountDeletion(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, xmppdtest.WithExtensions(mam.New()), xmppdtest.WithDataDir(dir))
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	id := stanzaID(chat(t, alice, "bob@localhost", bob, "before restart"), "bob@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	srv2 := xmppdtest.Start(t, xmppdtest.WithExtensions(mam.New()), xmppdtest.WithDataDir(dir))
	bob = online(t, srv2, "bob")
	rs, _ := mustQuery(t, bob, "")
	if len(rs) != 1 || rs[0].id != id || rs[0].body() != "before restart" {
		t.Fatalf("after restart: %+v", rs)
	}
	if _, err := srv2.DeleteAccount("bob"); err != nil {
		t.Fatal(err)
	}
	srv2.AddUser(t, "bob", pw)
	bob = online(t, srv2, "bob")
	if rs, _ := mustQuery(t, bob, ""); len(rs) != 0 {
		t.Fatalf("a new bob inherits the old archive: %v", bodies(rs))
	}
}

// A page of large messages is cut before it could overflow the session's
// outbound queue; paging on fetches the rest.
func TestLargePagesAreCut(t *testing.T) {
	srv := start(t, xmppdtest.WithExtensions(mam.New()), xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.OutboundQueue = 256 * config.KB // a page budget of 64KB
	}))
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	big := strings.Repeat("x", 20*1024)
	for i := range 5 {
		chat(t, alice, "bob@localhost", bob, fmt.Sprintf("%d%s", i, big))
	}
	rs, fin := mustQuery(t, bob, rsm("<max>10</max>"))
	if len(rs) != 4 || fin.Attr("complete") == "true" {
		t.Fatalf("first page: %d results, complete %q", len(rs), fin.Attr("complete"))
	}
	rs2, fin := mustQuery(t, bob, rsm("<max>10</max><after>"+rs[3].id+"</after>"))
	if len(rs2) != 1 || !strings.HasPrefix(rs2[0].body(), "4") || fin.Attr("complete") != "true" {
		t.Fatalf("second page: %d results, complete %q", len(rs2), fin.Attr("complete"))
	}
	// Backwards, the newest are kept.
	rs, _ = mustQuery(t, bob, rsm("<max>10</max><before/>"))
	if len(rs) != 4 || !strings.HasPrefix(rs[0].body(), "1") || !strings.HasPrefix(rs[3].body(), "4") {
		t.Fatalf("last page: %d results", len(rs))
	}
}

// With [mam] enabled = false: messages are delivered, live and offline,
// nothing reaches the archive store, the accounts do not advertise MAM and
// every MAM request gets feature-not-implemented.
func TestArchiveOff(t *testing.T) {
	ext := mam.New()
	ext.Config.Enabled = false
	srv := start(t, xmppdtest.WithExtensions(ext, offline.New(), disco.New()))
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")

	got := chat(t, alice, "bob@localhost", bob, "live")
	if stanzaID(got, "bob@localhost") == "" {
		t.Fatalf("without an archive a message still gets its stanza-id (the inbox and edits use it): %s", got)
	}
	alice.Sendf("<message to='carol@localhost' type='chat' id='off1'><body>for later</body></message>")
	alice.Sync()
	carol := srv.Login(t, "carol", pw)
	carol.Send("<presence/>")
	carol.Expect("the offline message", func(el *wire.Element) bool { return el.ChildText("body", "") == "for later" })

	owners := 0
	if err := srv.Store().Archive("mam.archive").Owners(func(string) error { owners++; return nil }); err != nil {
		t.Fatal(err)
	}
	if owners != 0 {
		t.Fatalf("%d archives written with archiving off", owners)
	}

	for _, req := range []struct{ typ, payload string }{
		{"set", "<query xmlns='urn:xmpp:mam:2'/>"},
		{"get", "<query xmlns='urn:xmpp:mam:2'/>"},
		{"get", "<metadata xmlns='urn:xmpp:mam:2'/>"},
		{"get", "<prefs xmlns='urn:xmpp:mam:2'/>"},
		{"set", "<prefs xmlns='urn:xmpp:mam:2' default='always'/>"},
	} {
		iq := alice.IQ(req.typ, "", req.payload)
		if iq.Attr("type") != "error" || errCondition(iq) != "feature-not-implemented" {
			t.Fatalf("%s %s with archiving off: %s", req.typ, req.payload, iq)
		}
	}
	info := alice.IQ("get", "alice@localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	for _, f := range info.Child("query", "").ChildrenNamed("feature", "") {
		if v := f.Attr("var"); v == mam.NS || v == mam.NSExtended {
			t.Fatalf("the account advertises %s with archiving off: %s", v, info)
		}
	}
}

// The switch is the documented config key: [mam] enabled = false.
func TestArchiveOffFromConfig(t *testing.T) {
	for _, on := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "xmppd.toml")
		if err := os.WriteFile(path, fmt.Appendf(nil, "data_dir = %q\n[mam]\nenabled = %t\n", filepath.Dir(path), on), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{mam.New()}})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(srv.AccountFeatures(), mam.NS); got != on {
			t.Errorf("enabled = %t: accounts advertise MAM: %t", on, got)
		}
		_ = srv.Close()
	}
}

// TestBurstSharesCommitsAndKeepsOrder: a burst of messages one session
// writes at once is stored in a few shared commits, not one commit (and
// fsync) per message, since the session handles the next message while
// the previous one waits for the disk; yet the peer receives every
// message exactly once and in order, each already in both archives.
func TestBurstSharesCommitsAndKeepsOrder(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice"), online(t, srv, "bob")
	const n = 300
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "<message to='bob@localhost' type='chat' id='b%d'><body>%d</body></message>", i, i)
	}
	before := srv.Store().GroupCommits()
	alice.Send(burst.String())
	for i := range n {
		got := bob.Expect("message in order", xmppdtest.Is("message", "chat"))
		if body := got.ChildText("body", ""); body != strconv.Itoa(i) {
			t.Fatalf("message %d: got body %q: %s", i, body, got)
		}
	}
	commits := srv.Store().GroupCommits() - before
	if commits >= n/2 {
		t.Errorf("%d messages took %d commits: the burst did not share them", n, commits)
	}
	t.Logf("%d messages, %d commits", n, commits)
	for _, owner := range []string{"alice@localhost", "bob@localhost"} {
		if got, err := srv.Store().Archive("mam.archive").Len(owner); err != nil || got != n {
			t.Errorf("%s's archive holds %d messages (%v), want %d", owner, got, err, n)
		}
	}
	bob.ExpectNothing(100*time.Millisecond, xmppdtest.Is("message", "chat"))
}
