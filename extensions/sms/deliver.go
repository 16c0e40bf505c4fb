package sms

import (
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// storeSeen holds the provider ids of inbound SMS already delivered, so a
// webhook the provider retries is not delivered twice.
const storeSeen = "sms.seen"

var errUnknownSMS = errors.New("no SMS with this id is waiting for a report")

// deliverInbound routes an inbound SMS to the user who last texted the
// number, else to sms.default_route, and returns where it went.
func (e *Extension) deliverInbound(in webhook) (xmppd.JID, error) {
	from := e.numberJID(in.From)
	if u, ok := e.contact(in.From); ok {
		return u, e.routeChat(from, u, in.Text)
	}
	dest := e.route
	switch {
	case dest.IsZero():
		return dest, fmt.Errorf("no user has texted %s and sms.default_route is not set", in.From)
	case e.srv.IsLocal(dest):
		if !e.srv.Accounts().Exists(dest.Local) {
			return dest, fmt.Errorf("sms.default_route %s is not an account", dest)
		}
		return dest, e.routeChat(from, dest, in.Text)
	}
	return dest, e.rooms.say(e, dest, in.From, in.Text)
}

// routeChat sends text from a number to a local user through the core's
// routing: archived, delivered, or kept offline.
func (e *Extension) routeChat(from, to xmppd.JID, text string) error {
	b := append(make([]byte, 0, 128+len(text)), "<message type='chat'"...)
	b = wire.AppendAttr(b, "id", e.srv.NextID())
	b = wire.AppendAttr(b, "from", from.String())
	b = wire.AppendAttr(b, "to", to.String())
	b = append(b, "><body>"...)
	b = wire.AppendEscaped(b, text)
	b = append(b, "</body></message>"...)
	return e.routeMessage(from, to, b)
}

func (e *Extension) routeMessage(from, to xmppd.JID, b []byte) error {
	st, err := wire.ParseStanza(b)
	if err != nil {
		return fmt.Errorf("building the message: %w", err)
	}
	p := xmppd.NewPacket(st, from, to)
	e.srv.RouteMessage(p)
	// Commit reports a failed store write (the archive) of the routed
	// packet again: then nothing was delivered and the provider should
	// retry.
	if !e.srv.Commit(p) {
		return fmt.Errorf("the message to %s could not be stored", to)
	}
	return nil
}

// report applies a delivery report to the SMS it names.
func (e *Extension) report(in webhook) error {
	final := false
	switch in.Status {
	case "delivered", "failed", "undelivered":
		final = true
	}
	rec, err := e.takeSent(in.ID, final)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownSMS, in.ID)
	}
	if err != nil {
		return err
	}
	sender, err := xmppd.ParseJID(rec.Sender)
	if err != nil {
		return fmt.Errorf("stored sender %q: %w", rec.Sender, err)
	}
	switch in.Status {
	case "delivered":
		e.log.Info("SMS delivered", "number", rec.Number, "provider_id", in.ID)
		if !rec.Receipt || rec.MsgID == "" {
			return nil // XEP-0184 §5.1: no receipt unless asked for
		}
		from, to := e.numberJID(rec.Number), e.reachable(sender)
		b := append(make([]byte, 0, 256), "<message"...)
		b = wire.AppendAttr(b, "id", e.srv.NextID())
		b = wire.AppendAttr(b, "from", from.String())
		b = wire.AppendAttr(b, "to", to.String())
		b = append(b, "><received xmlns='"+nsReceipts+"'"...)
		b = wire.AppendAttr(b, "id", rec.MsgID)
		b = append(b, "/></message>"...)
		return e.routeMessage(from, to, b)
	case "failed", "undelivered":
		text := "SMS to " + rec.Number + " was not delivered: the provider reported " + in.Status
		if in.ErrorCode != "" {
			text += " (error " + in.ErrorCode + ")"
		}
		e.log.Warn("SMS not delivered", "number", rec.Number, "provider_id", in.ID, "status", in.Status, "error", in.ErrorCode)
		b := append(make([]byte, 0, 128), "<message"...)
		b = wire.AppendAttr(b, "id", rec.MsgID)
		b = wire.AppendAttr(b, "to", rec.Number+"@"+e.domain)
		b = append(b, "/>"...)
		st, err := wire.ParseStanza(b)
		if err != nil {
			return err
		}
		e.srv.Bounce(e.replyPacket(st, sender, rec.Number), xmppd.StanzaError(stanza.Cancel, stanza.RecipientUnavailable, text))
	}
	return nil // queued, sent …: nothing to tell
}

// seen records an inbound SMS id and reports whether it was there before.
func (e *Extension) seen(id string) bool {
	dup := false
	err := e.db.Update(func(tx *store.Tx) error {
		kv := tx.KV(storeSeen)
		if _, err := kv.Get(id); err == nil {
			dup = true
			return nil
		}
		at, _ := time.Now().MarshalText()
		return kv.Put(id, at)
	})
	if err != nil {
		e.log.Error("recording an inbound SMS id failed", "provider_id", id, "err", err)
	}
	return dup
}

// unsee forgets an id whose SMS could not be delivered, so the provider's
// retry is taken.
func (e *Extension) unsee(id string) {
	if id == "" {
		return
	}
	if err := e.db.KV(storeSeen).Delete(id); err != nil {
		e.log.Error("forgetting an inbound SMS id failed", "provider_id", id, "err", err)
	}
}
