package csi

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		xml  string
		want class
		from string
	}{
		{"<presence from='a@x/r'/>", hold, "a@x/r"},
		{"<presence from='a@x/r' type='unavailable'/>", hold, "a@x/r"},
		{"<presence from='a@x' type='subscribe'/>", urgent, ""},
		{"<iq type='result' id='1'/>", urgent, ""},
		{"<message type='chat'><body>hi</body></message>", urgent, ""},
		{"<message type='groupchat'><subject>topic</subject></message>", urgent, ""},
		{"<message type='error'><error type='cancel'/></message>", urgent, ""},
		{"<message><x xmlns='jabber:x:conference' jid='room@muc'/></message>", urgent, ""},
		{"<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>", pass, ""},
		{"<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>", pass, ""},
		{"<message type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>" +
			"<message xmlns='jabber:client' type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></sent></message>", urgent, ""},
		{"<message type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>" +
			"<message xmlns='jabber:client' type='chat'><body>hi</body></message></forwarded></received></message>", urgent, ""},
		{"<message type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>" +
			"<message xmlns='jabber:client' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>", pass, ""},
		{"<r xmlns='urn:xmpp:sm:3'/>", urgent, ""},
		{"not xml", urgent, ""},
	} {
		got, from := classify([]byte(tc.xml))
		if got != tc.want || from != tc.from {
			t.Errorf("%s: got %d %q, want %d %q", tc.xml, got, from, tc.want, tc.from)
		}
	}
}

// TestSupersededPresenceIsCompacted: one chatty sender never grows the
// held list beyond a few entries.
func TestSupersededPresenceIsCompacted(t *testing.T) {
	st := &state{index: make(map[string]int)}
	for i := 0; i < 100; i++ {
		st.holdLocked("a@x/r", []byte("<presence/>"))
	}
	if len(st.index) != 1 || len(st.held) > 2*len(st.index)+17 {
		t.Fatalf("one sender: %d entries, %d held", len(st.index), len(st.held))
	}
}
