package wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// xmlView is a namespace-resolved tree as encoding/xml sees it.
type xmlView struct {
	Name, NS string
	Attrs    map[string]string // unprefixed attributes only
	Text     string
	Children []*xmlView
}

// viewFromEncodingXML decodes b inside a wrapper that provides what the
// stream header provides: the jabber:client default and the stream prefix.
func viewFromEncodingXML(t *testing.T, b []byte) *xmlView {
	t.Helper()
	doc := "<w xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + string(b) + "</w>"
	d := xml.NewDecoder(strings.NewReader(doc))
	var stack []*xmlView
	var root *xmlView
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root
		}
		if err != nil {
			t.Fatalf("encoding/xml: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			v := &xmlView{Name: tok.Name.Local, NS: tok.Name.Space, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				if a.Name.Space == "" && a.Name.Local != "xmlns" {
					v.Attrs[a.Name.Local] = a.Value
				}
			}
			if len(stack) == 1 {
				root = v
			} else if len(stack) > 1 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, v)
			}
			stack = append(stack, v)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 1 {
				stack[len(stack)-1].Text += string(tok)
			}
		}
	}
}

func viewFromElement(e *Element) *xmlView {
	v := &xmlView{Name: e.Name, NS: e.NS, Attrs: map[string]string{}, Text: e.Text}
	for _, a := range e.Attrs {
		if !strings.Contains(a.Name, ":") {
			v.Attrs[a.Name] = a.Value
		}
	}
	for _, c := range e.Children {
		v.Children = append(v.Children, viewFromElement(c))
	}
	return v
}

var elementCases = []string{
	`<message to='a@b' type='chat'><body>hi &amp; bye &#x263A;</body></message>`,
	`<iq type='result' id='1'><query xmlns='jabber:iq:roster' ver='3'><item jid='a@b' subscription='both'><group>G1</group><group>G 2</group></item></query></iq>`,
	`<message><p:x xmlns:p='urn:p' p:a='1' b='2'><p:y><z/></p:y><q xmlns='urn:q'/></p:x></message>`,
	`<message><body><![CDATA[<raw> & stuff]]> and more</body></message>`,
	`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/><x xmlns=''><y/></x></presence>`,
	`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Replaced</text></stream:error>`,
	`<message xmlns='jabber:server' from='a'><body>mixed <b/> content</body></message>`,
}

func TestParseMatchesEncodingXML(t *testing.T) {
	for _, in := range elementCases {
		el, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		got, want := viewFromElement(el), viewFromEncodingXML(t, []byte(in))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q):\n got %+v\nwant %+v", in, got, want)
		}
		// Round trip: serialise, re-parse, same tree; encoding/xml agrees too.
		out := el.AppendXML(nil)
		el2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-Parse(%q): %v", out, err)
		}
		if !reflect.DeepEqual(el, el2) {
			t.Errorf("round trip of %q via %q changed the tree", in, out)
		}
		if got := viewFromEncodingXML(t, out); !reflect.DeepEqual(got, want) {
			t.Errorf("encoding/xml sees %q differently from %q", out, in)
		}
	}
}

func TestParseNamespaces(t *testing.T) {
	el, err := Parse([]byte(` <iq><a:x xmlns:a='urn:a' xmlns='urn:d'><y/><a:z xml:lang='en' a:k='v'/></a:x></iq>
`))
	if err != nil {
		t.Fatal(err)
	}
	x := el.Child("x", "urn:a")
	if el.NS != "jabber:client" || x == nil || x.Child("y", "urn:d") == nil || x.Child("z", "urn:a") == nil {
		t.Fatalf("namespaces wrong: %s", el)
	}
	z := x.Child("z", "urn:a")
	if z.Attr("xml:lang") != "en" || z.Attr("a:k") != "v" || z.Attr("xmlns:a") != "urn:a" {
		t.Errorf("z attrs = %+v", z.Attrs)
	}
	if len(x.Attrs) != 0 {
		t.Errorf("namespace declarations kept as attributes: %+v", x.Attrs)
	}
	want := `<iq xmlns='jabber:client'><x xmlns='urn:a'><y xmlns='urn:d'/><z xml:lang='en' a:k='v' xmlns:a='urn:a'/></x></iq>`
	if got := el.String(); got != want {
		t.Errorf("String() =\n %s, want\n %s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for in, kind := range map[string]ErrorKind{
		`<a><b></a>`:            NotWellFormed,
		`<a/><b/>`:              NotWellFormed,
		`<a/>text`:              NotWellFormed,
		`</a>`:                  NotWellFormed,
		``:                      NotWellFormed,
		`<a><!-- x --></a>`:     Restricted,
		`<a>&nbsp;</a>`:         Restricted,
		`<p:a/>`:                BadNamespacePrefix,
		`<a>&#xFFFF;</a>`:       InvalidXML,
		`<a>` + "\x00" + `</a>`: InvalidXML,
		strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65): TooLarge,
	} {
		_, err := Parse([]byte(in))
		var we *Error
		if !errors.As(err, &we) || we.Kind != kind {
			t.Errorf("Parse(%.40q) = %v, want %v", in, err, kind)
		}
	}
}

func TestBuildElements(t *testing.T) {
	iq := NewElement("iq", "jabber:client", Attr{"type", "result"}, Attr{"id", "x"}).
		Append(NewElement("query", "jabber:iq:roster").
			Append(NewElement("item", "jabber:iq:roster", Attr{"jid", "a@b"}, Attr{"name", `O'Brien & "Co" <x>`}).
				Append(NewElement("group", "jabber:iq:roster").SetText("Friends & <Family>"))))
	iq.SetAttr("id", "y").SetAttr("to", "a@b/r")
	want := `<iq xmlns='jabber:client' type='result' id='y' to='a@b/r'><query xmlns='jabber:iq:roster'>` +
		`<item jid='a@b' name='O&apos;Brien &amp; &quot;Co&quot; &lt;x&gt;'><group>Friends &amp; &lt;Family&gt;</group></item></query></iq>`
	if got := iq.String(); got != want {
		t.Fatalf("String() =\n %s\nwant\n %s", got, want)
	}
	back, err := Parse([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, iq) {
		t.Errorf("parsed tree differs from the built one:\n%s", back)
	}
	// A root in no namespace says so: Parse reads a bare root as jabber:client.
	if got := NewElement("r", "").String(); got != `<r xmlns=''/>` {
		t.Errorf("no namespace: %s", got)
	}
	if got := NewElement("r", "urn:a").Append(NewElement("s", "")).String(); got != `<r xmlns='urn:a'><s xmlns=''/></r>` {
		t.Errorf("undeclared child namespace: %s", got)
	}
}

func TestAppendEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		`a&b<c>d'e"f`:      "a&amp;b&lt;c&gt;d&apos;e&quot;f",
		"line\r\nend\ttab": "line&#xD;&#xA;end&#x9;tab",
		"bad\xffutf8":      "bad\uFFFDutf8",
		"nul\x00\x1b":      "nul\uFFFD\uFFFD",
		"ok é 😀 \uFFFE":    "ok é 😀 \uFFFD",
	} {
		if got := string(AppendEscaped([]byte("<"), in)); got != "<"+want {
			t.Errorf("AppendEscaped(%q) = %q, want %q", in, got[1:], want)
		}
		if n := len(appendEscaped(nil, in, true)); n != escapedLen(in) {
			t.Errorf("escapedLen(%q) = %d, want %d", in, escapedLen(in), n)
		}
	}
	// Attribute values keep their whitespace through a parse.
	el := NewElement("a", "", Attr{"v", "x\ty\nz\r"})
	back, err := Parse(el.AppendXML(nil))
	if err != nil || back.Attr("v") != "x\ty\nz\r" {
		t.Errorf("attribute whitespace lost: %q, %v", back.Attr("v"), err)
	}
	if !bytes.Equal(AppendEscaped(nil, ""), nil) {
		t.Error("empty string appended something")
	}
}
