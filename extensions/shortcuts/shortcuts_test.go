package shortcuts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/shortcuts"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/adhoc"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

func start(t *testing.T, configure ...func(*shortcuts.Extension)) *xmppdtest.Server {
	t.Helper()
	ext := shortcuts.New()
	for _, fn := range configure {
		fn(ext)
	}
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(disco.New(), ext))
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, u+"-pw")
	}
	return srv
}

// command sends a <command/> to the server's domain; fields are var,
// value pairs of a submitted form (none: no form).
func command(c *xmppdtest.Client, node, action, sid string, fields ...string) *wire.Element {
	var b strings.Builder
	fmt.Fprintf(&b, "<command xmlns='%s' node='%s'", adhoc.NS, node)
	if action != "" {
		fmt.Fprintf(&b, " action='%s'", action)
	}
	if sid != "" {
		fmt.Fprintf(&b, " sessionid='%s'", sid)
	}
	b.WriteString(">")
	if len(fields) > 0 {
		b.WriteString("<x xmlns='jabber:x:data' type='submit'>")
		for i := 0; i+1 < len(fields); i += 2 {
			el := wire.NewElement("field", dataform.NS, wire.Attr{Name: "var", Value: fields[i]}).
				Append(wire.NewElement("value", dataform.NS).SetText(fields[i+1]))
			b.WriteString(el.String())
		}
		b.WriteString("</x>")
	}
	b.WriteString("</command>")
	return c.IQ("set", "localhost", b.String())
}

// answer is the <command/> of a result IQ.
func answer(t *testing.T, res *wire.Element) *wire.Element {
	t.Helper()
	cmd := res.Child("command", adhoc.NS)
	if res.Attr("type") != "result" || cmd == nil {
		t.Fatalf("want a command result, got %s", res)
	}
	return cmd
}

func notes(cmd *wire.Element) string {
	var l []string
	for _, n := range cmd.ChildrenNamed("note", adhoc.NS) {
		l = append(l, n.Attr("type")+": "+n.Text)
	}
	return strings.Join(l, " | ")
}

// set runs shortcuts/set through its form and returns the last answer.
func set(t *testing.T, c *xmppdtest.Client, name, text string) *wire.Element {
	t.Helper()
	first := answer(t, command(c, shortcuts.NodeSet, "execute", ""))
	if first.Attr("status") != "executing" || first.Child("x", dataform.NS) == nil {
		t.Fatalf("set stage 0: %s", first)
	}
	return answer(t, command(c, shortcuts.NodeSet, "complete", first.Attr("sessionid"), "name", name, "text", text))
}

// list runs shortcuts/list and returns its rows as "name=text (scope)".
func list(t *testing.T, c *xmppdtest.Client) []string {
	t.Helper()
	cmd := answer(t, command(c, shortcuts.NodeList, "", ""))
	if cmd.Attr("status") != "completed" {
		t.Fatalf("list: %s", cmd)
	}
	x := cmd.Child("x", dataform.NS)
	if x == nil {
		return nil
	}
	var rows []string
	for _, it := range x.ChildrenNamed("item", dataform.NS) {
		v := map[string]string{}
		for _, f := range it.ChildrenNamed("field", dataform.NS) {
			v[f.Attr("var")] = f.ChildText("value", dataform.NS)
		}
		rows = append(rows, v["name"]+"="+v["text"]+" ("+v["scope"]+")")
	}
	return rows
}

func TestDisco(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	info := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	if !strings.Contains(info.String(), "var=\""+adhoc.NS+"\"") && !strings.Contains(info.String(), "var='"+adhoc.NS+"'") {
		t.Fatalf("disco#info lacks the commands feature: %s", info)
	}
	items := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items' node='"+adhoc.NS+"'/>")
	q := items.Child("query", "http://jabber.org/protocol/disco#items")
	if q == nil || q.Attr("node") != adhoc.NS {
		t.Fatalf("command list: %s", items)
	}
	var nodes []string
	for _, it := range q.ChildrenNamed("item", "http://jabber.org/protocol/disco#items") {
		if it.Attr("jid") != "localhost" || it.Attr("name") == "" {
			t.Errorf("item %s", it)
		}
		nodes = append(nodes, it.Attr("node"))
	}
	if strings.Join(nodes, " ") != "shortcuts/list shortcuts/set shortcuts/delete" {
		t.Fatalf("command nodes %q", nodes)
	}
	node := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#info' node='shortcuts/set'/>")
	if s := node.String(); node.Attr("type") != "result" || !strings.Contains(s, "command-node") || !strings.Contains(s, "jabber:x:data") {
		t.Fatalf("command node info: %s", node)
	}
	if res := alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>"); res.Attr("type") != "error" {
		t.Fatalf("unknown node: %s", res)
	}
}

func TestAddEditListDelete(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")

	if got := notes(answer(t, command(alice, shortcuts.NodeList, "", ""))); got != "info: You have no text shortcuts yet." {
		t.Fatalf("empty list: %q", got)
	}
	if res := set(t, alice, "/Home", "https://example.org/home"); res.Attr("status") != "completed" || notes(res) != "info: Added /Home." {
		t.Fatalf("add: %s", res)
	}
	set(t, alice, "phone", "+49 30 1234567")
	// Same name, other case: a change, not a second shortcut.
	if res := set(t, alice, "home", "https://example.org/new-home"); notes(res) != "info: Changed /home." {
		t.Fatalf("edit: %s", res)
	}
	if got := strings.Join(list(t, alice), "; "); got != "/home=https://example.org/new-home (yours); /phone=+49 30 1234567 (yours)" {
		t.Fatalf("list: %q", got)
	}
	if got := list(t, bob); len(got) != 0 {
		t.Fatalf("bob sees alice's shortcuts: %q", got)
	}
	note := answer(t, command(alice, shortcuts.NodeList, "", ""))
	if n := notes(note); !strings.Contains(n, "/home → https://example.org/new-home") {
		t.Fatalf("list note: %q", n)
	}

	// Delete: the form offers her own; she picks one.
	first := answer(t, command(alice, shortcuts.NodeDelete, "", ""))
	f := first.Child("x", dataform.NS)
	if first.Attr("status") != "executing" || f == nil || strings.Count(f.String(), "<option") != 2 {
		t.Fatalf("delete form: %s", first)
	}
	res := answer(t, command(alice, shortcuts.NodeDelete, "complete", first.Attr("sessionid"), "names", "home"))
	if res.Attr("status") != "completed" || notes(res) != "info: Deleted /home." {
		t.Fatalf("delete: %s", res)
	}
	if got := strings.Join(list(t, alice), "; "); got != "/phone=+49 30 1234567 (yours)" {
		t.Fatalf("after delete: %q", got)
	}
	// Cancel leaves things as they are.
	first = answer(t, command(alice, shortcuts.NodeDelete, "", ""))
	if res := answer(t, command(alice, shortcuts.NodeDelete, "cancel", first.Attr("sessionid"))); res.Attr("status") != "canceled" {
		t.Fatalf("cancel: %s", res)
	}
	if len(list(t, alice)) != 1 {
		t.Fatal("cancel deleted something")
	}
	// Bob cannot use alice's session.
	first = answer(t, command(alice, shortcuts.NodeSet, "", ""))
	res = command(bob, shortcuts.NodeSet, "complete", first.Attr("sessionid"), "name", "x", "text", "y")
	if res.Attr("type") != "error" || res.Child("error", "").Child("bad-sessionid", adhoc.NS) == nil {
		t.Fatalf("bob on alice's session: %s", res)
	}
	if got := list(t, bob); len(got) != 0 {
		t.Fatalf("bob's shortcuts: %q", got)
	}
}

func TestLimitsAndBadInput(t *testing.T) {
	srv := start(t, func(e *shortcuts.Extension) { e.Config.MaxPerUser = 2; e.Config.MaxTextLength = 20 })
	alice := srv.Login(t, "alice", "alice-pw")
	set(t, alice, "a", "one")
	for _, c := range []struct{ name, text, want string }{
		{"", "text", "use 1 to 32 letters"},
		{"/", "text", "use 1 to 32 letters"},
		{"two words", "text", `"two words"`},
		{"a/b", "text", `"a/b"`},
		{strings.Repeat("x", 33), "text", "use 1 to 32"},
		{"b", "   ", "/b: the text is empty"},
		{"b", strings.Repeat("é", 21), "21 characters, more than the 20"},
	} {
		first := answer(t, command(alice, shortcuts.NodeSet, "", ""))
		res := answer(t, command(alice, shortcuts.NodeSet, "complete", first.Attr("sessionid"), "name", c.name, "text", c.text))
		// The form comes back with the error, in the same session.
		if res.Attr("status") != "executing" || res.Attr("sessionid") != first.Attr("sessionid") ||
			res.Child("x", dataform.NS) == nil || !strings.Contains(notes(res), "error: ") || !strings.Contains(notes(res), c.want) {
			t.Errorf("%q → %q: %s", c.name, c.text, res)
		}
	}
	// Unicode letters are fine, 32 characters too.
	set(t, alice, "Grüße", "hallo")
	first := answer(t, command(alice, shortcuts.NodeSet, "", ""))
	sid := first.Attr("sessionid")
	res := answer(t, command(alice, shortcuts.NodeSet, "complete", sid, "name", strings.Repeat("y", 32), "text", "third"))
	if res.Attr("status") != "executing" || !strings.Contains(notes(res), "the most allowed") {
		t.Fatalf("over the limit: %s", res)
	}
	// Corrected in the same session: changing an existing one is allowed.
	res = answer(t, command(alice, shortcuts.NodeSet, "complete", sid, "name", "A", "text", "uno"))
	if notes(res) != "info: Changed /A." {
		t.Fatalf("edit at the limit: %s", res)
	}
	if got := strings.Join(list(t, alice), "; "); got != "/A=uno (yours); /Grüße=hallo (yours)" {
		t.Fatalf("after the bad input: %q", got)
	}
	// Complete without the form: the form again, with a note.
	first = answer(t, command(alice, shortcuts.NodeSet, "", ""))
	res = answer(t, command(alice, shortcuts.NodeSet, "complete", first.Attr("sessionid")))
	if res.Attr("status") != "executing" || notes(res) != "error: Fill in the form." {
		t.Fatalf("complete without a form: %s", res)
	}
	// Protocol errors carry XEP-0050's conditions.
	res = command(alice, shortcuts.NodeSet, "complete", "made-up")
	if res.Child("error", "").Child("bad-sessionid", adhoc.NS) == nil {
		t.Fatalf("made-up session: %s", res)
	}
	res = command(alice, shortcuts.NodeSet, "fly", "")
	if res.Child("error", "").Child("malformed-action", adhoc.NS) == nil {
		t.Fatalf("unknown action: %s", res)
	}
	if res = command(alice, "shortcuts/nope", "", ""); res.Attr("type") != "error" {
		t.Fatalf("unknown node: %s", res)
	}
}

func TestDomainWideReadOnly(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	for name, text := range map[string]string{"support": "https://help.example.org", "hotline": "+1 800 555 0100"} {
		if _, err := srv.AdminCommand(ctx, "shortcut.add", map[string]string{"name": name, "text": text}); err != nil {
			t.Fatal(err)
		}
	}
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	set(t, alice, "Support", "mailto:alice-team@example.org")
	// Her own wins over the domain's of the same name; bob sees the domain's.
	if got := strings.Join(list(t, alice), "; "); got != "/hotline=+1 800 555 0100 (domain); /Support=mailto:alice-team@example.org (yours)" {
		t.Fatalf("alice's list: %q", got)
	}
	if got := strings.Join(list(t, bob), "; "); got != "/hotline=+1 800 555 0100 (domain); /support=https://help.example.org (domain)" {
		t.Fatalf("bob's list: %q", got)
	}
	// Bob has none of his own to delete; naming a domain-wide one anyway
	// changes nothing.
	if got := notes(answer(t, command(bob, shortcuts.NodeDelete, "", ""))); !strings.Contains(got, "no text shortcuts of your own") {
		t.Fatalf("bob's delete: %q", got)
	}
	first := answer(t, command(alice, shortcuts.NodeDelete, "", ""))
	if strings.Contains(first.String(), "hotline") {
		t.Fatalf("delete form offers a domain-wide shortcut: %s", first)
	}
	res := answer(t, command(alice, shortcuts.NodeDelete, "complete", first.Attr("sessionid"), "names", "hotline"))
	if got := notes(res); got != "error: hotline is domain-wide: only an operator can change it" {
		t.Fatalf("deleting a domain-wide one: %q", got)
	}
	got, err := srv.AdminCommand(ctx, "shortcut.list", nil)
	if err != nil || len(got.([]shortcuts.Shortcut)) != 2 {
		t.Fatalf("domain shortcuts: %v %v", got, err)
	}
	// Operators' errors name the shortcut and the owner.
	if _, err := srv.AdminCommand(ctx, "shortcut.del", map[string]string{"name": "/nope"}); err == nil ||
		!strings.Contains(err.Error(), "/nope") || !strings.Contains(err.Error(), "localhost") {
		t.Fatalf("del unknown: %v", err)
	}
	if _, err := srv.AdminCommand(ctx, "shortcut.add", map[string]string{"name": "x", "text": "y", "user": "carol@localhost"}); err == nil ||
		!strings.Contains(err.Error(), "carol@localhost") {
		t.Fatalf("add for a missing user: %v", err)
	}
}

func TestAccountDeletion(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice := srv.Login(t, "alice", "alice-pw")
	set(t, alice, "home", "https://example.org")
	set(t, alice, "work", "https://example.com")
	if _, err := srv.AdminCommand(ctx, "shortcut.add", map[string]string{"name": "lobby", "text": "x", "user": "alice"}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.AdminCommand(ctx, "shortcut.list", map[string]string{"user": "alice@localhost"})
	if err != nil || len(got.([]shortcuts.Shortcut)) != 3 {
		t.Fatalf("before: %v %v", got, err)
	}
	if _, err := srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	srv.AddUser(t, "alice", "alice-pw")
	got, err = srv.AdminCommand(ctx, "shortcut.list", map[string]string{"user": "alice"})
	if err != nil || len(got.([]shortcuts.Shortcut)) != 0 {
		t.Fatalf("a new alice inherited shortcuts: %v %v", got, err)
	}
}

func TestBadConfig(t *testing.T) {
	ext := shortcuts.New()
	ext.Config.MaxTextLength = 0
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{ext}})
	if err == nil {
		srv.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "shortcuts.max_text_length") {
		t.Fatalf("err = %v", err)
	}
}

// TestLongList: a long list keeps its table whole and shortens the note.
func TestLongList(t *testing.T) {
	srv := start(t)
	for i := range 9 {
		if _, err := srv.AdminCommand(context.Background(), "shortcut.add",
			map[string]string{"name": fmt.Sprintf("s%d", i), "text": strings.Repeat("x", 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	alice := srv.Login(t, "alice", "alice-pw")
	if got := len(list(t, alice)); got != 9 {
		t.Fatalf("%d rows", got)
	}
	if got := notes(answer(t, command(alice, shortcuts.NodeList, "", ""))); got != "info: 9 text shortcuts: see the table." {
		t.Fatalf("note: %q", got)
	}
}
