package mam

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// prefs are one user's archiving preferences.
type prefs struct {
	Default string   `json:"default"` // always, never, roster
	Always  []string `json:"always,omitempty"`
	Never   []string `json:"never,omitempty"`
}

const prefsItem = "prefs"

// prefsCache keeps every user's preferences in memory once read: the
// archive consults them twice per message, and they change only by the
// owner's set (or the account's deletion), both of which go through
// here, under mu, store first. A miss loads under mu too, so a load can
// never put back what a concurrent set just replaced.
type prefsCache struct {
	mu    sync.RWMutex
	byJID map[bareKey]prefs
}

// bareKey is a bare JID as a map key without building its string.
type bareKey struct{ local, domain string }

func keyOf(j xmppd.JID) bareKey { return bareKey{j.Local, j.Domain} }

var defaultPrefs = prefs{Default: "always"}

// prefsOf returns owner's preferences, from memory when it can.
func (e *Extension) prefsOf(owner xmppd.JID) (prefs, error) {
	c := &e.prefsCache
	k := keyOf(owner)
	c.mu.RLock()
	p, ok := c.byJID[k]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.byJID[k]; ok {
		return p, nil
	}
	p, err := e.loadPrefs(owner.BareString())
	if err != nil {
		return prefs{}, err
	}
	if c.byJID == nil {
		c.byJID = make(map[bareKey]prefs)
	}
	c.byJID[k] = p
	return p, nil
}

// setPrefs stores owner's preferences (nil: deletes them) and the cache.
func (e *Extension) setPrefs(owner xmppd.JID, p *prefs) error {
	c := &e.prefsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byJID, keyOf(owner))
	if p == nil {
		return e.prefs.DeleteOwner(owner.BareString())
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return e.prefs.Put(owner.BareString(), prefsItem, raw)
}

func (e *Extension) loadPrefs(owner string) (prefs, error) {
	raw, err := e.prefs.Get(owner, prefsItem)
	if errors.Is(err, store.ErrNotFound) {
		return defaultPrefs, nil
	}
	if err != nil {
		return prefs{}, err
	}
	var p prefs
	if err := json.Unmarshal(raw, &p); err != nil {
		return prefs{}, err
	}
	return p, nil
}

// shouldArchive applies owner's preferences to a conversation with
// contact.
func (e *Extension) shouldArchive(owner, contact xmppd.JID) bool {
	p, err := e.prefsOf(owner)
	if err != nil {
		// Archive rather than silently lose history over a bad record.
		e.log.Error("reading archive preferences failed", "owner", owner.String(), "err", err)
		return true
	}
	if len(p.Never) > 0 || len(p.Always) > 0 {
		bare := contact.BareString()
		switch {
		case slices.Contains(p.Never, bare):
			return false
		case slices.Contains(p.Always, bare):
			return true
		}
	}
	switch p.Default {
	case "never":
		return false
	case "roster":
		ro := e.srv.Roster()
		if ro == nil {
			return false
		}
		b := contact.Bare()
		return ro.HasSubscriber(owner, b) || e.srv.IsLocal(b) && b.Local != "" && ro.HasSubscriber(b, owner)
	}
	return true
}

func (e *Extension) ownerOnly(iq *xmppd.IQ) error {
	if iq.From.Bare() != iq.To.Bare() {
		return xmppd.StanzaError(stanza.Cancel, stanza.Forbidden, "only the owner may access this archive")
	}
	return nil
}

func prefsElement(p prefs) *wire.Element {
	el := wire.NewElement("prefs", NS).SetAttr("default", p.Default)
	for _, l := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		list := wire.NewElement(l.name, NS)
		for _, j := range l.jids {
			list.Append(wire.NewElement("jid", NS).SetText(j))
		}
		el.Append(list)
	}
	return el
}

func (e *Extension) handlePrefsGet(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	p, err := e.prefsOf(iq.To.Bare())
	if err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}

// parsePrefs reads a <prefs/> set (XEP-0313 §6 of v0.6): the default and
// the always/never lists, as bare JIDs without duplicates; a JID in both
// lists is never archived.
func parsePrefs(el *wire.Element) (prefs, error) {
	p := prefs{Default: el.Attr("default")}
	switch p.Default {
	case "always", "never", "roster":
	default:
		return prefs{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "default must be always, never or roster")
	}
	for _, l := range []struct {
		name string
		dst  *[]string
	}{{"always", &p.Always}, {"never", &p.Never}} {
		list := el.Child(l.name, NS)
		if list == nil {
			continue
		}
		for _, j := range list.ChildrenNamed("jid", NS) {
			jid, err := xmppd.ParseJID(j.Text)
			if err != nil {
				return prefs{}, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed JID in "+l.name+": "+j.Text)
			}
			if s := jid.BareString(); !slices.Contains(*l.dst, s) {
				*l.dst = append(*l.dst, s)
			}
		}
	}
	// A JID in both lists is never archived: the safer reading.
	p.Always = slices.DeleteFunc(p.Always, func(s string) bool { return slices.Contains(p.Never, s) })
	return p, nil
}

func (e *Extension) handlePrefsSet(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	p, err := parsePrefs(iq.Payload)
	if err != nil {
		return nil, err
	}
	if err := e.setPrefs(iq.To.Bare(), &p); err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}
