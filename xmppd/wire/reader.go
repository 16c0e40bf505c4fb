// Package wire is the byte-level XML layer of the XMPP server: a buffered
// connection reader, a stanza splitter/parser for the stream body, a small
// element tree and an XML appender for replies.
//
// It enforces the XML subset RFC 6120 §11 allows on an XMPP stream (XML 1.0
// well-formedness, namespaces, no comments/PIs/DTDs/entity declarations, only
// the predefined entities) plus per-stanza size, depth and attribute limits
// (the DoS protection encoding/xml does not provide).
//
// During stream negotiation mellium drives encoding/xml over the same Reader
// (it implements io.ByteReader, so encoding/xml does no buffering of its own);
// afterwards Reader.Next splits the stream into Stanzas without any further
// copying of bytes that mellium may have left in the buffer.
package wire

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// Limits bounds what one peer can make the server buffer and parse.
type Limits struct {
	MaxStanzaSize int // bytes of one top-level element incl. children; 0 = 256 KiB default
	MaxDepth      int // element nesting inside a stanza (the stanza itself is depth 1); 0 = 64
	MaxAttrs      int // attributes per element; 0 = 64
}

const (
	defaultMaxStanza = 256 << 10
	defaultMaxDepth  = 64
	defaultMaxAttrs  = 64

	initialBufSize = 4 << 10
	// bufSlack lets the buffer hold a bit more than one maximal stanza so
	// that reads stay chunk-sized near the limit.
	bufSlack = 4 << 10
	// shrinkAbove: a buffer grown beyond this by a large stanza is dropped
	// once it runs empty, so idle sessions fall back to small buffers while
	// moderately sized traffic does not reallocate all the time.
	shrinkAbove = 16 << 10
	// maxEmptyReads guards against sources that keep returning 0, nil.
	maxEmptyReads = 100
)

func (l Limits) withDefaults() Limits {
	if l.MaxStanzaSize <= 0 {
		l.MaxStanzaSize = defaultMaxStanza
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = defaultMaxAttrs
	}
	return l
}

// splitter states (see Reader.split).
const (
	stTop    = iota // between top-level elements
	stText          // character data inside a stanza
	stLT            // at a '<' inside a stanza, deciding what follows
	stStart         // inside a start tag, outside quotes
	stQuote         // inside a quoted attribute value
	stEnd           // inside an end tag
	stTopEnd        // inside an end tag at top level (the stream end)
	stCDATA         // inside a CDATA section
)

// Reader is a buffered reader over a connection. It implements io.Reader and
// io.ByteReader so that encoding/xml (used by mellium during stream
// negotiation) reads through it without its own bufio; no bytes are lost when
// Next takes over the stream after negotiation.
//
// A Reader is not safe for concurrent use. Do not mix Read/ReadByte with Next
// while Next has returned a source error in the middle of an element.
type Reader struct {
	src  io.Reader
	lim  Limits
	buf  []byte
	one  [1]byte // the first byte after an idle wait (fillIdle)
	r, w int     // buf[r:w] is buffered and unconsumed
	rerr error   // deferred source error (returned once the buffer is drained)

	skipWS  bool
	afterGT bool // last byte handed out by Read/ReadByte was '>' (or skipped whitespace after it)

	// splitter state, resumable across source reads; offsets relative to r.
	st    int
	depth int
	off   int
	quote byte
	opens []int // offsets of the '<' of the open elements, to match end tags early
	endAt int   // offset of the '<' of the end tag being scanned

	sticky error // io.EOF, io.ErrUnexpectedEOF or *Error: the stream is over
	closed bool  // the peer sent </stream:stream> (not merely a closed connection)
	p      parser
}

// NewReader returns a Reader reading from src with the given limits (zero
// fields take their defaults). The buffer is allocated on first use.
func NewReader(src io.Reader, lim Limits) *Reader {
	r := &Reader{src: src, lim: lim.withDefaults()}
	r.p.lim = r.lim
	return r
}

// PeerClosed reports whether Next returned io.EOF because the peer sent
// </stream:stream>, rather than because the connection ended between
// elements (XEP-0198 keeps a session for resumption only in that case).
func (r *Reader) PeerClosed() bool { return r.closed }

// Buffered returns the number of bytes read from the source but not yet
// consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// SetSource switches to a new source, e.g. the *tls.Conn after STARTTLS. The
// caller guarantees Buffered() == 0 (the peer must not send anything after
// <starttls/> before our <proceed/>).
func (r *Reader) SetSource(src io.Reader) {
	r.src = src
	r.rerr = nil
}

// SetSkipNegotiationWhitespace turns on or off dropping whitespace bytes
// (space, \t, \r, \n) that directly follow a '>' byte in Read and ReadByte.
// mellium's negotiation rejects whitespace between elements (go-sendxmpp
// sends "...version='1.0'>\n"). It is meant for negotiation only: the rule is
// purely lexical and would also eat whitespace after a '>' inside attribute
// values or text. Next is not affected.
func (r *Reader) SetSkipNegotiationWhitespace(on bool) {
	r.skipWS = on
	r.afterGT = false
}

// Release drops the buffer if nothing is buffered, so idle sessions hold no
// read buffer; it is reallocated on the next read.
func (r *Reader) Release() {
	if r.r != r.w {
		return
	}
	r.releaseBuf()
	r.r, r.w = 0, 0
	r.p.release()
}

// fill reads at least one byte from src into the buffer, growing or
// compacting it as needed. It returns nil if bytes were added. stanzas
// says Next is reading (see fillIdle).
func (r *Reader) fill(stanzas bool) error {
	if r.rerr != nil {
		err := r.rerr
		if err != io.EOF {
			r.rerr = nil
		}
		return err
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
		if r.st == stTop && stanzas {
			// Between stanzas with nothing buffered, the next read may
			// block for minutes: idle sessions are the common case, so
			// the buffer goes back to the pool and the first byte comes
			// into a one-byte array. (A TLS source hands the rest of its
			// record to the next read without a system call.) Not for
			// Read and ReadByte: negotiation reads byte by byte.
			return r.fillIdle()
		}
	}
	if r.buf == nil {
		r.buf = r.newBuf()
	}
	if r.w == len(r.buf) {
		if r.r > 0 {
			// Slide the unconsumed bytes to the front.
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		} else {
			max := r.lim.MaxStanzaSize + bufSlack
			if len(r.buf) >= max {
				// Cannot happen through Next (split reports TooLarge first),
				// but Read/ReadByte callers never hold more than one byte.
				return newErr(TooLarge, "read buffer full")
			}
			nb := make([]byte, min(2*len(r.buf), max))
			r.w = copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		}
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return errors.New("wire: source returned an invalid byte count")
		}
		r.w += n
		if err != nil {
			if n > 0 {
				r.rerr = err
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// bufPool holds standard-size read buffers of readers that went idle.
var bufPool = sync.Pool{New: func() any { return new([initialBufSize]byte) }}

// newBuf returns a buffer of the initial size, pooled when standard.
func (r *Reader) newBuf() []byte {
	if n := r.lim.MaxStanzaSize + bufSlack; n < initialBufSize {
		return make([]byte, n)
	}
	return bufPool.Get().(*[initialBufSize]byte)[:]
}

// releaseBuf hands a standard-size buffer back to the pool; others are
// left to the garbage collector.
func (r *Reader) releaseBuf() {
	if len(r.buf) == initialBufSize && cap(r.buf) == initialBufSize {
		bufPool.Put((*[initialBufSize]byte)(r.buf))
	}
	r.buf = nil
}

// fillIdle is fill for an empty buffer between stanzas: it waits for one
// byte without holding a buffer, then takes one.
func (r *Reader) fillIdle() error {
	r.releaseBuf()
	for range maxEmptyReads {
		n, err := r.src.Read(r.one[:])
		if n < 0 || n > 1 {
			return errors.New("wire: source returned an invalid byte count")
		}
		if n == 1 {
			r.buf = r.newBuf()
			r.buf[0] = r.one[0]
			r.w = 1
			r.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// maybeShrink drops an oversized buffer once it is empty.
func (r *Reader) maybeShrink() {
	if r.r == r.w {
		r.r, r.w = 0, 0
		if len(r.buf) > shrinkAbove {
			r.buf = nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// ReadByte implements io.ByteReader.
func (r *Reader) ReadByte() (byte, error) {
	for {
		if r.r == r.w {
			if err := r.fill(false); err != nil {
				return 0, err
			}
		}
		c := r.buf[r.r]
		r.r++
		if r.skipWS {
			if r.afterGT && isSpace(c) {
				continue
			}
			r.afterGT = c == '>'
		}
		if r.r == r.w {
			r.maybeShrink()
		}
		return c, nil
	}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.r == r.w {
			if err := r.fill(false); err != nil {
				return 0, err
			}
		}
		var n int
		if !r.skipWS {
			n = copy(p, r.buf[r.r:r.w])
			r.r += n
		} else {
			for n < len(p) && r.r < r.w {
				c := r.buf[r.r]
				r.r++
				if r.afterGT && isSpace(c) {
					continue
				}
				r.afterGT = c == '>'
				p[n] = c
				n++
			}
		}
		if r.r == r.w {
			r.maybeShrink()
		}
		if n > 0 {
			return n, nil
		}
		// Everything buffered was skipped whitespace: read more.
	}
}

// Next reads the next complete top-level element of the stream (a child of
// <stream:stream>), skipping whitespace keepalives between elements. It fills
// *s, reusing the capacity of s.Children, and returns nil.
//
// It returns io.EOF when the peer closed the stream with </stream:stream> (any
// prefix) or the connection ended cleanly between elements,
// io.ErrUnexpectedEOF if it ended inside an element, and *Error for bad input.
// These are final: later calls return the same error. Other source errors
// (e.g. read deadlines) are returned as they are and Next may be called again
// to resume where it stopped.
func (r *Reader) Next(s *Stanza) error {
	if r.sticky != nil {
		return r.sticky
	}
	for {
		n, err := r.split()
		if err != nil {
			r.sticky = err
			return err
		}
		if n > 0 {
			return r.finish(s, n)
		}
		if err := r.fill(true); err != nil {
			if err == io.EOF {
				if r.st == stTop && r.r == r.w {
					r.sticky = io.EOF
				} else {
					r.sticky = io.ErrUnexpectedEOF
				}
				return r.sticky
			}
			var we *Error
			if errors.As(err, &we) {
				r.sticky = err
			}
			return err
		}
	}
}

func (r *Reader) finish(s *Stanza, n int) error {
	raw := make([]byte, n)
	copy(raw, r.buf[r.r:r.r+n])
	r.r += n
	r.st, r.depth, r.off = stTop, 0, 0
	r.maybeShrink()
	if err := r.p.stanza(raw, s); err != nil {
		r.sticky = err
		return err
	}
	return nil
}

var cdataOpen = []byte("<![CDATA[")

// split scans the buffered bytes of the current top-level element, resuming
// at r.off in state r.st. It returns the element's length once it is
// complete, 0 if more input is needed, or an error. Whitespace between
// elements is consumed as it is seen so it never counts against the limit.
//
// The scan only tracks what is needed to find the element's end (tags,
// quotes, CDATA); full validation happens in parser.stanza on the copy.
func (r *Reader) split() (int, error) {
	b := r.buf[r.r:r.w]
	i := r.off
	for {
		switch r.st {
		case stTop:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			r.r += i
			b = b[i:]
			i = 0
			if len(b) == 0 {
				goto more
			}
			if b[0] != '<' {
				return 0, r.fail(i, newErr(NotWellFormed, "character data at stream level"))
			}
			if len(b) < 3 {
				goto more
			}
			switch b[1] {
			case '/':
				r.st = stTopEnd
				i = 2
			case '?':
				return 0, r.fail(2, newErr(Restricted, "processing instruction"))
			case '!':
				if b[2] == '[' {
					return 0, r.fail(2, newErr(NotWellFormed, "CDATA section at stream level"))
				}
				return 0, r.fail(2, newErr(Restricted, "comment or DTD markup"))
			default:
				r.st = stStart
				r.depth = 1
				r.opens = append(r.opens[:0], 0)
				i = 1
			}
		case stText:
			k := bytes.IndexByte(b[i:], '<')
			if k < 0 {
				i = len(b)
				goto more
			}
			i += k
			r.st = stLT
		case stLT:
			if i+2 >= len(b) {
				goto more
			}
			switch b[i+1] {
			case '/':
				r.st = stEnd
				r.endAt = i
				i += 2
			case '?':
				return 0, r.fail(i+2, newErr(Restricted, "processing instruction"))
			case '!':
				rest := b[i:]
				if b[i+2] == '[' {
					for k := 3; k < len(cdataOpen); k++ {
						if k == len(rest) {
							goto more
						}
						if rest[k] != cdataOpen[k] {
							return 0, r.fail(i+k, newErr(NotWellFormed, "invalid markup after '<!['"))
						}
					}
					r.st = stCDATA
					i += len(cdataOpen)
					break
				}
				return 0, r.fail(i+2, newErr(Restricted, "comment or DTD markup"))
			default:
				r.depth++
				if r.depth > r.lim.MaxDepth {
					return 0, r.fail(i+2, newErr(TooLarge, "elements nested deeper than %d", r.lim.MaxDepth))
				}
				r.opens = append(r.opens, i)
				r.st = stStart
				i++
			}
		case stStart:
			j := i
			for j < len(b) && b[j] != '>' && b[j] != '\'' && b[j] != '"' {
				j++
			}
			if j == len(b) {
				i = j
				goto more
			}
			if b[j] != '>' {
				r.quote = b[j]
				r.st = stQuote
				i = j + 1
				break
			}
			i = j + 1
			r.st = stText
			// A '/' right before '>' is outside quotes: inside them the
			// closing quote would come first.
			if b[j-1] == '/' {
				r.opens = r.opens[:len(r.opens)-1]
				r.depth--
				if r.depth == 0 {
					return r.complete(i)
				}
			}
		case stQuote:
			k := bytes.IndexByte(b[i:], r.quote)
			if k < 0 {
				i = len(b)
				goto more
			}
			i += k + 1
			r.st = stStart
		case stEnd:
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				i = len(b)
				goto more
			}
			// Match the end tag now rather than in the parser, so a peer
			// cannot make us wait for the size limit with a wrong end tag.
			open, end := tagName(b[r.opens[len(r.opens)-1]+1:]), tagName(b[r.endAt+2:])
			if !bytes.Equal(open, end) {
				return 0, r.fail(i+k, newErr(NotWellFormed, "end tag </%s> does not match <%s>", truncate(end), truncate(open)))
			}
			r.opens = r.opens[:len(r.opens)-1]
			i += k + 1
			r.depth--
			r.st = stText
			if r.depth == 0 {
				return r.complete(i)
			}
		case stTopEnd:
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				i = len(b)
				goto more
			}
			if isStreamEnd(b[2:i+k]) && i+k <= r.lim.MaxStanzaSize {
				r.closed = true
				return 0, io.EOF
			}
			return 0, r.fail(i+k, newErr(NotWellFormed, "unexpected end tag </%s> at stream level", truncate(b[2:i+k])))
		case stCDATA:
			k := bytes.Index(b[i:], cdataClose)
			if k < 0 {
				i = max(i, len(b)-2)
				goto more
			}
			i += k + len(cdataClose)
			r.st = stText
		}
	}
more:
	r.off = i
	if len(b) > r.lim.MaxStanzaSize {
		return 0, newErr(TooLarge, "stanza larger than %d bytes", r.lim.MaxStanzaSize)
	}
	return 0, nil
}

// tagName returns the bytes of b up to the first whitespace, '/' or '>'.
func tagName(b []byte) []byte {
	for i, c := range b {
		if isSpace(c) || c == '/' || c == '>' {
			return b[:i]
		}
	}
	return b
}

// fail reports err, decided by the byte at offset i of the current element,
// unless that byte lies beyond the size limit: then a reader receiving the
// input in small pieces would have stopped with TooLarge first, and the
// result must not depend on how the input was chunked.
func (r *Reader) fail(i int, err *Error) *Error {
	if i > r.lim.MaxStanzaSize {
		return newErr(TooLarge, "stanza larger than %d bytes", r.lim.MaxStanzaSize)
	}
	return err
}

func (r *Reader) complete(n int) (int, error) {
	if n > r.lim.MaxStanzaSize {
		return 0, newErr(TooLarge, "stanza larger than %d bytes", r.lim.MaxStanzaSize)
	}
	return n, nil
}

// isStreamEnd reports whether name (the bytes between "</" and ">") closes
// the stream: local name "stream" with any (or no) prefix.
func isStreamEnd(name []byte) bool {
	for len(name) > 0 && isSpace(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		if i == 0 || !isNCNameASCII(name[:i]) {
			return false
		}
		name = name[i+1:]
	}
	return string(name) == "stream"
}

func isNCNameASCII(b []byte) bool {
	for k, c := range b {
		if c >= 0x80 || nameTab[c] == 0 || (k == 0 && nameTab[c] != 2) {
			return false
		}
	}
	return len(b) > 0
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
