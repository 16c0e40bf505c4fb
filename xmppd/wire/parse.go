package wire

import (
	"bytes"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

const (
	nsClient  = "jabber:client"
	nsStreams = "http://etherx.jabber.org/streams"
	nsXML     = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS   = "http://www.w3.org/2000/xmlns/"
)

var cdataClose = []byte("]]>")

// Byte classes for the hot loops.
var (
	// nameTab: 0 not a name byte, 1 name byte, 2 name start byte (ASCII only;
	// ':' is handled separately because names are QNames).
	nameTab [256]uint8
	// textOK: ASCII bytes that need no attention in character data.
	textOK [256]bool
	// attrOK: ASCII bytes that need no attention in attribute values.
	attrOK [256]bool
)

func init() {
	for c := 0; c < 0x80; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			nameTab[c] = 2
		case '0' <= c && c <= '9', c == '-', c == '.':
			nameTab[c] = 1
		}
		if c >= 0x20 || c == '\t' || c == '\n' {
			textOK[c] = c != '<' && c != '&' && c != '>'
		}
		if c >= 0x20 {
			attrOK[c] = c != '<' && c != '&' && c != '\'' && c != '"'
		}
	}
}

// isChar reports whether r is an XML 1.0 Char.
func isChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

type nsBind struct{ prefix, uri string }

type frame struct {
	qs, qe int // qualified name span, for matching the end tag
	nsLen  int // len(parser.ns) before this element's declarations
	defNS  string
	el     *Element
}

type attrSpan struct {
	ws     int // start of the whitespace before the attribute
	ns, ne int // qualified name
	colon  int // index of ':' in the name, -1 if none
	vs, ve int // value, inside the quotes
	end    int // after the closing quote
	plain  bool
}

// parser validates one complete element held in an immutable byte slice and
// records either Stanza fields (stanza mode) or an Element tree (tree mode).
// Strings it produces are views into that slice unless decoding was needed.
type parser struct {
	lim    Limits
	b      []byte
	ns     []nsBind
	stack  []frame
	attrs  []attrSpan
	decBuf []byte

	st   *Stanza // stanza mode
	tree bool    // tree mode
	root *Element
}

func (p *parser) release() {
	p.ns, p.stack, p.attrs, p.decBuf = nil, nil, nil, nil
}

// str returns b[s:e] as a string sharing memory with b, which is immutable.
func (p *parser) str(s, e int) string {
	if s >= e {
		return ""
	}
	return unsafe.String(&p.b[s], e-s)
}

func (p *parser) errAt(k ErrorKind, i int, msg string) *Error {
	return newErr(k, "%s at byte %d", msg, i)
}

// stanza parses raw (a complete top-level element split off the stream) into s.
func (p *parser) stanza(raw []byte, s *Stanza) error {
	*s = Stanza{Raw: raw, Children: s.Children[:0]}
	p.st = s
	p.tree = false
	err := p.run(raw)
	p.st = nil
	p.b = nil
	for i := range p.stack {
		p.stack[i] = frame{}
	}
	return err
}

// run parses b, which must start with '<' and end right after the element.
func (p *parser) run(b []byte) error {
	p.b = b
	p.ns = p.ns[:0]
	p.stack = p.stack[:0]
	p.root = nil
	n := len(b)
	if n == 0 || b[0] != '<' {
		return p.errAt(NotWellFormed, 0, "expected '<'")
	}
	if n > p.lim.MaxStanzaSize {
		return newErr(TooLarge, "stanza larger than %d bytes", p.lim.MaxStanzaSize)
	}
	i := 0
	for {
		if i+1 >= n {
			return p.errAt(NotWellFormed, i, "unexpected end of element")
		}
		var err error
		switch b[i+1] {
		case '/':
			i, err = p.endTag(i)
		case '!':
			i, err = p.bang(i)
		case '?':
			return p.errAt(Restricted, i, "processing instruction")
		default:
			i, err = p.startTag(i)
		}
		if err != nil {
			return err
		}
		if len(p.stack) == 0 {
			if i != n {
				return p.errAt(NotWellFormed, i, "content after the element")
			}
			return nil
		}
		if i, err = p.text(i); err != nil {
			return err
		}
		if i >= n {
			return p.errAt(NotWellFormed, i, "unexpected end of element")
		}
	}
}

// qname scans a QName at i and returns its end and the index of its colon
// (-1 if none).
func (p *parser) qname(i int) (end, colon int, err error) {
	b := p.b
	start := i
	colon = -1
	needStart := true
	for i < len(b) {
		c := b[i]
		if k := nameTab[c]; k != 0 {
			if needStart && k != 2 {
				return 0, 0, p.errAt(NotWellFormed, i, "invalid name")
			}
			// Fast path: the rest of an ASCII NCName.
			for i++; i < len(b) && nameTab[b[i]] != 0; i++ {
			}
			needStart = false
			continue
		}
		if c == ':' {
			if colon >= 0 || needStart {
				return 0, 0, p.errAt(NotWellFormed, i, "invalid name")
			}
			colon = i
			needStart = true
			i++
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRune(b[i:])
		if size == 1 {
			return 0, 0, p.errAt(InvalidXML, i, "invalid UTF-8")
		}
		if !unicode.Is(nameFirst, r) && (needStart || !unicode.Is(nameSecond, r)) {
			return 0, 0, p.errAt(NotWellFormed, i, "invalid name character")
		}
		needStart = false
		i += size
	}
	if needStart {
		if i == start {
			return 0, 0, p.errAt(NotWellFormed, i, "name expected")
		}
		return 0, 0, p.errAt(NotWellFormed, i, "invalid name")
	}
	return i, colon, nil
}

// parseRef parses the entity or character reference at b[i] == '&' and
// returns the character it stands for and the index after the ';'.
func parseRef(b []byte, i int) (rune, int, *Error) {
	j := i + 1
	n := len(b)
	if j < n && b[j] == '#' {
		j++
		base := rune(10)
		if j < n && b[j] == 'x' {
			base = 16
			j++
		}
		ds := j
		var v rune
		for ; j < n && b[j] != ';'; j++ {
			d := hexVal(b[j])
			if d < 0 || d >= base {
				return 0, 0, newErr(NotWellFormed, "malformed character reference at byte %d", i)
			}
			if v <= 0x10FFFF {
				v = v*base + d
			}
		}
		if j >= n || j == ds {
			return 0, 0, newErr(NotWellFormed, "malformed character reference at byte %d", i)
		}
		if !isChar(v) {
			return 0, 0, newErr(InvalidXML, "character reference %s is not an XML character", b[i:j+1])
		}
		return v, j + 1, nil
	}
	ds := j
	for ; j < n && b[j] != ';'; j++ {
		if c := b[j]; c < utf8.RuneSelf && (nameTab[c] == 0 && c != ':') {
			return 0, 0, newErr(NotWellFormed, "malformed entity reference at byte %d", i)
		}
	}
	if j >= n || j == ds {
		return 0, 0, newErr(NotWellFormed, "malformed entity reference at byte %d", i)
	}
	switch string(b[ds:j]) {
	case "amp":
		return '&', j + 1, nil
	case "lt":
		return '<', j + 1, nil
	case "gt":
		return '>', j + 1, nil
	case "apos":
		return '\'', j + 1, nil
	case "quot":
		return '"', j + 1, nil
	}
	return 0, 0, newErr(Restricted, "undefined entity reference &%s;", truncate(b[ds:j]))
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// decode appends the replacement text of raw (already validated) to dst:
// references resolved and line ends normalised (XML 1.0 §2.11); in attribute
// values whitespace characters become spaces (§3.3.3).
func decode(dst, raw []byte, attr bool) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '&':
			r, j, _ := parseRef(raw, i)
			dst = utf8.AppendRune(dst, r)
			i = j
			continue
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			c = '\n'
		}
		if attr && (c == '\n' || c == '\t') {
			c = ' '
		}
		dst = append(dst, c)
		i++
	}
	return dst
}

// value returns the decoded value of a.
func (p *parser) value(a *attrSpan) string {
	if a.plain {
		return p.str(a.vs, a.ve)
	}
	p.decBuf = decode(p.decBuf[:0], p.b[a.vs:a.ve], true)
	return string(p.decBuf)
}

// checkChars validates UTF-8 and XML characters in b (CDATA content).
func (p *parser) checkChars(b []byte, off int) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return p.errAt(InvalidXML, off+i, "control character")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if size == 1 {
			return p.errAt(InvalidXML, off+i, "invalid UTF-8")
		}
		if !isChar(r) {
			return p.errAt(InvalidXML, off+i, "character not allowed in XML")
		}
		i += size
	}
	return nil
}

// text scans character data from i to the next '<'.
func (p *parser) text(i int) (int, error) {
	b := p.b
	n := len(b)
	start := i
	plain := true
	for i < n {
		c := b[i]
		if textOK[c] {
			i++
			continue
		}
		switch {
		case c == '<':
			goto done
		case c == '&':
			_, j, err := parseRef(b, i)
			if err != nil {
				return i, err
			}
			i = j
			plain = false
		case c == '>':
			if i-start >= 2 && b[i-1] == ']' && b[i-2] == ']' {
				return i, p.errAt(NotWellFormed, i, "']]>' in character data")
			}
			i++
		case c == '\r':
			plain = false
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if size == 1 {
				return i, p.errAt(InvalidXML, i, "invalid UTF-8")
			}
			if !isChar(r) {
				return i, p.errAt(InvalidXML, i, "character not allowed in XML")
			}
			i += size
		default:
			return i, p.errAt(InvalidXML, i, "control character")
		}
	}
done:
	if p.tree && i > start {
		if plain {
			p.addText(p.str(start, i))
		} else {
			p.addText(string(decode(nil, b[start:i], false)))
		}
	}
	return i, nil
}

func (p *parser) addText(s string) {
	el := p.stack[len(p.stack)-1].el
	if el.Text == "" {
		el.Text = s
	} else {
		el.Text += s
	}
}

// bang handles "<!": CDATA sections are text, everything else is restricted.
func (p *parser) bang(i int) (int, error) {
	rest := p.b[i:]
	if bytes.HasPrefix(rest, cdataOpen) {
		if len(p.stack) == 0 {
			return i, p.errAt(NotWellFormed, i, "CDATA section outside an element")
		}
		start := i + len(cdataOpen)
		k := bytes.Index(p.b[start:], cdataClose)
		if k < 0 {
			return i, p.errAt(NotWellFormed, i, "unterminated CDATA section")
		}
		end := start + k
		if err := p.checkChars(p.b[start:end], start); err != nil {
			return i, err
		}
		if p.tree && end > start {
			if bytes.IndexByte(p.b[start:end], '\r') < 0 {
				p.addText(p.str(start, end))
			} else {
				// Line-end normalisation only; no references in CDATA.
				t := make([]byte, 0, end-start)
				for j := start; j < end; j++ {
					c := p.b[j]
					if c == '\r' {
						if j+1 < end && p.b[j+1] == '\n' {
							continue
						}
						c = '\n'
					}
					t = append(t, c)
				}
				p.addText(string(t))
			}
		}
		return end + len(cdataClose), nil
	}
	if bytes.HasPrefix(rest, []byte("<![")) {
		return i, p.errAt(NotWellFormed, i, "invalid markup after '<!['")
	}
	return i, p.errAt(Restricted, i, "comment or DTD markup")
}

func (p *parser) skipSpace(i int) int {
	for i < len(p.b) && isSpace(p.b[i]) {
		i++
	}
	return i
}

// resolve maps an element or attribute prefix to its namespace.
func (p *parser) resolve(prefix []byte, streamOK bool, at int) (string, error) {
	switch string(prefix) {
	case "xml":
		return nsXML, nil
	case "xmlns":
		return "", p.errAt(BadNamespacePrefix, at, "the xmlns prefix cannot be used here")
	}
	for k := len(p.ns) - 1; k >= 0; k-- {
		if p.ns[k].prefix == string(prefix) {
			return p.ns[k].uri, nil
		}
	}
	if streamOK && string(prefix) == "stream" {
		return nsStreams, nil
	}
	return "", newErr(BadNamespacePrefix, "undeclared namespace prefix %q at byte %d", truncate(prefix), at)
}

// startTag parses the start tag at b[lt] == '<'.
func (p *parser) startTag(lt int) (int, error) {
	b := p.b
	n := len(b)
	depth := len(p.stack)
	if depth >= p.lim.MaxDepth {
		return lt, newErr(TooLarge, "elements nested deeper than %d", p.lim.MaxDepth)
	}
	qs := lt + 1
	qe, colon, err := p.qname(qs)
	if err != nil {
		return lt, err
	}
	i := qe
	p.attrs = p.attrs[:0]
	empty := false
	for {
		ws := i
		i = p.skipSpace(i)
		if i >= n {
			return i, p.errAt(NotWellFormed, i, "unexpected end in start tag")
		}
		c := b[i]
		if c == '>' {
			i++
			break
		}
		if c == '/' {
			if i+1 < n && b[i+1] == '>' {
				i += 2
				empty = true
				break
			}
			return i, p.errAt(NotWellFormed, i, "expected '>' after '/'")
		}
		if i == ws {
			return i, p.errAt(NotWellFormed, i, "missing whitespace before attribute")
		}
		if len(p.attrs) >= p.lim.MaxAttrs {
			return i, newErr(TooLarge, "more than %d attributes on an element", p.lim.MaxAttrs)
		}
		a := attrSpan{ws: ws, ns: i}
		if a.ne, a.colon, err = p.qname(i); err != nil {
			return i, err
		}
		i = p.skipSpace(a.ne)
		if i >= n || b[i] != '=' {
			return i, p.errAt(NotWellFormed, i, "attribute without value")
		}
		i = p.skipSpace(i + 1)
		if i >= n || (b[i] != '\'' && b[i] != '"') {
			return i, p.errAt(NotWellFormed, i, "attribute value not quoted")
		}
		q := b[i]
		i++
		a.vs = i
		a.plain = true
	value:
		for {
			if i >= n {
				return i, p.errAt(NotWellFormed, i, "unterminated attribute value")
			}
			c := b[i]
			if attrOK[c] {
				i++
				continue
			}
			switch {
			case c == q:
				break value
			case c == '\'' || c == '"':
				i++
			case c == '<':
				return i, p.errAt(NotWellFormed, i, "'<' in attribute value")
			case c == '&':
				_, j, err := parseRef(b, i)
				if err != nil {
					return i, err
				}
				i = j
				a.plain = false
			case c == '\t' || c == '\n' || c == '\r':
				a.plain = false
				i++
			case c >= utf8.RuneSelf:
				r, size := utf8.DecodeRune(b[i:])
				if size == 1 {
					return i, p.errAt(InvalidXML, i, "invalid UTF-8")
				}
				if !isChar(r) {
					return i, p.errAt(InvalidXML, i, "character not allowed in XML")
				}
				i += size
			default:
				return i, p.errAt(InvalidXML, i, "control character")
			}
		}
		a.ve = i
		i++
		a.end = i
		name := b[a.ns:a.ne]
		for k := range p.attrs {
			if bytes.Equal(b[p.attrs[k].ns:p.attrs[k].ne], name) {
				return i, newErr(NotWellFormed, "duplicate attribute %q at byte %d", truncate(name), a.ns)
			}
		}
		p.attrs = append(p.attrs, a)
	}

	// Namespace declarations first: they apply to this element's own name
	// and attributes.
	fr := frame{qs: qs, qe: qe, nsLen: len(p.ns), defNS: nsClient}
	if depth > 0 {
		fr.defNS = p.stack[depth-1].defNS
	}
	for k := range p.attrs {
		a := &p.attrs[k]
		if a.colon < 0 {
			if string(b[a.ns:a.ne]) == "xmlns" {
				fr.defNS = p.value(a)
			}
			continue
		}
		if string(b[a.ns:a.colon]) != "xmlns" {
			continue
		}
		prefix := p.str(a.colon+1, a.ne)
		uri := p.value(a)
		switch {
		case prefix == "xml":
			if uri != nsXML {
				return i, p.errAt(BadNamespacePrefix, a.ns, "the xml prefix cannot be rebound")
			}
			continue
		case prefix == "xmlns":
			return i, p.errAt(BadNamespacePrefix, a.ns, "the xmlns prefix cannot be declared")
		case uri == "":
			return i, p.errAt(BadNamespacePrefix, a.ns, "a prefix cannot be undeclared")
		case uri == nsXML || uri == nsXMLNS:
			return i, p.errAt(BadNamespacePrefix, a.ns, "reserved namespace bound to another prefix")
		}
		p.ns = append(p.ns, nsBind{prefix, uri})
	}
	var space, local string
	if colon < 0 {
		space, local = fr.defNS, p.str(qs, qe)
	} else {
		local = p.str(colon+1, qe)
		space, err = p.resolve(b[qs:colon], depth == 0 && (local == "error" || local == "features"), qs)
		if err != nil {
			return i, err
		}
	}
	for k := range p.attrs {
		a := &p.attrs[k]
		if a.colon >= 0 && string(b[a.ns:a.colon]) != "xmlns" {
			if _, err := p.resolve(b[a.ns:a.colon], false, a.ns); err != nil {
				return i, err
			}
		}
	}

	if s := p.st; s != nil {
		switch depth {
		case 0:
			p.recordTop(s, local, space, qe)
		case 1:
			if s.Children == nil {
				// Most stanzas have a handful of children: one allocation.
				s.Children = make([]Child, 0, 6)
			}
			s.Children = append(s.Children, Child{Name: local, NS: space, Start: lt})
		}
	}
	if p.tree {
		fr.el = p.newElement(local, space)
		if depth == 0 {
			p.root = fr.el
		} else {
			parent := p.stack[depth-1].el
			parent.Children = append(parent.Children, fr.el)
		}
	}
	p.stack = append(p.stack, fr)
	if empty {
		p.pop(i)
	}
	return i, nil
}

func (p *parser) recordTop(s *Stanza, local, space string, qe int) {
	s.Name, s.NS, s.nameEnd = local, space, qe
	b := p.b
	for k := range p.attrs {
		a := &p.attrs[k]
		if a.colon >= 0 {
			if string(b[a.ns:a.ne]) == "xml:lang" {
				s.Lang = p.value(a)
			}
			continue
		}
		switch string(b[a.ns:a.ne]) {
		case "to":
			s.To = p.value(a)
			s.toAt, s.toEnd = a.ws, a.end
		case "from":
			s.From = p.value(a)
			s.fromAt, s.fromEnd = a.ws, a.end
		case "id":
			s.ID = p.value(a)
		case "type":
			s.Type = p.value(a)
		}
	}
}

func (p *parser) newElement(local, space string) *Element {
	b := p.b
	el := &Element{Name: local, NS: space}
	for k := range p.attrs {
		a := &p.attrs[k]
		if a.colon < 0 {
			if string(b[a.ns:a.ne]) != "xmlns" {
				el.Attrs = append(el.Attrs, Attr{Name: p.str(a.ns, a.ne), Value: p.value(a)})
			}
			continue
		}
		prefix := p.str(a.ns, a.colon)
		if prefix == "xmlns" {
			continue
		}
		el.Attrs = append(el.Attrs, Attr{Name: p.str(a.ns, a.ne), Value: p.value(a)})
		if prefix == "xml" {
			continue
		}
		// A prefixed attribute keeps its qualified name; carry its
		// namespace declaration so the element stays serialisable.
		decl := "xmlns:" + prefix
		if el.Attr(decl) == "" {
			uri, _ := p.resolve(b[a.ns:a.colon], false, a.ns)
			el.Attrs = append(el.Attrs, Attr{Name: decl, Value: uri})
		}
	}
	return el
}

// endTag parses the end tag at b[lt] == '<' (followed by '/').
func (p *parser) endTag(lt int) (int, error) {
	b := p.b
	qs := lt + 2
	qe, _, err := p.qname(qs)
	if err != nil {
		return lt, err
	}
	i := p.skipSpace(qe)
	if i >= len(b) || b[i] != '>' {
		return i, p.errAt(NotWellFormed, i, "expected '>' in end tag")
	}
	i++
	if len(p.stack) == 0 {
		return i, newErr(NotWellFormed, "unexpected end tag </%s>", truncate(b[qs:qe]))
	}
	top := &p.stack[len(p.stack)-1]
	if !bytes.Equal(b[qs:qe], b[top.qs:top.qe]) {
		return i, newErr(NotWellFormed, "end tag </%s> does not match <%s> at byte %d",
			truncate(b[qs:qe]), truncate(b[top.qs:top.qe]), lt)
	}
	p.pop(i)
	return i, nil
}

func (p *parser) pop(end int) {
	top := len(p.stack) - 1
	p.ns = p.ns[:p.stack[top].nsLen]
	p.stack[top].el = nil
	p.stack = p.stack[:top]
	if p.st != nil && top == 1 {
		p.st.Children[len(p.st.Children)-1].End = end
	}
}
