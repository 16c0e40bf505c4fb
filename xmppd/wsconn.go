package xmppd

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/xmppd/xmppd/xmppd/framing"
	"github.com/xmppd/xmppd/xmppd/wire"
)

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
