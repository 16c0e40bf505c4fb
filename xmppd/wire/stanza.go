package wire

import (
	"slices"
	"unicode/utf8"
)

// Attr is an attribute. Name may carry a prefix ("xml:lang"); Value is
// decoded (references resolved).
type Attr struct {
	Name, Value string
}

// Child is a first-level child element of a Stanza; [Start, End) is its byte
// range in Stanza.Raw.
type Child struct {
	Name, NS   string
	Start, End int
}

// Stanza is one top-level element of the stream as returned by Reader.Next.
//
// Raw is owned by the Stanza and never modified, so the string fields are
// views into it (allocated only when a value contained references). Next
// reuses the capacity of Children; use Clone to keep a Stanza across the next
// Next call on the same value.
type Stanza struct {
	Raw  []byte // the complete element bytes
	Name string // local name of the top-level element
	NS   string // its namespace; "jabber:client" if not declared

	To, From, ID, Type, Lang string // decoded attribute values ("" if absent); Lang is xml:lang

	Children []Child // first-level children in document order

	// Byte offsets into Raw for Rewrite: end of the element name, and the
	// to/from attributes including their leading whitespace (0, 0 if absent).
	nameEnd         int
	toAt, toEnd     int
	fromAt, fromEnd int
}

// Child returns the first first-level child with the given local name and
// namespace ("" matches any namespace).
func (s *Stanza) Child(name, ns string) (Child, bool) {
	for _, c := range s.Children {
		if c.Name == name && (ns == "" || c.NS == ns) {
			return c, true
		}
	}
	return Child{}, false
}

// ChildBytes returns the raw bytes of c (a view into s.Raw; do not modify).
func (s *Stanza) ChildBytes(c Child) []byte { return s.Raw[c.Start:c.End] }

// Element parses the full tree of the stanza. It is the slow path, for
// payloads the server itself has to understand.
func (s *Stanza) Element() (*Element, error) {
	// Raw was validated by Next under the reader's limits, which may exceed
	// the defaults; only its size bounds the work here.
	n := len(s.Raw) + 1
	p := parser{lim: Limits{MaxStanzaSize: n, MaxDepth: n, MaxAttrs: n}, tree: true}
	if err := p.run(s.Raw); err != nil {
		return nil, err
	}
	return p.root, nil
}

// Clone returns a copy of s that stays valid after the next Next call on s.
// Raw is immutable and every Next allocates a fresh one, so the copy shares
// Raw (and the strings viewing into it) and only copies Children.
func (s *Stanza) Clone() *Stanza {
	c := *s
	c.Children = slices.Clone(s.Children)
	return &c
}

// Rewrite appends to dst the stanza with its 'to' and 'from' attributes set to
// the given values (escaped; "" omits the attribute), every other byte
// verbatim. Existing attributes are replaced in place, new ones go right
// after the element name. It allocates only if dst lacks capacity.
func (s *Stanza) Rewrite(dst []byte, to, from string) []byte {
	raw := s.Raw
	if len(raw) == 0 {
		return dst
	}
	type edit struct {
		at, end   int
		name, val string
	}
	e1 := edit{s.nameEnd, s.nameEnd, "to", to}
	if s.toEnd > 0 {
		e1.at, e1.end = s.toAt, s.toEnd
	}
	e2 := edit{s.nameEnd, s.nameEnd, "from", from}
	if s.fromEnd > 0 {
		e2.at, e2.end = s.fromAt, s.fromEnd
	}
	// Order by position; an insertion right after the name goes before a
	// replacement of an attribute that starts there.
	if e2.at < e1.at || (e2.at == e1.at && e2.end < e1.end) {
		e1, e2 = e2, e1
	}
	dst = slices.Grow(dst, len(raw)+escapedLen(to)+escapedLen(from)+len(" to='' from=''"))
	pos := 0
	for _, e := range [2]edit{e1, e2} {
		dst = append(dst, raw[pos:e.at]...)
		if e.val != "" {
			dst = append(dst, ' ')
			dst = append(dst, e.name...)
			dst = append(dst, '=', '\'')
			dst = appendEscaped(dst, e.val, true)
			dst = append(dst, '\'')
		}
		pos = e.end
	}
	return append(dst, raw[pos:]...)
}

// escapedLen returns len(appendEscaped(nil, s, true)).
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !escOK[c] {
				n += len(escapeFor(c, true)) - 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !isChar(r) {
			n += len("\uFFFD") - size
		}
		i += size
	}
	return n
}
