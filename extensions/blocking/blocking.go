// Package blocking implements XEP-0191 Blocking Command (urn:xmpp:blocking).
//
// IQs on the user's own account (no 'to', or the user's bare JID; anyone
// else gets forbidden):
//
//   - get <blocklist/>: the list; the session is then "interested" and
//     gets block and unblock pushes (§3.2, §3.3);
//   - set <block><item jid/>…</block>: at least one item (else
//     bad-request), every jid valid (else jid-malformed, nothing changes);
//   - set <unblock><item jid/>…</unblock>, or <unblock/> for all.
//
// After a change every interested session of the user gets a push with
// the items of the request. Newly blocked JIDs first get unavailable
// presence from each of the user's available resources (§3.3); unblocked
// contacts subscribed to the user's presence get the current presence of
// each available resource again (§3.4, needs the roster service).
//
// Enforcement (§3.3, §3.5), all at xmppd.PriorityFilter. A blocklist item
// matches a peer as in XEP-0191 §3.4 / XEP-0016 (Prosody semantics): the
// peer's full JID, bare JID, domain/resource or domain is listed. The
// user's own account and the server's domain are never blocked.
//
//   - outbound (MessageOut, IQOut, PresenceOut): a message or IQ get/set
//     to a blocked JID is answered with not-acceptable plus
//     <blocked xmlns='urn:xmpp:blocking:errors'/>; presence, IQ results
//     and errors are dropped;
//   - inbound from a blocked JID (MessageToAccount, MessageToFull,
//     PresenceIn, xmppd.IQToFull, and IQOut for IQs a local user sends to
//     the user's bare JID): chat/normal messages and IQ get/set bounce with
//     service-unavailable, everything else is dropped. PresenceIn also
//     drops presence a local user's blocked contact would get from the
//     server on the user's behalf (roster broadcasts and probe answers are
//     routed through it).
//
// Disco: the server domain announces urn:xmpp:blocking.
//
// Store: Map "blocking.items" (owner: bare JID; key: the item's normalised
// JID; value: the time it was blocked), cached in memory per user, dropped
// on xmppd.AccountDeleted. No configuration.
package blocking

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

const storeName = "blocking.items"

// Extension is the XEP-0191 service.
type Extension struct {
	log   *slog.Logger
	srv   *xmppd.Server
	db    *store.DB
	items *store.Map

	// writeMu serialises changes, so the cache is replaced in commit order.
	writeMu sync.Mutex
	mu      sync.RWMutex
	cache   map[xmppd.JID]blocklist // bare JID → its list; lists are never modified
}

// blocklist is a set of normalised JID strings.
type blocklist map[string]struct{}

// interestedKey marks a session that requested the blocklist.
type interestedKey struct{}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the blocking extension.
func New() *Extension { return &Extension{cache: make(map[xmppd.JID]blocklist)} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "blocking" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.log = r.Logger()
	e.srv = r.Server()
	e.db = r.Store()
	e.items = r.Store().Map(storeName)
	r.Feature(NS)
	for _, h := range []struct {
		typ, name string
		fn        xmppd.IQHandler
	}{
		{"get", "blocklist", e.getList},
		{"set", "block", e.block},
		{"set", "unblock", e.unblock},
	} {
		if err := r.HandleIQ(xmppd.TargetAccount, h.typ, NS, h.name, h.fn); err != nil {
			return err
		}
	}
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityFilter, e.outbound)
	xmppd.Hook(r, xmppd.IQOut, xmppd.PriorityFilter, e.iqOut)
	xmppd.Hook(r, xmppd.PresenceOut, xmppd.PriorityFilter, e.presenceOut)
	xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityFilter, e.inbound)
	xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityFilter, e.inbound)
	xmppd.Hook(r, xmppd.IQToFull, xmppd.PriorityFilter, e.inbound)
	xmppd.Hook(r, xmppd.PresenceIn, xmppd.PriorityFilter, e.presenceIn)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// --- matching ---

// matches reports whether peer is on the list (XEP-0191 §3.4 via XEP-0016
// §2.1: full JID, bare JID, domain/resource, domain).
func (l blocklist) matches(peer xmppd.JID) bool {
	if len(l) == 0 {
		return false
	}
	candidates := [4]string{peer.String()}
	if peer.Local != "" && peer.Resource != "" {
		candidates[1] = peer.BareString()
		candidates[2] = xmppd.JID{Domain: peer.Domain, Resource: peer.Resource}.String()
	}
	if peer.Local != "" || peer.Resource != "" {
		candidates[3] = peer.Domain
	}
	for _, c := range candidates {
		if _, ok := l[c]; ok && c != "" {
			return true
		}
	}
	return false
}

// list returns user's blocklist, loading it on first use.
func (e *Extension) list(user xmppd.JID) (blocklist, error) {
	e.mu.RLock()
	l, ok := e.cache[user]
	e.mu.RUnlock()
	if ok {
		return l, nil
	}
	l = blocklist{}
	err := e.items.All(user.String(), func(k string, _ []byte) error {
		l[k] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	// A change committed meanwhile has already put the newer list here.
	if cur, ok := e.cache[user]; ok {
		l = cur
	} else {
		e.cache[user] = l
	}
	e.mu.Unlock()
	return l, nil
}

// blocks reports whether local account user has blocked peer. On a store
// error it fails open (logged): losing all traffic is worse.
func (e *Extension) blocks(user, peer xmppd.JID) bool {
	if peer.IsZero() || user.Local == "" || !e.srv.IsLocal(user) || peer.Bare() == user ||
		peer == (xmppd.JID{Domain: e.srv.Domain()}) {
		return false
	}
	l, err := e.list(user)
	if err != nil {
		e.log.Error("reading blocklist failed", "jid", user.String(), "err", err)
		return false
	}
	return l.matches(peer)
}

// --- enforcement ---

// outbound handles messages (and IQs, via iqOut) a user sends to a JID
// the user blocked.
func (e *Extension) outbound(p *xmppd.Packet) xmppd.Verdict {
	if p.Origin == nil || !e.blocks(p.From.Bare(), p.To) {
		return xmppd.Pass
	}
	switch p.Type() {
	case "error", "result":
		return xmppd.Done
	}
	p.Origin.Send(blockedError(p))
	return xmppd.Done
}

func (e *Extension) iqOut(p *xmppd.Packet) xmppd.Verdict {
	if e.outbound(p) == xmppd.Done {
		return xmppd.Done
	}
	// IQs to a bare JID are answered by the server on the account's
	// behalf; no later hook point sees them, so inbound blocking is here.
	if p.To.Resource == "" {
		return e.inbound(p)
	}
	return xmppd.Pass
}

func (e *Extension) presenceOut(p *xmppd.Packet) xmppd.Verdict {
	if p.Origin == nil || p.Stanza.To == "" || !e.blocks(p.From.Bare(), p.To) {
		return xmppd.Pass
	}
	return xmppd.Done
}

// inbound handles a message or IQ addressed to a user who blocked its
// sender.
func (e *Extension) inbound(p *xmppd.Packet) xmppd.Verdict {
	if !e.blocks(p.To.Bare(), p.From) {
		return xmppd.Pass
	}
	bounce := false
	switch p.Kind() {
	case "message":
		bounce = p.Type() == "" || p.Type() == "chat" || p.Type() == "normal"
	case "iq":
		bounce = p.Type() == "get" || p.Type() == "set"
	}
	if bounce {
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, ""))
	}
	return xmppd.Done
}

func (e *Extension) presenceIn(p *xmppd.Packet) xmppd.Verdict {
	if e.blocks(p.To.Bare(), p.From) || e.blocks(p.From.Bare(), p.To) {
		return xmppd.Done
	}
	return xmppd.Pass
}

// blockedError answers p with not-acceptable and the XEP-0191 §3.5
// application condition (which the core's StanzaError cannot carry).
func blockedError(p *xmppd.Packet) []byte {
	st := p.Stanza
	b := make([]byte, 0, len(st.Raw)+320)
	b = append(b, '<')
	b = append(b, st.Name...)
	b = append(b, " type='error'"...)
	if st.ID != "" {
		b = wire.AppendAttr(b, "id", st.ID)
	}
	b = wire.AppendAttr(b, "to", p.From.String())
	b = wire.AppendAttr(b, "from", p.To.String())
	b = append(b, '>')
	for _, c := range st.Children {
		if c.Name != "error" {
			b = append(b, st.ChildBytes(c)...)
		}
	}
	b = append(b, "<error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"+
		"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>You have blocked this JID</text>"+
		"<blocked xmlns='urn:xmpp:blocking:errors'/></error></"...)
	b = append(b, st.Name...)
	return append(b, '>')
}

// --- IQ handlers ---

var errForbidden = xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only the account's owner manages its blocklist")

func (e *Extension) getList(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To {
		return nil, errForbidden
	}
	l, err := e.list(iq.To)
	if err != nil {
		return nil, err
	}
	if iq.Session != nil {
		iq.Session.SetValue(interestedKey{}, true)
	}
	res := wire.NewElement("blocklist", NS)
	for _, j := range sortedKeys(l) {
		res.Append(wire.NewElement("item", NS, wire.Attr{Name: "jid", Value: j}))
	}
	return res, nil
}

func sortedKeys(l blocklist) []string {
	out := make([]string, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parseItems returns the normalised JIDs of the payload's items, in order
// and without duplicates.
func parseItems(payload *wire.Element) ([]xmppd.JID, error) {
	var out []xmppd.JID
	for _, it := range payload.ChildrenNamed("item", NS) {
		s := it.Attr("jid")
		j, err := xmppd.ParseJID(s)
		if err != nil {
			return nil, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, fmt.Sprintf("item jid %q is not a valid JID", s))
		}
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (e *Extension) block(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To {
		return nil, errForbidden
	}
	items, err := parseItems(iq.Payload)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "a block request needs at least one item")
	}
	user := iq.To
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	old, err := e.list(user)
	if err != nil {
		return nil, err
	}
	var added []xmppd.JID
	for _, j := range items {
		if _, ok := old[j.String()]; !ok {
			added = append(added, j)
		}
	}
	// Unavailable presence goes out before the block is in place, so it
	// passes the PresenceIn filter and the contact's own filters apply.
	for _, j := range added {
		e.sendUnavailable(user, j)
	}
	next := cloneList(old)
	stamp := []byte(time.Now().UTC().Format(time.RFC3339))
	err = e.db.Update(func(tx *store.Tx) error {
		m := tx.Map(storeName)
		for _, j := range added {
			if err := m.Put(user.String(), j.String(), stamp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, j := range added {
		next[j.String()] = struct{}{}
	}
	e.setList(user, next)
	e.push(user, "block", items)
	return nil, nil
}

func (e *Extension) unblock(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To {
		return nil, errForbidden
	}
	items, err := parseItems(iq.Payload)
	if err != nil {
		return nil, err
	}
	user := iq.To
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	old, err := e.list(user)
	if err != nil {
		return nil, err
	}
	var removed []xmppd.JID
	if len(items) == 0 {
		for _, k := range sortedKeys(old) {
			if j, err := xmppd.ParseJID(k); err == nil {
				removed = append(removed, j)
			}
		}
		err = e.items.DeleteOwner(user.String())
	} else {
		for _, j := range items {
			if _, ok := old[j.String()]; ok {
				removed = append(removed, j)
			}
		}
		err = e.db.Update(func(tx *store.Tx) error {
			m := tx.Map(storeName)
			for _, j := range removed {
				if err := m.Delete(user.String(), j.String()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	next := blocklist{}
	if len(items) > 0 {
		next = cloneList(old)
		for _, j := range removed {
			delete(next, j.String())
		}
	}
	e.setList(user, next)
	e.push(user, "unblock", items)
	for _, j := range removed {
		e.resendPresence(user, j)
	}
	return nil, nil
}

func cloneList(l blocklist) blocklist {
	out := make(blocklist, len(l)+1)
	for k := range l {
		out[k] = struct{}{}
	}
	return out
}

func (e *Extension) setList(user xmppd.JID, l blocklist) {
	e.mu.Lock()
	e.cache[user] = l
	e.mu.Unlock()
}

// push sends <block/> or <unblock/> with items to every session of user
// that requested the blocklist (XEP-0191 §3.3, §3.4).
func (e *Extension) push(user xmppd.JID, name string, items []xmppd.JID) {
	el := wire.NewElement(name, NS)
	for _, j := range items {
		el.Append(wire.NewElement("item", NS, wire.Attr{Name: "jid", Value: j.String()}))
	}
	payload := el.AppendXML(nil)
	for _, s := range e.srv.Sessions(user) {
		if v, _ := s.Value(interestedKey{}).(bool); !v {
			continue
		}
		b := make([]byte, 0, len(payload)+128)
		b = append(b, "<iq type='set'"...)
		b = wire.AppendAttr(b, "id", e.srv.NextID())
		b = wire.AppendAttr(b, "to", s.JID().String())
		b = append(b, '>')
		b = append(b, payload...)
		b = append(b, "</iq>"...)
		s.Send(b)
	}
}

// sendUnavailable routes unavailable presence from each of user's
// available resources to a newly blocked JID.
func (e *Extension) sendUnavailable(user, to xmppd.JID) {
	for _, s := range e.srv.Sessions(user) {
		if !s.Available() {
			continue
		}
		b := []byte("<presence type='unavailable'/>")
		b = appendAttrs(b, to, s.JID())
		e.route(b, s.JID(), to)
	}
}

// resendPresence gives an unblocked contact subscribed to user's presence
// the current presence of each of user's available resources.
func (e *Extension) resendPresence(user, contact xmppd.JID) {
	ro := e.srv.Roster()
	if ro == nil || contact.Local == "" || !ro.HasSubscriber(user, contact.Bare()) {
		return
	}
	for _, s := range e.srv.Sessions(user) {
		b := s.Presence()
		if b == nil {
			continue
		}
		st, err := wire.ParseStanza(b)
		if err != nil {
			e.log.Error("re-parsing presence failed", "jid", s.JID().String(), "err", err)
			continue
		}
		e.route(st.Rewrite(nil, contact.String(), s.JID().String()), s.JID(), contact)
	}
}

// appendAttrs turns "<presence …/>" into one with to and from set.
func appendAttrs(b []byte, to, from xmppd.JID) []byte {
	i := bytes.IndexByte(b, ' ')
	out := append([]byte(nil), b[:i]...)
	out = wire.AppendAttr(out, "to", to.String())
	out = wire.AppendAttr(out, "from", from.String())
	return append(out, b[i:]...)
}

func (e *Extension) route(b []byte, from, to xmppd.JID) {
	st, err := wire.ParseStanza(b)
	if err != nil {
		e.log.Error("parsing generated presence failed", "from", from.String(), "err", err)
		return
	}
	e.srv.RoutePresence(xmppd.NewPacket(st, from, to))
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.items.DeleteOwner(j.String()); err != nil {
		e.log.Error("deleting blocklist failed", "jid", j.String(), "err", err)
	}
	e.mu.Lock()
	delete(e.cache, j)
	e.mu.Unlock()
	return xmppd.Pass
}
