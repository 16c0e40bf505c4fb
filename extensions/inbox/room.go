package inbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// Rooms are counted lazily. A room message used to rewrite the inbox entry
// of every member and occupant (O(members) store writes in the room's
// commit); now it writes the room's own record and the sender's entry, and
// a member's unread count is worked out when it is read:
//
//   - Map "inbox.rooms", owner = the room's bare JID: key headKey = the
//     room's counter (messages counted so far, seq), last message and a
//     hash of the counted users; key setKey = the bare JIDs counted now
//     (members and occupants, sorted, one per line); key = a room
//     stanza-id → its seq and id attribute (what read positions name;
//     the newest indexKeep are kept).
//   - A member's entry (Map "inbox.conversations", key = the room) has a
//     roomPos: counting started after seq Base and stops at End (0 while
//     the user is counted), the read position Read (a seq), the user's own
//     messages and the messages mentioning the user after Read (seqRing).
//     unread = messages in (max(Base, Read), End or the room's seq], less
//     the user's own, plus Unread carried from before (an entry written by
//     an earlier version, or an earlier stay in the room).
//
// The set of counted users changes rarely: a message whose set differs
// (by its hash) from setKey starts (Base) or ends (End) the entries of
// the users who came or went; any other message touches no member's
// entry but the sender's. The MUC service commits a room's messages in
// their order (in one transaction or one after the other), so seq order
// is stanza-id order.
const (
	roomsName = "inbox.rooms"
	headKey   = "\xff"
	setKey    = "\xfe"
)

// indexKeep is how many stanza-ids a room keeps for read positions; it
// trims the oldest every indexTrimEvery messages.
const (
	indexKeep      = 10000
	indexTrimEvery = 1024
)

// roomPos is the room part of a member's entry (see above).
type roomPos struct {
	Base, End, Read uint64
	// BoxSeq: the room's seq when the entry was filed in the archive box;
	// a later message brings it back to the inbox box.
	BoxSeq uint64
	Own    seqRing // the user's own messages after Read
	Ment   seqRing // messages after Read that mention the user
}

// seqRing remembers the newest seqs of some messages after a read
// position; Old counts the forgotten older ones.
type seqRing struct {
	Old  int
	Seqs []uint64
}

func (r *seqRing) add(seq uint64, ring int) {
	r.Seqs = append(r.Seqs, seq)
	if n := len(r.Seqs) - ring; n > 0 {
		r.Seqs = slices.Delete(r.Seqs, 0, n)
		r.Old += n
	}
}

// readUpTo forgets the messages up to x: reading one that is remembered
// reads every forgotten (older) one too.
func (r *seqRing) readUpTo(x uint64) {
	i := 0
	for i < len(r.Seqs) && r.Seqs[i] <= x {
		i++
	}
	if i > 0 {
		r.Seqs, r.Old = slices.Delete(r.Seqs, 0, i), 0
	}
}

// countIn counts the messages in (lo, hi].
func (r *seqRing) countIn(lo, hi uint64) int {
	n := r.Old
	for _, s := range r.Seqs {
		if s > lo && s <= hi {
			n++
		}
	}
	return n
}

// roomHead is a room's counter and last message, and the hash of its
// counted users (setHash), so that a message reads setKey only when the
// set changed.
type roomHead struct {
	Seq     uint64
	SetHash uint64
	Last    lastMessage
}

// setHash hashes the sorted users as setKey stores them (FNV-1a).
func setHash(users []string) uint64 {
	h := fnv.New64a()
	for _, u := range users {
		h.Write([]byte(u))
		h.Write([]byte{'\n'})
	}
	return h.Sum64()
}

// hi is the last message counted for the entry.
func (p *roomPos) hi(head uint64) uint64 {
	if p.End > 0 {
		return p.End
	}
	return head
}

func (p *roomPos) lo() uint64 { return max(p.Base, p.Read) }

// counts are the unread messages and mentions of a room entry.
func (en *entry) roomCounts(head uint64) (unread, mentions int) {
	p := en.Room
	lo, hi := p.lo(), p.hi(head)
	if hi > lo {
		unread = max(int(hi-lo)-p.Own.countIn(lo, hi), 0)
		mentions = p.Ment.countIn(lo, hi)
	}
	return unread + en.Unread, mentions + en.Mentions
}

// resolve turns a room entry into what a client sees: its counts, the
// room's last message while the user is counted, its box.
func (en *entry) resolve(head *roomHead) {
	if en.Room == nil {
		return
	}
	p := en.Room
	en.Unread, en.Mentions = en.roomCounts(head.Seq)
	if p.End == 0 && head.Last.XML != "" {
		en.Last = head.Last
	}
	if en.Box == boxArchive && p.hi(head.Seq) > p.BoxSeq {
		en.Box = "" // a new message brings an archived entry back (MongooseIM)
	}
	en.Room = nil
}

// unreadNow is the entry's unread count; a room entry needs its room's
// records (withRoom).
func (en *entry) unreadNow() int {
	if en.Room != nil && en.room != nil {
		n, _ := en.roomCounts(en.room.head.Seq)
		return n
	}
	return en.Unread
}

// fileIn files the entry in the archive box or (archive false) the inbox
// box.
func (en *entry) fileIn(archive bool) {
	en.Box = ""
	if archive {
		en.Box = boxArchive
		if en.Room != nil && en.room != nil {
			en.Room.BoxSeq = en.Room.hi(en.room.head.Seq)
		}
	}
}

// readSeq moves a room entry's read position forward to seq x.
func (en *entry) readSeq(x uint64) bool {
	p := en.Room
	if x <= p.Read {
		return false
	}
	p.Read = x
	p.Own.readUpTo(x)
	p.Ment.readUpTo(x)
	if x > p.Base {
		// A message of this stay is read, so is everything before it.
		en.Unread, en.Mentions = 0, 0
		en.ringClear()
	}
	return true
}

// roomTx reads and writes a room's records in one transaction.
type roomTx struct {
	m    store.TxMap
	room string
	head roomHead
}

func openRoom(tx *store.Tx, room string) (*roomTx, error) {
	rt := &roomTx{m: tx.Map(roomsName), room: room}
	raw, err := rt.m.Get(room, headKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return rt, nil
	case err != nil:
		return nil, err
	}
	if err := decodeHead(raw, &rt.head); err != nil {
		return nil, fmt.Errorf("inbox room %s: %w: %w", room, errCorrupt, err)
	}
	return rt, nil
}

// seqOf finds the seq of the message a read position names: a room
// stanza-id, or else an id attribute among the newest ring messages.
func (rt *roomTx) seqOf(id string, ring int) (uint64, error) {
	if id == "" || id >= setKey {
		return 0, nil
	}
	raw, err := rt.m.Get(rt.room, id)
	if err == nil {
		seq, _, err := decodeIndex(raw)
		return seq, err
	}
	if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if ring == 0 {
		return 0, nil
	}
	var seq uint64
	n := 0
	err = rt.m.Before(rt.room, setKey, func(_ string, v []byte) error {
		s, mid, err := decodeIndex(v)
		switch {
		case err != nil:
			return err
		case mid == id:
			seq = s
			return errFound
		}
		if n++; n >= ring {
			return errFound
		}
		return nil
	})
	if err != nil && err != errFound {
		return 0, err
	}
	return seq, nil
}

var errFound = errors.New("found")

// roomUsers is the set a room message counts for: the local members and
// occupants, sorted, without duplicates.
func (e *Extension) roomUsers(ev *xmppd.RoomMessageEvent) []string {
	users := make([]string, 0, len(ev.Members)+len(ev.Occupants))
	for _, list := range [][]xmppd.JID{ev.Members, ev.Occupants} {
		for _, u := range list {
			if u.Local != "" && e.srv.IsLocal(u) {
				users = append(users, u.BareString())
			}
		}
	}
	slices.Sort(users)
	return slices.Compact(users)
}

// roomMessage counts a room's group chat message (xmppd.RoomMessage):
// it becomes the room's last message and one more for everyone counted
// but the sender. The changes commit with the room's archive write.
func (e *Extension) roomMessage(ev *xmppd.RoomMessageEvent) xmppd.Verdict {
	p := ev.Packet
	if p.Edit != nil {
		return xmppd.Pass // a correction or retraction is no new message
	}
	last := lastMessage{ID: p.StanzaID, At: time.Now().UTC(), From: p.From.String(), XML: string(p.Bytes())}
	room, sender, mid := ev.Room.BareString(), ev.Sender.BareString(), p.Stanza.ID
	users := e.roomUsers(ev)
	hash := setHash(users)
	var mentioned []string
	for _, u := range ev.Mentions {
		if s := u.BareString(); s != sender {
			mentioned = append(mentioned, s)
		}
	}
	p.Persist(func(tx *store.Tx) error {
		err := e.countRoomMessage(tx, room, sender, mid, last, users, hash, mentioned)
		if errors.Is(err, errCorrupt) {
			e.log.Error("updating the inbox of a room failed", "room", room, "err", err)
			return nil
		}
		return err
	})
	return xmppd.Pass
}

func (e *Extension) countRoomMessage(tx *store.Tx, room, sender, mid string, last lastMessage, users []string, hash uint64, mentioned []string) error {
	rt, err := openRoom(tx, room)
	if err != nil {
		return err
	}
	prev := rt.head
	seq := prev.Seq + 1
	if prev.SetHash != hash || prev.Seq == 0 {
		set := []byte(strings.Join(users, "\n"))
		old, err := rt.m.Get(room, setKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !bytes.Equal(old, set) {
			if err := e.changeCounted(tx, room, &prev, seq, old, users); err != nil {
				return err
			}
			if err := rt.m.Put(room, setKey, set); err != nil {
				return err
			}
		}
	}
	ring := e.Config.RecentUnread
	counted := func(u string) bool { _, ok := slices.BinarySearch(users, u); return ok }
	if counted(sender) {
		err := e.modifyRoomEntry(tx, sender, room, func(en *entry) {
			if unread, _ := en.roomCounts(prev.Seq); unread == 0 {
				// Nothing unread but the sender's own: the read position
				// moves past this one too (the same count, a ring that
				// stays empty for those who only send or keep up).
				en.readSeq(seq)
			} else {
				en.Room.Own.add(seq, ring)
			}
		})
		if err != nil {
			return err
		}
	}
	for _, u := range mentioned {
		if counted(u) {
			if err := e.modifyRoomEntry(tx, u, room, func(en *entry) { en.Room.Ment.add(seq, ring) }); err != nil {
				return err
			}
		}
	}
	if last.ID != "" {
		if err := rt.m.Put(room, last.ID, encodeIndex(seq, mid)); err != nil {
			return err
		}
	}
	if seq%indexTrimEvery == 0 {
		if err := rt.trim(); err != nil {
			return err
		}
	}
	rt.head = roomHead{Seq: seq, SetHash: hash, Last: last}
	return rt.m.Put(room, headKey, encodeHead(&rt.head))
}

// modifyRoomEntry changes the room part of a counted user's entry.
func (e *Extension) modifyRoomEntry(tx *store.Tx, owner, room string, fn func(en *entry)) error {
	_, _, err := modify(tx, owner, room, false, func(en *entry) bool {
		if en.Room == nil {
			return false
		}
		fn(en)
		return true
	})
	return err
}

// changeCounted starts the entries of the users who are counted from
// message seq on and ends those of the users who no longer are.
func (e *Extension) changeCounted(tx *store.Tx, room string, prev *roomHead, seq uint64, old []byte, users []string) error {
	var before []string
	if len(old) > 0 {
		before = strings.Split(string(old), "\n")
	}
	for _, u := range users {
		if _, ok := slices.BinarySearch(before, u); ok {
			continue
		}
		if _, _, err := modify(tx, u, room, true, func(en *entry) bool { en.startCounting(seq, prev); return true }); err != nil {
			return err
		}
	}
	for _, u := range before {
		if _, ok := slices.BinarySearch(users, u); ok {
			continue
		}
		_, _, err := modify(tx, u, room, false, func(en *entry) bool {
			if en.Room == nil || en.Room.End > 0 {
				return false
			}
			en.Room.End = prev.Seq
			en.Last = prev.Last
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startCounting makes en count the room's messages from seq on. What was
// unread before (an entry of an earlier version, an earlier stay) is
// carried in Unread and Mentions.
func (en *entry) startCounting(seq uint64, prev *roomHead) {
	if p := en.Room; p != nil {
		if p.End == 0 {
			return // counted already
		}
		en.Unread, en.Mentions = en.roomCounts(prev.Seq)
		en.ringClear()
	}
	en.Room = &roomPos{Base: seq - 1, Read: seq - 1}
	if prev.Last.XML != "" && en.Last.At.Before(prev.Last.At) {
		en.Last = prev.Last
	}
}

// trim drops the oldest stanza-ids beyond indexKeep.
func (rt *roomTx) trim() error {
	var keys []string
	err := rt.m.Before(rt.room, setKey, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil || len(keys) <= indexKeep {
		return err
	}
	for _, k := range keys[indexKeep:] {
		if err := rt.m.Delete(rt.room, k); err != nil {
			return err
		}
	}
	return nil
}

// Records of the room map: a head is a version byte, uvarint seq, 8 bytes
// set hash (big-endian) and the last message (as in an entry); an index value is uvarint seq | str mid.
const headV1 = 0x01

func encodeHead(h *roomHead) []byte {
	b := make([]byte, 0, 24+len(h.Last.ID)+len(h.Last.From)+len(h.Last.XML)+4*binary.MaxVarintLen64)
	b = append(b, headV1)
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.SetHash)
	return appendLast(b, &h.Last)
}

func decodeHead(raw []byte, h *roomHead) error {
	if len(raw) == 0 || raw[0] != headV1 {
		return errors.New("inbox room record: unknown format")
	}
	d := decoder{s: string(raw[1:])}
	h.Seq = d.uvarint()
	h.SetHash = d.uint64()
	d.last(&h.Last)
	return d.end()
}

func encodeIndex(seq uint64, mid string) []byte {
	return appendStr(binary.AppendUvarint(make([]byte, 0, 12+len(mid)), seq), mid)
}

func decodeIndex(raw []byte) (uint64, string, error) {
	d := decoder{s: string(raw)}
	seq, mid := d.uvarint(), d.str()
	return seq, mid, d.end()
}
