package xmppd

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// Two hooks removing the same children, in any order, must still leave a
// well-formed stanza (the archive and the core both strip stanza-ids).
func TestRemoveChildrenTwiceAndOutOfOrder(t *testing.T) {
	st, err := wire.ParseStanza([]byte("<message to='b@x'><a xmlns='urn:a'/><body>hi</body><sid xmlns='urn:s'/></message>"))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPacket(st, JID{Local: "a", Domain: "x"}, JID{Local: "b", Domain: "x"})
	p.RemoveChildren("sid", "urn:s")
	p.RemoveChildren("a", "urn:a")
	p.RemoveChildren("sid", "urn:s")
	got := string(p.Bytes())
	if want := "<message from='a@x' to='b@x'><body>hi</body></message>"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
