package xmppd

import (
	"context"
	"errors"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Roster is what the roster extension tells other extensions about
// presence subscriptions (RFC 6121), without them importing it. PEP uses
// it to find who gets notifications; blocking uses it too.
type Roster interface {
	// Subscribers returns the contacts whose subscription lets them see the
	// user's presence (subscription 'from' or 'both').
	Subscribers(user JID) []JID
	// HasSubscriber reports whether contact may see user's presence.
	HasSubscriber(user, contact JID) bool
}

// ProvideRoster installs the roster service; one extension provides it.
func (r *Registrar) ProvideRoster(ro Roster) error {
	if r.srv.roster != nil {
		return errors.New("a roster service is already provided")
	}
	r.srv.roster = ro
	return nil
}

// Roster returns the roster service, or nil when no roster extension runs.
func (srv *Server) Roster() Roster { return srv.roster }

// PEPEvent is a change to an item of a user's PEP node (XEP-0163), told to
// other extensions through the PEPPublished hook point: the inbox reads
// XEP-0490 displayed positions from it, push the XEP-0492 notification
// settings in XEP-0402 bookmarks.
type PEPEvent struct {
	Owner  JID    // the account's bare JID
	Node   string // e.g. urn:xmpp:mds:displayed:0
	ItemID string // "" with Retracted: every item of the node went (delete, purge)
	// Payload is the item's payload as published; nil when Retracted.
	// Shared by every handler: never modify it.
	Payload   *wire.Element
	Retracted bool
}

// PEPPublished runs after a PEP item was published or retracted (or its
// node deleted or purged) and the change committed, in commit order per
// account. Handlers observe and return Pass; they run on the publisher's
// IQ path, so they must be quick.
var PEPPublished = HookPoint[*PEPEvent]{"pep/published"}

// SendIQ sends an IQ request from the server (or from a local bare JID, for
// PEP and push) to a local full JID or to a component domain of the server
// (Registrar.HandleDomain, e.g. an in-process push app server) and waits for
// the answer. The answer is the result stanza; an error stanza becomes a
// stanza.Error. Any other domain is remote-server-not-found (no
// federation).
func (srv *Server) SendIQ(ctx context.Context, from, to JID, typ string, payload *wire.Element) (*wire.Stanza, error) {
	var s *Session
	var h DomainHandler
	if srv.IsLocal(to) {
		if s = srv.sessions.full(to); s == nil {
			return nil, StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
		}
	} else if h = srv.domains[to.Domain]; h == nil {
		return nil, errRemoteNotFound
	}
	id := srv.ids.Next()
	ch := srv.pending.add(id)
	defer srv.pending.drop(id)
	b := make([]byte, 0, 256)
	b = append(b, "<iq"...)
	b = wire.AppendAttr(b, "type", typ)
	b = wire.AppendAttr(b, "id", id)
	b = wire.AppendAttr(b, "from", from.String())
	b = wire.AppendAttr(b, "to", to.String())
	b = append(b, '>')
	b = payload.AppendXML(b)
	b = append(b, "</iq>"...)
	if s != nil {
		s.Send(b)
	} else {
		st, err := wire.ParseStanza(b)
		if err != nil {
			return nil, err
		}
		// The component answers by routing an IQ result to 'from', which
		// RouteIQ hands to the pending table.
		h.HandleStanza(NewPacket(st, from, to))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	select {
	case st := <-ch:
		if st.Type == "error" {
			se := StanzaError(stanza.Cancel, stanza.UndefinedCondition, "")
			if el, err := st.Element(); err == nil {
				if e := el.Child("error", ""); e != nil {
					se.Type = stanza.ErrorType(e.Attr("type"))
					if len(e.Children) > 0 {
						se.Condition = stanza.Condition(e.Children[0].Name)
					}
				}
			}
			return st, se
		}
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RoomMessageEvent is a group chat message a room of the MUC service
// archived, told to other extensions through the RoomMessage hook point
// before the room fans it out: the inbox counts it for the room's users,
// push wakes their offline devices.
type RoomMessageEvent struct {
	Room JID // the room's bare JID
	// Packet is the stanza as stored and fanned out (from room/nick, to the
	// room), StanzaID = the room's stanza-id. Handlers may queue store
	// changes on it (Packet.Persist): the MUC service commits them in one
	// transaction with the room archive write, before fan-out, after the
	// room's earlier messages (in the same transaction or an earlier one);
	// if that commit fails the message is neither archived nor delivered.
	Packet *Packet
	Sender JID    // the sender's real bare JID
	Nick   string // the sender's nick
	// Members are the bare JIDs of the room's affiliated users (owner,
	// admin, member); Occupants the real bare JIDs of the users in the
	// room now. A user may be in both. Shared: never modify them.
	Members   []JID
	Occupants []JID
	// Mentions are the real bare JIDs of the users the message mentions
	// (never the sender); @all from someone allowed to use it names every
	// member and occupant.
	Mentions []JID
}

// RoomMessage runs once per archived group chat message (one with a
// body), with the room's lock held: handlers observe, queue store changes
// on ev.Packet, must be quick and return Pass.
var RoomMessage = HookPoint[*RoomMessageEvent]{"room/message"}
