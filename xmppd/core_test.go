package xmppd_test

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

func TestChatBetweenTwoAccounts(t *testing.T) {
	srv := xmppdtest.Start(t)
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	bob.Available()

	alice.Send("<message to='bob@localhost' type='chat' id='m1'><body>hi bob</body></message>")
	got := bob.Expect("alice's message", xmppdtest.Is("message", "chat"))
	if got.ChildText("body", "") != "hi bob" {
		t.Fatalf("body = %q in %s", got.ChildText("body", ""), got)
	}
	if from := got.Attr("from"); from != alice.JID.String() {
		t.Fatalf("from = %q, want %q", from, alice.JID.String())
	}
	if sid := got.Child("stanza-id", "urn:xmpp:sid:0"); sid == nil || sid.Attr("by") != "bob@localhost" || sid.Attr("id") == "" {
		t.Fatalf("no server stanza-id: %s", got)
	}
}
