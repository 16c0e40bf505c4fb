package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func FuzzNext(f *testing.F) {
	seeds := []string{
		benchMessage,
		`<message to='a&amp;b' from="c"><body>x &lt; y</body></message> <presence/></stream:stream>`,
		`<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`,
		`<message><p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x><![CDATA[a]]b]]></message>`,
		`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
		`<r xmlns='urn:xmpp:sm:3'/>` + "\n\t " + `<a xmlns='urn:xmpp:sm:3' h='5'/>`,
		"<message id='a\nb' xml:lang='en'><body>\r\n&#x263A;&#65;</body></message>",
		`<message><!-- c --></message>`,
		`<?xml version='1.0'?>`,
		`<message><foo:bar/></message>`,
		`<message>&#0;</message>`,
		"<message>\xff</message>",
		`<a><b></a>`,
		`<message a='1' a='2'/>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxStanzaSize: 2048, MaxDepth: 16, MaxAttrs: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*lim.MaxStanzaSize {
			// Larger inputs add no coverage beyond the limit but make
			// the byte-at-a-time comparison (and minimisation) slow.
			return
		}
		whole, werr := fuzzReadAll(t, bytes.NewReader(data), lim)
		// Splitting must not depend on how the bytes arrive.
		trickle, terr := fuzzReadAll(t, byteAtATime{bytes.NewReader(data)}, lim)
		if !reflect.DeepEqual(whole, trickle) || !sameErr(werr, terr) {
			t.Fatalf("whole read: %q, %v\nbyte at a time: %q, %v", whole, werr, trickle, terr)
		}
		for _, raw := range whole {
			checkFuzzStanza(t, raw)
		}
	})
}

func sameErr(a, b error) bool {
	var ea, eb *Error
	if errors.As(a, &ea) && errors.As(b, &eb) {
		return ea.Kind == eb.Kind
	}
	return a == b
}

func fuzzReadAll(t *testing.T, src io.Reader, lim Limits) ([][]byte, error) {
	r := NewReader(src, lim)
	var out [][]byte
	var s Stanza
	for {
		err := r.Next(&s)
		if err != nil {
			var we *Error
			if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &we) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return out, err
		}
		if len(s.Raw) > lim.MaxStanzaSize {
			t.Fatalf("stanza of %d bytes passed a %d byte limit", len(s.Raw), lim.MaxStanzaSize)
		}
		out = append(out, s.Raw)
	}
}

func checkFuzzStanza(t *testing.T, raw []byte) {
	var s Stanza
	if err := NewReader(bytes.NewReader(raw), Limits{}).Next(&s); err != nil {
		t.Fatalf("Raw %q does not re-read: %v", raw, err)
	}
	if err := decodeAllXML(raw); err != nil {
		t.Fatalf("encoding/xml rejects accepted stanza %q: %v", raw, err)
	}
	for _, c := range s.Children {
		if err := decodeAllXML(s.ChildBytes(c)); err != nil && !bytes.Contains(raw, []byte("xmlns")) {
			t.Fatalf("child %q of %q: %v", s.ChildBytes(c), raw, err)
		}
	}
	// Rewrite keeps it well-formed and sets the addresses.
	rw := s.Rewrite(nil, "a'<&>\"@b", "")
	var s2 Stanza
	if err := NewReader(bytes.NewReader(rw), Limits{}).Next(&s2); err != nil {
		t.Fatalf("Rewrite(%q) = %q does not parse: %v", raw, rw, err)
	}
	if s2.To != "a'<&>\"@b" || s2.From != "" || s2.ID != s.ID || s2.Name != s.Name || s2.NS != s.NS {
		t.Fatalf("Rewrite(%q) = %q: to=%q from=%q", raw, rw, s2.To, s2.From)
	}
	if err := decodeAllXML(rw); err != nil {
		t.Fatalf("encoding/xml rejects Rewrite output %q: %v", rw, err)
	}
	// The tree parses and survives a serialisation round trip.
	el, err := s.Element()
	if err != nil {
		t.Fatalf("Element(%q): %v", raw, err)
	}
	out := el.AppendXML(nil)
	el2, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(AppendXML) %q -> %q: %v", raw, out, err)
	}
	if el.NS != "" && !reflect.DeepEqual(el, el2) {
		t.Fatalf("tree round trip %q -> %q changed", raw, out)
	}
}
