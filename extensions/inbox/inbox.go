// Package inbox implements the user's inbox ("Recent Connections", SPEC §3):
// every 1:1 conversation of a user with its last message, time and unread
// count, served with MongooseIM's inbox protocol
// (erlang-solutions.com:xmpp:inbox:0, the protocol XEP-0430 was drawn
// from; where the two differ we follow MongooseIM, see the README's Inbox
// section) with XEP-0059 paging.
//
// Counting (maintained on every message and marker, never by scanning an
// archive):
//
//   - an incoming chat or normal message with a <body/> (hooks
//     xmppd.MessageToAccount and xmppd.MessageToFull at
//     xmppd.PriorityCount, after the core's stanza-id and the archive)
//     becomes the conversation's last message and adds one unread; an
//     archived conversation moves back to the inbox box;
//   - a message the user sends (xmppd.MessageOut at PriorityCount, after
//     the archive set Packet.SentStanzaID) with a <body/> becomes the last
//     message and changes no count: whichever resource sent it, the user's
//     own messages (and so their sent carbons) are never unread and reset
//     nothing;
//   - the read position moves forward with a XEP-0333 <displayed/> marker
//     the user sends (its id is the message's id attribute), a XEP-0490
//     displayed-sync publish on the PEP node urn:xmpp:mds:displayed:0 (item
//     id = conversation JID, payload <stanza-id by='user' id='archive
//     id'/>; read through the core hook point xmppd.PEPPublished) or the
//     conversation property <read>true</read>. It never moves backwards.
//
// Unread after a read position X: each conversation keeps, besides the
// counter, a ring of the stanza-ids (and message ids, for markers) of its
// newest unread incoming messages, at most [inbox] recent_unread of them.
// xmppd's stanza-ids sort in time order, so moving the read position to X
// drops the ring entries up to X and the count becomes the number left;
// X at or after the last message gives 0. Only when X is older than every
// remembered unread message (more than recent_unread unread messages, and
// the user marks one of the forgotten ones) does the count stay as it was:
// an overestimate, never a scan. A marker for a message the ring does not
// know (an old one) changes nothing. The unread-mentions count is kept per
// conversation: room messages that mention the user (RoomMessageEvent.Mentions,
// found by the MUC service) count there too, and reading past them
// lowers it. Corrections and retractions (Packet.Edit) are not new
// messages: they change neither the last message nor the counts.
//
// Rooms (as MongooseIM, in the same list as 1:1 conversations): every
// archived group chat message (hook xmppd.RoomMessage, run by the MUC
// service before fan-out; the changes commit with the room archive write)
// counts for every member (owner, admin, member) and every occupant, in
// the conversation keyed by the room's bare JID, with this last message
// (as stored: from room/nick, to the room) and one unread more; not for
// its sender, whose entry only gets the last message. Rooms are counted
// lazily (room.go): a message writes the room's counter and last message
// and the sender's entry, not every member's; a member's count is the
// room's messages after the member's read position (and since the member
// was counted), less the member's own, worked out when the inbox is read.
// The read position is a room stanza-id: a <displayed/> marker the user
// sends to the room (id = the room stanza-id, or the id attribute of one
// of the room's newest recent_unread messages) or a XEP-0490 item with id
// = the room's JID and <stanza-id by='room'/>. A muted room still counts.
// Private messages from room occupants (carrying a muc#user <x/>) are
// conversations of their own, keyed by the occupant's full JID.
//
// IQs (xmppd.TargetAccount, the owner only, else forbidden):
//
//   - set <inbox queryid/> with an optional form (start, end, order,
//     hidden_read, box, archive) and RSM <set/> (max, after, before; an
//     empty <before/> is the last page; cursors are MongooseIM's
//     "microseconds/base64(jid)"): one <message><result/></message> per
//     conversation, then the IQ result <fin/> with the totals of the
//     matching conversations (count, unread-messages, active-conversations
//     = the unread badge, xmppd's unread-mentions) and the RSM <set/>;
//   - get <inbox/> or <query/>: the query form;
//   - get/set <query xmlns='…#conversation' jid/> (read, mute seconds, box,
//     archive; complete='true' adds the last message); a change is also
//     sent to all the user's resources as <message><x jid/></message>;
//     the deprecated <reset jid/> sets unread to 0.
//
// Store: Map "inbox.conversations" (owner bare JID → conversation JID →
// a compact binary record with the last message as delivered and the
// counts, codec.go) and Map "inbox.unread" (owner bare JID → conversation
// JID + slot → one item of the conversation's ring of unread messages,
// ring.go: a new unread message writes one small slot, not a record
// holding the whole ring), both dropped on xmppd.AccountDeleted; Map
// "inbox.rooms" (room bare JID →
// the room's counter, last message, counted users and stanza-ids,
// room.go). A message's updates (sender's and recipient's
// entries) are queued with xmppd.Packet.Persist: they commit in the
// message's one transaction, with its archive copies, before it is
// delivered. Every change is a read-modify-write inside one write
// transaction, so changes of one owner (messages, markers, IQs) apply in
// commit order and none is lost, without locks. Disco: the server domain announces the namespace.
//
// Config [inbox]: recent_unread (the ring size, default 100) and
// max_result_limit (most entries one query returns, default 1000, 0 for
// none).
package inbox

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Namespaces.
const (
	NS             = "erlang-solutions.com:xmpp:inbox:0"
	NSConversation = NS + "#conversation"
	// NSDisplayed is the XEP-0490 PEP node (and payload namespace).
	NSDisplayed = "urn:xmpp:mds:displayed:0"

	nsMarkers = "urn:xmpp:chat-markers:0"
	nsSID     = "urn:xmpp:sid:0"
	nsClient  = "jabber:client"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsRSM     = "http://jabber.org/protocol/rsm"
	nsData    = "jabber:x:data"
	nsForward = "urn:xmpp:forward:0"
	nsDelay   = "urn:xmpp:delay"

	storeName = "inbox.conversations"
)

// Boxes (MongooseIM): the default box and the one users file entries in.
const (
	boxInbox   = "inbox"
	boxArchive = "archive"
)

// Config is the [inbox] table.
type Config struct {
	// RecentUnread is how many unread message ids a conversation remembers
	// to place a read position exactly.
	RecentUnread int `toml:"recent_unread"`
	// MaxResultLimit caps the entries of one query (0: no cap).
	MaxResultLimit int `toml:"max_result_limit"`
}

// Extension keeps the inbox of every local account.
type Extension struct {
	Config Config

	srv   *xmppd.Server
	log   *slog.Logger
	db    *store.DB
	convs *store.Map
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the inbox extension with its default configuration.
func New() *Extension {
	return &Extension{Config: Config{RecentUnread: 100, MaxResultLimit: 1000}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "inbox" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("inbox", &e.Config); err != nil {
		return err
	}
	if e.Config.RecentUnread < 1 {
		return fmt.Errorf("inbox.recent_unread must be at least 1, got %d", e.Config.RecentUnread)
	}
	if e.Config.MaxResultLimit < 0 {
		return fmt.Errorf("inbox.max_result_limit must be 0 (no limit) or more, got %d", e.Config.MaxResultLimit)
	}
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.convs = e.db.Map(storeName)

	r.Feature(NS)
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityCount, e.outgoing)
	xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityCount, e.incoming)
	xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityCount, e.incoming)
	xmppd.Hook(r, xmppd.RoomMessage, xmppd.PriorityCount, e.roomMessage)
	xmppd.Hook(r, xmppd.PEPPublished, xmppd.PriorityObserve, e.displayedSync)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	for _, h := range []struct {
		typ, ns, name string
		fn            xmppd.IQHandler
	}{
		{"set", NS, "inbox", e.handleQuery},
		{"get", NS, "inbox", e.handleForm},
		{"get", NS, "query", e.handleForm},
		{"get", NSConversation, "query", e.handleConvGet},
		{"set", NSConversation, "query", e.handleConvSet},
		{"set", NSConversation, "reset", e.handleReset},
	} {
		if err := r.HandleIQ(xmppd.TargetAccount, h.typ, h.ns, h.name, h.fn); err != nil {
			return err
		}
	}
	return nil
}

// entry is one conversation of one user, as stored (codec.go; the JSON
// tags are the format of entries written by earlier versions, still read).
type entry struct {
	Last     lastMessage `json:"last"`
	Unread   int         `json:"unread"`
	Mentions int         `json:"mentions,omitempty"`
	// ReadID is the stanza-id of the read position.
	ReadID     string    `json:"read_id,omitempty"`
	Box        string    `json:"box,omitempty"` // "" is the inbox box
	MutedUntil time.Time `json:"muted_until,omitzero"`
	// Room is set on a room's entry, counted lazily (room.go).
	Room *roomPos `json:"-"`

	room *roomTx // the room's records while a change runs (withRoom)

	// The conversation's ring of newest unread incoming messages is kept
	// apart (ring.go); the entry has its place: the next item number, the
	// slots, the items and those of them that mention the user. ring is
	// the ring while a change runs (modify).
	RingHead, RingCap, RingN, RingMent int `json:"-"`
	ring                               ringTx

	// Recent is only read from entries stored as JSON by earlier
	// versions, which kept their ring in the entry (legacy).
	Recent []recent `json:"recent,omitempty"`
	legacy legacyRing
}

// lastMessage is the conversation's newest message as delivered (or as
// sent, for the user's own).
type lastMessage struct {
	ID   string    `json:"id,omitempty"` // stanza-id in the user's archive
	At   time.Time `json:"at"`
	From string    `json:"from"`
	XML  string    `json:"xml"`
}

// recent is an unread message: its stanza-id and its id attribute (what a
// XEP-0333 marker names).
type recent struct {
	SID     string `json:"s"`
	MID     string `json:"m,omitempty"`
	Mention bool   `json:"@,omitempty"` // it mentions the user
}

func (en *entry) box() string {
	if en.Box == "" {
		return boxInbox
	}
	return en.Box
}

// readUpTo moves the read position forward to stanza-id x (see the package
// doc); it reports whether anything changed.
func (en *entry) readUpTo(x string) bool {
	if x == "" || (en.ReadID != "" && x <= en.ReadID) {
		return false
	}
	en.ReadID = x
	if en.ringDropUpTo(x) || (en.Last.ID != "" && x >= en.Last.ID) {
		// x is at or after a remembered unread message, so every forgotten
		// (older) one is read too.
		en.Unread, en.Mentions = en.RingN, en.RingMent
	}
	return true
}

// markAllRead is <read>true</read>: nothing is unread.
func (en *entry) markAllRead() {
	if en.Room != nil && en.room != nil {
		en.readSeq(en.Room.hi(en.room.head.Seq))
	}
	en.Unread, en.Mentions = 0, 0
	en.ringClear()
	if en.Last.ID > en.ReadID {
		en.ReadID = en.Last.ID
	}
}

// errCorrupt marks an entry that cannot be decoded.
var errCorrupt = errors.New("corrupt record")

// decodeEntry reads one stored entry from raw, a copy the store returned
// (TxMap.Get), which it keeps.
func decodeEntry(owner, conv string, raw []byte) (en entry, err error) {
	if err := unmarshalOwned(raw, &en); err != nil {
		return en, fmt.Errorf("inbox entry %q of %s: %w: %w", conv, owner, errCorrupt, err)
	}
	return en, nil
}

// load reads one entry as a client sees it; ok is false when there is
// none.
func (e *Extension) load(owner, conv string) (en entry, ok bool, err error) {
	err = e.db.View(func(tx *store.Tx) error {
		raw, err := tx.Map(storeName).Get(owner, conv)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if en, err = decodeEntry(owner, conv, raw); err != nil {
			return err
		}
		ok = true
		return en.withRoom(tx, conv, true)
	})
	return en, ok, err
}

// withRoom reads the room's records for a room entry (en.room), and with
// resolve also turns it into what a client sees (entry.resolve).
func (en *entry) withRoom(tx *store.Tx, conv string, resolve bool) error {
	if en.Room == nil {
		return nil
	}
	rt, err := openRoom(tx, conv)
	if err != nil {
		return err
	}
	en.room = rt
	if resolve {
		en.resolve(&rt.head)
	}
	return nil
}

// modify applies fn to one entry inside tx and stores it when fn reports a
// change; create says whether a missing entry is made. fn sees the
// entry's ring (en.ring), which a ring an earlier version kept in the
// entry is first moved to. Write transactions
// are serialised, so this read-modify-write needs no lock and keeps the
// order in which the changes of one owner commit. It may run more than
// once (store.DB.Batch): fn gets a freshly read entry every time.
func modify(tx *store.Tx, owner, conv string, create bool, fn func(en *entry) bool) (entry, bool, error) {
	m := tx.Map(storeName)
	var en entry
	raw, err := m.Get(owner, conv)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !create {
			return en, false, nil
		}
	case err != nil:
		return en, false, err
	default:
		if en, err = decodeEntry(owner, conv, raw); err != nil {
			return en, false, err
		}
	}
	en.ring = openRing(tx, owner, conv)
	migrated := en.migrateRing()
	changed := fn(&en)
	if err := en.ring.err; err != nil {
		return en, true, err
	}
	if !changed && !migrated {
		return en, true, nil
	}
	return en, true, m.Put(owner, conv, encodeEntry(&en))
}

// update is modify in a transaction of its own (IQs, XEP-0490 publishes);
// fn sees a room entry with its room's records (en.room) and the entry
// returned is resolved (what a client sees).
func (e *Extension) update(owner, conv string, create bool, fn func(en *entry) bool) (en entry, ok bool, err error) {
	err = e.db.Batch(func(tx *store.Tx) error {
		var roomErr error
		var err error
		en, ok, err = modify(tx, owner, conv, create, func(en *entry) bool {
			if roomErr = en.withRoom(tx, conv, false); roomErr != nil {
				return false
			}
			return fn(en)
		})
		if err == nil {
			err = roomErr
		}
		if err == nil && en.room != nil {
			en.resolve(&en.room.head)
		}
		return err
	})
	return en, ok, err
}

// persist queues modify on the message p, committed with the message's
// other store changes before it is delivered (xmppd.Packet.Persist). A
// corrupt entry is logged and left alone: it does not hold up the
// message.
func (e *Extension) persist(p *xmppd.Packet, owner, conv string, create bool, fn func(en *entry) bool) {
	p.Persist(func(tx *store.Tx) error {
		_, _, err := modify(tx, owner, conv, create, fn)
		if errors.Is(err, errCorrupt) {
			e.log.Error("updating inbox failed", "owner", owner, "jid", conv, "err", err)
			return nil
		}
		return err
	})
}

// all reads every entry of owner, as a client sees it.
func (e *Extension) all(owner string) (map[string]entry, error) {
	out := make(map[string]entry)
	err := e.db.View(func(tx *store.Tx) error {
		return tx.Map(storeName).All(owner, func(k string, v []byte) error {
			var en entry
			if err := unmarshalEntry(v, &en); err != nil {
				e.log.Error("skipping corrupt inbox entry", "owner", owner, "jid", k, "err", err)
				return nil
			}
			if err := en.withRoom(tx, k, true); err != nil {
				return err
			}
			out[k] = en
			return nil
		})
	})
	return out, err
}

// convKey names the conversation a message belongs to: the peer's bare
// JID, or the occupant's full JID for a room private message.
func convKey(peer xmppd.JID, st *wire.Stanza) string {
	if peer.Resource != "" {
		if _, ok := st.Child("x", nsMUCUser); ok {
			return peer.String()
		}
	}
	return peer.BareString()
}

func conversational(st *wire.Stanza) bool {
	switch st.Type {
	case "", "normal", "chat":
		return true
	}
	return false
}

func hasBody(st *wire.Stanza) bool {
	_, ok := st.Child("body", nsClient)
	return ok
}

// incoming counts a message for a local account.
func (e *Extension) incoming(p *xmppd.Packet) xmppd.Verdict {
	st := p.Stanza
	if !conversational(st) || !hasBody(st) || p.Edit != nil {
		return xmppd.Pass
	}
	owner := p.To.Bare()
	self := p.From.Bare() == owner
	last := lastMessage{ID: p.StanzaID, At: time.Now().UTC(), From: p.From.String(), XML: string(p.Bytes())}
	e.persist(p, owner.String(), convKey(p.From, st), true, e.counter(last, self, st.ID))
	return xmppd.Pass
}

// counter returns the change a new message makes to a conversation: it
// becomes the last message and, unless the user sent it (self), one more
// unread (remembered by its stanza-id last.ID and id attribute mid).
func (e *Extension) counter(last lastMessage, self bool, mid string) func(en *entry) bool {
	sid, ring := last.ID, e.Config.RecentUnread
	return func(en *entry) bool {
		en.Last = last
		if self {
			return true
		}
		en.Unread++
		if sid != "" {
			en.ringAdd(recent{SID: sid, MID: mid}, ring)
		}
		if en.Box == boxArchive {
			en.Box = "" // a new message brings an archived entry back (MongooseIM)
		}
		return true
	}
}

// outgoing records the user's own messages and displayed markers.
func (e *Extension) outgoing(p *xmppd.Packet) xmppd.Verdict {
	st := p.Stanza
	if p.Origin == nil {
		return xmppd.Pass
	}
	if st.Type == "groupchat" {
		e.roomMarker(p)
		return xmppd.Pass
	}
	if !conversational(st) {
		return xmppd.Pass
	}
	owner := p.From.Bare()
	to := p.To
	if to.Bare() == owner || !e.reachable(to) {
		return xmppd.Pass
	}
	marked := ""
	if c, ok := st.Child("displayed", nsMarkers); ok {
		if el, err := wire.Parse(st.ChildBytes(c)); err == nil {
			marked = el.Attr("id")
		}
	}
	body := hasBody(st)
	if !body && marked == "" {
		return xmppd.Pass
	}
	var last lastMessage
	if body {
		last = lastMessage{ID: p.SentStanzaID, At: time.Now().UTC(), From: p.From.String(), XML: string(p.Bytes())}
	}
	e.persist(p, owner.String(), convKey(to, st), body, func(en *entry) bool {
		changed := false
		if marked != "" {
			changed = en.readUpTo(en.sidOf(marked))
		}
		if body {
			en.Last = last
			changed = true
		}
		return changed
	})
	return xmppd.Pass
}

// roomMarker moves the read position of a room's conversation on a
// <displayed/> marker the user sends to the room. Its id may be the
// message's id attribute or its room stanza-id (XEP-0333 asks for the
// latter in group chat); an id the entry does not know changes nothing.
func (e *Extension) roomMarker(p *xmppd.Packet) {
	c, ok := p.Stanza.Child("displayed", nsMarkers)
	if !ok || p.To.Local == "" || p.To.Resource != "" {
		return
	}
	el, err := wire.Parse(p.Stanza.ChildBytes(c))
	if err != nil || el.Attr("id") == "" {
		return
	}
	marked, room, ring := el.Attr("id"), p.To.BareString(), e.Config.RecentUnread
	p.Persist(func(tx *store.Tx) error {
		return e.readInTx(tx, p.From.BareString(), room, marked, ring, func(en *entry) bool {
			sid := en.sidOf(marked)
			if sid == "" && (marked == en.Last.ID || en.ringHas(marked)) {
				sid = marked
			}
			return en.readUpTo(sid)
		})
	})
}

// readInTx moves the read position of owner's conversation conv to the
// message id names: for a room entry counted lazily a room stanza-id
// (or, with ring > 0, an id attribute of one of the room's newest ring
// messages); old applies it to what the entry counts itself (1:1
// conversations, and what a room entry carries from before). A corrupt
// entry is logged and left alone.
func (e *Extension) readInTx(tx *store.Tx, owner, conv, id string, ring int, old func(en *entry) bool) error {
	var roomErr error
	_, _, err := modify(tx, owner, conv, false, func(en *entry) bool {
		changed := false
		if en.Room != nil {
			var seq uint64
			if roomErr = en.withRoom(tx, conv, false); roomErr == nil {
				seq, roomErr = en.room.seqOf(id, ring)
			}
			if roomErr != nil {
				return false
			}
			changed = en.readSeq(seq)
		}
		if en.Unread > 0 || en.RingN > 0 || en.Room == nil {
			changed = old(en) || changed
		}
		return changed
	})
	if err == nil {
		err = roomErr
	}
	if errors.Is(err, errCorrupt) {
		e.log.Error("updating inbox read position failed", "owner", owner, "jid", conv, "err", err)
		return nil
	}
	return err
}

// reachable says whether a message to j goes anywhere (an account here or
// a component), so a bounced message makes no inbox entry.
func (e *Extension) reachable(j xmppd.JID) bool {
	if e.srv.IsLocal(j) {
		return j.Local != "" && e.srv.Accounts().Exists(j.Local)
	}
	return slices.Contains(e.srv.ComponentDomains(), j.Domain)
}

// displayedSync moves a read position on a XEP-0490 publish.
func (e *Extension) displayedSync(ev *xmppd.PEPEvent) xmppd.Verdict {
	if ev.Node != NSDisplayed || ev.Retracted || ev.Payload == nil || ev.Payload.Name != "displayed" || ev.Payload.NS != NSDisplayed {
		return xmppd.Pass
	}
	conv, err := xmppd.ParseJID(ev.ItemID)
	if err != nil {
		return xmppd.Pass
	}
	sid := ev.Payload.Child("stanza-id", nsSID)
	if sid == nil {
		return xmppd.Pass
	}
	// 1:1 positions are ids in the user's own archive (XEP-0490 §4).
	if by := sid.Attr("by"); by != ev.Owner.String() && by != conv.BareString() {
		return xmppd.Pass
	}
	x := sid.Attr("id")
	err = e.db.Batch(func(tx *store.Tx) error {
		return e.readInTx(tx, ev.Owner.String(), conv.String(), x, 0, func(en *entry) bool { return en.readUpTo(x) })
	})
	if err != nil {
		e.log.Error("updating inbox read position failed", "owner", ev.Owner.String(), "jid", conv.String(), "err", err)
	}
	return xmppd.Pass
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	owner := j.BareString()
	err := e.db.Update(func(tx *store.Tx) error {
		if err := tx.Map(storeName).DeleteOwner(owner); err != nil {
			return err
		}
		return tx.Map(unreadName).DeleteOwner(owner)
	})
	if err != nil {
		e.log.Error("deleting inbox failed", "jid", j.BareString(), "err", err)
	}
	return xmppd.Pass
}
