package push

import (
	"encoding/json"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzEnable: any <enable/> is refused or becomes a registration with a
// canonical app server JID that survives its JSON storage, whose
// publish-options (sent to the app server as they are) parse as a submit
// form holding every field the client sent but xmppd's consent field.
func FuzzEnable(f *testing.F) {
	for _, seed := range []string{
		`<enable xmlns='urn:xmpp:push:0' jid='push.example.com' node='yxs32uqsflafdk3iuqo'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>eruio234vzxc2kla-91</value></field><field var='x-xmppd#include-body'><value>true</value></field></x></enable>`,
		`<enable xmlns='urn:xmpp:push:0' jid='Push.Example.COM/res' node=''/>`,
		`<enable xmlns='urn:xmpp:push:0' jid='push.example.com'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable>`,
		`<enable xmlns='urn:xmpp:push:0' jid='@'/>`,
		`<enable xmlns='urn:xmpp:push:0'/>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := wire.Parse(b)
		if err != nil {
			return
		}
		g, err := parseEnable(el, "phone")
		if err != nil {
			return
		}
		if j, err := xmppd.ParseJID(g.JID); err != nil || j.String() != g.JID || g.Node != el.Attr("node") || g.Resource != "phone" {
			t.Fatalf("registration %+v from %s", g, el)
		}
		raw, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		var back registration
		if err := json.Unmarshal(raw, &back); err != nil || back != g {
			t.Fatalf("registration %+v is stored as %+v (%v)", g, back, err)
		}
		x := el.Child("x", dataform.NS)
		if g.Options == "" {
			return
		}
		opts, err := wire.Parse([]byte(g.Options))
		if err != nil || opts.Name != "x" || opts.NS != dataform.NS || opts.Attr("type") != "submit" {
			t.Fatalf("publish-options %q (%v)", g.Options, err)
		}
		want := 0
		for _, fe := range x.ChildrenNamed("field", dataform.NS) {
			if fe.Attr("var") != FieldIncludeBody {
				want++
			}
		}
		got := opts.ChildrenNamed("field", dataform.NS)
		if len(got) != want {
			t.Fatalf("publish-options hold %d fields, the client sent %d: %q", len(got), want, g.Options)
		}
		for _, fe := range got {
			if fe.Attr("var") == FieldIncludeBody {
				t.Fatalf("the consent field goes to the app server: %q", g.Options)
			}
		}
	})
}
