// Package framing carries an XMPP stream over WebSocket (RFC 7395): one
// complete top-level element per WebSocket message in both directions,
// <open/> and <close/> (urn:ietf:params:xml:ns:xmpp-framing) instead of the
// <stream:stream> header and end tag.
//
// The server's stream code (mellium during negotiation, the outbound queue
// afterwards) writes and reads the plain RFC 6120 byte stream; this package
// converts at the edge: Writer splits what the server writes into one
// message per element, and Unframe turns each message a client sends into
// the bytes the server's stream reader expects. So TCP and WebSocket
// sessions share every line of negotiation and session code.
package framing

import (
	"bytes"
	"errors"
)

// NS is the RFC 7395 framing namespace of <open/> and <close/>.
const NS = "urn:ietf:params:xml:ns:xmpp-framing"

const nsStream = "http://etherx.jabber.org/streams"

// Kind says what a unit of the byte stream is.
type Kind int

const (
	// Element is a complete top-level element (a stanza, a nonza,
	// <stream:features/>, <stream:error/>).
	Element Kind = iota
	// StreamStart is a <stream:stream ...> start tag.
	StreamStart
	// StreamEnd is a </stream:stream> end tag.
	StreamEnd
	// Declaration is an XML declaration or other processing instruction
	// between elements.
	Declaration
)

// ErrMarkup reports markup the splitter cannot frame: a comment, DTD or
// character data at the top level, or an end tag closing nothing. The
// server never writes it; a client sending it gets not-well-formed.
var ErrMarkup = errors.New("framing: markup that is not an element at the top level")

// splitter states.
const (
	stTop = iota
	stTag
	stQuote
	stText
	stEnd
	stCDATA
	stPI
)

// splitter finds unit boundaries in a byte stream. It is resumable: Next
// keeps its position when a unit is incomplete, so feeding a large element
// in small writes scans each byte once.
type splitter struct {
	st    int
	depth int
	i     int  // scan position in the pending bytes
	quote byte // in stQuote
	top   bool // the tag being scanned is a top-level start tag
}

// next returns the length and kind of the first complete unit of b (which
// starts at a unit boundary, after whitespace the caller skipped), or n = 0
// when more bytes are needed.
func (s *splitter) next(b []byte) (n int, k Kind, err error) {
	i := s.i
	for i < len(b) {
		switch s.st {
		case stTop:
			if b[0] != '<' {
				return 0, 0, ErrMarkup
			}
			if len(b) < 2 {
				return s.more(1)
			}
			switch b[1] {
			case '/':
				k := bytes.IndexByte(b, '>')
				if k < 0 {
					return s.more(len(b))
				}
				if !isStreamName(bytes.TrimSpace(b[2:k])) {
					return 0, 0, ErrMarkup
				}
				return s.done(k+1, StreamEnd)
			case '?':
				s.st = stPI
				i = 2
			case '!':
				return 0, 0, ErrMarkup
			default:
				s.st, s.depth, s.top = stTag, 1, true
				i = 1
			}
		case stTag:
			j := i
			for j < len(b) && b[j] != '>' && b[j] != '\'' && b[j] != '"' {
				j++
			}
			if j == len(b) {
				i = j
				continue
			}
			if b[j] != '>' {
				s.quote, s.st = b[j], stQuote
				i = j + 1
				continue
			}
			i = j + 1
			if b[j-1] == '/' {
				s.depth--
				if s.depth == 0 {
					return s.done(i, Element)
				}
				s.st, s.top = stText, false
				continue
			}
			if s.top && isStreamName(tagName(b[1:])) {
				return s.done(i, StreamStart)
			}
			s.st, s.top = stText, false
		case stQuote:
			k := bytes.IndexByte(b[i:], s.quote)
			if k < 0 {
				i = len(b)
				continue
			}
			i += k + 1
			s.st = stTag
		case stText:
			k := bytes.IndexByte(b[i:], '<')
			if k < 0 {
				i = len(b)
				continue
			}
			i += k
			if i+1 >= len(b) {
				return s.more(i)
			}
			switch b[i+1] {
			case '/':
				s.st = stEnd
				i += 2
			case '!':
				if len(b)-i < 9 {
					return s.more(i)
				}
				if !bytes.HasPrefix(b[i:], []byte("<![CDATA[")) {
					return 0, 0, ErrMarkup
				}
				s.st = stCDATA
				i += 9
			case '?':
				return 0, 0, ErrMarkup
			default:
				s.depth++
				s.st = stTag
				i++
			}
		case stEnd:
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				i = len(b)
				continue
			}
			i += k + 1
			s.depth--
			if s.depth == 0 {
				return s.done(i, Element)
			}
			s.st = stText
		case stCDATA:
			k := bytes.Index(b[i:], []byte("]]>"))
			if k < 0 {
				i = max(i, len(b)-2)
				return s.more(i)
			}
			i += k + 3
			s.st = stText
		case stPI:
			k := bytes.Index(b[i:], []byte("?>"))
			if k < 0 {
				i = max(i, len(b)-1)
				return s.more(i)
			}
			return s.done(i+k+2, Declaration)
		}
	}
	return s.more(i)
}

func (s *splitter) more(i int) (int, Kind, error) {
	s.i = i
	return 0, 0, nil
}

func (s *splitter) done(n int, k Kind) (int, Kind, error) {
	*s = splitter{}
	return n, k, nil
}

// tagName returns the name at the start of b (after '<' or '</').
func tagName(b []byte) []byte {
	for i, c := range b {
		if isSpace(c) || c == '/' || c == '>' {
			return b[:i]
		}
	}
	return b
}

// isStreamName reports whether name is "stream" with any or no prefix.
func isStreamName(name []byte) bool {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name) == "stream"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// trimLeft skips whitespace between units.
func trimLeft(b []byte) int {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
