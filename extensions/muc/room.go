package muc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Affiliations (XEP-0045 §5.2), ranked.
const (
	affOutcast = "outcast"
	affNone    = "none"
	affMember  = "member"
	affAdmin   = "admin"
	affOwner   = "owner"
)

// Roles (XEP-0045 §5.1).
const (
	roleNone        = "none"
	roleVisitor     = "visitor"
	roleParticipant = "participant"
	roleModerator   = "moderator"
)

func affRank(a string) int {
	switch a {
	case affOutcast:
		return -1
	case affMember:
		return 1
	case affAdmin:
		return 2
	case affOwner:
		return 3
	}
	return 0
}

func validAff(a string) bool {
	switch a {
	case affOutcast, affNone, affMember, affAdmin, affOwner:
		return true
	}
	return false
}

// roomConfig is what the owner configures (muc#roomconfig).
type roomConfig struct {
	Name          string `json:"name,omitempty"`
	Description   string `json:"description,omitempty"`
	Kind          string `json:"kind"`
	Persistent    bool   `json:"persistent"`
	Public        bool   `json:"public"`
	MembersOnly   bool   `json:"members_only"`
	Password      string `json:"password,omitempty"`
	NonAnonymous  bool   `json:"non_anonymous"` // whois = anyone
	Moderated     bool   `json:"moderated"`
	ChangeSubject bool   `json:"change_subject"` // participants may change the subject
	AllowInvites  bool   `json:"allow_invites"`  // members may invite to a members-only room
	MaxUsers      int    `json:"max_users"`
	// MentionAll says who may mention everyone: "" (moderators) or
	// "participants".
	MentionAll string `json:"mention_all,omitempty"`
	// QuietMentions turns off XEP-0452 notifications to mentioned
	// members who are not in the room.
	QuietMentions bool `json:"quiet_mentions,omitempty"`
}

// roomRecord is a room as stored.
type roomRecord struct {
	Config       roomConfig        `json:"config"`
	Affiliations map[string]string `json:"affiliations,omitempty"` // bare JID -> affiliation
	Subject      string            `json:"subject,omitempty"`
	SubjectFrom  string            `json:"subject_from,omitempty"` // nick that set it; "" = the room
	Created      time.Time         `json:"created"`
	// Creator is the bare JID of the user whose join created the room
	// ("" for rooms the operator made); a conference call's preferred host.
	Creator string `json:"creator,omitempty"`
	// Enquiry is the enquiry context of an enquiry room (SPEC §1).
	Enquiry *EnquiryContext `json:"enquiry,omitempty"`
}

// historyEntry is one message kept for history on join.
type historyEntry struct {
	at     time.Time
	id     string       // the room stanza-id (archive id)
	st     *wire.Stanza // as stored: from=room/nick, with stanza-id
	nick   string
	length int
}

// room is a live room. Everything in it is guarded by mu.
type room struct {
	name string
	jid  xmppd.JID // bare

	mu        sync.Mutex
	rec       roomRecord
	locked    bool // created, waiting for its owner's configuration
	destroyed bool
	occupants map[string]*occupant    // by nick
	byReal    map[xmppd.JID]*occupant // by real full JID
	history   []historyEntry          // the archive's newest entries, oldest first
	appends   int                     // archive appends since the last trim
	calls     []*Call                 // conference call log, oldest first

	// Archived group chat messages waiting for their commit, in stanza-id
	// order, and whether a sender's goroutine is committing (commit.go).
	commitQ     []*pendingMessage
	committing  bool
	commitsDone chan struct{} // closed when committing ends
}

// occupant is one nick in a room: one user, one or more sessions.
type occupant struct {
	nick     string
	jid      xmppd.JID // room/nick
	bare     xmppd.JID // real bare JID
	role     string
	id       string // XEP-0421
	sessions []*occSession
	presence []byte // payload children of the latest presence
	from     string // room/nick as text

	presenceLimit bucket // presence changes (flood limit)
	messageLimit  bucket // groupchat messages (flood limit)
}

type occSession struct {
	full xmppd.JID
	to   string         // full as text, written on every copy it gets
	s    *xmppd.Session // nil when the sender was not a local session
}

func newRoom(name, domain string) *room {
	return &room{
		name:      name,
		jid:       xmppd.JID{Local: name, Domain: domain},
		occupants: make(map[string]*occupant),
		byReal:    make(map[xmppd.JID]*occupant),
		rec:       roomRecord{Affiliations: make(map[string]string), Created: time.Now().UTC()},
	}
}

func (e *Extension) defaultConfig() roomConfig {
	return roomConfig{Kind: KindSpace, Public: true, AllowInvites: false, MaxUsers: e.Config.MaxOccupants}
}

func (r *room) affiliation(bare xmppd.JID) string {
	if a, ok := r.rec.Affiliations[bare.String()]; ok {
		return a
	}
	return affNone
}

func (r *room) setAffiliation(bare xmppd.JID, a string) {
	if a == affNone {
		delete(r.rec.Affiliations, bare.String())
		return
	}
	r.rec.Affiliations[bare.String()] = a
}

// defaultRole is the role an affiliation gets on entering (XEP-0045 §5.1).
func (r *room) defaultRole(aff string) string {
	switch aff {
	case affOwner, affAdmin:
		return roleModerator
	case affMember:
		return roleParticipant
	case affOutcast:
		return roleNone
	}
	if r.rec.Config.Moderated {
		return roleVisitor
	}
	return roleParticipant
}

// canSeeJIDs reports whether an occupant with role sees real JIDs.
func (r *room) canSeeJIDs(role string) bool {
	return r.rec.Config.NonAnonymous || role == roleModerator
}

func (r *room) owners() []string {
	var l []string
	for j, a := range r.rec.Affiliations {
		if a == affOwner {
			l = append(l, j)
		}
	}
	return l
}

// loadRooms reads every persistent room and the end of its archive (the
// history on join), then drops the archives of rooms that are gone
// (temporary rooms that lived through a crash).
func (e *Extension) loadRooms() error {
	err := e.db.KV(storeRooms).ForEach("", func(name string, val []byte) error {
		r := newRoom(name, e.domain)
		if err := json.Unmarshal(val, &r.rec); err != nil {
			return fmt.Errorf("muc: room %s@%s in the store is unreadable: %w", name, e.domain, err)
		}
		if r.rec.Affiliations == nil {
			r.rec.Affiliations = make(map[string]string)
		}
		if err := e.loadHistory(r); err != nil {
			return err
		}
		if err := e.loadCalls(r); err != nil {
			return err
		}
		e.rooms[name] = r
		return nil
	})
	if err != nil {
		return err
	}
	var orphans []string
	suffix := "@" + e.domain
	if err := e.archive.Owners(func(owner string) error {
		name, ok := strings.CutSuffix(owner, suffix)
		if ok && e.rooms[name] == nil {
			orphans = append(orphans, owner)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, owner := range orphans {
		if err := e.archive.DeleteOwner(owner); err != nil {
			return fmt.Errorf("muc: dropping the archive of the vanished room %s: %w", owner, err)
		}
	}
	return nil
}

// loadHistory reads the last MaxHistory archived messages of a room (one
// reverse query) into its history on join.
func (e *Extension) loadHistory(r *room) error {
	if e.Config.MaxHistory == 0 || !e.Config.Archive {
		return nil
	}
	res, err := e.archive.Query(r.jid.String(), store.ArchiveQuery{Limit: e.Config.MaxHistory, Reverse: true})
	if err != nil {
		return fmt.Errorf("muc: reading the archive of %s: %w", r.jid.String(), err)
	}
	for _, it := range res.Items {
		st, err := parseStanza(it.Value)
		if err != nil {
			continue // a damaged entry costs one history line, not the room
		}
		r.history = append(r.history, historyEntry{at: it.At, id: it.ID, st: st, length: len(st.Raw)})
	}
	return nil
}

// save writes a persistent room's record; temporary rooms are not stored.
// Called with r.mu held.
func (e *Extension) save(r *room) error {
	if !r.rec.Config.Persistent || r.destroyed {
		return nil
	}
	b, err := json.Marshal(&r.rec)
	if err != nil {
		return err
	}
	return e.db.KV(storeRooms).Put(r.name, b)
}

// forget removes a room's record and call log from the store (destroyed,
// or no longer persistent). Its archive stays while the room lives
// (dropArchive).
func (e *Extension) forget(r *room) error {
	return e.db.Update(func(tx *store.Tx) error {
		if err := tx.KV(storeRooms).Delete(r.name); err != nil {
			return err
		}
		return tx.Map(storeCalls).DeleteOwner(r.name)
	})
}

// dropArchive removes the archive of a room that is gone. r.mu is held.
func (e *Extension) dropArchive(r *room) {
	r.history = nil
	if n, _ := e.archive.Len(r.jid.String()); n == 0 {
		return // nothing to remove: no write transaction
	}
	if err := e.archive.DeleteOwner(r.jid.String()); err != nil {
		e.log.Error("removing the archive of a vanished room failed", "room", r.jid.String(), "err", err)
	}
}

// remember archives a groupchat message under its room stanza-id (with =
// the sender, room/nick or the room itself) and adds it to the history on
// join. The archive write is committed before anyone receives the message,
// so what occupants saw survives a crash, and the id they saw is the MAM
// id. Called with r.mu held.
func (e *Extension) remember(r *room, st *wire.Stanza, id, with string, at time.Time) error {
	if e.Config.Archive {
		if err := e.archive.Append(r.jid.String(), id, at, with, st.Raw); err != nil {
			return err
		}
	}
	e.remembered(r, st, id, at)
	return nil
}

// queueArchive queues the archive write of a room message on pkt, to
// commit with what the message's hooks queue; none when [muc] archive is
// off.
func (e *Extension) queueArchive(pkt *xmppd.Packet, owner, id string, at time.Time, with string, raw []byte) {
	if !e.Config.Archive {
		return
	}
	pkt.Persist(func(tx *store.Tx) error {
		return tx.Archive(storeArchive).Append(owner, id, at, with, raw)
	})
}

// remembered does what follows a committed archive write: the archive
// limit (trimmed now and then) and the in-memory history. r.mu is held.
func (e *Extension) remembered(r *room, st *wire.Stanza, id string, at time.Time) {
	owner := r.jid.String()
	if m := e.Config.ArchiveMaxMessages; m > 0 && e.Config.Archive {
		// Trim every 1% of the limit (at most every 100 messages): one
		// write transaction, an overshoot of at most 1%.
		r.appends++
		if r.appends >= min(max(m/100, 1), 100) {
			r.appends = 0
			if n, _ := e.archive.Len(owner); n <= m {
				// within the limit: no write transaction
			} else if _, err := e.archive.Trim(owner, m); err != nil {
				e.log.Error("trimming a room archive failed", "room", owner, "err", err)
			}
		}
	}
	max := e.Config.MaxHistory
	if max == 0 {
		return
	}
	r.history = append(r.history, historyEntry{at: at, id: id, st: st, length: len(st.Raw)})
	if len(r.history) >= 2*max {
		// Drop the oldest; copy now and then instead of on every message.
		r.history = append(make([]historyEntry, 0, 2*max), r.history[len(r.history)-max:]...)
	}
}

// recent returns the last MaxHistory entries.
func (e *Extension) recent(r *room) []historyEntry {
	h := r.history
	if n := len(h) - e.Config.MaxHistory; n > 0 {
		h = h[n:]
	}
	return h
}

// parseStanza reads one stanza built by this package.
func parseStanza(b []byte) (*wire.Stanza, error) {
	st := new(wire.Stanza)
	err := wire.NewReader(bytes.NewReader(b), wire.Limits{MaxStanzaSize: len(b) + 1, MaxDepth: len(b) + 1, MaxAttrs: len(b) + 1}).Next(st)
	return st, err
}
