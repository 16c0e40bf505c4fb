// Package muc implements XEP-0045 Multi-User Chat: the group chat service
// at [muc] domain (default "conference.<domain>") that holds the
// workspace's space, enquiry and conference rooms (SPEC §1).
//
// It plugs into routing with Registrar.HandleDomain: every stanza addressed
// to the service or to a room arrives in HandleStanza, on the sender's
// reading goroutine. Each room has its own lock, so a busy room never
// stalls another.
//
// What it does:
//   - Rooms: instant and reserved creation (status 201, the room stays
//     locked until its owner submits or accepts the muc#roomconfig form),
//     temporary and persistent rooms, members-only, password-protected,
//     hidden/public, semi-anonymous/non-anonymous, moderated rooms, and a
//     room kind (space, enquiry, conference) edited through the field
//     x-xmppd#kind of the same form.
//   - Occupants: join, nick change (303), leave and disconnect (hook
//     SessionClosed), status codes 110, 100, 170 (every room is archived:
//     XEP-0045 §7.2.12 room logging), 201, 210, 301, 303, 307, 321, 322,
//     several sessions of one user under one nick (XEP-0045 §7.2.11),
//     XEP-0421 occupant ids (HMAC of the room and the real bare JID under a
//     service key kept in the store).
//   - Messages: groupchat fan-out (parsed once; each occupant's copy is one
//     wire.Stanza.Rewrite of the stored stanza), a XEP-0359 stanza-id by
//     the room, history on join (maxstanzas, maxchars, seconds, since) with
//     XEP-0203 delay, subject, private messages, mediated invitations and
//     declines.
//   - Room archives (XEP-0313, urn:xmpp:mam:2 and #extended on every
//     room): every groupchat message with a body is appended to the
//     room's archive under its room stanza-id before fan-out, so the id
//     occupants see is the MAM id. Before that write the core hook point
//     xmppd.RoomMessage runs (room, stored stanza, sender, nick, members,
//     occupants): what its handlers queue with Packet.Persist (inbox
//     entries) commits in one transaction with the archive write
//     (Server.CommitQueued), and with the room's other messages that
//     arrived while its previous commit ran; the room is not locked
//     during the commit (commit.go). If it fails, the sender gets wait /
//     internal-server-error and nobody the message. History on join is the archive's end
//     (the last max_history, kept in memory, read back by one reverse
//     query at start). MAM queries to the room's bare JID (iq.go roomMAM,
//     protocol code in xmppd/mamproto) follow Prosody's mod_muc_mam: open
//     rooms answer anyone, members-only rooms their members, admins and
//     owners, outcasts never; results come from the room's JID, 'with' =
//     room/nick keeps one nick's messages. Subject changes are not
//     archived (the subject is sent on join and stored with the room).
//   - muc#admin (roles and affiliations, kick, ban, voice, lists),
//     muc#owner (configuration form, destruction with alternate venue),
//     disco#info/items for the service and rooms with the muc#roominfo form
//     (XEP-0128) extended by x-xmppd#kind, XEP-0410 self-ping.
//   - Enquiry rooms (enquiry.go): the enquiry context, stored with the
//     room, shown in disco#info as a second form (FORM_TYPE
//     urn:xmppd:enquiry:0), announced by a system message from the room
//     when the enquiry starts (CreateEnquiry), its visitor fields edited
//     by owners and admins through the XEP-0050 command enquiry-context.
//   - Conference rooms (calllog.go): a call log (host, participants with
//     join and leave times, start and end), read by owners through the
//     XEP-0050 command call-log and by operators through room.info.
//   - XEP-0050 ad-hoc commands on room JIDs (commands.go), answered by
//     the room itself.
//   - Operator commands room.create, room.list, room.info, room.destroy
//     (Registrar.AdminCommand), used by `xmppd room`.
//
// Stores: KV "muc/rooms" (room local part → JSON configuration,
// affiliations, subject, enquiry context), Archive "muc/archive" (owner:
// room bare JID, id: the room stanza-id, with: the sender room/nick or the
// room, value: the stanza as fanned out before the per-occupant 'to'),
// Map "muc/calls" (room local part → call start → JSON call), KV
// "muc/meta" (the occupant-id key). Only persistent rooms are stored;
// temporary rooms live in memory and vanish with their last occupant,
// their archive with them (an archive left by a crash is dropped at
// start). AccountDeleted drops the account's affiliations.
//
// Config [muc]: domain, max_history (history on join kept per room,
// default 50), default_history (sent on join when the client asks for
// none, default 20), max_occupants (default and upper bound of
// muc#roomconfig_maxusers, default 1000), max_subject_length (characters,
// default 1024), max_calls (calls kept per conference room, default 50),
// max_call_entries (join/leave entries kept per call, default 500),
// archive (default true; false keeps no room archives, see Config.Archive),
// archive_max_messages (per room, default 100000, 0 = no limit; enforced
// every 1% of appends and by a sweep) and archive_retention ("0" =
// forever; a sweep at start and every retention/10, between a minute and
// an hour), presence_rate/presence_period and message_rate/message_period
// (flood limits per occupant, default 5 presence changes and 20 groupchat
// messages per 10s, 0 = no limit; beyond them the stanza is refused with
// wait/policy-violation and not broadcast, as Prosody's mod_muc_limits
// does, but per occupant rather than per room so one flooder does not
// silence the others).
package muc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/mamproto"
)

// Namespaces.
const (
	NS           = "http://jabber.org/protocol/muc"
	NSUser       = NS + "#user"
	NSAdmin      = NS + "#admin"
	NSOwner      = NS + "#owner"
	NSRoomConfig = NS + "#roomconfig"
	NSRoomInfo   = NS + "#roominfo"
	NSOccupantID = "urn:xmpp:occupant-id:0"
	NSSelfPing   = NS + "#self-ping-optimization"
	NSStanzaID   = "urn:xmpp:sid:0"
	nsDelay      = "urn:xmpp:delay"
	nsData       = "jabber:x:data"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"

	// FieldKind is xmppd's own field for the room kind, in both the
	// muc#roomconfig and the muc#roominfo forms (XEP-0128).
	FieldKind = "x-xmppd#kind"
)

// Room kinds (SPEC §1).
const (
	KindSpace      = "space"
	KindEnquiry    = "enquiry"
	KindConference = "conference"
)

// Defaults of the [muc] table.
const (
	DefaultMaxHistory       = 50
	DefaultHistory          = 20
	DefaultMaxOccupants     = 1000
	DefaultMaxSubjectLength = 1024
	DefaultMaxCalls         = 50
	DefaultMaxCallEntries   = 500
	DefaultArchiveMax       = 100000
	DefaultPresenceRate     = 5
	DefaultMessageRate      = 20
	DefaultRatePeriod       = 10 * time.Second
)

// Config is the [muc] table.
type Config struct {
	// Domain is the service's domain; "" means "conference.<domain>".
	Domain string `toml:"domain"`
	// MaxHistory is how many of a room's newest archived messages it keeps
	// in memory for history on join.
	MaxHistory int `toml:"max_history"`
	// DefaultHistory is how many of them a joining client gets when it
	// does not say.
	DefaultHistory int `toml:"default_history"`
	// MaxOccupants is the default and the upper bound of a room's
	// muc#roomconfig_maxusers.
	MaxOccupants int `toml:"max_occupants"`
	// MaxSubjectLength bounds a room subject, in characters.
	MaxSubjectLength int `toml:"max_subject_length"`
	// MaxCalls is how many calls a conference room's call log keeps.
	MaxCalls int `toml:"max_calls"`
	// MaxCallEntries bounds the join/leave entries kept per call.
	MaxCallEntries int `toml:"max_call_entries"`
	// Archive turns the rooms' message archives on (the default). Off,
	// no room message is written to the archive, rooms do not advertise
	// MAM and answer its requests feature-not-implemented, and history on
	// join comes from memory only (the newest MaxHistory messages since
	// the room was loaded); moderators can remove those.
	Archive bool `toml:"archive"`
	// ArchiveMaxMessages bounds each room's message archive (XEP-0313);
	// the oldest go first. 0 means no limit.
	ArchiveMaxMessages int `toml:"archive_max_messages"`
	// ArchiveRetention is how long a room's archived messages are kept;
	// 0 keeps them forever.
	ArchiveRetention config.Duration `toml:"archive_retention"`
	// PresenceRate is how many presence changes (show, status, nick) one
	// occupant may make per PresencePeriod: a token bucket holding
	// PresenceRate that refills over PresencePeriod, so a burst of
	// PresenceRate, then PresenceRate per period. 0 means no limit.
	PresenceRate   int             `toml:"presence_rate"`
	PresencePeriod config.Duration `toml:"presence_period"`
	// MessageRate and MessagePeriod limit one occupant's groupchat
	// messages (chat states and subject changes included) the same way.
	MessageRate   int             `toml:"message_rate"`
	MessagePeriod config.Duration `toml:"message_period"`
}

// Extension is the MUC service.
type Extension struct {
	// Config holds the defaults until Register decodes [muc] over it;
	// tests may change it before the server is built.
	Config Config
	// Desk is where web enquiries go (enquiry_start.go).
	Desk EnquiryDesk

	srv     *xmppd.Server
	log     *slog.Logger
	db      *store.DB
	archive *store.Archive // room archives, owner = room bare JID
	domain  string
	idKey   []byte // HMAC key of occupant ids

	mu    sync.RWMutex
	rooms map[string]*room // by local part

	// joined maps a real full JID to the rooms it is in, so a closed
	// session leaves them all.
	jmu    sync.Mutex
	joined map[xmppd.JID]map[*room]struct{}

	retention *mamproto.Retention

	// enquiries maps a requester's bare JID to its open enquiry room.
	enquiries sync.Map
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Starter   = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the MUC extension with the default configuration.
func New() *Extension {
	return &Extension{Config: Config{
		MaxHistory:       DefaultMaxHistory,
		DefaultHistory:   DefaultHistory,
		MaxOccupants:     DefaultMaxOccupants,
		MaxSubjectLength: DefaultMaxSubjectLength,
		MaxCalls:         DefaultMaxCalls,
		MaxCallEntries:   DefaultMaxCallEntries,

		Archive:            true,
		ArchiveMaxMessages: DefaultArchiveMax,

		PresenceRate:   DefaultPresenceRate,
		PresencePeriod: config.Duration{Duration: DefaultRatePeriod},
		MessageRate:    DefaultMessageRate,
		MessagePeriod:  config.Duration{Duration: DefaultRatePeriod},
	}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "muc" }

// Domain returns the service's domain (after Register).
func (e *Extension) Domain() string { return e.domain }

const (
	storeRooms   = "muc/rooms"
	storeArchive = "muc/archive"
	storeMeta    = "muc/meta"
)

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("muc", &e.Config); err != nil {
		return err
	}
	c := &e.Config
	if c.Domain == "" {
		c.Domain = "conference." + r.Domain()
	}
	if e.Desk.Staff == nil && e.Desk.Destination == (Destination{}) {
		// [enquiry] is a core section (the guest host lives there).
		q := r.Server().Config().Enquiry
		e.Desk = EnquiryDesk{Staff: q.Staff, SpaceRoom: q.SpaceRoom,
			Destination: Destination{Name: q.Destination, Type: q.DestinationType, Endpoint: q.DestinationEndpoint}}
	}
	d, err := xmppd.ParseJID(c.Domain)
	if err != nil || d.Local != "" || d.Resource != "" {
		return fmt.Errorf("muc.domain: %q is not a domain name", c.Domain)
	}
	switch {
	case c.MaxHistory < 0:
		return fmt.Errorf("muc.max_history must be 0 or more, got %d", c.MaxHistory)
	case c.DefaultHistory < 0:
		return fmt.Errorf("muc.default_history must be 0 or more, got %d", c.DefaultHistory)
	case c.MaxOccupants < 1:
		return fmt.Errorf("muc.max_occupants must be at least 1, got %d", c.MaxOccupants)
	case c.MaxSubjectLength < 1:
		return fmt.Errorf("muc.max_subject_length must be at least 1, got %d", c.MaxSubjectLength)
	case c.MaxCalls < 1:
		return fmt.Errorf("muc.max_calls must be at least 1, got %d", c.MaxCalls)
	case c.MaxCallEntries < 1:
		return fmt.Errorf("muc.max_call_entries must be at least 1, got %d", c.MaxCallEntries)
	case c.ArchiveMaxMessages < 0:
		return fmt.Errorf("muc.archive_max_messages must be 0 (no limit) or more, got %d", c.ArchiveMaxMessages)
	case c.ArchiveRetention.Duration < 0:
		return fmt.Errorf("muc.archive_retention must be 0 (forever) or more, got %s", c.ArchiveRetention.Duration)
	case c.PresenceRate < 0:
		return fmt.Errorf("muc.presence_rate must be 0 (no limit) or more, got %d", c.PresenceRate)
	case c.PresenceRate > 0 && c.PresencePeriod.Duration <= 0:
		return fmt.Errorf("muc.presence_period must be more than 0 when muc.presence_rate is set, got %s", c.PresencePeriod.Duration)
	case c.MessageRate < 0:
		return fmt.Errorf("muc.message_rate must be 0 (no limit) or more, got %d", c.MessageRate)
	case c.MessageRate > 0 && c.MessagePeriod.Duration <= 0:
		return fmt.Errorf("muc.message_period must be more than 0 when muc.message_rate is set, got %s", c.MessagePeriod.Duration)
	}
	e.domain = d.Domain
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	// Room archive ids are stanza-ids, which encode their time: start/end
	// filters need no time index.
	e.db.TimeOrderedIDs(storeArchive, xmppd.FirstIDAt)
	e.archive = e.db.Archive(storeArchive)
	e.retention = &mamproto.Retention{Archive: e.archive, Log: e.log, What: "room archive",
		Limits: func() (time.Duration, int) { return c.ArchiveRetention.Duration, c.ArchiveMaxMessages }}
	e.rooms = make(map[string]*room)
	e.joined = make(map[xmppd.JID]map[*room]struct{})
	if e.idKey, err = e.loadKey(); err != nil {
		return err
	}
	if err := e.loadRooms(); err != nil {
		return err
	}
	if err := r.HandleDomain(e.domain, e); err != nil {
		return err
	}
	// Web visitors (guests) talk to staff in their enquiry room; they
	// cannot create rooms (only users of the main domain can).
	r.OpenToGuests(e.domain)
	xmppd.Hook(r, xmppd.SessionClosed, xmppd.PriorityDeliver, e.sessionClosed)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	for name, fn := range map[string]xmppd.AdminFunc{
		"room.create":  e.adminCreate,
		"room.list":    e.adminList,
		"room.info":    e.adminInfo,
		"room.destroy": e.adminDestroy,
	} {
		if err := r.AdminCommand(name, fn); err != nil {
			return err
		}
	}
	return nil
}

// loadKey returns the service's occupant-id key, made on first start.
func (e *Extension) loadKey() ([]byte, error) {
	kv := e.db.KV(storeMeta)
	k, err := kv.Get("occupant-id-key")
	if err == nil && len(k) == 32 {
		return k, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	k = make([]byte, 32)
	_, _ = rand.Read(k)
	if err := kv.Put("occupant-id-key", k); err != nil {
		return nil, fmt.Errorf("muc: saving the occupant-id key: %w", err)
	}
	return k, nil
}

// occupantID derives the XEP-0421 id of a real bare JID in a room: stable
// across joins and restarts, unlinkable across rooms.
func (e *Extension) occupantID(room string, bare xmppd.JID) string {
	m := hmac.New(sha256.New, e.idKey)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write([]byte(bare.String()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// room returns the room with local part name, or nil.
func (e *Extension) room(name string) *room {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rooms[name]
}

// roomNames returns every room's local part, sorted.
func (e *Extension) roomList() []*room {
	e.mu.RLock()
	l := make([]*room, 0, len(e.rooms))
	for _, r := range e.rooms {
		l = append(l, r)
	}
	e.mu.RUnlock()
	sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	return l
}

// HandleStanza implements xmppd.DomainHandler.
func (e *Extension) HandleStanza(p *xmppd.Packet) {
	if p.Type() == "error" {
		// Errors from clients to the room (a bounced reflection) change
		// nothing here; never answer an error with an error.
		return
	}
	switch p.Kind() {
	case "iq":
		e.handleIQ(p)
	case "presence":
		e.handlePresence(p)
	case "message":
		e.handleMessage(p)
	}
}

func (e *Extension) markJoined(full xmppd.JID, r *room, in bool) {
	e.jmu.Lock()
	defer e.jmu.Unlock()
	m := e.joined[full]
	if in {
		if m == nil {
			m = make(map[*room]struct{})
			e.joined[full] = m
		}
		m[r] = struct{}{}
		return
	}
	delete(m, r)
	if len(m) == 0 {
		delete(e.joined, full)
	}
}

// sessionClosed makes a closed session leave every room it was in
// (XEP-0045 §7.14: the service treats it as unavailable presence).
func (e *Extension) sessionClosed(s *xmppd.Session) xmppd.Verdict {
	e.jmu.Lock()
	var rooms []*room
	for r := range e.joined[s.JID()] {
		rooms = append(rooms, r)
	}
	e.jmu.Unlock()
	for _, r := range rooms {
		e.leave(r, s.JID(), s, nil)
	}
	return xmppd.Pass
}

// accountDeleted drops the account's affiliations in every room.
func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	bare := j.Bare().String()
	for _, r := range e.roomList() {
		r.mu.Lock()
		if _, ok := r.rec.Affiliations[bare]; ok {
			delete(r.rec.Affiliations, bare)
			if err := e.save(r); err != nil {
				e.log.Error("dropping affiliation of deleted account failed", "room", r.jid.String(), "jid", bare, "err", err)
			}
		}
		r.mu.Unlock()
	}
	return xmppd.Pass
}

// Start implements xmppd.Starter: it applies the room archives' retention
// and size limit now and then periodically (retention/10, between a
// minute and an hour).
func (e *Extension) Start(context.Context) error {
	e.retention.Start()
	return nil
}

// SweepArchives applies archive_retention and archive_max_messages to
// every room archive once. History on join keeps what it holds in memory
// until it is pushed out by new messages or a restart.
func (e *Extension) SweepArchives(ctx context.Context) { e.retention.Sweep(ctx) }

// Stop implements xmppd.Stopper: it ends the sweep; every write is
// committed when made.
func (e *Extension) Stop(ctx context.Context) error { return e.retention.Stop(ctx) }
