// Package push implements XEP-0357 Push Notifications (urn:xmpp:push:0)
// on the user's server, honouring the XEP-0492 chat notification settings
// (urn:xmpp:notification-settings:1) the user keeps in XEP-0402 bookmarks.
//
// Registrations: IQ set <enable jid node/> (xmppd.TargetAccount, a client
// of the account for itself, else not-allowed) with an optional
// publish-options data form (FORM_TYPE
// http://jabber.org/protocol/pubsub#publish-options) that is passed to the
// app server with every notification. xmppd's own boolean field
// x-xmppd#include-body in that form is the user's consent to put message
// bodies into notifications; it is taken out before forwarding. A
// registration belongs to the resource that enabled it (the device); the
// same jid and node again replace it. <disable jid [node]/> removes one, or
// every registration at that jid.
//
// Triggers: a handler on xmppd.MessageToAccount and xmppd.MessageToFull at
// xmppd.PriorityCount (after the archive, so what is pushed about is
// already in MAM; always Pass) looks at every chat or normal message with
// a <body/> (or an OMEMO payload) from someone else. For each registration
// of the recipient whose device has no available session — the device is
// offline even if another resource of the user is online, as in Prosody's
// mod_cloud_notify — and unless the conversation's notification setting
// forbids it, it publishes to the app server, from the user's bare JID:
//
//	<iq type='set' to='app server'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
//	  <publish node='node'><item><notification xmlns='urn:xmpp:push:0'>
//	    <x xmlns='jabber:x:data' type='submit'> FORM_TYPE urn:xmpp:push:summary,
//	      message-count, last-message-sender, last-message-body (consented only)
//	  </x></notification></item></publish>
//	  <publish-options>the form given at enable</publish-options>
//	</pubsub></iq>
//
// message-count counts the notifications of that registration since its
// device last came online (hook xmppd.SessionInitialPresence resets it; the
// counter is in memory, a restart starts it again at 1). Publishes run on
// their own goroutines, never on the sender's. An app server answering
// with an error other than type 'wait' disables that registration
// (XEP-0357 §7); a timeout or 'wait' keeps it. Without federation, only an
// app server that is a component of this server (Registrar.HandleDomain)
// is reached; others are skipped.
//
// Stream management: a hibernating session (XEP-0198, connection lost,
// waiting for a resume) counts as offline (deviceOnline).
//
// Group chat: a handler on xmppd.RoomMessage (run by the MUC service for
// every archived group chat message with a body) looks at every member and
// occupant of the room but the sender, on a goroutine of its own. The rule
// is the 1:1 one: each registration whose device has no available,
// non-hibernating session gets a notification (last-message-sender = the
// room's JID), whether or not another of the user's sessions is in the
// room, unless the user's setting for the room says no.
//
// Notification settings (XEP-0492): a handler on xmppd.PEPPublished reads
// the <notify/> element in the <extensions/> of every bookmark the user
// publishes on urn:xmpp:bookmarks:1 (item id = the room's JID) and keeps,
// per conversation, the setting for this server's notifications: the
// element most specific to identity client/phone (type and category, then
// category, then the fallback without attributes), per XEP-0492 §3.
// Retracting the bookmark, or deleting or purging the node, drops them.
// Without a setting a 1:1 chat notifies always (XEP-0492's default).
// "never" sends nothing; "on-mention" lets a 1:1 message through (it is
// addressed to the user) and, for group chat, only messages whose
// RoomMessageEvent.Mentions (found by the MUC service: references,
// XEP-0513 mentions, @all) names the user. Without a setting a room notifies always
// too (XEP-0492 would default public rooms to on-mention; not yet). Muting
// (never) only stops pushes: the inbox still counts unread messages.
//
// Stores: Map "push.registrations" (owner bare JID → app server JID NUL
// node → JSON) and Map "push.settings" (owner → conversation JID →
// setting); both dropped on xmppd.AccountDeleted. Disco: urn:xmpp:push:0 on
// every account's bare JID (XEP-0357 §5).
//
// Config [push]: allow_body (default true: users may consent to bodies in
// notifications; false never sends them), max_body (bytes of body sent,
// default 512) and timeout (how long to wait for the app server, default
// "30s").
package push

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS               = "urn:xmpp:push:0"
	NSSummary        = "urn:xmpp:push:summary"
	NSPubsub         = "http://jabber.org/protocol/pubsub"
	NSPublishOptions = NSPubsub + "#publish-options"
	// FieldIncludeBody is xmppd's enable form field for the user's consent
	// to message bodies in notifications.
	FieldIncludeBody = "x-xmppd#include-body"

	nsClient  = "jabber:client"
	nsOMEMO   = "eu.siacs.conversations.axolotl"
	nsOMEMO2  = "urn:xmpp:omemo:2"
	storeRegs = "push.registrations"
)

// Config is the [push] table.
type Config struct {
	AllowBody bool            `toml:"allow_body"`
	MaxBody   int             `toml:"max_body"`
	Timeout   config.Duration `toml:"timeout"`
}

// Extension sends push notifications for offline devices.
type Extension struct {
	Config Config

	srv      *xmppd.Server
	log      *slog.Logger
	db       *store.DB
	regs     *store.Map
	settings *store.Map

	mu     sync.Mutex
	counts map[string]int // owner NUL registration key -> notifications since online

	bg xmppd.Background // caps queries / notifications in flight
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the push extension with its default configuration.
func New() *Extension {
	return &Extension{Config: Config{AllowBody: true, MaxBody: 512, Timeout: config.Duration{Duration: 30 * time.Second}}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "push" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("push", &e.Config); err != nil {
		return err
	}
	if e.Config.MaxBody < 0 {
		return fmt.Errorf("push.max_body must be 0 or more, got %d", e.Config.MaxBody)
	}
	if e.Config.Timeout.Duration <= 0 {
		return fmt.Errorf("push.timeout must be positive, got %s", e.Config.Timeout.Duration)
	}
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.regs = e.db.Map(storeRegs)
	e.settings = r.Store().Map(storeSettings)
	e.counts = make(map[string]int)

	r.AccountFeature(NS)
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "enable", e.handleEnable); err != nil {
		return err
	}
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "disable", e.handleDisable); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityCount, e.message)
	xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityCount, e.message)
	xmppd.Hook(r, xmppd.RoomMessage, xmppd.PriorityCount, e.roomMessage)
	xmppd.Hook(r, xmppd.SessionInitialPresence, xmppd.PriorityDeliver, e.deviceOnlineAgain)
	xmppd.Hook(r, xmppd.PEPPublished, xmppd.PriorityObserve, e.bookmarkChanged)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// Stop waits for notifications in flight.
func (e *Extension) Stop(ctx context.Context) error {
	return e.bg.Stop(ctx)
}

// registration is one enabled app server of one device.
type registration struct {
	JID      string `json:"jid"`
	Node     string `json:"node,omitempty"`
	Resource string `json:"resource"`
	Options  string `json:"options,omitempty"` // publish-options <x/>, xmppd's fields removed
	Body     bool   `json:"body,omitempty"`
}

func (g registration) key() string { return g.JID + "\x00" + g.Node }

func (e *Extension) registrations(owner string) ([]registration, error) {
	var out []registration
	err := e.regs.All(owner, func(k string, v []byte) error {
		var g registration
		if err := json.Unmarshal(v, &g); err != nil {
			e.log.Error("skipping corrupt push registration", "owner", owner, "key", k, "err", err)
			return nil
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func ownDevice(iq *xmppd.IQ) error {
	if iq.Session == nil || iq.To != iq.From.Bare() {
		return xmppd.StanzaError(stanza.Cancel, stanza.NotAllowed, "push is enabled by a client of the account for itself")
	}
	return nil
}

func appServer(el *wire.Element) (xmppd.JID, error) {
	s := el.Attr("jid")
	if s == "" {
		return xmppd.JID{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "the app server jid is missing")
	}
	j, err := xmppd.ParseJID(s)
	if err != nil {
		return xmppd.JID{}, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed app server jid: "+s)
	}
	return j, nil
}

// parseEnable reads an <enable/> (XEP-0357 §5) from the client on
// resource: the app server, the node and the publish-options form, which
// the app server gets as the client wrote it, only xmppd's own field
// (x-xmppd#include-body, the consent to bodies) taken out.
func parseEnable(el *wire.Element, resource string) (registration, error) {
	app, err := appServer(el)
	if err != nil {
		return registration{}, err
	}
	g := registration{JID: app.String(), Node: el.Attr("node"), Resource: resource}
	if x := el.Child("x", dataform.NS); x != nil {
		form := dataform.Parse(x)
		if form.HasFormType && form.FormType != NSPublishOptions {
			return registration{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "the enable form's FORM_TYPE must be "+NSPublishOptions)
		}
		if vals := form.Values(FieldIncludeBody); len(vals) > 0 {
			g.Body, _ = dataform.ParseBool(vals[0])
		}
		opts := dataform.New("submit", "")
		for _, f := range x.ChildrenNamed("field", dataform.NS) {
			if f.Attr("var") != FieldIncludeBody {
				opts.Append(f)
			}
		}
		if el := opts.Element(); len(el.Children) > 1 {
			g.Options = el.String()
		}
	}
	return g, nil
}

func (e *Extension) handleEnable(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownDevice(iq); err != nil {
		return nil, err
	}
	g, err := parseEnable(iq.Payload, iq.From.Resource)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	owner := iq.To.String()
	if err := e.regs.Put(owner, g.key(), raw); err != nil {
		return nil, err
	}
	e.resetCount(owner, g.key())
	return nil, nil
}

func (e *Extension) handleDisable(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownDevice(iq); err != nil {
		return nil, err
	}
	app, err := appServer(iq.Payload)
	if err != nil {
		return nil, err
	}
	owner := iq.To.String()
	node := iq.Payload.Attr("node")
	regs, err := e.registrations(owner)
	if err != nil {
		return nil, err
	}
	for _, g := range regs {
		if g.JID == app.String() && (node == "" || g.Node == node) {
			if err := e.regs.Delete(owner, g.key()); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	owner := j.BareString()
	for _, m := range []*store.Map{e.regs, e.settings} {
		if err := m.DeleteOwner(owner); err != nil {
			e.log.Error("deleting push data failed", "jid", owner, "err", err)
		}
	}
	e.mu.Lock()
	for k := range e.counts {
		if len(k) > len(owner) && k[:len(owner)] == owner && k[len(owner)] == 0 {
			delete(e.counts, k)
		}
	}
	e.mu.Unlock()
	return xmppd.Pass
}
