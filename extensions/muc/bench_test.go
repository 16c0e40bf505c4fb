package muc_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/inbox"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// countConn is a connection that counts the messages it is sent and
// discards them.
type countConn struct {
	net.Conn
	msgs atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.msgs.Add(int64(bytes.Count(p, []byte("<message "))))
	return len(p), nil
}
func (c *countConn) Close() error                     { return nil }
func (c *countConn) SetWriteDeadline(time.Time) error { return nil }
func (c *countConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func stanzaOf(b *testing.B, s string) *wire.Stanza {
	var st wire.Stanza
	if err := wire.NewReader(bytes.NewReader([]byte(s)), wire.Limits{}).Next(&st); err != nil {
		b.Fatal(err)
	}
	return &st
}

// BenchmarkFanout measures a groupchat message from arrival (parsed
// stanza handed to the server by the sender's session) to its copies
// written to every occupant's connection: hooks, routing, the room's
// checks, stanza-id, history, one Rewrite per occupant and the sessions'
// writer goroutines. deliveries/s counts copies written.
func BenchmarkFanout(b *testing.B) {
	for _, tc := range []fanoutCase{
		{rooms: 1, occupants: 100},
		{rooms: 100, occupants: 10},
		{rooms: 1, occupants: 100, persistent: true},
		{rooms: 100, occupants: 10, persistent: true},
		// With the inbox counting every message for every occupant, and
		// one sender per room or every occupant sending at once.
		{rooms: 10, occupants: 10, persistent: true, inbox: true},
		{rooms: 10, occupants: 10, persistent: true, inbox: true, concurrent: true},
		{rooms: 1, occupants: 100, persistent: true, inbox: true, concurrent: true},
	} {
		name := fmt.Sprintf("rooms=%d/occupants=%d", tc.rooms, tc.occupants)
		if tc.persistent {
			name += "/persistent"
		}
		if tc.inbox {
			name += "/inbox"
		}
		if tc.concurrent {
			name += "/all-send"
		}
		b.Run(name, func(b *testing.B) { benchFanout(b, tc) })
	}
}

type fanoutCase struct {
	rooms, occupants int
	persistent       bool
	inbox            bool // the inbox extension counts the messages too
	concurrent       bool // every occupant sends, each from its own goroutine
}

func benchFanout(b *testing.B, tc fanoutCase) {
	rooms, occupants, persistent := tc.rooms, tc.occupants, tc.persistent
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	db, err := store.Open(cfg.StorePath(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ext := muc.New()
	ext.Config.MessageRate = 0 // one sender per room, as fast as it can
	exts := []xmppd.Extension{ext}
	if tc.inbox {
		exts = append(exts, inbox.New())
	}
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Store: db, Extensions: exts,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var conns []*countConn
	var senders []*xmppd.Session
	for r := range rooms {
		room := fmt.Sprintf("room%d@conference.localhost", r)
		for o := range occupants {
			c := &countConn{}
			conns = append(conns, c)
			s := srv.AttachSession(xmppd.JID{Local: fmt.Sprintf("user%d", o), Domain: "localhost", Resource: fmt.Sprintf("r%d", r)}, c)
			s.Receive(stanzaOf(b, fmt.Sprintf("<presence to='%s/user%d'><x xmlns='%s'><history maxstanzas='0'/></x></presence>", room, o, muc.NS)))
			if o == 0 || tc.concurrent {
				senders = append(senders, s)
			}
			if o == 0 {
				form := "<x xmlns='jabber:x:data' type='submit'/>"
				if persistent {
					form = "<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x>"
				}
				s.Receive(stanzaOf(b, fmt.Sprintf("<iq type='set' id='c' to='%s'><query xmlns='%s'>%s</query></iq>", room, muc.NSOwner, form)))
			}
		}
	}
	// Wait for the joins' subjects (one message per occupant) to drain.
	waitFor := func(want int64) {
		for {
			var got int64
			for _, c := range conns {
				got += c.msgs.Load()
			}
			if got >= want {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	base := int64(len(conns))
	waitFor(base)

	msgs := make([][]byte, rooms)
	for r := range rooms {
		msgs[r] = fmt.Appendf(nil, "<message to='room%d@conference.localhost' type='groupchat' id='a8f3c2d1-77'><body>Hi all, the quarterly numbers are in the shared folder. Can you check them before the call?</body><active xmlns='http://jabber.org/protocol/chatstates'/><origin-id xmlns='urn:xmpp:sid:0' id='5d1c0a2b'/></message>", r)
	}
	// The senders' streams: parsing is part of the measured path. Message
	// i goes to sender i%len(senders) (in room k%rooms, or k/occupants
	// when everyone sends); one goroutine hands them out in turn, or with
	// concurrent one per sender.
	roomOf := func(k int) int {
		if tc.concurrent {
			return k / occupants
		}
		return k
	}
	workers := 1
	if tc.concurrent {
		workers = len(senders)
	}
	streams := make([][]byte, workers)
	for i := range b.N {
		w := i % workers
		streams[w] = append(streams[w], msgs[roomOf(i%len(senders))]...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rd := wire.NewReader(bytes.NewReader(streams[w]), wire.Limits{})
			for i := w; i < b.N; i += workers {
				var st wire.Stanza
				if err := rd.Next(&st); err != nil {
					b.Error(err)
					return
				}
				senders[i%len(senders)].Receive(&st)
			}
		})
	}
	wg.Wait()
	waitFor(base + int64(b.N*occupants))
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*occupants)/elapsed.Seconds(), "deliveries/s")
}
