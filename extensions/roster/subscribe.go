package roster

import (
	"errors"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// outbound processes a subscription stanza a local client sent, on the
// sender's side (RFC 6121 §3.1.2, §3.1.5, §3.2.2, §3.3.2), then routes it
// stamped with the bare JIDs (the contact's side runs in presenceIn).
func (e *Extension) outbound(p *xmppd.Packet) {
	user, contact := p.From.Bare(), p.To.Bare()
	if user == contact {
		// A user always sees their own presence: nothing to subscribe to.
		return
	}
	var err error
	switch p.Type() {
	case "subscribe":
		err = e.outSubscribe(user, contact, p.Stanza)
	case "subscribed":
		err = e.outSubscribed(user, contact, p.Stanza)
	case "unsubscribe":
		err = e.outUnsubscribe(user, contact, p.Stanza)
	case "unsubscribed":
		err = e.outUnsubscribed(user, contact, p.Stanza)
	}
	if err != nil {
		var se stanza.Error
		if errors.As(err, &se) {
			e.srv.Bounce(p, se)
			return
		}
		e.log.Error("subscription processing failed", "type", p.Type(), "user", user.String(), "contact", contact.String(), "err", err)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Wait, stanza.InternalServerError, "the server could not process the subscription"))
	}
}

// outSubscribe: the user asks for the contact's presence (RFC 6121
// §3.1.2). The item gets ask='subscribe' unless the user already has, or
// already asked for, a subscription; the request is routed in any case.
func (e *Extension) outSubscribe(user, contact xmppd.JID, orig *wire.Stanza) error {
	err := e.mutate(user, func(t rtx) ([]push, error) {
		it, exists, err := t.get(user, contact)
		if err != nil {
			return nil, err
		}
		if exists && (it.Ask || hasTo(it.Sub)) {
			return nil, nil
		}
		if !exists {
			if n, err := t.count(user); err != nil {
				return nil, err
			} else if n >= e.cfg.MaxItems {
				return nil, xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint, "roster is full")
			}
		}
		it.Ask = true
		return t.save(user, contact, it)
	})
	if err != nil {
		return err
	}
	e.routeSub(user, contact, "subscribe", orig)
	return nil
}

// outSubscribed: the contact (here 'user') approves a pending request
// (RFC 6121 §3.1.5). Without a pending request it is ignored: this server
// does not offer pre-approval (§3.4).
func (e *Extension) outSubscribed(user, contact xmppd.JID, orig *wire.Stanza) error {
	approved := false
	err := e.mutate(user, func(t rtx) ([]push, error) {
		had, err := t.dropPending(user, contact)
		if err != nil || !had {
			return nil, err
		}
		it, _, err := t.get(user, contact)
		if err != nil {
			return nil, err
		}
		it.Sub = withFrom(it.Sub)
		approved = true
		return t.save(user, contact, it)
	})
	if err != nil || !approved {
		return err
	}
	e.routeSub(user, contact, "subscribed", orig)
	e.sendPresenceOf(user, contact)
	return nil
}

// outUnsubscribe: the user ends their subscription to the contact's
// presence, or withdraws a request (RFC 6121 §3.3.2).
func (e *Extension) outUnsubscribe(user, contact xmppd.JID, orig *wire.Stanza) error {
	err := e.mutate(user, func(t rtx) ([]push, error) {
		it, exists, err := t.get(user, contact)
		if err != nil || !exists || !(it.Ask || hasTo(it.Sub)) {
			return nil, err
		}
		it.Ask, it.Sub = false, withoutTo(it.Sub)
		return t.save(user, contact, it)
	})
	if err != nil {
		return err
	}
	e.routeSub(user, contact, "unsubscribe", orig)
	return nil
}

// outUnsubscribed: the contact (here 'user') cancels the user's
// subscription or declines a request (RFC 6121 §3.2.2). It is routed only
// if there was something to cancel; a cancelled subscriber also gets
// unavailable presence from the user's resources.
func (e *Extension) outUnsubscribed(user, contact xmppd.JID, orig *wire.Stanza) error {
	var hadPending, wasSubscribed bool
	err := e.mutate(user, func(t rtx) (pushes []push, err error) {
		pushes, hadPending, wasSubscribed, err = t.cancelFrom(user, contact)
		return pushes, err
	})
	if err != nil {
		return err
	}
	if hadPending || wasSubscribed {
		e.routeSub(user, contact, "unsubscribed", orig)
	}
	if wasSubscribed {
		e.sendUnavailableOf(user, contact)
	}
	return nil
}

// cancelFrom drops contact's pending request to owner, if any, and ends
// contact's subscription to owner's presence: the roster change both when
// owner sends unsubscribed (RFC 6121 §3.2.2) and when contact's
// unsubscribe reaches owner (§3.3.3). It reports whether there was a
// request and a subscription to cancel; pushes holds owner's changed item.
func (t rtx) cancelFrom(owner, contact xmppd.JID) (pushes []push, hadPending, wasSubscribed bool, err error) {
	if hadPending, err = t.dropPending(owner, contact); err != nil {
		return nil, false, false, err
	}
	it, exists, err := t.get(owner, contact)
	if err != nil || !exists || !hasFrom(it.Sub) {
		return nil, hadPending, false, err
	}
	it.Sub = withoutFrom(it.Sub)
	ver, err := t.put(owner, contact, it)
	if err != nil {
		return nil, hadPending, false, err
	}
	return []push{{contact: contact, item: &it, ver: ver}}, hadPending, true, nil
}

// routeSub routes a subscription stanza from a user's bare JID to a
// contact's bare JID: locally it reaches presenceIn (after any filter on
// PresenceIn). orig, when the user's client sent the stanza, keeps its
// children (status, nick); otherwise a bare stanza is generated.
func (e *Extension) routeSub(from, to xmppd.JID, typ string, orig *wire.Stanza) {
	var b []byte
	if orig != nil && orig.Type == typ {
		b = orig.Rewrite(nil, to.String(), from.String())
	} else {
		b = append(b, "<presence type='"...)
		b = append(b, typ...)
		b = append(b, "' from='"...)
		b = wire.AppendEscaped(b, from.String())
		b = append(b, "' to='"...)
		b = wire.AppendEscaped(b, to.String())
		b = append(b, "'/>"...)
	}
	st, err := wire.ParseStanza(b)
	if err != nil {
		e.log.Error("building subscription stanza failed", "type", typ, "from", from.String(), "err", err)
		return
	}
	e.srv.RoutePresence(xmppd.NewPacket(st, from, to))
}

// presenceIn processes subscription stanzas and probes addressed to a
// local account, on the recipient's side (RFC 6121 §3.1.3, §3.1.6, §3.2.3,
// §3.3.3, §4.3.2). Other presence passes to the core's delivery.
func (e *Extension) presenceIn(p *xmppd.Packet) xmppd.Verdict {
	switch p.Type() {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe":
	default:
		return xmppd.Pass
	}
	owner, from := p.To.Bare(), p.From.Bare()
	if owner == from {
		return xmppd.Done
	}
	if !e.srv.Accounts().Exists(owner.Local) {
		// Nobody can ever answer: tell the requester now, which also
		// clears its pending request.
		if p.Type() == "subscribe" {
			e.routeSub(owner, from, "unsubscribed", nil)
		}
		return xmppd.Done
	}
	var err error
	switch p.Type() {
	case "subscribe":
		err = e.inSubscribe(owner, from, p)
	case "subscribed":
		err = e.inSubscribed(owner, from, p)
	case "unsubscribe":
		err = e.inUnsubscribe(owner, from, p)
	case "unsubscribed":
		err = e.inUnsubscribed(owner, from, p)
	case "probe":
		if hasFrom(e.subscription(owner, from)) {
			e.sendPresenceOf(owner, p.From)
		}
	}
	if err != nil {
		e.log.Error("inbound subscription processing failed", "type", p.Type(), "user", owner.String(), "from", from.String(), "err", err)
	}
	return xmppd.Done
}

// inSubscribe: someone asks for owner's presence (RFC 6121 §3.1.3). If
// they are already subscribed the server approves on owner's behalf;
// otherwise the request is stored and delivered to owner's available
// resources now and at each later initial presence.
func (e *Extension) inSubscribe(owner, from xmppd.JID, p *xmppd.Packet) error {
	raw := p.Stanza.Rewrite(nil, owner.String(), from.String())
	var autoApprove, deliver bool
	err := e.mutate(owner, func(t rtx) ([]push, error) {
		it, exists, err := t.get(owner, from)
		if err != nil {
			return nil, err
		}
		if exists && hasFrom(it.Sub) {
			autoApprove = true
			return nil, nil
		}
		if t.hasPending(owner, from) {
			return nil, nil
		}
		deliver = true
		return nil, t.pending.Put(owner.String(), from.String(), raw)
	})
	if err != nil {
		return err
	}
	if autoApprove {
		e.routeSub(owner, from, "subscribed", nil)
		e.sendPresenceOf(owner, from)
	}
	if deliver {
		for _, s := range e.srv.Sessions(owner) {
			if s.Available() {
				s.Send(raw)
			}
		}
	}
	return nil
}

// inSubscribed: a contact approved owner's request (RFC 6121 §3.1.6).
// Only a pending request can be approved; anything else is ignored.
func (e *Extension) inSubscribed(owner, from xmppd.JID, p *xmppd.Packet) error {
	changed := false
	err := e.mutate(owner, func(t rtx) ([]push, error) {
		it, exists, err := t.get(owner, from)
		if err != nil || !exists || !it.Ask {
			return nil, err
		}
		it.Ask, it.Sub = false, withTo(it.Sub)
		changed = true
		return t.save(owner, from, it)
	}, func() {
		if changed {
			e.deliverInterested(owner, p.Stanza.Rewrite(nil, owner.String(), from.String()))
		}
	})
	return err
}

// inUnsubscribe: a subscriber of owner's presence unsubscribed, or
// withdrew a pending request (RFC 6121 §3.3.3). Owner's resources no
// longer owe it presence: it gets their unavailable presence.
func (e *Extension) inUnsubscribe(owner, from xmppd.JID, p *xmppd.Packet) error {
	var hadPending, wasSubscribed bool
	err := e.mutate(owner, func(t rtx) (pushes []push, err error) {
		pushes, hadPending, wasSubscribed, err = t.cancelFrom(owner, from)
		return pushes, err
	}, func() {
		if hadPending || wasSubscribed {
			e.deliverInterested(owner, p.Stanza.Rewrite(nil, owner.String(), from.String()))
		}
	})
	if err != nil {
		return err
	}
	if wasSubscribed {
		e.sendUnavailableOf(owner, from)
	}
	return nil
}

// inUnsubscribed: a contact cancelled owner's subscription or declined
// owner's request (RFC 6121 §3.2.3).
func (e *Extension) inUnsubscribed(owner, from xmppd.JID, p *xmppd.Packet) error {
	changed := false
	err := e.mutate(owner, func(t rtx) ([]push, error) {
		it, exists, err := t.get(owner, from)
		if err != nil || !exists || !(it.Ask || hasTo(it.Sub)) {
			return nil, err
		}
		it.Ask, it.Sub = false, withoutTo(it.Sub)
		changed = true
		return t.save(owner, from, it)
	}, func() {
		if changed {
			e.deliverInterested(owner, p.Stanza.Rewrite(nil, owner.String(), from.String()))
		}
	})
	return err
}

// deliverInterested sends a subscription stanza to owner's interested
// resources (RFC 6121 §3.1.6, §3.2.3, §3.3.3).
func (e *Extension) deliverInterested(owner xmppd.JID, b []byte) {
	for _, s := range e.srv.Sessions(owner) {
		if stateOf(s).isInterested() {
			s.Send(b)
		}
	}
}
