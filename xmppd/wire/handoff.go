package wire

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
