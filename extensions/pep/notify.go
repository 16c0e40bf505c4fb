package pep

import (
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// itemsEvent serialises <items node><item id>payload</item></items> in
// the pubsub#event namespace.
func itemsEvent(node string, items []item, payloads bool) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "<items node='"...)
	b = wire.AppendEscaped(b, node)
	b = append(b, "'>"...)
	for _, it := range items {
		b = append(b, "<item id='"...)
		b = wire.AppendEscaped(b, it.ID)
		b = append(b, '\'')
		if !payloads || it.Payload == "" {
			b = append(b, "/>"...)
			continue
		}
		b = append(b, '>')
		b = append(b, it.Payload...)
		b = append(b, "</item>"...)
	}
	return append(b, "</items>"...)
}

// eventMessage wraps an event child (items, delete, purge) in a headline
// message from the owner's bare JID (XEP-0163 §4.3.1). A non-zero stamp
// adds XEP-0203 <delay/>, for last items sent after the fact.
func (e *Extension) eventMessage(owner, to xmppd.JID, event []byte, stamp time.Time) []byte {
	b := make([]byte, 0, len(event)+256)
	b = append(b, "<message type='headline' from='"...)
	b = wire.AppendEscaped(b, owner.BareString())
	b = append(b, "' to='"...)
	b = wire.AppendEscaped(b, to.String())
	b = append(b, "' id='"...)
	b = append(b, e.srv.NextID()...)
	b = append(b, "'><event xmlns='"...)
	b = append(b, NSEvent...)
	b = append(b, "'>"...)
	b = append(b, event...)
	b = append(b, "</event>"...)
	if !stamp.IsZero() {
		b = append(b, "<delay xmlns='"+nsDelay+"' from='"...)
		b = wire.AppendEscaped(b, owner.BareString())
		b = append(b, "' stamp='"...)
		b = stamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, "'/>"...)
	}
	return append(b, "</message>"...)
}

// recipients returns the sessions that get notifications of owner's node:
// available resources of the owner and, unless whitelisted, of the
// owner's presence subscribers, that asked for <node>+notify.
func (e *Extension) recipients(owner xmppd.JID, node string, cfg nodeConfig) []*xmppd.Session {
	var out []*xmppd.Session
	add := func(bare xmppd.JID) {
		for _, s := range e.srv.Sessions(bare) {
			if s.Available() && wantsNotify(s, node) {
				out = append(out, s)
			}
		}
	}
	add(owner)
	if cfg.AccessModel == accessWhitelist {
		return out
	}
	ro := e.srv.Roster()
	if ro == nil {
		return out
	}
	for _, c := range ro.Subscribers(owner) {
		c = c.Bare()
		if c == owner || !e.srv.IsLocal(c) {
			continue
		}
		add(c)
	}
	return out
}

// notify sends an event to every recipient of owner's node.
func (e *Extension) notify(owner xmppd.JID, node string, cfg nodeConfig, event []byte, stamp time.Time) {
	for _, s := range e.recipients(owner, node, cfg) {
		s.Send(e.eventMessage(owner, s.JID(), event, stamp))
	}
}

// sendLastItems sends session s the last item of each of nodes, from its
// own account and from every contact whose PEP it would get notifications
// from (XEP-0163 §4.3.4: the contact is subscribed to s's presence, which
// is what makes the contact's service see s come online, and s may see
// the contact's presence).
func (e *Extension) sendLastItems(s *xmppd.Session, nodes []string) {
	if len(nodes) == 0 {
		return
	}
	me := s.Bare()
	owners := []xmppd.JID{me}
	if ro := e.srv.Roster(); ro != nil {
		for _, c := range ro.Subscribers(me) {
			c = c.Bare()
			if c != me && e.srv.IsLocal(c) && ro.HasSubscriber(c, me) {
				owners = append(owners, c)
			}
		}
	}
	type last struct {
		owner xmppd.JID
		node  string
		cfg   nodeConfig
		it    item
	}
	var out []last
	err := e.db.View(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		for _, o := range owners {
			for _, n := range nodes {
				rec, ok, err := t.node(o, n)
				if err != nil {
					return err
				}
				if !ok || len(rec.Items) == 0 || !rec.Config.Notify {
					continue
				}
				if rec.Config.SendLast != sendPresence || !e.canRead(o, me, rec.Config) {
					continue
				}
				it, ok, err := t.item(o, n, rec.Items[len(rec.Items)-1])
				if err != nil {
					return err
				}
				if ok {
					out = append(out, last{o, n, rec.Config, it})
				}
			}
		}
		return nil
	})
	if err != nil {
		e.log.Error("reading last PEP items failed", "jid", s.JID().String(), "err", err)
		return
	}
	for _, l := range out {
		s.Send(e.eventMessage(l.owner, s.JID(), itemsEvent(l.node, []item{l.it}, l.cfg.Payloads), l.it.Published))
	}
}
