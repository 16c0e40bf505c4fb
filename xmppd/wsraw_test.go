package xmppd_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// wsRaw is a WebSocket client written frame by frame, so tests see exactly
// what the server puts in each frame and can send what no library would.
type wsRaw struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

const (
	opText   = 1
	opBinary = 2
	opClose  = 8
)

// dialWSRaw upgrades a connection to /xmpp-websocket with the xmpp
// subprotocol; header adds request headers.
func dialWSRaw(t *testing.T, srv *xmppdtest.Server, header http.Header) *wsRaw {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET /xmpp-websocket HTTP/1.1\r\nHost: " + srv.HTTPAddr().String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Protocol: xmpp\r\n"
	for k, vs := range header {
		for _, v := range vs {
			req += k + ": " + v + "\r\n"
		}
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Protocol") != "xmpp" {
		t.Fatalf("upgrade: %s, subprotocol %q", res.Status, res.Header.Get("Sec-WebSocket-Protocol"))
	}
	return &wsRaw{t: t, conn: conn, r: r}
}

// frame writes one masked, final frame (RFC 6455 §5.3: clients mask).
func (w *wsRaw) frame(op byte, payload []byte) { w.t.Helper(); w.fragment(op, true, payload) }

// fragment writes one masked frame; op 0 continues a message.
func (w *wsRaw) fragment(op byte, fin bool, payload []byte) {
	w.t.Helper()
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatalf("write frame: %v", err)
	}
}

func (w *wsRaw) send(s string) { w.t.Helper(); w.frame(opText, []byte(s)) }

// next reads one frame.
func (w *wsRaw) next() wsFrame {
	w.t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		w.t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(w.r, l[:])
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(w.r, l[:])
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.r, p); err != nil {
		w.t.Fatalf("read frame payload: %v", err)
	}
	return wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: p}
}

// text reads the next frame, which must be a whole text message.
func (w *wsRaw) text() string {
	w.t.Helper()
	f := w.next()
	if f.op != opText || !f.fin {
		w.t.Fatalf("want one unfragmented text frame, got op %d fin %v: %q", f.op, f.fin, f.payload)
	}
	return string(f.payload)
}

// expect reads text messages until one contains want.
func (w *wsRaw) expect(want string) string {
	w.t.Helper()
	for {
		if m := w.text(); strings.Contains(m, want) {
			return m
		}
	}
}

// closed asserts the RFC 7395 ending: <close/>, then a close frame with
// status; it returns the stream error seen before, if any.
func (w *wsRaw) closed(status uint16) string {
	w.t.Helper()
	var streamErr string
	for {
		f := w.next()
		switch {
		case f.op == opText && strings.HasPrefix(string(f.payload), "<stream:error"):
			streamErr = string(f.payload)
		case f.op == opText && string(f.payload) == "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>":
			c := w.next()
			if c.op != opClose || len(c.payload) < 2 || binary.BigEndian.Uint16(c.payload) != status {
				w.t.Fatalf("after <close/>: want close frame %d, got op %d %q", status, c.op, c.payload)
			}
			w.frame(opClose, c.payload[:2]) // the close handshake's answer
			return streamErr
		case f.op == opText:
		default:
			w.t.Fatalf("before <close/>: unexpected frame op %d %q", f.op, f.payload)
		}
	}
}

// open starts a stream to domain and returns the features message.
func (w *wsRaw) open(domain string) string {
	w.t.Helper()
	w.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + domain + "' version='1.0'/>")
	if m := w.text(); !strings.HasPrefix(m, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") || !strings.Contains(m, "from='"+domain+"'") {
		w.t.Fatalf("want <open/> from %s, got %q", domain, m)
	}
	return w.expect("features")
}

// login authenticates with SASL PLAIN (or ANONYMOUS for user "") and
// binds; it returns the bound JID.
func (w *wsRaw) login(domain, user, password string) string {
	w.t.Helper()
	w.open(domain)
	if user == "" {
		w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>")
	} else {
		w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
			base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>")
	}
	if m := w.text(); !strings.HasPrefix(m, "<success") {
		w.t.Fatalf("auth: %q", m)
	}
	w.open(domain)
	w.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	m := w.expect("<jid>")
	i, j := strings.Index(m, "<jid>"), strings.Index(m, "</jid>")
	return m[i+5 : j]
}
