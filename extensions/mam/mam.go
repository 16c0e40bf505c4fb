// Package mam implements XEP-0313 Message Archive Management (urn:xmpp:mam:2
// and urn:xmpp:mam:2#extended) for users' 1:1 conversations, with XEP-0059
// Result Set Management paging.
//
// Archiving happens before delivery, so what a client receives is already
// in the archive:
//
//   - the recipient's copy: a handler on xmppd.MessageToAccount and
//     xmppd.MessageToFull at xmppd.PriorityArchive, after the core's
//     stanza-id (PriorityRewrite), stores the stanza exactly as delivered
//     (Packet.Bytes, with <stanza-id by='recipient'/>) under Packet.StanzaID,
//     so the id the client sees is its archive id (XEP-0313 §3.3);
//   - the sender's copy: a handler on xmppd.MessageOut at
//     xmppd.PriorityArchive stores the stanza as sent (from stamped,
//     client-written stanza-ids removed) under a fresh id,
//     put in Packet.SentStanzaID. XEP-0313 §3.3 forbids showing it to the
//     recipient; carbons (XEP-0280) should add it to the 'sent' copies as
//     <stanza-id by='sender' id='Packet.SentStanzaID'/>. A message to
//     oneself is stored once, as the incoming copy.
//
// Both copies are queued with Packet.Persist, so the core writes them
// together with the message's other store changes (the inbox) in one
// group-committed transaction right before the message is first
// delivered. If that commit fails (a full disk), the message is not
// delivered and its sender gets a wait / internal-server-error.
//
// What is archived (XEP-0313 §5.1.1 and Prosody's practice): messages of
// type chat or normal carrying a <body/>, an OMEMO <encrypted/> payload
// (eu.siacs.conversations.axolotl, urn:xmpp:omemo:2), a XEP-0424
// <retract/> (or the older XEP-0422 <apply-to/> form), a XEP-0308 <replace/> or a XEP-0333 <displayed/> marker (the
// read position the inbox needs), or the XEP-0334 <store/> hint. Never:
// errors, headlines, groupchat (rooms keep their own archive), chat
// states, receipts and other markers, and any message with the XEP-0334
// <no-store/> or <no-permanent-store/> hint. Messages to unknown local
// accounts or to the server itself are not archived for the sender.
//
// Retractions: a retraction the edits extension accepted (Packet.Edit)
// replaces every archived copy of the original and of its corrections,
// the sender's and the recipient's, with a XEP-0424 tombstone
// (mamproto.Tombstone), in the retraction's own commit. The retraction
// itself is archived too (XEP-0424 §5).
//
// Preferences (XEP-0313 §6 of v0.6, <prefs/> get/set): default always,
// never or roster, plus always/never lists of bare JIDs; a listed JID
// wins over the default. "roster" archives a conversation when either side
// has a presence subscription to the other (the core's Roster service).
// Preferences apply when a message is archived, not to past messages.
//
// Queries (IQ set <query/> to the own bare JID; anyone else gets
// forbidden), form discovery (IQ get <query/>) and <metadata/> follow the
// protocol code shared with room archives, package xmppd/mamproto (data
// form, RSM paging, <flip-page/>, result messages and <fin/>). A page is
// cut at about a quarter of the session's outbound queue, so a page of
// large stanzas cannot get the client disconnected.
//
// Config [mam]: enabled (default true; false archives nothing, advertises
// no MAM and answers urn:xmpp:mam:2 requests feature-not-implemented, see
// Config.Enabled), retention ("0" keeps forever, else e.g. "8760h") and
// max_messages_per_user (0 = no limit). Both are enforced on append
// (every few appends a user's archive is trimmed to the limit) and by a
// sweep at start and then periodically (retention/10, between a minute and
// an hour), which drops expired messages (always the oldest, XEP-0313
// §3.2) of every archive.
//
// Stores: Archive "mam.archive" (owner: bare JID; value: the stanza) and
// Map "mam.prefs" (owner: bare JID, key "prefs", JSON); both dropped on
// xmppd.AccountDeleted. Disco (while enabled): urn:xmpp:mam:2 and urn:xmpp:mam:2#extended on
// every account.
package mam

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS         = mamproto.NS
	NSExtended = mamproto.NSExtended

	nsSID      = "urn:xmpp:sid:0"
	nsHints    = "urn:xmpp:hints"
	nsClient   = "jabber:client"
	nsOMEMO    = "eu.siacs.conversations.axolotl"
	nsOMEMO2   = "urn:xmpp:omemo:2"
	nsRetract  = "urn:xmpp:message-retract:1"
	nsCorrect  = "urn:xmpp:message-correct:0"
	nsMarkers  = "urn:xmpp:chat-markers:0"
	nsFasten   = "urn:xmpp:fasten:0"
	archiveKey = "mam.archive"
	prefsKey   = "mam.prefs"
)

// Page sizes (XEP-0313 §4.3.1: the server MAY limit a page).
const (
	DefaultPage = mamproto.DefaultPage
	MaxPage     = mamproto.MaxPage
)

// Config is the [mam] section.
type Config struct {
	// Enabled turns users' archiving on (the default). Off, nothing is
	// archived, the accounts do not advertise MAM and every urn:xmpp:mam:2
	// request is answered feature-not-implemented; delivery, offline
	// storage, carbons, the inbox and edit checks do not need the archive.
	Enabled bool `toml:"enabled"`
	// Retention is how long messages are kept; 0 keeps them forever.
	Retention config.Duration `toml:"retention"`
	// MaxMessagesPerUser bounds each user's archive; the oldest go first.
	// 0 means no limit.
	MaxMessagesPerUser int `toml:"max_messages_per_user"`
}

// Extension archives users' messages and answers MAM queries.
type Extension struct {
	Config Config

	srv        *xmppd.Server
	log        *slog.Logger
	archive    *store.Archive
	prefs      *store.Map
	prefsCache prefsCache

	trimEvery int64
	appends   sync.Map // bare JID -> *atomic.Int64, appends since start

	retention *mamproto.Retention
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Starter   = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the MAM extension with its default configuration.
func New() *Extension {
	return &Extension{Config: Config{Enabled: true, MaxMessagesPerUser: 100000}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "mam" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("mam", &e.Config); err != nil {
		return err
	}
	if e.Config.MaxMessagesPerUser < 0 {
		return fmt.Errorf("mam.max_messages_per_user must be 0 (no limit) or more, got %d", e.Config.MaxMessagesPerUser)
	}
	e.srv = r.Server()
	e.log = r.Logger()
	// Archive ids are stanza-ids, which encode their time: start/end
	// filters need no time index.
	r.Store().TimeOrderedIDs(archiveKey, xmppd.FirstIDAt)
	e.archive = r.Store().Archive(archiveKey)
	e.prefs = r.Store().Map(prefsKey)
	e.retention = &mamproto.Retention{Archive: e.archive, Log: e.log, What: "archive",
		Limits: func() (time.Duration, int) { return e.Config.Retention.Duration, e.Config.MaxMessagesPerUser }}
	// Trimming costs a write transaction; doing it every 1% of the limit
	// (at most every 100 appends) bounds the overshoot to 1%.
	e.trimEvery = int64(min(max(e.Config.MaxMessagesPerUser/100, 1), 100))

	// What an archive left from when archiving was on still follows
	// the account's deletion and the retention sweep.
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	handlers := []struct {
		typ, name string
		fn        xmppd.IQHandler
	}{
		{"set", "query", e.handleQuery},
		{"get", "query", e.handleForm},
		{"get", "metadata", e.handleMetadata},
		{"get", "prefs", e.handlePrefsGet},
		{"set", "prefs", e.handlePrefsSet},
	}
	if e.Config.Enabled {
		r.AccountFeature(NS)
		r.AccountFeature(NSExtended)
		xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityArchive, e.tombstone)
		xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityArchive, e.archiveOutgoing)
		xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityArchive, e.archiveIncoming)
		xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityArchive, e.archiveIncoming)
	} else {
		// A clear answer rather than the service-unavailable of an
		// unknown payload: the client stops asking.
		for i := range handlers {
			handlers[i].fn = archiveOff
		}
	}
	for _, h := range handlers {
		if err := r.HandleIQ(xmppd.TargetAccount, h.typ, NS, h.name, h.fn); err != nil {
			return err
		}
	}
	return nil
}

// archiveOff answers MAM requests while [mam] enabled is false.
func archiveOff(*xmppd.IQ) (*wire.Element, error) {
	return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "message archiving is turned off on this server")
}

// Start implements xmppd.Starter: it runs the retention sweep now and then
// periodically.
func (e *Extension) Start(context.Context) error {
	e.retention.Start()
	return nil
}

// Stop implements xmppd.Stopper.
func (e *Extension) Stop(ctx context.Context) error { return e.retention.Stop(ctx) }

// Sweep applies retention and the size limit to every archive once.
func (e *Extension) Sweep(ctx context.Context) { e.retention.Sweep(ctx) }

// archivable says whether a message is worth keeping (see the package doc).
func archivable(st *wire.Stanza) bool {
	switch st.Type {
	case "", "normal", "chat":
	default:
		return false
	}
	keep := false
	for _, c := range st.Children {
		switch {
		case c.NS == nsHints && (c.Name == "no-store" || c.Name == "no-permanent-store"):
			return false
		case c.NS == nsHints && c.Name == "store",
			c.NS == nsClient && c.Name == "body",
			c.Name == "encrypted" && (c.NS == nsOMEMO || c.NS == nsOMEMO2),
			c.NS == nsRetract && c.Name == "retract",
			c.NS == nsFasten && c.Name == "apply-to",
			c.NS == nsCorrect && c.Name == "replace",
			c.NS == nsMarkers && c.Name == "displayed":
			keep = true
		}
	}
	return keep
}

// archiveOutgoing stores the sender's copy.
func (e *Extension) archiveOutgoing(p *xmppd.Packet) xmppd.Verdict {
	owner := p.From.Bare()
	to := p.To
	if to.Bare() == owner || !archivable(p.Stanza) {
		return xmppd.Pass
	}
	if e.srv.IsLocal(to) && (to.Local == "" || !e.srv.Accounts().Exists(to.Local)) {
		return xmppd.Pass // to the server, or bounced as unknown
	}
	if !e.shouldArchive(owner, to) {
		return xmppd.Pass
	}
	// A client cannot vouch for archive ids (XEP-0359 §3.1): whatever
	// stanza-id it wrote goes, as the core does for the recipient.
	p.RemoveChildren("stanza-id", nsSID)
	id := e.srv.NextID()
	e.append(p, owner.String(), id, to.String(), p.Bytes())
	p.SentStanzaID = id
	return xmppd.Pass
}

// tombstone queues the replacement of a retracted message's archived
// copies (both sides' of a 1:1 message; rooms keep their own archive).
func (e *Extension) tombstone(p *xmppd.Packet) xmppd.Verdict {
	ed := p.Edit
	if ed == nil || !ed.Retract || p.Type() == "groupchat" || len(ed.Archived) == 0 {
		return xmppd.Pass
	}
	r := mamproto.Retracted{ID: p.Stanza.ID, At: time.Now()}
	p.Persist(func(tx *store.Tx) error {
		return mamproto.TombstoneAll(tx.Archive(archiveKey), ed.Archived, r)
	})
	return xmppd.Pass
}

// archiveIncoming stores the recipient's copy, as delivered.
func (e *Extension) archiveIncoming(p *xmppd.Packet) xmppd.Verdict {
	if p.StanzaID == "" || !archivable(p.Stanza) {
		return xmppd.Pass
	}
	owner := p.To.Bare()
	if !e.shouldArchive(owner, p.From) {
		return xmppd.Pass
	}
	e.append(p, owner.String(), p.StanzaID, p.From.String(), p.Bytes())
	return xmppd.Pass
}

// append queues the archiving of one stanza on p (committed with the
// message, see the package doc) and keeps the archive within its limit:
// every trimEvery appends of an owner, the same transaction trims the
// archive, so trimming costs no commit of its own. The count is taken
// here, not in the transaction, which may run more than once.
func (e *Extension) append(p *xmppd.Packet, owner, id, with string, stanza []byte) {
	at := time.Now()
	limit := 0
	if m := e.Config.MaxMessagesPerUser; m > 0 {
		v, _ := e.appends.Load(owner)
		if v == nil {
			v, _ = e.appends.LoadOrStore(owner, new(atomic.Int64))
		}
		if v.(*atomic.Int64).Add(1)%e.trimEvery == 0 {
			limit = m
		}
	}
	p.Persist(func(tx *store.Tx) error {
		a := tx.Archive(archiveKey)
		if err := a.Append(owner, id, at, with, stanza); err != nil {
			return err
		}
		if limit > 0 {
			if _, err := a.Trim(owner, limit); err != nil {
				return fmt.Errorf("trimming the archive of %s: %w", owner, err)
			}
		}
		return nil
	})
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	owner := j.BareString()
	if err := e.archive.DeleteOwner(owner); err != nil {
		e.log.Error("deleting archive failed", "jid", owner, "err", err)
	}
	if err := e.setPrefs(j.Bare(), nil); err != nil {
		e.log.Error("deleting archive preferences failed", "jid", owner, "err", err)
	}
	e.appends.Delete(owner)
	return xmppd.Pass
}
