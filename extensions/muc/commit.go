package muc

import (
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// A room's archived messages are committed without the room's lock. The
// lock gives a message its stanza-id and its place in the room's order
// (commitQ); the commit (archive write and what the RoomMessage hook
// queued, fsync'd) runs unlocked, so the room's joins, presence and IQs
// do not wait for the disk, and the messages other senders send to the
// room meanwhile queue up and share the next commit. One sender's
// goroutine at a time commits (the leader): it takes every queued message
// in one transaction, in order, then fans them out in order under the
// lock and hands the lead to the sender of the next queued message. The
// other senders' goroutines wait until their message was fanned out; a
// message with its place in the queue is parked (xmppd.Packet.Park), so
// its session already reads and queues its next message, while XEP-0198
// acknowledges it only once it is stored and fanned out.

// pendingMessage is an archived group chat message between its stanza-id
// and its fan-out.
type pendingMessage struct {
	p         *xmppd.Packet // as sent: bounced if the commit fails
	pkt       *xmppd.Packet // as stored, its store changes queued
	stored    *wire.Stanza
	id        string
	at        time.Time
	sender    xmppd.JID // real bare JID
	ret       *mamproto.Retracted
	mentioned []xmppd.JID
	wake      chan struct{} // closed when fanned out, or when it leads the next commit
	finished  bool
}

// commitAndFanOut stores m and fans it out in the room's order. r.mu is
// held on entry and on return, not while the commit runs.
func (e *Extension) commitAndFanOut(r *room, m *pendingMessage) {
	m.wake = make(chan struct{})
	r.commitQ = append(r.commitQ, m)
	if r.committing {
		r.mu.Unlock()
		m.p.Park() // its place is taken: the sender's session reads on
		<-m.wake
		r.mu.Lock()
		if m.finished {
			return
		}
		// Woken to lead: the commit of m's batch is ours.
	}
	if !r.committing {
		r.committing, r.commitsDone = true, make(chan struct{})
	}
	batch := r.commitQ
	r.commitQ = nil
	r.mu.Unlock()
	m.p.Park()
	all := xmppd.NewPacket(batch[0].stored, batch[0].pkt.From, r.jid)
	for _, b := range batch {
		all.AdoptPersist(b.pkt)
	}
	err := e.srv.CommitQueued(all)
	r.mu.Lock()
	if err != nil {
		e.log.Error("archiving room messages failed", "room", r.jid.String(), "messages", len(batch), "err", err)
	}
	for _, b := range batch {
		e.committed(r, b, err)
		b.finished = true
		if b != m {
			close(b.wake)
		}
	}
	if len(r.commitQ) > 0 {
		close(r.commitQ[0].wake) // its sender's goroutine leads the next commit
		return
	}
	r.committing = false
	close(r.commitsDone)
	e.dropIfEmpty(r) // a temporary room its occupants left meanwhile
}

// waitCommits returns once no message of the room is in commit. r.mu is
// held on entry and on return, not while it waits.
func (e *Extension) waitCommits(r *room) {
	for r.committing {
		done := r.commitsDone
		r.mu.Unlock()
		<-done
		r.mu.Lock()
	}
}

// committed fans out a message whose commit is done, or bounces it to its
// sender when the commit failed. r.mu is held.
func (e *Extension) committed(r *room, m *pendingMessage, err error) {
	if err != nil {
		e.bounce(m.p, stanza.InternalServerError, stanza.Wait, "the room could not store the message")
		return
	}
	e.remembered(r, m.stored, m.id, m.at)
	if m.ret != nil {
		e.retracted(r, m.p.Edit, m.sender, *m.ret)
	}
	if !r.destroyed {
		e.deliverMessage(r, m.stored, m.mentioned, m.at)
	}
}
