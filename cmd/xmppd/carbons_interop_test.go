package main

import "testing"

// slixmppCarbon is a forwarded message as slixmpp's xep_0280 plugin hands
// it over (it checks the carbon came from the user's own bare JID).
type slixmppCarbon struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Body      string `json:"body"`
	Type      string `json:"type"`
	OuterFrom string `json:"outer_from"`
}

// TestSlixmppCarbonsAgainstBinary: slixmpp's XEP-0280 plugin on two of
// alice's devices sees the built binary's 'sent' and 'received' carbons,
// and none for a <private/> message.
func TestSlixmppCarbonsAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob")
	var res struct {
		Feature struct {
			HasFeature bool `json:"has_feature"`
		} `json:"feature"`
		Sent struct {
			BobGot string        `json:"bob_got"`
			Carbon slixmppCarbon `json:"carbon"`
		} `json:"sent"`
		Received struct {
			LaptopGot string        `json:"laptop_got"`
			Carbon    slixmppCarbon `json:"carbon"`
		} `json:"received"`
		Private struct {
			BobGot     []string      `json:"bob_got"`
			NextCarbon slixmppCarbon `json:"next_carbon"`
		} `json:"private"`
	}
	// runSlixmpp fails the test for any step with an error.
	runSlixmpp(t, in, "slixmpp_carbons.py", &res)
	if !res.Feature.HasFeature {
		t.Errorf("disco#info of localhost lacks urn:xmpp:carbons:2")
	}
	if s := res.Sent; s.BobGot != "from the laptop" ||
		s.Carbon != (slixmppCarbon{From: "alice@localhost/laptop", To: "bob@localhost", Body: "from the laptop", Type: "chat", OuterFrom: "alice@localhost"}) {
		t.Errorf("sent carbon: bob got %q, phone got %+v", s.BobGot, s.Carbon)
	}
	if r := res.Received; r.LaptopGot != "to the laptop" ||
		r.Carbon != (slixmppCarbon{From: "bob@localhost/bot", To: "alice@localhost/laptop", Body: "to the laptop", Type: "chat", OuterFrom: "alice@localhost"}) {
		t.Errorf("received carbon: laptop got %q, phone got %+v", r.LaptopGot, r.Carbon)
	}
	if p := res.Private; len(p.BobGot) != 2 || p.BobGot[0] != "off the record" || p.NextCarbon.Body != "on the record" {
		t.Errorf("private: bob got %q, the phone's next carbon is %+v (want the one after the private message)", p.BobGot, p.NextCarbon)
	}
}
