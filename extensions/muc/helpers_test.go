package muc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	service = "conference.localhost"
	quiet   = 200 * time.Millisecond
)

// start runs a server with the MUC service and users alice, bob, carol
// and dave (password "<user>-pw").
func start(t *testing.T, opts ...xmppdtest.Option) (*xmppdtest.Server, *muc.Extension) {
	t.Helper()
	return startExt(t, muc.New(), opts...)
}

// startExt is start with a MUC extension the test configured.
func startExt(t *testing.T, ext *muc.Extension, opts ...xmppdtest.Option) (*xmppdtest.Server, *muc.Extension) {
	t.Helper()
	srv := xmppdtest.Start(t, append([]xmppdtest.Option{xmppdtest.WithExtensions(ext)}, opts...)...)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := srv.CreateAccount(u, u+"-pw"); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
	return srv, ext
}

func login(t *testing.T, srv *xmppdtest.Server, user, resource string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, user+"-pw", xmppdtest.DialOptions{Resource: resource})
	if err != nil {
		t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	return c
}

func roomJID(room string) string { return room + "@" + service }

func occ(room, nick string) string { return roomJID(room) + "/" + nick }

// mucX returns the muc#user payload of el, nil if none.
func mucX(el *wire.Element) *wire.Element { return el.Child("x", muc.NSUser) }

func statusCodes(el *wire.Element) []string {
	var l []string
	for _, s := range mucX(el).ChildrenNamed("status", muc.NSUser) {
		l = append(l, s.Attr("code"))
	}
	return l
}

func hasStatus(el *wire.Element, code int) bool {
	for _, c := range statusCodes(el) {
		if c == fmt.Sprint(code) {
			return true
		}
	}
	return false
}

func mucItem(el *wire.Element) *wire.Element { return mucX(el).Child("item", muc.NSUser) }

func presenceFrom(from, typ string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == from && el.Attr("type") == typ
	}
}

func selfPresence(from string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "presence" && el.Attr("from") == from && el.Attr("type") != "error" && mucX(el) != nil && hasStatus(el, 110)
	}
}

func isSubject(room string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "message" && strings.HasPrefix(el.Attr("from"), roomJID(room)) && el.Child("subject", "") != nil && el.Child("body", "") == nil
	}
}

func errorCondition(el *wire.Element) string {
	e := el.Child("error", "")
	if e == nil || len(e.Children) == 0 {
		return ""
	}
	return e.Children[0].Name
}

// joinPresence is a join request with extra <x xmlns='muc'/> content.
func joinPresence(room, nick, inner string) string {
	return fmt.Sprintf("<presence to='%s'><x xmlns='%s'>%s</x></presence>", occ(room, nick), muc.NS, inner)
}

// join enters a room and waits for self-presence and the subject; it
// returns the self-presence.
func join(t *testing.T, c *xmppdtest.Client, room, nick string) *wire.Element {
	t.Helper()
	c.Send(joinPresence(room, nick, ""))
	self := c.Expect("self-presence in "+room, func(el *wire.Element) bool {
		if el.Name == "presence" && el.Attr("type") == "error" {
			t.Fatalf("%s: join %s refused: %s", c.JID, room, el)
		}
		return selfPresence(occ(room, nick))(el)
	})
	c.Expect("subject of "+room, isSubject(room))
	return self
}

// joinFails sends a join and returns the error condition.
func joinFails(t *testing.T, c *xmppdtest.Client, room, nick, inner string) string {
	t.Helper()
	c.Send(joinPresence(room, nick, inner))
	el := c.Expect("join error", presenceFrom(occ(room, nick), "error"))
	return errorCondition(el)
}

// createRoom makes an instant room owned by c (joined as nick) with the
// given extra configuration fields (var → value).
func createRoom(t *testing.T, c *xmppdtest.Client, room, nick string, fields map[string]string) {
	t.Helper()
	self := join(t, c, room, nick)
	if !hasStatus(self, 201) {
		t.Fatalf("new room %s: self-presence without 201: %s", room, self)
	}
	configure(t, c, room, fields)
}

// configure submits the room configuration form.
func configure(t *testing.T, c *xmppdtest.Client, room string, fields map[string]string) *wire.Element {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "<query xmlns='%s'><x xmlns='jabber:x:data' type='submit'>", muc.NSOwner)
	if len(fields) > 0 {
		fmt.Fprintf(&b, "<field var='FORM_TYPE'><value>%s</value></field>", muc.NSRoomConfig)
	}
	for k, v := range fields {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", k, v)
	}
	b.WriteString("</x></query>")
	res := c.IQ("set", roomJID(room), b.String())
	if res.Attr("type") != "result" {
		t.Fatalf("configure %s: %s", room, res)
	}
	return res
}

// groupchat sends a groupchat message with a body.
func groupchat(c *xmppdtest.Client, room, id, body string) {
	c.Sendf("<message to='%s' type='groupchat' id='%s'><body>%s</body></message>", roomJID(room), id, body)
}

func isGroupchat(from, body string) func(*wire.Element) bool {
	return func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("type") == "groupchat" && el.Attr("from") == from && el.ChildText("body", "") == body
	}
}

// adminSet sends a muc#admin set with one item.
func adminSet(c *xmppdtest.Client, room, itemAttrs, reason string) *wire.Element {
	inner := ""
	if reason != "" {
		inner = "<reason>" + reason + "</reason>"
	}
	return c.IQ("set", roomJID(room), fmt.Sprintf("<query xmlns='%s'><item %s>%s</item></query>", muc.NSAdmin, itemAttrs, inner))
}

func mustResult(t *testing.T, what string, el *wire.Element) {
	t.Helper()
	if el.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, el)
	}
}

func mustError(t *testing.T, what string, el *wire.Element, cond string) {
	t.Helper()
	if el.Attr("type") != "error" || errorCondition(el) != cond {
		t.Fatalf("%s: want error %s, got %s", what, cond, el)
	}
}
