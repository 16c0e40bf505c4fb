package inbox_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// A 1:1 chat message with the archive and the inbox on costs one write
// transaction (one group commit): the sender's and the recipient's
// archive copies and both inbox entries are queued on the packet
// (xmppd.Packet.Persist) and committed together before delivery.
func TestChatMessageIsOneCommit(t *testing.T) {
	srv := start(t)
	alice, bob := online(t, srv, "alice", "phone"), online(t, srv, "bob", "phone")
	const n = 5
	before := srv.Store().WriteTransactions()
	for i := range n {
		body := fmt.Sprintf("one commit %d", i)
		alice.Sendf("<message to='bob@localhost' type='chat' id='c%d'><body>%s</body></message>", i, body)
		bob.Expect(body, func(el *wire.Element) bool { return el.ChildText("body", "") == body })
	}
	alice.Sync()
	if got := srv.Store().WriteTransactions() - before; got != n {
		t.Fatalf("%d chat messages cost %d write transactions, want %d", n, got, n)
	}
	// Everything was in them.
	es, _ := query(t, bob, "")
	if len(es) != 1 || es[0].unread != fmt.Sprint(n) || es[0].body != fmt.Sprintf("one commit %d", n-1) {
		t.Fatalf("bob's inbox %+v", es)
	}
	es, _ = query(t, alice, "")
	if len(es) != 1 || es[0].unread != "0" || es[0].body != fmt.Sprintf("one commit %d", n-1) {
		t.Fatalf("alice's inbox %+v", es)
	}
	for _, c := range []*xmppdtest.Client{alice, bob} {
		res := c.IQ("get", "", "<metadata xmlns='urn:xmpp:mam:2'/>")
		if res.Attr("type") != "result" || res.Child("metadata", "urn:xmpp:mam:2").Child("end", "") == nil {
			t.Fatalf("%s's archive is empty: %s", c.JID, res)
		}
	}
}
