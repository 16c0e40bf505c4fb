package roster

import (
	"errors"
	"slices"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

var errForbidden = xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only the account owner may access the roster")

// handleGet answers a roster get (RFC 6121 §2.1.3) and marks the session
// as interested in roster pushes. With a current 'ver' the answer is an
// empty result (RFC 6121 §2.6.3): the client's cached copy is up to date.
func (e *Extension) handleGet(iq *xmppd.IQ) (*wire.Element, error) {
	owner := iq.To
	if iq.From.Bare() != owner {
		return nil, errForbidden
	}
	if len(iq.Payload.Children) > 0 {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "a roster get carries no items")
	}
	if iq.Session != nil {
		stateOf(iq.Session).setInterested()
	}
	ver, err := e.version(owner)
	if err != nil {
		return nil, err
	}
	if clientVer, ok := attr(iq.Payload, "ver"); ok && clientVer == ver {
		return nil, nil
	}
	jids, items, err := e.items(owner)
	if err != nil {
		return nil, err
	}
	q := wire.NewElement("query", NS, wire.Attr{Name: "ver", Value: ver})
	for i := range items {
		q.Append(items[i].element(jids[i]))
	}
	return q, nil
}

// attr reports an attribute's value and whether it is present at all: a
// roster get with an empty ver asks for versioning without a cached copy.
func attr(el *wire.Element, name string) (string, bool) {
	for _, a := range el.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// handleSet adds, updates or removes one roster item (RFC 6121 §2.3-§2.5).
func (e *Extension) handleSet(iq *xmppd.IQ) (*wire.Element, error) {
	owner := iq.To
	if iq.From.Bare() != owner {
		return nil, errForbidden
	}
	items := iq.Payload.Children
	if len(items) != 1 || items[0].Name != "item" || items[0].NS != NS {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "a roster set carries exactly one <item/>")
	}
	el := items[0]
	jidText, ok := attr(el, "jid")
	if !ok || jidText == "" {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "roster item without 'jid'")
	}
	contact, err := xmppd.ParseJID(jidText)
	if err != nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed roster item jid: "+jidText)
	}
	if contact.Resource != "" {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "roster items are bare JIDs: "+jidText)
	}
	if contact == owner {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.NotAllowed, "you cannot add yourself to your roster")
	}
	if el.Attr("subscription") == "remove" {
		return nil, e.removeItem(owner, contact)
	}
	// Any other 'subscription' and any 'ask' the client sends are ignored
	// (RFC 6121 §2.1.2.2, §2.1.2.5): only presence stanzas change them.
	name := el.Attr("name")
	if len(name) > maxNameLen {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, "item name too long")
	}
	var groups []string
	for _, g := range el.Children {
		if g.Name != "group" || g.NS != NS {
			continue
		}
		switch {
		case g.Text == "":
			return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, "empty group name")
		case len(g.Text) > maxNameLen:
			return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, "group name too long")
		case slices.Contains(groups, g.Text):
			return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "duplicate group: "+g.Text)
		}
		groups = append(groups, g.Text)
	}
	if len(groups) > maxGroups {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, "too many groups")
	}
	return nil, e.mutate(owner, func(t rtx) ([]push, error) {
		it, exists, err := t.get(owner, contact)
		if err != nil {
			return nil, err
		}
		if !exists {
			n, err := t.count(owner)
			if err != nil {
				return nil, err
			}
			if n >= e.cfg.MaxItems {
				return nil, xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint, "roster is full")
			}
		}
		it.Name, it.Groups = name, groups
		return t.save(owner, contact, it)
	})
}

var errItemNotFound = xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such roster item")

// removeItem deletes an item and ends the subscriptions in both
// directions (RFC 6121 §2.5.2): the contact gets unsubscribe if the user
// was subscribed (or asking), unsubscribed if the contact was subscribed
// (or asking), and unavailable presence from the user's resources.
func (e *Extension) removeItem(owner, contact xmppd.JID) error {
	var old item
	var hadPending bool
	err := e.mutate(owner, func(t rtx) ([]push, error) {
		it, exists, err := t.get(owner, contact)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, errItemNotFound
		}
		old = it
		if hadPending, err = t.dropPending(owner, contact); err != nil {
			return nil, err
		}
		ver, err := t.remove(owner, contact)
		if err != nil {
			return nil, err
		}
		return []push{{contact: contact, ver: ver}}, nil
	})
	if err != nil {
		var se stanza.Error
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	if hasTo(old.Sub) || old.Ask {
		e.routeSub(owner, contact, "unsubscribe", nil)
	}
	if hasFrom(old.Sub) || hadPending {
		e.routeSub(owner, contact, "unsubscribed", nil)
	}
	if hasFrom(old.Sub) {
		e.sendUnavailableOf(owner, contact)
	}
	return nil
}
