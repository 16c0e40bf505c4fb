package inbox

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzQuery: any inbox query is refused or read into a known box, an RSM
// max that is none or not negative, and cursors that print back to what
// the client sent; the order the request asks for is a strict total
// order on cursors.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		`<inbox xmlns='erlang-solutions.com:xmpp:inbox:0' queryid='q1'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>erlang-solutions.com:xmpp:inbox:0</value></field><field var='start'><value>2024-01-02T03:04:05.123456Z</value></field><field var='order'><value>asc</value></field><field var='hidden_read'><value>true</value></field><field var='box'><value>archive</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>1700000000000000/YWxpY2VAbG9jYWxob3N0</after></set></inbox>`,
		`<inbox xmlns='erlang-solutions.com:xmpp:inbox:0'><x xmlns='jabber:x:data'><field var='archive' value='1'/></x><set xmlns='http://jabber.org/protocol/rsm'><before/></set></inbox>`,
		`<inbox xmlns='erlang-solutions.com:xmpp:inbox:0'><set xmlns='http://jabber.org/protocol/rsm'><before>5/</before><max>-1</max></set></inbox>`,
		`<inbox xmlns='erlang-solutions.com:xmpp:inbox:0'><set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set></inbox>`,
		`<inbox xmlns='erlang-solutions.com:xmpp:inbox:0'><x xmlns='jabber:x:data'><field var='order'><value>sideways</value></field></x></inbox>`,
	} {
		f.Add([]byte(seed), int64(1700000000000000), "bob@localhost")
	}
	f.Fuzz(func(t *testing.T, b []byte, at int64, jid string) {
		el, err := wire.Parse(b)
		if err != nil {
			return
		}
		req, err := parseRequest(el)
		if err != nil {
			return
		}
		switch req.box {
		case "all", boxInbox, boxArchive, "bin":
		default:
			t.Fatalf("box %q", req.box)
		}
		if req.max < -1 || req.lastPage && req.before != nil {
			t.Fatalf("request %+v", req)
		}
		for _, c := range []*cursor{req.after, req.before} {
			if c == nil {
				continue
			}
			again, err := parseCursor(c.String())
			if err != nil || *again != *c {
				t.Fatalf("cursor %+v prints as %q and reads back as %+v (%v)", c, c.String(), again, err)
			}
			other := cursor{at: at, jid: jid}
			if req.compare(*c, other) != -req.compare(other, *c) || (req.compare(*c, other) == 0) != (*c == other) {
				t.Fatalf("order of %+v and %+v: %d, %d", *c, other, req.compare(*c, other), req.compare(other, *c))
			}
		}
	})
}
