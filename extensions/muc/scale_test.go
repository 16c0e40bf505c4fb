package muc_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// One room with thousands of occupants fans messages out without stalling
// the others: while a 3000-occupant room fans out message after message,
// alice's messages in a small room reach bob, a real client, within
// 500 ms. Each room has its own lock and fan-out only queues bytes on the
// occupants' sessions, so nothing in the big room waits on anything the
// small room needs.
func TestBigRoomDoesNotStallOthers(t *testing.T) {
	const (
		big   = 3000
		bound = 500 * time.Millisecond
	)
	ext := muc.New()
	ext.Config.MaxOccupants = big
	ext.Config.MessageRate = 0 // the big room's speaker floods on purpose
	srv, _ := startExt(t, ext)

	// The big room: sessions without streams (AttachSession) writing to a
	// connection that counts and discards, fed with Receive, as the
	// benchmark does.
	conn := &countConn{}
	parse := func(s string) *wire.Stanza {
		st, err := wire.ParseStanza([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	bigRoom := roomJID("big")
	owner := srv.AttachSession(xmppd.JID{Local: "crowd", Domain: "localhost", Resource: "r"}, conn)
	owner.Receive(parse(fmt.Sprintf("<presence to='%s/crowd'><x xmlns='%s'><history maxstanzas='0'/></x></presence>", bigRoom, muc.NS)))
	owner.Receive(parse(fmt.Sprintf("<iq type='set' id='c' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'/></query></iq>", bigRoom, muc.NSOwner)))
	crowd := make([]*xmppd.Session, big-1)
	for i := range crowd {
		crowd[i] = srv.AttachSession(xmppd.JID{Local: fmt.Sprintf("crowd%d", i), Domain: "localhost", Resource: "r"}, conn)
	}
	// Seated without the join protocol (N joins cost O(N²) presences);
	// one of them then joins for real, and everyone hears of it.
	ext.SeatOccupants("big", "seat", crowd[1:])
	crowd[0].Receive(parse(fmt.Sprintf("<presence to='%s/crowd0'><x xmlns='%s'><history maxstanzas='0'/></x></presence>", bigRoom, muc.NS)))

	// The small room: alice and bob on real streams.
	alice := login(t, srv, "alice", "a")
	bob := login(t, srv, "bob", "b")
	createRoom(t, alice, "small", "alice", nil)
	join(t, bob, "small", "bob")

	info := form(discoInfo(alice, "big"), muc.NSRoomInfo)
	if info == nil || fields(info)["muc#roominfo_occupants"] != fmt.Sprint(big) {
		t.Fatalf("the big room should hold %d occupants: %v", big, info)
	}

	// The big room's owner speaks without pause until the end.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fanouts atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			owner.Receive(parse(fmt.Sprintf("<message to='%s' type='groupchat' id='big%d'><body>news %d for the whole crowd</body></message>", bigRoom, i, i)))
			fanouts.Add(1)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for fanouts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	before := conn.msgs.Load()
	var worst time.Duration
	for i := range 5 {
		body := fmt.Sprint("small room message ", i)
		sent := time.Now()
		groupchat(alice, "small", fmt.Sprint("s", i), body)
		bob.Expect(body, isGroupchat(occ("small", "alice"), body))
		worst = max(worst, time.Since(sent))
	}
	during := conn.msgs.Load() - before
	t.Logf("small room: slowest of 5 messages %s; big room meanwhile: %d deliveries, %d fan-outs in all", worst, during, fanouts.Load())
	if worst > bound {
		t.Fatalf("a message in the small room took %s to reach bob while the big room fanned out (want < %s)", worst, bound)
	}
	if during == 0 {
		t.Fatalf("the big room delivered nothing while the small room was measured: the fan-outs did not overlap")
	}
}
