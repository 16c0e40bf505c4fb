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

// SendIQ sends an IQ request from the server (or from a local bare JID, for
// PEP) to a local full JID and waits for the answer. The answer is the
// result stanza; an error stanza becomes a stanza.Error.
func (srv *Server) SendIQ(ctx context.Context, from, to JID, typ string, payload *wire.Element) (*wire.Stanza, error) {
	s := srv.sessions.full(to)
	if s == nil {
		return nil, StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
	}
	id := srv.ids.Next()
	ch := srv.pending.add(id)
	defer srv.pending.drop(id)
	b := make([]byte, 0, 256)
	b = append(b, "<iq"...)
	b = appendAttr(b, "type", typ)
	b = appendAttr(b, "id", id)
	b = appendAttr(b, "from", from.String())
	b = appendAttr(b, "to", to.String())
	b = append(b, '>')
	b = payload.AppendXML(b)
	b = append(b, "</iq>"...)
	s.Send(b)
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
