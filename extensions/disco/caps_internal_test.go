package disco

import (
	"testing"

	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
)

// The simple generation example of XEP-0115 §5.2, shuffled: the hash must
// not depend on the order the registry returns things in.
func TestVerStringXEP0115Example(t *testing.T) {
	in := mdisco.Info{
		Identity: []info.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []info.Feature{
			{Var: "http://jabber.org/protocol/muc"},
			{Var: "http://jabber.org/protocol/disco#info"},
			{Var: "http://jabber.org/protocol/caps"},
			{Var: "http://jabber.org/protocol/disco#items"},
		},
	}
	if got, want := verString(in), "QgayPKawpkPSDYmwT/WM94uAlu0="; got != want {
		t.Fatalf("ver = %q, want %q", got, want)
	}
}
