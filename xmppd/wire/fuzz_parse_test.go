package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseSeeds are inputs for FuzzParse and FuzzParseStanza: stanzas as
// clients send them, server-made payloads, and known tricky corners.
var parseSeeds = []string{
	benchMessage,
	`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='f'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>a@b</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>x</after></set></query></iq>`,
	`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
	`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
	"  <message xml:lang='en' id='a&#xA;b'>\r\n<body>x &lt; y &#x263A;</body></message>\n",
	`<message><p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x><![CDATA[a]]b]]></message>`,
	`<message xmlns='jabber:server'><body/></message>`,
	`<a xmlns:x='u'><x:b x:c='1' c='2'/></a>`,
	`<message><body>&amp;&#0;</body></message>`,
	`<message a='1' a='2'/>`,
	`<a><b></a>`,
	`<message/><presence/>`,
	`<?xml version='1.0'?><message/>`,
	`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`,
	"<message>\xff</message>",
	strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40),
}

// elementLimits reports whether the tree stays within the default limits
// Parse enforces (depth and attributes per element).
func elementLimits(e *Element, depth int, lim Limits) bool {
	if depth > lim.MaxDepth || len(e.Attrs) > lim.MaxAttrs {
		return false
	}
	for _, c := range e.Children {
		if !elementLimits(c, depth+1, lim) {
			return false
		}
	}
	return true
}

// FuzzParse: Parse never panics, fails only with a *Error, keeps its
// limits, and what it accepts serialises (AppendXML) to XML that encoding/xml
// accepts and that parses back to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	lim := Limits{}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := Parse(data)
		if err != nil {
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("Parse(%q): error of type %T: %v", data, err, err)
			}
			return
		}
		if !elementLimits(el, 1, lim) {
			t.Fatalf("Parse(%q) accepted a tree beyond the limits %+v", data, lim)
		}
		out := el.AppendXML(nil)
		if err := decodeAllXML(out); err != nil {
			t.Fatalf("encoding/xml rejects AppendXML output %q of %q: %v", out, data, err)
		}
		el2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(AppendXML) %q -> %q: %v", data, out, err)
		}
		if !reflect.DeepEqual(el, el2) {
			t.Fatalf("tree round trip %q -> %q changed:\n%#v\n%#v", data, out, el, el2)
		}
	})
}

// FuzzParseStanza: ParseStanza never panics, fails only with a *Error,
// and what it accepts is a stanza whose spans lie inside Raw and whose
// children parse on their own.
func FuzzParseStanza(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStanza(data)
		if err != nil {
			var we *Error
			if !errors.As(err, &we) && err.Error() != "EOF" && err.Error() != "unexpected EOF" {
				t.Fatalf("ParseStanza(%q): error of type %T: %v", data, err, err)
			}
			return
		}
		if !bytes.Contains(data, st.Raw) {
			t.Fatalf("ParseStanza(%q): Raw %q is not from the input", data, st.Raw)
		}
		for _, c := range st.Children {
			if c.Start < 0 || c.End > len(st.Raw) || c.Start >= c.End {
				t.Fatalf("ParseStanza(%q): child %+v outside Raw (%d bytes)", data, c, len(st.Raw))
			}
			if st.Raw[c.Start] != '<' {
				t.Fatalf("ParseStanza(%q): child %+v does not start at a tag", data, c)
			}
		}
		if _, err := st.Element(); err != nil {
			t.Fatalf("ParseStanza(%q) accepted it, Element fails: %v", data, err)
		}
	})
}

// escapedWant is what a parser must read back from AppendEscaped(s):
// invalid UTF-8 and characters XML cannot carry become U+FFFD.
func escapedWant(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !isChar(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// FuzzEscape: any string written with AppendEscaped as character data and
// as an attribute value (quoted either way), and with AppendAttr, reads
// back exactly (up to the U+FFFD replacements), in Parse and in the
// stanza reader.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a&b<c>d'e\"f", "line\nbreak\r\nand\ttab\r", "\x00\x01\x1f", "\xff\xfe", "☺ \U0001F600", "\uFFFE\uFFFF\uD7FF\uE000", "]]>", "&amp;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := escapedWant(s)
		esc := AppendEscaped(nil, s)
		if !utf8.Valid(esc) {
			t.Fatalf("AppendEscaped(%q) = %q: invalid UTF-8", s, esc)
		}
		var b []byte
		b = append(b, "<message"...)
		b = AppendAttr(b, "id", s)
		b = append(b, " to='"...)
		b = append(b, esc...)
		b = append(b, "' from=\""...)
		b = append(b, esc...)
		b = append(b, "\"><body>"...)
		b = append(b, esc...)
		b = append(b, "</body></message>"...)
		el, err := Parse(b)
		if err != nil {
			t.Fatalf("escaped %q does not parse: %q: %v", s, b, err)
		}
		for _, name := range []string{"id", "to", "from"} {
			if got := el.Attr(name); got != want {
				t.Errorf("attribute %s: wrote %q, read %q, want %q (%q)", name, s, got, want, b)
			}
		}
		if got := el.ChildText("body", "jabber:client"); got != want {
			t.Errorf("text: wrote %q, read %q, want %q (%q)", s, got, want, b)
		}
		st, err := ParseStanza(b)
		if err != nil {
			t.Fatalf("escaped %q: ParseStanza(%q): %v", s, b, err)
		}
		if st.ID != want || st.To != want || st.From != want {
			t.Errorf("stanza reader: wrote %q, read id %q to %q from %q, want %q", s, st.ID, st.To, st.From, want)
		}
	})
}
