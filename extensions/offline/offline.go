// Package offline implements XEP-0160 offline message storage (the
// "msgoffline" feature, RFC 6121 §8.5.2.2.1).
//
// Storing: a handler on xmppd.MessageUndeliverable (PriorityFallback)
// takes chat and normal messages for an account with no available
// non-negative-priority resource and appends them, as they would have gone
// on the wire (stamped 'from', server stanza-id) plus their receive time, to
// the user's queue, through Packet.Persist: the offline copy commits in
// the message's one transaction with its archive copies, so a full disk
// loses both and bounces the message, never half of it. What is stored
// follows XEP-0334 hints and XEP-0085:
//
//   - <store xmlns='urn:xmpp:hints'/> always stores;
//   - <no-store/> never stores: a message with a body is then bounced with
//     service-unavailable (the sender learns it was not delivered), one
//     without is dropped. <no-permanent-store/> does not prevent offline
//     storage: XEP-0334 §4.2 names delayed delivery to an offline client
//     as the temporary storage only <no-store/> forbids, as ejabberd does;
//   - messages carrying nothing but chat states (and thread, hints, ids)
//     are dropped silently (XEP-0085 §5.6): they mean nothing later;
//   - everything else with content (body, subject, receipts, markers,
//     encrypted payloads, …) is stored.
//
// A user holds at most [limits] offline_messages stored messages; beyond
// that a message is bounced with service-unavailable and the text "offline
// storage full".
//
// Delivery: on xmppd.SessionInitialPresence (a session's first available
// presence) with priority >= 0 (RFC 6121 §8.5.2.1: negative priority
// resources never get messages for the bare JID) every stored message is
// queued to that session with a XEP-0203 <delay from='<domain>'
// stamp='…'/> added, then deleted (DeleteThrough the last delivered
// sequence number), so a crash in between redelivers rather than loses.
// Deliveries of one user are serialised, so two resources coming online at
// once do not both receive the same messages.
//
// Disco: the server domain announces msgoffline.
//
// Store: Queue "offline.messages" (owner: bare JID; value: JSON
// {"stamp", "xml"}), dropped on xmppd.AccountDeleted.
package offline

import (
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Feature is the XEP-0160 disco feature.
const Feature = "msgoffline"

const (
	nsHints      = "urn:xmpp:hints"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsSID        = "urn:xmpp:sid:0"
	nsClient     = "jabber:client"
	nsDelay      = "urn:xmpp:delay"
)

// TextFull is the error text of a bounce when the user's storage is full.
const TextFull = "offline storage full"

// Extension stores and delivers offline messages.
type Extension struct {
	log    *slog.Logger
	srv    *xmppd.Server
	db     *store.DB
	domain string
	limit  int

	seed  maphash.Seed
	locks [64]sync.Mutex // per-user delivery, striped by bare JID
}

type record struct {
	Stamp time.Time `json:"stamp"`
	XML   string    `json:"xml"`
}

const queueName = "offline.messages"

var _ xmppd.Extension = (*Extension)(nil)

// New returns the offline message extension.
func New() *Extension { return &Extension{seed: maphash.MakeSeed()} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "offline" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.log = r.Logger()
	e.srv = r.Server()
	e.db = r.Store()
	e.domain = r.Domain()
	e.limit = r.Server().Config().Limits.OfflineMessages
	r.Feature(Feature)
	xmppd.Hook(r, xmppd.MessageUndeliverable, xmppd.PriorityFallback, e.store)
	xmppd.Hook(r, xmppd.SessionInitialPresence, xmppd.PriorityDeliver, e.deliver)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// policy says what to do with an undeliverable message.
type policy int

const (
	storeIt  policy = iota
	dropIt          // silently
	bounceIt        // let the core answer service-unavailable
)

func classify(st *wire.Stanza) policy {
	var hasBody, noStore, content bool
	for _, c := range st.Children {
		switch {
		case c.NS == nsHints && c.Name == "store":
			return storeIt
		case c.NS == nsHints && c.Name == "no-store":
			noStore = true
		case c.NS == nsClient && c.Name == "body":
			hasBody = true
			content = true
		case c.NS == nsHints, c.NS == nsChatStates, c.NS == nsSID,
			c.NS == nsClient && c.Name == "thread":
			// Not content of their own.
		default:
			content = true
		}
	}
	switch {
	case noStore && hasBody:
		return bounceIt
	case noStore, !content:
		return dropIt
	}
	return storeIt
}

// store handles a message no resource could take.
func (e *Extension) store(p *xmppd.Packet) xmppd.Verdict {
	switch p.Type() {
	case "", "normal", "chat":
	default:
		return xmppd.Pass
	}
	switch classify(p.Stanza) {
	case dropIt:
		return xmppd.Done
	case bounceIt:
		return xmppd.Pass
	}
	owner := p.To.BareString()
	val, err := json.Marshal(record{Stamp: time.Now().UTC(), XML: string(p.Bytes())})
	if err != nil {
		e.log.Error("encoding offline message failed", "to", owner, "err", err)
		return xmppd.Pass
	}
	n, err := e.db.Queue(queueName).Len(owner)
	if err != nil {
		// The sender must not believe the message is safe (SPEC §7).
		e.log.Error("reading offline storage failed", "to", owner, "err", err)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Wait, stanza.InternalServerError, "the server could not store the message"))
		return xmppd.Done
	}
	if n >= e.limit {
		e.log.Info("offline storage full, message bounced", "to", owner, "limit", e.limit)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, TextFull))
		return xmppd.Done
	}
	// Queued on the message, so the offline copy commits in one
	// transaction with its archive copies: a failed commit loses both and
	// bounces the message (Server.Commit), never half of it. The count is
	// checked again inside, so concurrent senders and a sender's own
	// messages still being stored cannot push the queue past the limit.
	limit := e.limit
	p.Persist(func(tx *store.Tx) error {
		q := tx.Queue(queueName)
		n, err := q.Len(owner)
		if err != nil {
			return err
		}
		if n >= limit {
			// Found full only now (messages ahead of this one were still
			// being stored at the check above): the sender hears the same
			// refusal.
			return xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, TextFull)
		}
		_, err = q.Append(owner, val)
		return err
	})
	return xmppd.Done
}

func (e *Extension) lockFor(owner string) *sync.Mutex {
	return &e.locks[maphash.String(e.seed, owner)%uint64(len(e.locks))]
}

// deliver sends a session everything stored for its user.
func (e *Extension) deliver(s *xmppd.Session) xmppd.Verdict {
	if s.Priority() < 0 {
		return xmppd.Pass
	}
	owner := s.Bare().BareString()
	mu := e.lockFor(owner)
	mu.Lock()
	defer mu.Unlock()
	q := e.db.Queue(queueName)
	var last uint64
	var sent int
	err := q.List(owner, func(seq uint64, val []byte) error {
		var rec record
		if err := json.Unmarshal(val, &rec); err != nil {
			// Skip it rather than block the queue forever.
			e.log.Error("dropping unreadable offline message", "to", owner, "seq", seq, "err", err)
		} else {
			s.Send(withDelay([]byte(rec.XML), e.domain, rec.Stamp))
			sent++
		}
		last = seq
		return nil
	})
	if err != nil {
		e.log.Error("reading offline messages failed", "to", owner, "err", err)
	}
	if last == 0 {
		return xmppd.Pass
	}
	if err := q.DeleteThrough(owner, last); err != nil {
		e.log.Error("deleting delivered offline messages failed; they will be delivered again", "to", owner, "err", err)
		return xmppd.Pass
	}
	s.Logger().Debug("offline messages delivered", "count", sent)
	return xmppd.Pass
}

// withDelay inserts <delay/> as the last child of a serialised stanza.
func withDelay(el []byte, from string, stamp time.Time) []byte {
	d := make([]byte, 0, 96)
	d = append(d, "<delay xmlns='urn:xmpp:delay' from='"...)
	d = wire.AppendEscaped(d, from)
	d = append(d, "' stamp='"...)
	d = append(d, stamp.UTC().Format("2006-01-02T15:04:05.000Z")...)
	d = append(d, "'/>"...)
	return wire.InsertChild(el, d)
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	if err := e.db.Queue(queueName).DeleteOwner(j.BareString()); err != nil {
		e.log.Error("deleting offline messages failed", "jid", j.BareString(), "err", err)
	}
	return xmppd.Pass
}
