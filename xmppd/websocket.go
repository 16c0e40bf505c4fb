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
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/coder/websocket"
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
	log := withAttrs(srv.log, slog.String("remote", ip), slog.String("transport", "websocket"))
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
