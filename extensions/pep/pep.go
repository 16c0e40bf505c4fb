// Package pep implements XEP-0163 Personal Eventing Protocol: the subset of
// XEP-0060 Publish-Subscribe, served on every account's bare JID, that
// modern clients use for avatars (XEP-0084), bookmarks (XEP-0402),
// displayed-marker sync (XEP-0490), nicknames (XEP-0172) and OMEMO device
// lists.
//
// IQs (TargetAccount; only the owner may change anything, forbidden
// otherwise):
//
//   - pubsub set <publish node>: auto-creates the node on first publish
//     (#auto-create); <publish-options/> (XEP-0060 §7.1.5) configures a new
//     node and is a precondition on an existing one: a mismatch is
//     <conflict/> + <precondition-not-met/>. Item ids are generated when
//     missing; a republished id replaces the item and becomes the newest.
//     Exactly one payload per item, at most [pep] max_item_size bytes.
//   - pubsub set <retract node notify>, <create node> (+ <configure/>).
//   - pubsub get <items node [max_items]> (all, the newest N, or by id):
//     for the owner always; for others per the node's access model.
//   - pubsub#owner get/set <configure node> (access_model, max_items,
//     persist_items, send_last_published_item, deliver_notifications,
//     deliver_payloads, notify_retract, notify_delete, title),
//     get <default/>, set <delete node>, <purge node>.
//   - disco#items on the bare JID: the nodes the requester may see; with a
//     node, its item ids.
//
// Subscriptions are PEP's automatic ones only (XEP-0163 §4): subscribe,
// subscriptions and affiliations answer feature-not-implemented.
//
// Access models: presence (default; the owner and contacts with a 'from'
// or 'both' subscription per the core's Roster service, the owner only when
// no roster extension runs), open (anyone may retrieve) and whitelist (the
// owner only). authorize and roster are refused.
//
// Notifications (headline messages from the owner's bare JID) go to every
// available resource of the owner and, unless the node is whitelisted, of
// each subscriber per the Roster service, whose XEP-0115 entity
// capabilities include "<node>+notify" (XEP-0163 §4.2 filtered
// notifications). Caps are read from clients' broadcast presence (hook
// PresenceOut, PriorityObserve, always Pass); an unknown verification
// string is asked for once with disco#info from the server to the client
// (asynchronously, never on the reading goroutine), checked against the
// hash when the algorithm is known (sha-1, sha-256, sha-512) and then
// cached per hash; an unverifiable answer is used for that session only.
// When a session's initial presence has been processed (hook
// SessionInitialPresence), and whenever its +notify set grows, it gets
// the last item of each node it newly cares about from its own account and
// from each contact whose presence it may see and who receives its
// presence (XEP-0163 §4.3.4), unless the node says
// send_last_published_item=never (or on_sub: PEP has no explicit
// subscriptions).
//
// Other extensions learn of every committed publish, retraction, node
// deletion and purge through the core hook point xmppd.PEPPublished (the
// inbox reads XEP-0490 displayed positions, push XEP-0492 settings in
// bookmarks), so they never import this package.
//
// Disco: account features pubsub, #publish, #publish-options,
// #retract-items, #retrieve-items, #delete-nodes, #purge-nodes,
// #auto-create, #persistent-items, #item-ids, #last-published,
// #access-presence, #access-open, #access-whitelist, #config-node,
// #create-nodes, #multi-items and identity pubsub/pep on the account
// (Registrar.AccountIdentity).
//
// Stores: Map "pep/nodes" (owner bare JID → node name → JSON node config
// and its item ids, oldest first) and Map "pep/items" (owner bare JID + NUL
// + node → item id → JSON publish time and payload XML). Items are kept
// whatever persist_items says: the last one must survive for
// send_last_published_item anyway. Both are dropped on AccountDeleted.
//
// Config [pep]: max_items (cap on a node's max_items and the meaning of
// "max", default 1000), max_item_size (default 128KB, at most 256KiB),
// max_nodes (per account, default 256).
package pep

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

// Namespaces.
const (
	NS               = "http://jabber.org/protocol/pubsub"
	NSOwner          = NS + "#owner"
	NSEvent          = NS + "#event"
	NSErrors         = NS + "#errors"
	NSPublishOptions = NS + "#publish-options"
	NSNodeConfig     = NS + "#node_config"
	nsData           = "jabber:x:data"
	nsCaps           = "http://jabber.org/protocol/caps"
	nsDiscoInfo      = "http://jabber.org/protocol/disco#info"
	nsDiscoItems     = "http://jabber.org/protocol/disco#items"
	nsDelay          = "urn:xmpp:delay"
)

// Defaults of the [pep] table.
const (
	DefaultMaxItems    = 1000
	DefaultMaxItemSize = 128 * config.KB
	DefaultMaxNodes    = 256
	// maxItemSizeLimit is what wire.Parse accepts when stored payloads are
	// read back.
	maxItemSizeLimit = 256 * config.KiB
)

// Config is the [pep] table. The zero value is invalid: use New's.
type Config struct {
	// MaxItems caps every node's max_items; "max" means this many.
	MaxItems int `toml:"max_items"`
	// MaxItemSize bounds one item's payload as serialised.
	MaxItemSize config.Size `toml:"max_item_size"`
	// MaxNodes bounds the nodes of one account.
	MaxNodes int `toml:"max_nodes"`
}

// Extension is the PEP service of every local account.
type Extension struct {
	// Config holds the defaults until Register decodes [pep] over it;
	// tests may change it before the server is built.
	Config Config

	srv   *xmppd.Server
	log   *slog.Logger
	db    *store.DB
	caps  *capsCache
	owner *ownerLocks

	bg xmppd.Background // caps queries / notifications in flight
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the PEP extension with the default configuration.
func New() *Extension {
	return &Extension{Config: Config{
		MaxItems:    DefaultMaxItems,
		MaxItemSize: DefaultMaxItemSize,
		MaxNodes:    DefaultMaxNodes,
	}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "pep" }

// accountFeatures are announced on every bare JID (XEP-0060 §10).
var accountFeatures = []string{
	NS,
	NS + "#publish",
	NS + "#publish-options",
	NS + "#retract-items",
	NS + "#retrieve-items",
	NS + "#delete-nodes",
	NS + "#purge-nodes",
	NS + "#auto-create",
	NS + "#create-nodes",
	NS + "#persistent-items",
	NS + "#item-ids",
	NS + "#last-published",
	NS + "#access-presence",
	NS + "#access-open",
	NS + "#access-whitelist",
	NS + "#config-node",
	NS + "#multi-items",
}

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("pep", &e.Config); err != nil {
		return err
	}
	if e.Config.MaxItems < 1 {
		return fmt.Errorf("pep.max_items must be at least 1, got %d", e.Config.MaxItems)
	}
	if e.Config.MaxItemSize <= 0 || e.Config.MaxItemSize > maxItemSizeLimit {
		return fmt.Errorf("pep.max_item_size must be between 1 and %s, got %s", maxItemSizeLimit, e.Config.MaxItemSize)
	}
	if e.Config.MaxNodes < 1 {
		return fmt.Errorf("pep.max_nodes must be at least 1, got %d", e.Config.MaxNodes)
	}
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.caps = newCapsCache(10000)
	e.owner = &ownerLocks{}

	for _, f := range accountFeatures {
		r.AccountFeature(f)
	}
	r.AccountIdentity(xmppd.Identity{Category: "pubsub", Type: "pep"})

	for _, h := range []struct {
		typ, ns, name string
		fn            xmppd.IQHandler
	}{
		{"get", NS, "pubsub", e.pubsubGet},
		{"set", NS, "pubsub", e.pubsubSet},
		{"get", NSOwner, "pubsub", e.ownerGet},
		{"set", NSOwner, "pubsub", e.ownerSet},
		{"get", nsDiscoItems, "query", e.discoItems},
	} {
		if err := r.HandleIQ(xmppd.TargetAccount, h.typ, h.ns, h.name, h.fn); err != nil {
			return err
		}
	}
	xmppd.Hook(r, xmppd.SessionBound, xmppd.PriorityDeliver, e.sessionBound)
	xmppd.Hook(r, xmppd.PresenceOut, xmppd.PriorityObserve, e.presenceOut)
	xmppd.Hook(r, xmppd.SessionInitialPresence, xmppd.PriorityDeliver, e.initialPresence)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// Stop waits for pending caps queries.
func (e *Extension) Stop(ctx context.Context) error {
	return e.bg.Stop(ctx)
}

// accountDeleted drops every node and item of the account.
func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	if err := e.deleteAccount(j.Bare()); err != nil {
		e.log.Error("dropping PEP nodes of deleted account failed", "jid", j.BareString(), "err", err)
	}
	return xmppd.Pass
}

// ownerLocks serialises changes to one account's nodes, so that the
// notifications of two concurrent publishes go out in commit order.
type ownerLocks struct {
	mu sync.Mutex
	m  map[xmppd.JID]*ownerLock
}

type ownerLock struct {
	sync.Mutex
	refs int
}

func (l *ownerLocks) lock(owner xmppd.JID) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[xmppd.JID]*ownerLock)
	}
	ol := l.m[owner]
	if ol == nil {
		ol = &ownerLock{}
		l.m[owner] = ol
	}
	ol.refs++
	l.mu.Unlock()
	ol.Lock()
	return func() {
		ol.Unlock()
		l.mu.Lock()
		ol.refs--
		if ol.refs == 0 {
			delete(l.m, owner)
		}
		l.mu.Unlock()
	}
}
