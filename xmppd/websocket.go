package xmppd

// XMPP over WebSocket (RFC 7395) at /xmpp-websocket on the HTTP listener.
//
// The library is github.com/coder/websocket: it is maintained, passes the
// Autobahn conformance suite, reads and writes whole messages (what RFC
// 7395's one element per message needs), bounds reads, and does the close
// handshake; golang.org/x/net/websocket, which mellium uses, documents
// itself as lacking features and points to it.
//
// A WebSocket stream runs the same code as a TCP one (serveStream): wsConn
// is a net.Conn whose bytes are the plain RFC 6120 stream, converted at
// the edge by package framing. Differences: no STARTTLS (RFC 7395 §3.5;
// TLS is the HTTP layer's), the connection is secure or not by how it
// arrived (websocketSecure), and the per-address limit counts the client
// behind a local proxy.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/xmppd/xmppd/xmppd/framing"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// WebSocketPath is where the HTTP listener accepts XMPP over WebSocket.
const WebSocketPath = "/xmpp-websocket"

// handleWebSocket registers the WebSocket endpoint and its XEP-0156
// discovery documents on the HTTP listener.
func (srv *Server) handleWebSocket(core *Registrar) error {
	if err := core.HandleHTTP("GET "+WebSocketPath, http.HandlerFunc(srv.serveWebSocket)); err != nil {
		return err
	}
	return srv.handleHostMeta(core)
}

// serveWebSocket upgrades one request and serves its XMPP stream on the
// request's goroutine until the stream ends.
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	log := srv.log.With("remote", ip, "transport", "websocket")
	if !headerHasToken(r.Header, "Sec-WebSocket-Protocol", "xmpp") {
		http.Error(w, "XMPP over WebSocket (RFC 7395) needs the \"xmpp\" subprotocol", http.StatusBadRequest)
		return
	}
	if !srv.running.Load() {
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !srv.conns.acquire(ip) {
		log.Warn("connection refused: too many connections from this address", "limit", srv.limits.ConnectionsPerIP)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	defer srv.conns.release(ip)
	// Counted before the upgrade: Shutdown stops the HTTP server (which
	// waits for this request until it hijacks the connection) before it
	// waits for srv.wg.
	srv.wg.Add(1)
	defer srv.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"xmpp"},
		// Any origin: authentication is SASL inside the stream, never a
		// cookie, so a page elsewhere gains nothing a raw socket would not
		// give it, and the visitor widget is embedded in other sites.
		InsecureSkipVerify: true,
	})
	if err != nil {
		log.Debug("WebSocket upgrade failed", "err", err)
		return
	}
	remote := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(remote); err != nil || ap.Addr().Unmap().String() != ip {
		remote = ip // the client behind a local proxy
	}
	c := newWSConn(ws, wsAddr(remote), int(srv.limits.MaxStanzaSize))
	defer c.wait()
	if !srv.websocketSecure(r) {
		log.Info("WebSocket refused: not secure", "hint", "use wss://, or set http.websocket_secure behind a trusted TLS proxy")
		_, _ = c.Write([]byte(streamErrorDoc(srv.domain, "policy-violation",
			"XMPP over WebSocket needs TLS here: connect with wss://")))
		_ = c.Close()
		return
	}
	srv.serveStream(transport{conn: c, ip: ip, secure: true, log: log})
}

// websocketSecure reports whether a WebSocket request is confidential
// enough for SASL: it came over TLS; or http.websocket_secure says every
// one is (a trusted TLS proxy elsewhere); or it came from loopback, either
// from a local TLS proxy (X-Forwarded-Proto: https) or straight from a
// local client. A local proxy forwarding plain HTTP is not secure.
func (srv *Server) websocketSecure(r *http.Request) bool {
	if r.TLS != nil || srv.cfg.HTTP.WebSocketSecure {
		return true
	}
	if !peerIsLoopback(r) {
		return false
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" {
		first, _, _ := strings.Cut(proto, ",")
		return strings.EqualFold(strings.TrimSpace(first), "https")
	}
	return r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("Forwarded") == ""
}

func peerIsLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().IsLoopback()
}

// clientIP is the address the per-address limits count: the peer, or,
// behind a proxy on loopback, the client it names last in
// X-Forwarded-For (the entry the proxy itself added).
func clientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}
	if ap.Addr().IsLoopback() {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return a.Unmap().String()
			}
		}
	}
	return ap.Addr().Unmap().String()
}

// headerHasToken reports whether a comma-separated header lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsAddr is a WebSocket peer's address as a net.Addr.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

// wsError is bad input at the WebSocket level; it closes the stream with
// its condition, like a *wire.Error, and the connection with its status.
type wsError struct {
	cond, text string
	status     websocket.StatusCode
}

func (e *wsError) Error() string     { return e.text }
func (e *wsError) Condition() string { return e.cond }

var errWSBinary = &wsError{cond: "unsupported-encoding", status: websocket.StatusUnsupportedData,
	text: "binary WebSocket messages are not XMPP; RFC 7395 uses text messages"}

// wsConn is a WebSocket connection as the net.Conn of a plain XMPP
// stream. A goroutine reads whole messages (text only, one element each,
// at most the stanza size limit), converts them with framing.Unframe and
// hands them to Read, which honours read deadlines without touching the
// WebSocket (coder/websocket closes a connection whose read is cancelled,
// but the idle timeout must only wake the read loop to send a ping).
// Write frames one element per message with framing.Writer.
type wsConn struct {
	ws            *websocket.Conn
	remote, local net.Addr
	max           int

	msgs    chan wsMsg
	pending []byte
	rerr    error
	timer   *time.Timer // read deadline; used by Read only

	rdl, wdl atomic.Pointer[time.Time]
	fw       framing.Writer

	status    atomic.Int32 // close status once bad input was seen
	done      chan struct{}
	closeOnce sync.Once
	closed    chan struct{} // the close handshake finished
}

type wsMsg struct {
	b   []byte
	err error
}

func newWSConn(ws *websocket.Conn, remote net.Addr, maxStanza int) *wsConn {
	// Our own limit (maxStanza + 1 bytes read) decides, so that an
	// oversized stanza gets a stream error before the close.
	ws.SetReadLimit(-1)
	c := &wsConn{ws: ws, remote: remote, local: wsAddr("xmpp-websocket"), max: maxStanza,
		msgs: make(chan wsMsg, 1), done: make(chan struct{}), closed: make(chan struct{})}
	c.status.Store(int32(websocket.StatusNormalClosure))
	c.fw.Send = c.send
	c.fw.MaxPending = 2*maxStanza + 64<<10
	go c.readMessages()
	return c
}

func (c *wsConn) readMessages() {
	for {
		b, err := c.readMessage()
		if err == nil && b == nil {
			continue // whitespace only
		}
		select {
		case c.msgs <- wsMsg{b: b, err: err}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *wsConn) readMessage() ([]byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway:
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return nil, io.EOF
		}
		return nil, err
	}
	if typ != websocket.MessageText {
		c.status.Store(int32(errWSBinary.status))
		return nil, errWSBinary
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(c.max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > c.max {
		c.status.Store(int32(websocket.StatusMessageTooBig))
		return nil, &wire.Error{Kind: wire.TooLarge, Msg: "stanza larger than " + strconv.Itoa(c.max) + " bytes"}
	}
	out, err := framing.Unframe(b)
	if err != nil {
		c.status.Store(int32(websocket.StatusPolicyViolation))
		return nil, &wire.Error{Kind: wire.NotWellFormed, Msg: err.Error()}
	}
	return out, nil
}

func (c *wsConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		var timeout <-chan time.Time
		if dl := c.rdl.Load(); dl != nil {
			// One timer for the connection's life; since Go 1.23 Reset
			// and Stop leave no stale tick behind.
			if c.timer == nil {
				c.timer = time.NewTimer(time.Until(*dl))
			} else {
				c.timer.Reset(time.Until(*dl))
			}
			timeout = c.timer.C
		}
		select {
		case m := <-c.msgs:
			c.pending, c.rerr = m.b, m.err
		case <-timeout:
			return 0, errWSTimeout
		case <-c.done:
			return 0, net.ErrClosed
		}
		if c.timer != nil {
			c.timer.Stop()
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// errWSTimeout is a read deadline passing, as a net.Error.
var errWSTimeout error = wsTimeout{}

type wsTimeout struct{}

func (wsTimeout) Error() string   { return "websocket: read deadline exceeded" }
func (wsTimeout) Timeout() bool   { return true }
func (wsTimeout) Temporary() bool { return true }

func (c *wsConn) Write(p []byte) (int, error) { return c.fw.Write(p) }

// send writes one message, within the write deadline.
func (c *wsConn) send(msg []byte) error {
	ctx := context.Background()
	if dl := c.wdl.Load(); dl != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *dl)
		defer cancel()
	}
	return c.ws.Write(ctx, websocket.MessageText, msg)
}

// Close ends the connection with the WebSocket close handshake (after the
// <close/> the stream code wrote). It does not wait for the peer's answer;
// the request's goroutine does (wait).
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		go func() {
			defer close(c.closed)
			_ = c.ws.Close(websocket.StatusCode(c.status.Load()), "")
		}()
	})
	return nil
}

// wait closes the connection and waits for the close handshake to end
// (coder/websocket bounds it).
func (c *wsConn) wait() {
	_ = c.Close()
	<-c.closed
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline applies to the next Read (the stream code sets it
// between reads, on the reading goroutine).
func (c *wsConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.rdl.Store(nil)
	} else {
		c.rdl.Store(&t)
	}
	return nil
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.wdl.Store(nil)
	} else {
		c.wdl.Store(&t)
	}
	return nil
}
