// Package roster implements RFC 6121 rosters, presence subscriptions and
// presence broadcast, with roster versioning (RFC 6121 §2.6, XEP-0237).
//
// Roster management (RFC 6121 §2): roster get and set (jabber:iq:roster)
// on the user's own account, roster pushes to the user's interested
// resources (those that fetched the roster in this session), item removal
// with the unsubscribe/unsubscribed that §2.5.2 requires, and the §2.3.3
// error conditions. The roster version is a per-user counter; a get whose
// 'ver' is current is answered with an empty result. The rosterver stream
// feature is advertised.
//
// Subscriptions (RFC 6121 §3): subscribe, subscribed, unsubscribe and
// unsubscribed are processed on the sender's side when a client sends them
// (hook PresenceOut) and on the recipient's side when they are routed to a
// local account (hook PresenceIn), following the state tables of RFC 6121
// Appendix A. Every account is local (no federation), so both halves run
// here. A pending inbound request is stored and delivered again at each of
// the contact's initial presences until it is answered. A subscription
// request to an account that does not exist is answered with
// 'unsubscribed' on its behalf, which clears the requester's pending state.
// Pre-approval (§3.4) is not offered.
//
// Presence (RFC 6121 §4): a client's broadcast presence goes to the
// contacts with subscription 'from' or 'both' and to all of the user's
// available resources; initial presence is answered with the current
// presence of the contacts the user is subscribed to ('to'/'both': the
// probes are answered locally), of the user's other resources, and with
// pending subscription requests. Unavailable presence, sent by the client
// or generated when a session closes (hook SessionClosed), also reaches
// every entity the session sent directed presence to (§4.6). Client
// probes are dropped.
//
// The extension provides the core's xmppd.Roster service (who may see a
// user's presence) and drops a user's roster on AccountDeleted, after
// cancelling the subscriptions in both directions the way Prosody does.
//
// Stores: map "roster.items" (owner bare JID → contact bare JID → JSON
// item), map "roster.pending" (owner → contact → the pending subscribe
// stanza), kv "roster.version" (owner → version counter).
//
// Configuration, table [roster]:
//
//	max_items = 1000   # roster items per user; more is refused
package roster

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/roster"
)

// NS is the roster namespace.
const NS = "jabber:iq:roster"

// Limits on user-supplied item data (RFC 6121 §2.3.3 not-acceptable).
const (
	maxNameLen   = 1023 // bytes of an item name or group name
	maxGroups    = 64   // groups per item
	storeItems   = "roster.items"
	storePending = "roster.pending"
	storeVersion = "roster.version"
)

// Config is the [roster] table.
type Config struct {
	// MaxItems caps the number of items in one user's roster.
	MaxItems int `toml:"max_items"`
}

// Extension is the roster and presence extension.
type Extension struct {
	cfg   Config
	srv   *xmppd.Server
	db    *store.DB
	log   *slog.Logger
	seed  maphash.Seed
	locks [64]sync.Mutex // per-owner stripes: keeps a user's changes and pushes in order
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Roster    = (*Extension)(nil)
)

// New returns the roster extension.
func New() *Extension { return &Extension{seed: maphash.MakeSeed()} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "roster" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.cfg = Config{MaxItems: 1000}
	if err := r.Config("roster", &e.cfg); err != nil {
		return err
	}
	if e.cfg.MaxItems <= 0 {
		return fmt.Errorf("roster.max_items must be positive, got %d", e.cfg.MaxItems)
	}
	e.srv = r.Server()
	e.db = r.Store()
	e.log = r.Logger()
	if err := r.ProvideRoster(e); err != nil {
		return err
	}
	r.StreamFeature(roster.Versioning())
	if err := r.HandleIQ(xmppd.TargetAccount, "get", NS, "query", e.handleGet); err != nil {
		return err
	}
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "query", e.handleSet); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.SessionBound, xmppd.PriorityDeliver, e.sessionBound)
	xmppd.Hook(r, xmppd.SessionClosed, xmppd.PriorityDeliver, e.sessionClosed)
	xmppd.Hook(r, xmppd.PresenceOut, xmppd.PriorityDeliver, e.presenceOut)
	xmppd.Hook(r, xmppd.PresenceIn, xmppd.PriorityDeliver, e.presenceIn)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// Subscription states (RFC 6121 §2.1.2.5).
const (
	subNone = "none"
	subTo   = "to"
	subFrom = "from"
	subBoth = "both"
)

// item is a stored roster item. Pending inbound requests are kept apart
// (store "roster.pending"): they are not part of the roster a client sees.
type item struct {
	Name   string   `json:"name,omitempty"`
	Sub    string   `json:"sub,omitempty"` // "" means none
	Ask    bool     `json:"ask,omitempty"` // pending out: subscribe sent, no answer yet
	Groups []string `json:"groups,omitempty"`
}

func hasTo(sub string) bool   { return sub == subTo || sub == subBoth }
func hasFrom(sub string) bool { return sub == subFrom || sub == subBoth }

func withTo(sub string) string {
	if hasFrom(sub) {
		return subBoth
	}
	return subTo
}

func withoutTo(sub string) string {
	if hasFrom(sub) {
		return subFrom
	}
	return subNone
}

func withFrom(sub string) string {
	if hasTo(sub) {
		return subBoth
	}
	return subFrom
}

func withoutFrom(sub string) string {
	if hasTo(sub) {
		return subTo
	}
	return subNone
}

// element renders the item as <item/> for results and pushes; nil renders
// subscription='remove'.
func (it *item) element(contact xmppd.JID) *wire.Element {
	el := wire.NewElement("item", NS, wire.Attr{Name: "jid", Value: contact.String()})
	if it == nil {
		return el.SetAttr("subscription", "remove")
	}
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	sub := it.Sub
	if sub == "" {
		sub = subNone
	}
	el.SetAttr("subscription", sub)
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	for _, g := range it.Groups {
		el.Append(wire.NewElement("group", NS).SetText(g))
	}
	return el
}

// rtx is the roster's view of one store transaction.
type rtx struct {
	items, pending store.TxMap
	ver            store.TxKV
}

func (t rtx) get(owner, contact xmppd.JID) (item, bool, error) {
	b, err := t.items.Get(owner.String(), contact.String())
	if errors.Is(err, store.ErrNotFound) {
		return item{}, false, nil
	}
	if err != nil {
		return item{}, false, err
	}
	var it item
	if err := json.Unmarshal(b, &it); err != nil {
		return item{}, false, fmt.Errorf("roster of %s: corrupt item %s: %w", owner, contact, err)
	}
	return it, true, nil
}

// save stores an item and returns the roster push it causes.
func (t rtx) save(owner, contact xmppd.JID, it item) ([]push, error) {
	ver, err := t.put(owner, contact, it)
	if err != nil {
		return nil, err
	}
	return []push{{contact: contact, item: &it, ver: ver}}, nil
}

// put stores an item and returns the roster's new version.
func (t rtx) put(owner, contact xmppd.JID, it item) (string, error) {
	b, err := json.Marshal(it)
	if err != nil {
		return "", err
	}
	if err := t.items.Put(owner.String(), contact.String(), b); err != nil {
		return "", err
	}
	return t.bump(owner)
}

// remove deletes an item and returns the roster's new version.
func (t rtx) remove(owner, contact xmppd.JID) (string, error) {
	if err := t.items.Delete(owner.String(), contact.String()); err != nil {
		return "", err
	}
	return t.bump(owner)
}

// bump increments the owner's roster version. A roster that was never
// changed has version "0"; the first change starts the counter at the
// current time in microseconds, so an account deleted and created again
// never reuses a version a client may have cached.
func (t rtx) bump(owner xmppd.JID) (string, error) {
	n := time.Now().UnixMicro()
	if b, err := t.ver.Get(owner.String()); err == nil {
		if cur, err := strconv.ParseInt(string(b), 10, 64); err == nil && cur >= n {
			n = cur + 1
		}
	}
	v := strconv.FormatInt(n, 10)
	return v, t.ver.Put(owner.String(), []byte(v))
}

// count returns the number of items in owner's roster.
func (t rtx) count(owner xmppd.JID) (int, error) {
	n := 0
	err := t.items.All(owner.String(), func(string, []byte) error { n++; return nil })
	return n, err
}

func (t rtx) hasPending(owner, contact xmppd.JID) bool {
	_, err := t.pending.Get(owner.String(), contact.String())
	return err == nil
}

// dropPending removes a pending inbound request; it reports whether there
// was one.
func (t rtx) dropPending(owner, contact xmppd.JID) (bool, error) {
	if !t.hasPending(owner, contact) {
		return false, nil
	}
	return true, t.pending.Delete(owner.String(), contact.String())
}

// push is a roster change to send to the owner's interested resources.
type push struct {
	contact xmppd.JID
	item    *item // nil: removed
	ver     string
}

// mutate runs fn in one store transaction on owner's roster, then the
// before funcs (deliveries the RFC orders ahead of the push), then sends
// the pushes fn returned, all under owner's lock so that a user's pushes
// go out in version order. fn and before must touch only owner's data and
// sessions (never route: routing may reach this user's lock again).
func (e *Extension) mutate(owner xmppd.JID, fn func(t rtx) ([]push, error), before ...func()) error {
	mu := &e.locks[maphash.Comparable(e.seed, owner)%uint64(len(e.locks))]
	mu.Lock()
	defer mu.Unlock()
	var pushes []push
	err := e.db.Update(func(tx *store.Tx) error {
		var err error
		pushes, err = fn(rtx{items: tx.Map(storeItems), pending: tx.Map(storePending), ver: tx.KV(storeVersion)})
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range before {
		f()
	}
	for _, p := range pushes {
		e.sendPush(owner, p)
	}
	return nil
}

// sendPush sends a roster push (RFC 6121 §2.1.6) to each of the owner's
// interested resources.
func (e *Extension) sendPush(owner xmppd.JID, p push) {
	q := wire.NewElement("query", NS, wire.Attr{Name: "ver", Value: p.ver}).Append(p.item.element(p.contact))
	payload := q.AppendXML(nil)
	for _, s := range e.srv.Sessions(owner) {
		if !stateOf(s).isInterested() {
			continue
		}
		b := make([]byte, 0, len(payload)+128)
		b = append(b, "<iq type='set' id='push-"...)
		b = wire.AppendEscaped(b, e.srv.NextID())
		b = append(b, "' to='"...)
		b = wire.AppendEscaped(b, s.JID().String())
		b = append(b, "'>"...)
		b = append(b, payload...)
		b = append(b, "</iq>"...)
		s.Send(b)
	}
}

// items returns the owner's roster in contact order.
func (e *Extension) items(owner xmppd.JID) ([]xmppd.JID, []item, error) {
	var jids []xmppd.JID
	var items []item
	err := e.db.View(func(tx *store.Tx) error {
		return tx.Map(storeItems).All(owner.String(), func(k string, v []byte) error {
			j, err := xmppd.ParseJID(k)
			if err != nil {
				return fmt.Errorf("roster of %s: bad contact %q: %w", owner, k, err)
			}
			var it item
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("roster of %s: corrupt item %s: %w", owner, k, err)
			}
			jids = append(jids, j)
			items = append(items, it)
			return nil
		})
	})
	return jids, items, err
}

// version returns the owner's roster version ("0" if never changed).
func (e *Extension) version(owner xmppd.JID) (string, error) {
	b, err := e.db.KV(storeVersion).Get(owner.String())
	if errors.Is(err, store.ErrNotFound) {
		return "0", nil
	}
	return string(b), err
}

// contactsWhere returns the owner's contacts whose subscription state
// satisfies keep.
func (e *Extension) contactsWhere(owner xmppd.JID, keep func(string) bool) []xmppd.JID {
	jids, items, err := e.items(owner)
	if err != nil {
		e.log.Error("reading roster failed", "user", owner.String(), "err", err)
	}
	var out []xmppd.JID
	for i, it := range items {
		if keep(it.Sub) {
			out = append(out, jids[i])
		}
	}
	return out
}

// Subscribers implements xmppd.Roster: contacts with subscription 'from'
// or 'both'.
func (e *Extension) Subscribers(user xmppd.JID) []xmppd.JID {
	return e.contactsWhere(user.Bare(), hasFrom)
}

// HasSubscriber implements xmppd.Roster.
func (e *Extension) HasSubscriber(user, contact xmppd.JID) bool {
	return hasFrom(e.subscription(user.Bare(), contact.Bare()))
}

// subscription returns owner's subscription state with contact ("" if no
// item).
func (e *Extension) subscription(owner, contact xmppd.JID) string {
	b, err := e.db.Map(storeItems).Get(owner.String(), contact.String())
	if err != nil {
		return ""
	}
	var it item
	if json.Unmarshal(b, &it) != nil {
		return ""
	}
	return it.Sub
}

// accountDeleted cancels the user's subscriptions in both directions, so
// contacts' rosters and pending requests stay consistent, then drops the
// user's roster, pending requests and version.
func (e *Extension) accountDeleted(user xmppd.JID) xmppd.Verdict {
	jids, items, err := e.items(user)
	if err != nil {
		e.log.Error("reading roster of deleted account failed", "user", user.String(), "err", err)
	}
	for i, it := range items {
		if hasFrom(it.Sub) {
			e.routeSub(user, jids[i], "unsubscribed", nil)
			e.sendUnavailableOf(user, jids[i])
		}
		if hasTo(it.Sub) || it.Ask {
			e.routeSub(user, jids[i], "unsubscribe", nil)
		}
	}
	var pending []xmppd.JID
	_ = e.db.Map(storePending).All(user.String(), func(k string, _ []byte) error {
		if j, err := xmppd.ParseJID(k); err == nil {
			pending = append(pending, j)
		}
		return nil
	})
	for _, j := range pending {
		if !slices.Contains(jids, j) {
			e.routeSub(user, j, "unsubscribed", nil)
		}
	}
	err = e.db.Update(func(tx *store.Tx) error {
		if err := tx.Map(storeItems).DeleteOwner(user.String()); err != nil {
			return err
		}
		if err := tx.Map(storePending).DeleteOwner(user.String()); err != nil {
			return err
		}
		return tx.KV(storeVersion).Delete(user.String())
	})
	if err != nil {
		e.log.Error("deleting roster failed", "user", user.String(), "err", err)
	}
	return xmppd.Pass
}
