package wire

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"unsafe"
)

func mustNext(t testing.TB, in string) *Stanza {
	t.Helper()
	var s Stanza
	if err := NewReader(strings.NewReader(in), Limits{}).Next(&s); err != nil {
		t.Fatalf("Next(%q): %v", in, err)
	}
	return &s
}

// xmlAttrs decodes the root start tag of b with encoding/xml.
func xmlAttrs(t *testing.T, b []byte) map[string]string {
	t.Helper()
	if err := decodeAllXML(b); err != nil {
		t.Fatalf("encoding/xml rejects %q: %v", b, err)
	}
	tok, err := xml.NewDecoder(bytes.NewReader(b)).RawToken()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, a := range tok.(xml.StartElement).Attr {
		name := a.Name.Local
		if a.Name.Space != "" {
			name = a.Name.Space + ":" + name
		}
		if _, dup := m[name]; dup {
			t.Fatalf("duplicate attribute %s in %q", name, b)
		}
		m[name] = a.Value
	}
	return m
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		in, to, from, want string
	}{
		{`<message to='a' from='b' id='1'><body/></message>`, "X", "Y", `<message to='X' from='Y' id='1'><body/></message>`},
		{`<message to="a" id="1" from="b">x</message>`, "X", "Y", `<message to='X' id="1" from='Y'>x</message>`},
		{`<message id='1'/>`, "X", "Y", `<message to='X' from='Y' id='1'/>`},
		{`<presence/>`, "X", "Y", `<presence to='X' from='Y'/>`},
		{`<presence/>`, "", "", `<presence/>`},
		{`<message to='a' from='b' id='1'/>`, "", "", `<message id='1'/>`},
		{`<message id='1' from='b' to='a'/>`, "X", "", `<message id='1' to='X'/>`},
		{`<message from='b' to='a'/>`, "X", "Y", `<message from='Y' to='X'/>`},
		{`<iq id='1' from='b' type='get'/>`, "X", "Y", `<iq to='X' id='1' from='Y' type='get'/>`},
		{`<iq id='1' to='a' type='get'/>`, "X", "Y", `<iq from='Y' id='1' to='X' type='get'/>`},
		{`<message to='a'/>`, `a'b&<>"c`, "\r\n", `<message from='&#xD;&#xA;' to='a&apos;b&amp;&lt;&gt;&quot;c'/>`},
		{"<message\n to = \"a\"\tfrom='b'\n>t</message>", "", "Y", "<message from='Y'\n>t</message>"},
		{`<r xmlns='urn:xmpp:sm:3'/>`, "X", "Y", `<r to='X' from='Y' xmlns='urn:xmpp:sm:3'/>`},
		{`<message xmlns='jabber:client' to='a' xml:lang='en'><to>not me</to></message>`, "X", "Y",
			`<message from='Y' xmlns='jabber:client' to='X' xml:lang='en'><to>not me</to></message>`},
		{`<c:message xmlns:c='jabber:client' c:to='keep' to='a'/>`, "X", "Y", `<c:message from='Y' xmlns:c='jabber:client' c:to='keep' to='X'/>`},
	}
	for _, tc := range tests {
		s := mustNext(t, tc.in)
		got := s.Rewrite(nil, tc.to, tc.from)
		if string(got) != tc.want {
			t.Errorf("Rewrite(%q, %q, %q) =\n %q, want\n %q", tc.in, tc.to, tc.from, got, tc.want)
			continue
		}
		attrs := xmlAttrs(t, got)
		for name, want := range map[string]string{"to": tc.to, "from": tc.from} {
			if v, ok := attrs[name]; v != want || ok != (want != "") {
				t.Errorf("%q: encoding/xml sees %s=%q (present %v), want %q", got, name, v, ok, want)
			}
		}
		// And our own reader agrees.
		s2 := mustNext(t, string(got))
		if s2.To != tc.to || s2.From != tc.from || s2.ID != s.ID || s2.NS != s.NS {
			t.Errorf("%q re-read as to=%q from=%q id=%q ns=%q", got, s2.To, s2.From, s2.ID, s2.NS)
		}
		// Appending keeps dst.
		if got := s.Rewrite([]byte("pre"), tc.to, tc.from); string(got) != "pre"+tc.want {
			t.Errorf("Rewrite with prefix = %q", got)
		}
	}
}

func TestRewriteAllocs(t *testing.T) {
	s := mustNext(t, benchMessage)
	dst := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { dst = s.Rewrite(dst[:0], "juliet@example.com/balcony", "romeo@example.net/orchard") }); n != 0 {
		t.Errorf("Rewrite into a buffer with capacity: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.Rewrite(nil, "juliet@example.com/b'alcony", "romeo@example.net/<orchard>") }); n != 1 {
		t.Errorf("Rewrite into nil with escaping: %v allocs, want 1", n)
	}
}

func TestNextAllocs(t *testing.T) {
	src := &repeatReader{data: []byte(benchMessage)}
	r := NewReader(src, Limits{})
	var s Stanza
	if err := r.Next(&s); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if err := r.Next(&s); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Next: %v allocs per stanza, want 1 (the Raw copy)", n)
	}
	if s.To != "juliet@capulet.example/balcony" || len(s.Children) != 3 {
		t.Errorf("unexpected stanza %+v", s)
	}
}

func TestStanzaZeroCopyStrings(t *testing.T) {
	s := mustNext(t, `<message to='a@b' from='c&amp;d' id='x'><body>b</body></message>`)
	if s.To != "a@b" || s.ID != "x" || s.From != "c&d" {
		t.Fatalf("fields %q %q %q", s.To, s.From, s.ID)
	}
	raw := uintptr(unsafe.Pointer(&s.Raw[0]))
	inRaw := func(str string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(str)))
		return p >= raw && p+uintptr(len(str)) <= raw+uintptr(len(s.Raw))
	}
	for _, v := range []string{s.To, s.ID, s.Name, s.Children[0].Name} {
		if !inRaw(v) {
			t.Errorf("%q is a copy, want a view into Raw", v)
		}
	}
	if inRaw(s.From) {
		t.Errorf("decoded value %q points into Raw", s.From)
	}
}

func TestStanzaElement(t *testing.T) {
	s := mustNext(t, `<iq type='set' id='1'><query xmlns='jabber:iq:roster' ver='v1'><item jid='a@b' name='A &amp; B'><group>Friends</group><group>Work</group></item></query></iq>`)
	el, err := s.Element()
	if err != nil {
		t.Fatal(err)
	}
	q := el.Child("query", "jabber:iq:roster")
	if el.NS != "jabber:client" || el.Attr("type") != "set" || q == nil || q.Attr("ver") != "v1" {
		t.Fatalf("tree = %s", el)
	}
	item := q.Child("item", "")
	if item.Attr("name") != "A & B" || len(item.ChildrenNamed("group", "jabber:iq:roster")) != 2 || item.ChildText("group", "") != "Friends" {
		t.Errorf("item = %s", item)
	}
}
