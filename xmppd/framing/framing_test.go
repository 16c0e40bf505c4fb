package framing

import (
	"strings"
	"testing"
)

// What the server writes, in any chunking, comes out as one message per
// element, converted for RFC 7395.
func TestWriterFramesElements(t *testing.T) {
	stream := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='x1' version='1.0' xml:lang='en'>` +
		`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>` +
		`<message to='a@b' q="1>2" r='&apos;/>'><body>x &gt; y <![CDATA[</message> <b>]]></body></message>` + "\n " +
		`<r xmlns='urn:xmpp:sm:3'/><iq xmlns='jabber:client' type='result' id='1'/>` +
		`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`
	want := []string{
		`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='x1' version='1.0' xml:lang='en'/>`,
		`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
		`<message xmlns='jabber:client' to='a@b' q="1>2" r='&apos;/>'><body>x &gt; y <![CDATA[</message> <b>]]></body></message>`,
		`<r xmlns='urn:xmpp:sm:3'/>`,
		`<iq xmlns='jabber:client' type='result' id='1'/>`,
		`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
		`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`,
	}
	for _, chunk := range []int{1, 3, 7, 64, len(stream)} {
		var got []string
		w := &Writer{Send: func(m []byte) error { got = append(got, string(m)); return nil }}
		for i := 0; i < len(stream); i += chunk {
			if _, err := w.Write([]byte(stream[i:min(i+chunk, len(stream))])); err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("chunk %d:\n got %q\nwant %q", chunk, got, want)
		}
	}
}

func TestWriterRefusesNonElements(t *testing.T) {
	for _, in := range []string{"text", "<!-- c -->", "</message>"} {
		w := &Writer{Send: func([]byte) error { return nil }}
		if _, err := w.Write([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	w := &Writer{Send: func([]byte) error { return nil }, MaxPending: 100}
	if _, err := w.Write([]byte("<message>" + strings.Repeat("x", 200))); err == nil {
		t.Error("an unterminated element beyond MaxPending was held")
	}
}

func TestUnframe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0" xml:lang="en"/>`,
			`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' xml:lang='en'>`},
		{` <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>` + "\n", `</stream:stream>`},
		{`<message to='a@b'><body>hi</body></message>`, `<message to='a@b'><body>hi</body></message>`},
		{`<open xmlns='urn:other'/>`, `<open xmlns='urn:other'/>`},
		{" \r\n", ""},
		{`<?xml version='1.0'?> <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost'/>`,
			`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>`},
	} {
		got, err := Unframe([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Unframe(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"<a/><b/>", "<?xml version='1.0'?>", "<?xml version='1.0'?><?x?><a/>", "<message><body>", "hello", "<a/>x", "<!-- c -->", "</stream:stream>",
		"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"} {
		if _, err := Unframe([]byte(bad)); err != ErrNotOneElement {
			t.Errorf("Unframe(%q): %v, want ErrNotOneElement", bad, err)
		}
	}
}
