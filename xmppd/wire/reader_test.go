package wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// byteAtATime returns one byte per Read, like a peer trickling bytes.
type byteAtATime struct{ r io.Reader }

func (b byteAtATime) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return b.r.Read(p[:1])
}

type readerKind struct {
	name string
	wrap func(io.Reader) io.Reader
}

var readerKinds = []readerKind{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"byteAtATime", func(r io.Reader) io.Reader { return byteAtATime{r} }},
	{"OneByteReader", iotest.OneByteReader},
	{"HalfReader", iotest.HalfReader},
	{"DataErrReader", iotest.DataErrReader},
}

type wantStanza struct {
	raw                     string
	name, ns                string
	to, from, id, typ, lang string
	children                []string // "name ns"
	childRaw                []string // optional: ChildBytes of each child
}

// readAll calls Next until it fails and returns the stanzas and the error.
func readAll(t testing.TB, src io.Reader, lim Limits) ([]*Stanza, error) {
	t.Helper()
	r := NewReader(src, lim)
	var out []*Stanza
	var s Stanza
	for range 1000 {
		if err := r.Next(&s); err != nil {
			return out, err
		}
		out = append(out, s.Clone())
	}
	t.Fatal("too many stanzas")
	return nil, nil
}

func TestNextValid(t *testing.T) {
	msg := `<message to='juliet@example.com' from="romeo@example.net/orchard" id='m1' type='chat' xml:lang='en'>` +
		`<body>hi &amp; &lt;3 &gt; &apos;&quot; &#x263A;&#65;</body></message>`
	tests := []struct {
		name string
		in   string
		want []wantStanza
	}{
		{"message with entities", msg, []wantStanza{{
			raw: msg, name: "message", ns: "jabber:client",
			to: "juliet@example.com", from: "romeo@example.net/orchard", id: "m1", typ: "chat", lang: "en",
			children: []string{"body jabber:client"},
			childRaw: []string{`<body>hi &amp; &lt;3 &gt; &apos;&quot; &#x263A;&#65;</body>`},
		}}},
		{"cdata", `<message><body><![CDATA[<b>x</b> ]] > & ]]></body></message>`, []wantStanza{{
			raw: `<message><body><![CDATA[<b>x</b> ]] > & ]]></body></message>`, name: "message", ns: "jabber:client",
			children: []string{"body jabber:client"},
		}}},
		{"nested namespaces", `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query></iq>`, []wantStanza{{
			raw:  `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query></iq>`,
			name: "iq", ns: "jabber:client", typ: "get", id: "r1",
			children: []string{"query jabber:iq:roster"},
			childRaw: []string{`<query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query>`},
		}}},
		{"prefixed children", `<message><p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x><z xmlns='urn:z'><w/></z><body>b</body></message>`, []wantStanza{{
			raw:  `<message><p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x><z xmlns='urn:z'><w/></z><body>b</body></message>`,
			name: "message", ns: "jabber:client",
			children: []string{"x urn:p", "z urn:z", "body jabber:client"},
			childRaw: []string{`<p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x>`, `<z xmlns='urn:z'><w/></z>`, `<body>b</body>`},
		}}},
		{"self-closing and keepalives", " \n <presence/>\n\n\t<presence type='unavailable'/> \r\n ", []wantStanza{
			{raw: `<presence/>`, name: "presence", ns: "jabber:client"},
			{raw: `<presence type='unavailable'/>`, name: "presence", ns: "jabber:client", typ: "unavailable"},
		}},
		{"entities in addressing", `<message to='a&amp;b@c' from="x&#x40;y" id='a&lt;&#10;b'/>`, []wantStanza{{
			raw: `<message to='a&amp;b@c' from="x&#x40;y" id='a&lt;&#10;b'/>`, name: "message", ns: "jabber:client",
			to: "a&b@c", from: "x@y", id: "a<\nb",
		}}},
		{"attribute normalisation", "<message id='a\nb\tc\r\nd'/>", []wantStanza{{
			raw: "<message id='a\nb\tc\r\nd'/>", name: "message", ns: "jabber:client", id: "a b c d",
		}}},
		{"stream management", `<r xmlns='urn:xmpp:sm:3'/><enable xmlns='urn:xmpp:sm:3' resume='true'/><a xmlns='urn:xmpp:sm:3' h='1'/>`, []wantStanza{
			{raw: `<r xmlns='urn:xmpp:sm:3'/>`, name: "r", ns: "urn:xmpp:sm:3"},
			{raw: `<enable xmlns='urn:xmpp:sm:3' resume='true'/>`, name: "enable", ns: "urn:xmpp:sm:3"},
			{raw: `<a xmlns='urn:xmpp:sm:3' h='1'/>`, name: "a", ns: "urn:xmpp:sm:3"},
		}},
		{"stream error and features", `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>` +
			`<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`, []wantStanza{
			{raw: `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`, name: "features",
				ns: "http://etherx.jabber.org/streams", children: []string{"bind urn:ietf:params:xml:ns:xmpp-bind"}},
			{raw: `<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`, name: "error",
				ns: "http://etherx.jabber.org/streams", children: []string{"not-authorized urn:ietf:params:xml:ns:xmpp-streams"}},
		}},
		{"gt and quotes in values", `<message id='a>b"c' to="x'y>"/>`, []wantStanza{{
			raw: `<message id='a>b"c' to="x'y>"/>`, name: "message", ns: "jabber:client", id: `a>b"c`, to: `x'y>`,
		}}},
		{"non-ascii", `<message to='jüliet@exämple.com'><body>héllo 😀</body><ñ xmlns='urn:x'/></message>`, []wantStanza{{
			raw: `<message to='jüliet@exämple.com'><body>héllo 😀</body><ñ xmlns='urn:x'/></message>`, name: "message",
			ns: "jabber:client", to: "jüliet@exämple.com", children: []string{"body jabber:client", "ñ urn:x"},
		}}},
		{"whitespace in tags", "<message\n  to = 'a' \n><body >x</body\n></message >", []wantStanza{{
			raw: "<message\n  to = 'a' \n><body >x</body\n></message >", name: "message", ns: "jabber:client", to: "a",
			children: []string{"body jabber:client"},
		}}},
		{"prefixed top-level", `<c:message xmlns:c='jabber:client' to='x'><c:body>b</c:body></c:message>`, []wantStanza{{
			raw:  `<c:message xmlns:c='jabber:client' to='x'><c:body>b</c:body></c:message>`,
			name: "message", ns: "jabber:client", to: "x", children: []string{"body jabber:client"},
		}}},
		{"locally redeclared stream prefix", `<message><stream:x xmlns:stream='urn:s'/></message>`, []wantStanza{{
			raw: `<message><stream:x xmlns:stream='urn:s'/></message>`, name: "message", ns: "jabber:client",
			children: []string{"x urn:s"},
		}}},
		{"default namespace undeclared", `<message><x xmlns='urn:x'><y xmlns=''/></x></message>`, []wantStanza{{
			raw: `<message><x xmlns='urn:x'><y xmlns=''/></x></message>`, name: "message", ns: "jabber:client",
			children: []string{"x urn:x"},
		}}},
		{"stream end", `<presence/></stream:stream><presence/>`, []wantStanza{
			{raw: `<presence/>`, name: "presence", ns: "jabber:client"},
		}},
		{"stream end other prefix", `<presence/> </s:stream >`, []wantStanza{
			{raw: `<presence/>`, name: "presence", ns: "jabber:client"},
		}},
		{"empty", "", nil},
		{"only keepalives", " \n \n", nil},
	}
	for _, tc := range tests {
		for _, rk := range readerKinds {
			t.Run(tc.name+"/"+rk.name, func(t *testing.T) {
				got, err := readAll(t, rk.wrap(strings.NewReader(tc.in)), Limits{})
				if err != io.EOF {
					t.Fatalf("final error = %v, want io.EOF", err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d stanzas, want %d", len(got), len(tc.want))
				}
				for i, w := range tc.want {
					checkStanza(t, got[i], w)
				}
			})
		}
	}
}

func checkStanza(t *testing.T, s *Stanza, w wantStanza) {
	t.Helper()
	if string(s.Raw) != w.raw {
		t.Errorf("Raw = %q, want %q", s.Raw, w.raw)
	}
	type fields struct{ Name, NS, To, From, ID, Type, Lang string }
	gf := fields{s.Name, s.NS, s.To, s.From, s.ID, s.Type, s.Lang}
	wf := fields{w.name, w.ns, w.to, w.from, w.id, w.typ, w.lang}
	if gf != wf {
		t.Errorf("fields = %+v, want %+v", gf, wf)
	}
	var kids []string
	for _, c := range s.Children {
		kids = append(kids, c.Name+" "+c.NS)
	}
	if strings.Join(kids, ",") != strings.Join(w.children, ",") {
		t.Errorf("children = %q, want %q", kids, w.children)
	}
	for i, cr := range w.childRaw {
		if i < len(s.Children) && string(s.ChildBytes(s.Children[i])) != cr {
			t.Errorf("child %d bytes = %q, want %q", i, s.ChildBytes(s.Children[i]), cr)
		}
	}
	// encoding/xml must agree that Raw is one well-formed element.
	if err := decodeAllXML(s.Raw); err != nil {
		t.Errorf("encoding/xml rejects Raw %q: %v", s.Raw, err)
	}
}

// decodeAllXML decodes b with encoding/xml (strict) and requires exactly one
// complete root element.
func decodeAllXML(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if depth != 0 || roots != 1 {
				return errors.New("incomplete document")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

func TestNextChildrenLookup(t *testing.T) {
	in := `<message><body>x</body><active xmlns='http://jabber.org/protocol/chatstates'/><body xml:lang='de'>y</body></message>`
	r := NewReader(strings.NewReader(in), Limits{})
	var s Stanza
	if err := r.Next(&s); err != nil {
		t.Fatal(err)
	}
	c, ok := s.Child("active", "http://jabber.org/protocol/chatstates")
	if !ok || string(s.ChildBytes(c)) != `<active xmlns='http://jabber.org/protocol/chatstates'/>` {
		t.Errorf("Child(active) = %v %v", c, ok)
	}
	if c, ok := s.Child("body", ""); !ok || string(s.ChildBytes(c)) != `<body>x</body>` {
		t.Errorf("Child(body, any) = %q", s.ChildBytes(c))
	}
	if _, ok := s.Child("active", "jabber:client"); ok {
		t.Error("Child matched the wrong namespace")
	}
}

func TestNextErrors(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name string
		in   string
		lim  Limits
		kind ErrorKind
	}{
		{"mismatched tags", `<message><body></message>`, Limits{}, NotWellFormed},
		{"mismatched prefix", `<message><p:a xmlns:p='u' xmlns:q='u'></q:a></message>`, Limits{}, NotWellFormed},
		{"duplicate attribute", `<message id='1' id="2"/>`, Limits{}, NotWellFormed},
		{"unquoted attribute", `<message id=1/>`, Limits{}, NotWellFormed},
		{"attribute without value", `<message id/>`, Limits{}, NotWellFormed},
		{"no space between attributes", `<message a='1'b='2'/>`, Limits{}, NotWellFormed},
		{"lt in attribute", `<message a='<'/>`, Limits{}, NotWellFormed},
		{"text at top level", `hello <presence/>`, Limits{}, NotWellFormed},
		{"stray end tag", `<presence/></message>`, Limits{}, NotWellFormed},
		{"malformed entity", `<message><body>a & b</body></message>`, Limits{}, NotWellFormed},
		{"unterminated entity", `<message><body>&amp</body></message>`, Limits{}, NotWellFormed},
		{"cdata end in text", `<message><body>a]]>b</body></message>`, Limits{}, NotWellFormed},
		{"bad name", `<message><1a/></message>`, Limits{}, NotWellFormed},
		{"two colons", `<a:b:c xmlns:a='u'/>`, Limits{}, NotWellFormed},
		{"space after lt", `<message>< body/></message>`, Limits{}, NotWellFormed},
		{"cdata at top level", `<![CDATA[x]]>`, Limits{}, NotWellFormed},
		{"uppercase hex ref", `<message><body>&#X41;</body></message>`, Limits{}, NotWellFormed},

		{"too large", `<message><body>` + strings.Repeat("x", 200) + `</body></message>`, Limits{MaxStanzaSize: 100}, TooLarge},
		{"too large complete", `<message><body>` + strings.Repeat("x", 80) + `</body></message>`, Limits{MaxStanzaSize: 100}, TooLarge},
		{"too deep", `<message>` + strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10) + `</message>`, Limits{MaxDepth: 10}, TooLarge},
		{"too many attributes", `<message a='1' b='2' c='3' d='4'/>`, Limits{MaxAttrs: 3}, TooLarge},
		{"too many attributes on child", `<message><x a='1' b='2' c='3' d='4'/></message>`, Limits{MaxAttrs: 3}, TooLarge},

		{"undeclared element prefix", `<message><foo:bar/></message>`, Limits{}, BadNamespacePrefix},
		{"undeclared attribute prefix", `<message foo:x='1'/>`, Limits{}, BadNamespacePrefix},
		{"undeclared top-level prefix", `<jc:message/>`, Limits{}, BadNamespacePrefix},
		{"stream prefix inside stanza", `<message><stream:error/></message>`, Limits{}, BadNamespacePrefix},
		{"stream prefix other element", `<stream:message/>`, Limits{}, BadNamespacePrefix},
		{"prefix out of scope", `<message><a xmlns:p='u'/><p:b/></message>`, Limits{}, BadNamespacePrefix},
		{"empty prefix binding", `<message xmlns:p=''/>`, Limits{}, BadNamespacePrefix},
		{"xml prefix rebound", `<message xmlns:xml='urn:x'/>`, Limits{}, BadNamespacePrefix},
		{"xmlns prefix declared", `<message xmlns:xmlns='urn:x'/>`, Limits{}, BadNamespacePrefix},

		{"comment", `<!-- hi --><presence/>`, Limits{}, Restricted},
		{"comment inside", `<message><!-- hi --></message>`, Limits{}, Restricted},
		{"pi", `<?xml version='1.0'?><presence/>`, Limits{}, Restricted},
		{"pi inside", `<message><?x y?></message>`, Limits{}, Restricted},
		{"doctype", `<!DOCTYPE message><message/>`, Limits{}, Restricted},
		{"entity declaration", `<message><!ENTITY x 'y'></message>`, Limits{}, Restricted},
		{"undefined entity", `<message><body>&foo;</body></message>`, Limits{}, Restricted},
		{"undefined entity in attribute", `<message id='&` + long + `;'/>`, Limits{}, Restricted},

		{"nul char ref", `<message><body>&#0;</body></message>`, Limits{}, InvalidXML},
		{"surrogate char ref", `<message><body>&#xD800;</body></message>`, Limits{}, InvalidXML},
		{"fffe char ref", `<message id='&#xFFFE;'/>`, Limits{}, InvalidXML},
		{"huge char ref", `<message><body>&#99999999999999999999;</body></message>`, Limits{}, InvalidXML},
		{"control char", "<message><body>a\x01b</body></message>", Limits{}, InvalidXML},
		{"control char in attribute", "<message id='\x1b'/>", Limits{}, InvalidXML},
		{"bad utf-8 text", "<message><body>a\xffb</body></message>", Limits{}, InvalidXML},
		{"bad utf-8 attribute", "<message id='\xc3('/>", Limits{}, InvalidXML},
		{"bad utf-8 name", "<message><a\xff/></message>", Limits{}, InvalidXML},
		{"surrogate utf-8", "<message><body>\xed\xa0\x80</body></message>", Limits{}, InvalidXML},
		{"bad utf-8 cdata", "<message><body><![CDATA[\xff]]></body></message>", Limits{}, InvalidXML},
	}
	conds := map[ErrorKind]string{
		NotWellFormed: "not-well-formed", TooLarge: "policy-violation", BadNamespacePrefix: "bad-namespace-prefix",
		Restricted: "restricted-xml", InvalidXML: "invalid-xml",
	}
	for _, tc := range tests {
		for _, rk := range readerKinds {
			t.Run(tc.name+"/"+rk.name, func(t *testing.T) {
				r := NewReader(rk.wrap(strings.NewReader(tc.in)), tc.lim)
				var s Stanza
				var err error
				for range 10 {
					if err = r.Next(&s); err != nil {
						break
					}
				}
				var we *Error
				if !errors.As(err, &we) {
					t.Fatalf("err = %v, want *Error %v", err, tc.kind)
				}
				if we.Kind != tc.kind || we.Condition() != conds[tc.kind] {
					t.Fatalf("err = %v (kind %v), want %v", err, we.Kind, conds[tc.kind])
				}
				if !strings.Contains(we.Error(), conds[tc.kind]) {
					t.Errorf("Error() = %q lacks the condition", we.Error())
				}
				if err2 := r.Next(&s); err2 != err {
					t.Errorf("second Next = %v, want the same error", err2)
				}
			})
		}
	}
}

func TestNextEOF(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want error
	}{
		{"", 0, io.EOF},
		{"<presence/>", 1, io.EOF},
		{"<presence/>  \n", 1, io.EOF},
		{"<message>", 0, io.ErrUnexpectedEOF},
		{"<presence/><mess", 1, io.ErrUnexpectedEOF},
		{"<presence/><", 1, io.ErrUnexpectedEOF},
		{"<presence/></stream:str", 1, io.ErrUnexpectedEOF},
		{"<message><body><![CDATA[x", 0, io.ErrUnexpectedEOF},
		{"<message id='>", 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		for _, rk := range readerKinds {
			got, err := readAll(t, rk.wrap(strings.NewReader(tc.in)), Limits{})
			if len(got) != tc.n || err != tc.want {
				t.Errorf("%q/%s: %d stanzas, %v; want %d, %v", tc.in, rk.name, len(got), err, tc.n, tc.want)
			}
		}
	}
}

// PeerClosed tells </stream:stream> from a connection that just ended
// (XEP-0198 hibernates a session only in the second case).
func TestPeerClosed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"<presence/></stream:stream>", true},
		{"<presence/></stream>", true},
		{"<presence/>", false},
		{"<presence/>\n", false},
	} {
		r := NewReader(strings.NewReader(tc.in), Limits{})
		var st Stanza
		var err error
		for err == nil {
			err = r.Next(&st)
		}
		if err != io.EOF || r.PeerClosed() != tc.want {
			t.Errorf("%q: %v, PeerClosed %v; want io.EOF, %v", tc.in, err, r.PeerClosed(), tc.want)
		}
	}
}

// countingReader serves n bytes of a repeated pattern and counts reads.
type countingReader struct {
	prefix   string
	fill     byte
	n, total int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.total >= c.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && c.total < c.n {
		if c.total < len(c.prefix) {
			p[k] = c.prefix[c.total]
		} else {
			p[k] = c.fill
		}
		k++
		c.total++
	}
	return k, nil
}

func TestNextTooLargeStopsReading(t *testing.T) {
	src := &countingReader{prefix: "<message><body>", fill: 'x', n: 10 << 20}
	r := NewReader(src, Limits{MaxStanzaSize: 1000})
	var s Stanza
	err := r.Next(&s)
	var we *Error
	if !errors.As(err, &we) || we.Kind != TooLarge {
		t.Fatalf("err = %v, want TooLarge", err)
	}
	if src.total > 16<<10 {
		t.Errorf("read %d bytes of a 10 MiB stanza with a 1000 byte limit", src.total)
	}
	if len(r.buf) > 1000+bufSlack {
		t.Errorf("buffer grew to %d bytes", len(r.buf))
	}
}

func TestNextLargeKeepaliveRunIsNotBuffered(t *testing.T) {
	// 1 MiB of whitespace between stanzas must not count against the limit.
	src := io.MultiReader(strings.NewReader("<presence/>"),
		&countingReader{fill: ' ', n: 1 << 20}, strings.NewReader("<presence/>"))
	r := NewReader(src, Limits{MaxStanzaSize: 100})
	var s Stanza
	for i := range 2 {
		if err := r.Next(&s); err != nil {
			t.Fatalf("stanza %d: %v", i, err)
		}
	}
	if len(r.buf) > 4096 {
		t.Errorf("buffer grew to %d bytes", len(r.buf))
	}
}

// timeoutOnce returns a timeout error once after `after` bytes.
type timeoutOnce struct {
	r     io.Reader
	after int
	done  bool
}

var errTimeout = errors.New("i/o timeout")

func (tr *timeoutOnce) Read(p []byte) (int, error) {
	if !tr.done && tr.after <= 0 {
		tr.done = true
		return 0, errTimeout
	}
	if !tr.done && len(p) > tr.after {
		p = p[:tr.after]
	}
	n, err := tr.r.Read(p)
	tr.after -= n
	return n, err
}

func TestNextResumesAfterSourceError(t *testing.T) {
	in := `<message to='a'><body>hello</body></message><presence/>`
	for _, cut := range []int{0, 1, 5, 20, 30, len(in) - 11} {
		r := NewReader(&timeoutOnce{r: strings.NewReader(in), after: cut}, Limits{})
		var s Stanza
		var got []string
		timeouts := 0
		for {
			err := r.Next(&s)
			if err == errTimeout {
				timeouts++
				continue
			}
			if err != nil {
				if err != io.EOF {
					t.Fatalf("cut %d: %v", cut, err)
				}
				break
			}
			got = append(got, string(s.Raw))
		}
		if timeouts != 1 || strings.Join(got, "") != in {
			t.Fatalf("cut %d: %d timeouts, stanzas %q", cut, timeouts, got)
		}
	}
}

func TestNegotiationHandoff(t *testing.T) {
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>`
	rest := `<message to='x@y'><body>hi</body></message>`
	for _, rk := range readerKinds {
		t.Run(rk.name, func(t *testing.T) {
			r := NewReader(rk.wrap(strings.NewReader(header+`<a/>`+rest)), Limits{})
			d := xml.NewDecoder(r)
			var names []string
			for range 4 { // ProcInst, <stream:stream>, <a>, </a>
				tok, err := d.Token()
				if err != nil {
					t.Fatal(err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					names = append(names, "<"+tok.Name.Local)
				case xml.EndElement:
					names = append(names, "</"+tok.Name.Local)
				}
			}
			if strings.Join(names, " ") != "<stream <a </a" {
				t.Fatalf("tokens = %v", names)
			}
			var s Stanza
			if err := r.Next(&s); err != nil {
				t.Fatal(err)
			}
			if string(s.Raw) != rest {
				t.Fatalf("Next after encoding/xml = %q, want %q", s.Raw, rest)
			}
		})
	}
}

func TestSkipNegotiationWhitespace(t *testing.T) {
	header := "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n"
	auth := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>\r\n \t"
	rest := "<message>\n <body> x </body>\n</message>"
	for _, rk := range readerKinds {
		t.Run(rk.name, func(t *testing.T) {
			r := NewReader(rk.wrap(strings.NewReader(header+auth+rest)), Limits{})
			r.SetSkipNegotiationWhitespace(true)
			d := xml.NewDecoder(r)
			var kinds []string
			for range 6 { // ProcInst, <stream>, <auth>, text, </auth>, and the <message> start
				tok, err := d.Token()
				if err != nil {
					t.Fatal(err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					kinds = append(kinds, "<"+tok.Name.Local)
				case xml.EndElement:
					kinds = append(kinds, "</"+tok.Name.Local)
				case xml.CharData:
					kinds = append(kinds, "text:"+string(tok))
				case xml.ProcInst:
					kinds = append(kinds, "?")
				}
				if len(kinds) == 5 {
					break
				}
			}
			want := "? <stream <auth text:AGFsaWNlAHNlY3JldA== </auth"
			if got := strings.Join(kinds, " "); got != want {
				t.Fatalf("tokens = %q, want %q", got, want)
			}
			r.SetSkipNegotiationWhitespace(false)
			var s Stanza
			if err := r.Next(&s); err != nil {
				t.Fatal(err)
			}
			if string(s.Raw) != rest {
				t.Fatalf("Next = %q, want %q (whitespace inside stanzas must stay)", s.Raw, rest)
			}
		})
	}
}

func TestSkipNegotiationWhitespaceRead(t *testing.T) {
	in := "<a>\n \r\t<b> x </b>  \n<c/>\n"
	r := NewReader(byteAtATime{strings.NewReader(in)}, Limits{})
	r.SetSkipNegotiationWhitespace(true)
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// The rule is lexical: whitespace after any '>' goes, also at the
	// start of character data.
	if want := "<a><b>x </b><c/>"; string(got) != want {
		t.Errorf("Read = %q, want %q", got, want)
	}
	r = NewReader(strings.NewReader(in), Limits{})
	got, _ = io.ReadAll(r)
	if string(got) != in {
		t.Errorf("Read without skipping = %q", got)
	}
}

func TestSetSourceAndRelease(t *testing.T) {
	r := NewReader(strings.NewReader(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`), Limits{})
	d := xml.NewDecoder(r)
	for range 2 {
		if _, err := d.Token(); err != nil {
			t.Fatal(err)
		}
	}
	if r.Buffered() != 0 {
		t.Fatalf("Buffered = %d", r.Buffered())
	}
	r.Release()
	if r.buf != nil {
		t.Fatal("Release kept the buffer")
	}
	r.SetSource(strings.NewReader(`<presence/>`))
	var s Stanza
	if err := r.Next(&s); err != nil || string(s.Raw) != `<presence/>` {
		t.Fatalf("Next after SetSource = %q, %v", s.Raw, err)
	}

	// Release must not drop unconsumed bytes.
	r = NewReader(strings.NewReader(`<presence/><presence type='x'/>`), Limits{})
	if _, err := r.ReadByte(); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if r.Buffered() == 0 || r.buf == nil {
		t.Fatal("Release dropped buffered bytes")
	}
}

func TestBufferShrinksAfterLargeStanza(t *testing.T) {
	big := `<message><body>` + strings.Repeat("y", 100<<10) + `</body></message>`
	r := NewReader(strings.NewReader(big), Limits{})
	var s Stanza
	if err := r.Next(&s); err != nil || len(s.Raw) != len(big) {
		t.Fatalf("Next: %d bytes, %v", len(s.Raw), err)
	}
	if r.buf != nil {
		t.Errorf("a %d byte buffer survived an empty read state", len(r.buf))
	}
}

func TestCloneSurvivesNext(t *testing.T) {
	r := NewReader(strings.NewReader(`<message to='a'><x xmlns='u1'/></message><iq to='b'><y xmlns='u2'/><z xmlns='u3'/></iq>`), Limits{})
	var s Stanza
	if err := r.Next(&s); err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	if err := r.Next(&s); err != nil {
		t.Fatal(err)
	}
	if c.Name != "message" || c.To != "a" || len(c.Children) != 1 || c.Children[0].NS != "u1" ||
		string(c.ChildBytes(c.Children[0])) != `<x xmlns='u1'/>` {
		t.Errorf("clone changed: %+v", c)
	}
	if s.Name != "iq" || len(s.Children) != 2 {
		t.Errorf("second stanza: %+v", s)
	}
}

// idleSource hands out one stanza, then on the next read records whether
// the reader still held a buffer while it would block.
type idleSource struct {
	r        *Reader
	data     string
	heldBuf  bool
	readSize int
}

func (s *idleSource) Read(p []byte) (int, error) {
	if s.data != "" {
		n := copy(p, s.data)
		s.data = s.data[n:]
		return n, nil
	}
	s.heldBuf, s.readSize = s.r.buf != nil, len(p)
	return 0, io.EOF
}

// TestIdleReaderHoldsNoBuffer: between stanzas, a reader waiting for the
// next byte has given its buffer back (idle sessions cost no read buffer).
func TestIdleReaderHoldsNoBuffer(t *testing.T) {
	src := &idleSource{data: "<presence/>"}
	r := NewReader(src, Limits{})
	src.r = r
	var s Stanza
	if err := r.Next(&s); err != nil || string(s.Raw) != "<presence/>" {
		t.Fatalf("Next = %q, %v", s.Raw, err)
	}
	if err := r.Next(&s); err != io.EOF {
		t.Fatalf("second Next: %v, want EOF", err)
	}
	if src.heldBuf || src.readSize != 1 {
		t.Errorf("waiting between stanzas: buffer held %v, read size %d; want no buffer and a one-byte read", src.heldBuf, src.readSize)
	}
}
