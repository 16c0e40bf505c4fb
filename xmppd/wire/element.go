package wire

import (
	"bytes"
	"unicode/utf8"
)

// Element is a parsed or constructed XML element: the slow path for payloads
// the server handles itself and for building replies.
type Element struct {
	Name     string // local name
	NS       string // resolved namespace
	Attrs    []Attr // without xmlns / xmlns:* declarations, except that parsing keeps xmlns:p for prefixed attributes p:x (other than xml:) so they stay serialisable
	Children []*Element
	Text     string // concatenated character data directly inside this element (decoded)
}

// Parse parses one element from b with the rules and default limits of
// Reader.Next; surrounding whitespace is allowed. The top-level default
// namespace is "jabber:client" and the stream prefix is predeclared for a
// top-level <stream:error/> or <stream:features/>. b is copied.
func Parse(b []byte) (*Element, error) {
	b = bytes.TrimFunc(b, func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
	p := parser{lim: Limits{}.withDefaults(), tree: true}
	if len(b) > p.lim.MaxStanzaSize {
		return nil, newErr(TooLarge, "element larger than %d bytes", p.lim.MaxStanzaSize)
	}
	if err := p.run(bytes.Clone(b)); err != nil {
		return nil, err
	}
	return p.root, nil
}

// NewElement returns an element with the given local name, namespace and
// attributes.
func NewElement(name, ns string, attrs ...Attr) *Element {
	return &Element{Name: name, NS: ns, Attrs: attrs}
}

// Attr returns the value of the attribute with the given (possibly prefixed)
// name, or "".
func (e *Element) Attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// SetAttr replaces the attribute with the given name or adds it. It returns e.
func (e *Element) SetAttr(name, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Name == name {
			e.Attrs[i].Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: name, Value: value})
	return e
}

// Child returns the first child with the given local name and namespace (""
// matches any namespace), or nil.
func (e *Element) Child(name, ns string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Name == name && (ns == "" || c.NS == ns) {
			return c
		}
	}
	return nil
}

// ChildrenNamed returns all children with the given local name and namespace
// ("" matches any namespace).
func (e *Element) ChildrenNamed(name, ns string) []*Element {
	var out []*Element
	for _, c := range e.Children {
		if c.Name == name && (ns == "" || c.NS == ns) {
			out = append(out, c)
		}
	}
	return out
}

// ChildText returns the text of the first matching child, or "".
func (e *Element) ChildText(name, ns string) string {
	if c := e.Child(name, ns); c != nil {
		return c.Text
	}
	return ""
}

// Append adds children and returns e.
func (e *Element) Append(children ...*Element) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// SetText sets the character data and returns e.
func (e *Element) SetText(s string) *Element {
	e.Text = s
	return e
}

// AppendXML appends the serialisation of e to dst. It writes xmlns='NS' on an
// element whose namespace differs from its parent's, and on the root
// always: an empty xmlns for a root in no namespace, which Parse would
// otherwise read (with its unqualified descendants) as jabber:client. Text
// is written before the children.
func (e *Element) AppendXML(dst []byte) []byte {
	parent := ""
	if e.NS == "" {
		parent = "jabber:client"
	}
	return e.appendXML(dst, parent)
}

func (e *Element) appendXML(dst []byte, parentNS string) []byte {
	dst = append(dst, '<')
	dst = append(dst, e.Name...)
	if e.NS != parentNS {
		dst = append(dst, " xmlns='"...)
		dst = appendEscaped(dst, e.NS, true)
		dst = append(dst, '\'')
	}
	for _, a := range e.Attrs {
		dst = append(dst, ' ')
		dst = append(dst, a.Name...)
		dst = append(dst, '=', '\'')
		dst = appendEscaped(dst, a.Value, true)
		dst = append(dst, '\'')
	}
	if len(e.Children) == 0 && e.Text == "" {
		return append(dst, '/', '>')
	}
	dst = append(dst, '>')
	dst = appendEscaped(dst, e.Text, false)
	for _, c := range e.Children {
		dst = c.appendXML(dst, e.NS)
	}
	dst = append(dst, '<', '/')
	dst = append(dst, e.Name...)
	return append(dst, '>')
}

// String returns the XML serialisation of e.
func (e *Element) String() string { return string(e.AppendXML(nil)) }

// escOK marks ASCII bytes that are written verbatim.
var escOK [utf8.RuneSelf]bool

func init() {
	for c := range utf8.RuneSelf {
		escOK[c] = c >= 0x20 && c != '&' && c != '<' && c != '>' && c != '\'' && c != '"'
	}
}

func escapeFor(c byte, attr bool) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '\'':
		return "&apos;"
	case '"':
		return "&quot;"
	case '\r':
		return "&#xD;"
	case '\n':
		if attr {
			return "&#xA;"
		}
		return "\n"
	case '\t':
		if attr {
			return "&#x9;"
		}
		return "\t"
	}
	return "\uFFFD" // other control characters cannot be represented in XML 1.0
}

// AppendEscaped appends s escaped for use as character data or as a
// single- or double-quoted attribute value: & < > ' " become entities and
// \r, \n and \t character references, so they survive line-end and
// attribute-value normalisation (a client's id='a&#xA;b' comes back intact
// in the reply's id). Invalid UTF-8 and characters XML 1.0 cannot carry
// become U+FFFD, so the output is always well-formed.
func AppendEscaped(dst []byte, s string) []byte { return appendEscaped(dst, s, true) }

// appendEscaped with attr also escapes \t and \n, which attribute value
// normalisation would otherwise turn into spaces.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if escOK[c] {
				i++
				continue
			}
			dst = append(dst, s[last:i]...)
			dst = append(dst, escapeFor(c, attr)...)
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !isChar(r) {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			last = i
			continue
		}
		i += size
	}
	return append(dst, s[last:]...)
}

// AppendAttr appends ` name='value'` with the value escaped, for code that
// writes stanzas straight into a byte buffer.
func AppendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '\'')
	b = AppendEscaped(b, value)
	return append(b, '\'')
}
