package mam

import (
	"encoding/json"
	"errors"
	"slices"

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

func (e *Extension) loadPrefs(owner string) (prefs, error) {
	raw, err := e.prefs.Get(owner, prefsItem)
	if errors.Is(err, store.ErrNotFound) {
		return prefs{Default: "always"}, nil
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
	p, err := e.loadPrefs(owner.String())
	if err != nil {
		// Archive rather than silently lose history over a bad record.
		e.log.Error("reading archive preferences failed", "owner", owner.String(), "err", err)
		return true
	}
	bare := contact.BareString()
	switch {
	case slices.Contains(p.Never, bare):
		return false
	case slices.Contains(p.Always, bare):
		return true
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
	p, err := e.loadPrefs(iq.To.BareString())
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
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := e.prefs.Put(iq.To.BareString(), prefsItem, raw); err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}
