package wire

// InsertChild returns a copy of el, one serialised element (never
// modified: it may be a shared wire form), with child just before its end
// tag; a self-closing element is expanded (<message .../> becomes
// <message ...>child</message>). Trailing whitespace after el is dropped.
// Extensions use it to add a payload (a delay, a stanza-id) to a stanza
// they hold as bytes.
func InsertChild(el, child []byte) []byte {
	n := len(el)
	for n > 0 && isSpace(el[n-1]) {
		n--
	}
	el = el[:n]
	out := make([]byte, 0, n+len(child)+16)
	if n >= 2 && el[n-2] == '/' && el[n-1] == '>' {
		// The name ends at the first space, '/' or '>'.
		end := 1
		for end < n && !isSpace(el[end]) && el[end] != '/' && el[end] != '>' {
			end++
		}
		out = append(out, el[:n-2]...)
		out = append(out, '>')
		out = append(out, child...)
		out = append(out, "</"...)
		out = append(out, el[1:end]...)
		return append(out, '>')
	}
	i := n - 1
	for i >= 0 && el[i] != '<' {
		i--
	}
	if i < 0 {
		return append(out, el...) // not an element: nothing to insert into
	}
	out = append(out, el[:i]...)
	out = append(out, child...)
	return append(out, el[i:]...)
}
