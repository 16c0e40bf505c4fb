package wire

import "bytes"

// DiscardWhitespace drops buffered whitespace (clients such as go-sendxmpp
// send a newline after <starttls/>) and reports whether the buffer is now
// empty. Anything else left buffered before a TLS handshake is data a
// client pipelined in plain text, which must not be trusted.
func (r *Reader) DiscardWhitespace() bool {
	for r.r < r.w {
		switch r.buf[r.r] {
		case ' ', '\t', '\r', '\n':
			r.r++
		default:
			return false
		}
	}
	return true
}

// ParseStanza parses one complete stanza the server produced itself (so
// already valid and within the stream's limits) into a Stanza, e.g. to
// route a generated presence through the pipeline.
func ParseStanza(b []byte) (*Stanza, error) {
	n := len(b) + 1
	st := new(Stanza)
	r := NewReader(bytes.NewReader(b), Limits{MaxStanzaSize: n, MaxDepth: n, MaxAttrs: n})
	err := r.Next(st)
	r.Release() // the read buffer goes back to the pool
	return st, err
}
