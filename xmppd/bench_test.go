package xmppd

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// countConn is a connection that counts and discards what it is sent.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error)       { c.n.Add(int64(len(p))); return len(p), nil }
func (c *countConn) Close() error                      { return nil }
func (c *countConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *countConn) RemoteAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *countConn) LocalAddr() net.Addr               { return c.RemoteAddr() }
func (c *countConn) SetReadDeadline(t time.Time) error { return nil }
func (c *countConn) SetDeadline(t time.Time) error     { return nil }
func (c *countConn) Read(p []byte) (n int, err error)  { return 0, io.EOF }

func benchServer(b *testing.B) *Server {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	db, err := store.Open(cfg.StorePath(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	srv, err := New(Options{Config: cfg, Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := srv.accounts.Create(u, "pw"); err != nil {
			b.Fatal(err)
		}
	}
	return srv
}

func benchSession(srv *Server, j JID, conn net.Conn) *Session {
	s := &Session{srv: srv, jid: j, full: j.String(), bare: j.Bare(), log: srv.log, done: make(chan struct{})}
	s.link.Store(&sessionLink{conn: conn, readerDone: make(chan struct{})})
	s.out = outQueue{conn: conn, onClose: func() {}}
	srv.sessions.add(s, 0)
	s.setAvailability(true, 0)
	return s
}

// BenchmarkRouteChatMessage measures the server's whole path for a 1:1
// message: split and parse the stanza from alice's stream, stamp it, run
// the hooks (stanza-id), route it to bob's session and write it to bob's
// connection.
func BenchmarkRouteChatMessage(b *testing.B) {
	srv := benchServer(b)
	alice := benchSession(srv, JID{Local: "alice", Domain: "localhost", Resource: "laptop"}, &countConn{})
	bobConn := &countConn{}
	benchSession(srv, JID{Local: "bob", Domain: "localhost", Resource: "phone"}, bobConn)

	msg := []byte(`<message to='bob@localhost' type='chat' id='a8f3c2d1-77'><body>Hi Bob, the quarterly numbers are in the shared folder. Can you check them before the call?</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='5d1c0a2b'/></message>`)
	stream := bytes.Repeat(msg, b.N)
	r := wire.NewReader(bytes.NewReader(stream), wire.Limits{})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := new(Packet)
		if err := r.Next(&p.stanza); err != nil {
			b.Fatal(err)
		}
		p.Stanza = &p.stanza
		srv.handlePacket(alice, p)
	}
	for bobConn.n.Load() == 0 || srv.metrics.stanzasOut.Load() < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
}

// BenchmarkLogin measures a full client login over loopback: TCP,
// STARTTLS, SCRAM-SHA-256, bind, with the real server and a minimal
// client (the client's own PBKDF2 is precomputed by using the same
// password each time; mellium's client still derives it per login).
func BenchmarkLogin(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.DirectTLSListen = ""
	cfg.Auth.SCRAMIterations = 4096
	cfg.Limits.ConnectionsPerIP = 100000
	srv, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if _, err := srv.CreateAccount("alice", "pw"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := benchLogin(srv.C2SAddr().String(), "alice", "pw"); err != nil {
			b.Fatal(fmt.Errorf("login %d: %w", i, err))
		}
	}
}

func benchLogin(addr, user, password string) error {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	origin, _ := jid.New(user, "localhost", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := xmpp.NewClientSession(ctx, origin, raw,
		xmpp.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}),
		xmpp.SASL("", password, sasl.ScramSha256),
		xmpp.BindResource())
	if err != nil {
		return err
	}
	return sess.Close()
}
