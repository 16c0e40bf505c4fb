// Package private implements XEP-0049 Private XML Storage
// (jabber:iq:private): a user keeps arbitrary XML fragments on the server,
// each keyed by its root element's name and namespace, readable only by
// the user.
//
// IQs (addressed to the own bare JID or without 'to'; for any other
// account: forbidden):
//
//   - set <query xmlns='jabber:iq:private'>fragment…</query>: stores each
//     child, replacing what was stored under the same name and namespace
//     (all or none). An empty element is stored too: that is how clients
//     clear their data. A set without a child is not-acceptable.
//   - get <query xmlns='jabber:iq:private'><name xmlns='ns'/></query>:
//     answers with the stored element, or the requested empty element when
//     nothing is stored (XEP-0049 §2, never item-not-found). Exactly one
//     child: none or more is bad-request.
//
// Fragments in the namespaces jabber:client, jabber:server and
// jabber:iq:private (including children that declare no namespace of
// their own) are refused with not-acceptable; so is a fragment larger than
// [private] max_size (default 64KiB) as serialised, and a set that would
// leave the account with more than [private] max_entries (default 100)
// fragments gets resource-constraint.
//
// Disco: the server domain announces jabber:iq:private.
//
// Store: Map "private/data" (owner bare JID → "{ns}name" → fragment XML,
// serialised from the parsed payload so it is self-contained whatever
// prefixes the client used). Dropped on AccountDeleted.
//
// No hooks besides AccountDeleted.
package private

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// NS is the XEP-0049 namespace.
const NS = "jabber:iq:private"

// storeData is the store name.
const storeData = "private/data"

// Defaults of the [private] table.
const (
	DefaultMaxSize    = 64 * config.KiB
	DefaultMaxEntries = 100
)

// Config is the [private] table.
type Config struct {
	// MaxSize bounds one stored fragment, serialised.
	MaxSize config.Size `toml:"max_size"`
	// MaxEntries bounds the fragments of one account.
	MaxEntries int `toml:"max_entries"`
}

// reserved are namespaces no fragment may use (XEP-0049 §3): storing
// stanza or storage elements themselves makes no sense and would only
// confuse readers of the data.
var reserved = map[string]bool{
	"jabber:client": true,
	"jabber:server": true,
	NS:              true,
}

// Extension stores private XML.
type Extension struct {
	// Config holds the defaults until Register decodes [private] over it;
	// tests may change it before the server is built.
	Config Config

	log *slog.Logger
	db  *store.DB
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the private storage extension.
func New() *Extension {
	return &Extension{Config: Config{MaxSize: DefaultMaxSize, MaxEntries: DefaultMaxEntries}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "private" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("private", &e.Config); err != nil {
		return err
	}
	if e.Config.MaxSize <= 0 {
		return fmt.Errorf("private.max_size must be larger than 0, got %s", e.Config.MaxSize)
	}
	if e.Config.MaxEntries < 1 {
		return fmt.Errorf("private.max_entries must be at least 1, got %d", e.Config.MaxEntries)
	}
	e.log = r.Logger()
	e.db = r.Store()
	r.Feature(NS)
	if err := r.HandleIQ(xmppd.TargetAccount, "get", NS, "query", e.get); err != nil {
		return err
	}
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "query", e.set); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// key identifies a fragment by its qualified name.
func key(el *wire.Element) string { return "{" + el.NS + "}" + el.Name }

var errForbidden = xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "private storage belongs to its owner alone")

// checkChild refuses fragments in reserved namespaces.
func checkChild(el *wire.Element) error {
	if reserved[el.NS] {
		return xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
			"<"+el.Name+"/> needs a namespace of its own, not "+el.NS)
	}
	return nil
}

func (e *Extension) get(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To.Bare() {
		return nil, errForbidden
	}
	if len(iq.Payload.Children) != 1 {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "ask for exactly one element")
	}
	want := iq.Payload.Children[0]
	if err := checkChild(want); err != nil {
		return nil, err
	}
	res := wire.NewElement("query", NS)
	b, err := e.db.Map(storeData).Get(iq.To.BareString(), key(want))
	if errors.Is(err, store.ErrNotFound) {
		return res.Append(wire.NewElement(want.Name, want.NS)), nil
	}
	if err != nil {
		return nil, err
	}
	el, err := wire.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("private data %s of %s unreadable: %w", key(want), iq.To.BareString(), err)
	}
	return res.Append(el), nil
}

func (e *Extension) set(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To.Bare() {
		return nil, errForbidden
	}
	if len(iq.Payload.Children) == 0 {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, "nothing to store")
	}
	type entry struct {
		key string
		xml []byte
	}
	var entries []entry
	for _, c := range iq.Payload.Children {
		if err := checkChild(c); err != nil {
			return nil, err
		}
		b := c.AppendXML(nil)
		if int64(len(b)) > int64(e.Config.MaxSize) {
			return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
				"<"+c.Name+" xmlns='"+c.NS+"'/> is larger than "+e.Config.MaxSize.String())
		}
		entries = append(entries, entry{key(c), b})
	}
	owner := iq.To.BareString()
	err := e.db.Update(func(tx *store.Tx) error {
		m := tx.Map(storeData)
		have := make(map[string]bool)
		if err := m.All(owner, func(k string, _ []byte) error {
			have[k] = true
			return nil
		}); err != nil {
			return err
		}
		for _, en := range entries {
			have[en.key] = true
			if err := m.Put(owner, en.key, en.xml); err != nil {
				return err
			}
		}
		if len(have) > e.Config.MaxEntries {
			return xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint,
				"private storage is limited to "+strconv.Itoa(e.Config.MaxEntries)+" elements per account")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nil, nil
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	if err := e.db.Map(storeData).DeleteOwner(j.BareString()); err != nil {
		e.log.Error("dropping private data of deleted account failed", "jid", j.BareString(), "err", err)
	}
	return xmppd.Pass
}
