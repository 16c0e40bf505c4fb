package mam

import (
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// pageBudget is the most result bytes one query queues for the client: a
// quarter of the outbound queue, so that paging never gets a client
// disconnected as too slow.
func (e *Extension) pageBudget() int {
	return max(int(e.srv.Config().Limits.OutboundQueue/4), 64*1024)
}

func (e *Extension) handleQuery(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	req, err := mamproto.ParseRequest(iq.Payload)
	if err != nil {
		return nil, err
	}
	owner := iq.To.BareString()
	res, err := mamproto.Run(e.archive, owner, req)
	if err != nil {
		return nil, err
	}
	from := ""
	if iq.Stanza.To != "" {
		from = owner
	}
	page := mamproto.Answer(req, res, iq.From.String(), from, e.pageBudget())
	for _, m := range page.Messages {
		if iq.Session != nil {
			iq.Session.Send(m)
		} else {
			e.srv.SendRaw(iq.From, m)
		}
	}
	return page.Fin, nil
}

// handleForm answers form discovery (XEP-0313 §4.1.5).
func (e *Extension) handleForm(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	return mamproto.Form(), nil
}

// handleMetadata answers the archive metadata query (XEP-0313 §5).
func (e *Extension) handleMetadata(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	return mamproto.Metadata(e.archive, iq.To.BareString())
}
