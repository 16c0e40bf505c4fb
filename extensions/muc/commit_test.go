package muc_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// While a room message waits for its commit, the room is not locked: a
// user joins meanwhile, and the messages other occupants send queue up
// and share the next commit. Every occupant gets every message in one
// order, the order of their stanza-ids.
func TestRoomMessagesShareCommitsInOrder(t *testing.T) {
	srv, m := start(t)
	const room = "busy"
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, room, "Alice", nil)
	bob, carol := login(t, srv, "bob", "b"), login(t, srv, "carol", "c")
	join(t, bob, room, "Bob")
	join(t, carol, room, "Carol")

	// Hold the store's writer: commits wait until release.
	holding, release := make(chan struct{}), make(chan struct{})
	go srv.Store().Update(func(*store.Tx) error { close(holding); <-release; return nil })
	<-holding
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	before := srv.Store().WriteTransactions()
	groupchat(alice, room, "a1", "first")
	waitFor(t, "alice's message in commit", func() bool { return srv.Store().WriteTransactions() > before })
	dave := login(t, srv, "dave", "d")
	join(t, dave, room, "Dave") // the room is not locked while its message is in commit
	groupchat(bob, room, "b1", "second")
	groupchat(carol, room, "c1", "third")
	groupchat(dave, room, "d1", "fourth")
	waitFor(t, "three queued messages", func() bool { return m.QueuedMessages(room) == 3 })
	close(release)
	released = true

	var orders [][]string
	for _, c := range []*xmppdtest.Client{alice, bob, carol, dave} {
		var bodies, sids []string
		for len(bodies) < 4 {
			el := c.Expect("a groupchat message", func(el *wire.Element) bool {
				return el.Name == "message" && el.Attr("type") == "groupchat" && el.ChildText("body", "") != ""
			})
			bodies = append(bodies, el.ChildText("body", ""))
			sids = append(sids, el.Child("stanza-id", "urn:xmpp:sid:0").Attr("id"))
		}
		if !slices.IsSorted(sids) {
			t.Errorf("%s got stanza-ids out of order: %v (%v)", c.JID, sids, bodies)
		}
		orders = append(orders, bodies)
	}
	// dave joined before the first message was fanned out: he gets it
	// live, as if he had joined just before it was sent.
	for _, o := range orders[1:] {
		if !slices.Equal(o, orders[0]) {
			t.Errorf("occupants saw different orders: %v and %v", orders[0], o)
		}
	}
	// The first message's commit and one for the three queued behind it.
	if got := srv.Store().WriteTransactions() - before; got != 2 {
		t.Errorf("4 room messages cost %d write transactions, want 2", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A room destroyed while its message commits goes once the message is
// stored and delivered, archive and all: nothing of it is left behind.
func TestRoomDestroyedDuringCommit(t *testing.T) {
	srv, _ := start(t)
	const room = "short"
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, room, "Alice", map[string]string{"muc#roomconfig_persistentroom": "1"})
	owner := login(t, srv, "alice", "desk")
	holding, release := make(chan struct{}), make(chan struct{})
	go srv.Store().Update(func(*store.Tx) error { close(holding); <-release; return nil })
	<-holding
	before := srv.Store().WriteTransactions()
	groupchat(alice, room, "a1", "last words")
	waitFor(t, "the message in commit", func() bool { return srv.Store().WriteTransactions() > before })
	owner.Sendf("<iq type='set' id='destroy' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>", roomJID(room))
	time.Sleep(50 * time.Millisecond) // the destroy waits for the commit
	close(release)
	alice.Expect("the message", isGroupchat(occ(room, "Alice"), "last words"))
	res := owner.Expect("destroy result", func(el *wire.Element) bool { return el.Name == "iq" && el.Attr("id") == "destroy" })
	mustResult(t, "destroy", res)
	if n, err := srv.Store().Archive("muc/archive").Len(roomJID(room)); err != nil || n != 0 {
		t.Errorf("the destroyed room's archive holds %d messages (%v)", n, err)
	}
}

// A burst of room messages one session writes at once shares commits
// (the session reads its next message while the previous one waits in
// the room's commit queue) and reaches every occupant once, in order.
func TestOneSendersBurstSharesRoomCommits(t *testing.T) {
	ext := muc.New()
	ext.Config.MessageRate = 0 // as fast as the client writes
	srv, _ := startExt(t, ext)
	const room = "burst"
	alice := login(t, srv, "alice", "a")
	createRoom(t, alice, room, "Alice", nil)
	bob := login(t, srv, "bob", "b")
	join(t, bob, room, "Bob")
	const n = 200
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "<message to='%s' type='groupchat' id='g%d'><body>%d</body></message>", roomJID(room), i, i)
	}
	before := srv.Store().GroupCommits()
	alice.Send(burst.String())
	for _, c := range []*xmppdtest.Client{alice, bob} {
		for i := range n {
			el := c.Expect("a groupchat message", func(el *wire.Element) bool {
				return el.Name == "message" && el.Attr("type") == "groupchat" && el.ChildText("body", "") != ""
			})
			if got := el.ChildText("body", ""); got != strconv.Itoa(i) {
				t.Fatalf("%s: message %d has body %q", c.JID, i, got)
			}
		}
	}
	commits := srv.Store().GroupCommits() - before
	if commits >= n/2 {
		t.Errorf("%d room messages of one sender took %d commits: they did not share them", n, commits)
	}
	t.Logf("%d messages, %d commits", n, commits)
}
