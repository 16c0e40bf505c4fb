package sms

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// job is one SMS on its way to the provider.
type job struct {
	sender  xmppd.JID // the sending session's full JID
	number  string    // E.164
	text    string
	msgID   string       // the XMPP message's id, for receipts and errors
	receipt bool         // the message asked for a XEP-0184 receipt
	orig    *wire.Stanza // the message, for the error reply
	ref     string       // our id of the SMS, sent to the provider
}

// enqueue stores j in the outbox and hands it to the workers, or tells
// the sender at once that the queue is full: the sender's read loop never
// waits for the provider.
func (e *Extension) enqueue(p *xmppd.Packet, j *job) {
	j.ref = e.srv.NextID()
	if err := e.saveOutbox(j); err != nil {
		e.log.Error("storing an SMS failed", "from", j.sender.String(), "number", j.number, "err", err)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Wait, stanza.InternalServerError,
			"SMS to "+j.number+" not sent: the server could not store it, try again later"))
		return
	}
	select {
	case e.queue <- j:
	default:
		e.dropOutbox(j.ref)
		e.log.Warn("SMS queue full, message refused", "from", j.sender.String(), "number", j.number, "queue_size", e.Config.QueueSize)
		e.srv.Bounce(p, xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint,
			"SMS to "+j.number+" not sent: the gateway's queue is full, try again later"))
	}
}

func (e *Extension) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.queue:
			e.send(ctx, j)
		}
	}
}

// send tries j up to max_attempts times, waiting retry_backoff (doubled
// each time) between attempts that may succeed later.
func (e *Extension) send(ctx context.Context, j *job) {
	backoff := e.Config.RetryBackoff.Duration
	for attempt := 1; ; attempt++ {
		res := e.post(ctx, j)
		if res.ok() {
			e.sent(j, res.id)
			return
		}
		if ctx.Err() != nil {
			e.log.Info("SMS left in the outbox at shutdown", "from", j.sender.String(), "number", j.number)
			return
		}
		if !res.retryable() || attempt >= e.Config.MaxAttempts {
			e.failed(j, res, attempt)
			return
		}
		e.log.Info("SMS attempt failed, retrying", "number", j.number, "attempt", attempt, "in", backoff, "reason", res.describe())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// sent records an accepted SMS: its provider id (for delivery reports)
// and the sender as the number's contact (for replies).
func (e *Extension) sent(j *job, providerID string) {
	if providerID == "" {
		providerID = j.ref
	}
	e.log.Info("SMS sent", "from", j.sender.String(), "number", j.number, "provider_id", providerID)
	rec := sentRecord{Sender: j.sender.String(), Number: j.number, MsgID: j.msgID, Receipt: j.receipt, At: time.Now()}
	if err := e.recordSent(j.ref, providerID, rec); err != nil {
		e.log.Error("recording a sent SMS failed", "number", j.number, "provider_id", providerID, "err", err)
	}
}

// failed answers the sender's message with an error naming the number and
// what the provider said.
func (e *Extension) failed(j *job, res result, attempts int) {
	text := "SMS to " + j.number + " not sent: " + res.describe()
	se := xmppd.StanzaError(stanza.Cancel, stanza.NotAcceptable, text)
	switch {
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		// The gateway's credentials, not the sender's message, are wrong.
		se = xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, text)
		e.log.Error("the SMS provider refused the gateway's credentials", "status", res.status)
	case res.err != nil:
		se = xmppd.StanzaError(stanza.Wait, stanza.RemoteServerTimeout, text+" after "+strconv.Itoa(attempts)+" attempts")
	case res.retryable():
		se = xmppd.StanzaError(stanza.Wait, stanza.ServiceUnavailable, text+" after "+strconv.Itoa(attempts)+" attempts")
	}
	e.log.Warn("SMS failed", "from", j.sender.String(), "number", j.number, "attempts", attempts, "reason", res.describe())
	e.dropOutbox(j.ref)
	e.srv.Bounce(e.replyPacket(j.orig, j.sender, j.number), se)
}

// replyPacket is the sender's message as a packet to answer: to the
// sending resource while it is online, else to all of the sender's.
func (e *Extension) replyPacket(st *wire.Stanza, sender xmppd.JID, number string) *xmppd.Packet {
	return xmppd.NewPacket(st, e.reachable(sender), e.numberJID(number))
}

// reachable is sender while that resource is online, else its bare JID.
func (e *Extension) reachable(sender xmppd.JID) xmppd.JID {
	if sender.Resource != "" && e.srv.Session(sender) == nil {
		return sender.Bare()
	}
	return sender
}

func (e *Extension) numberJID(number string) xmppd.JID {
	return xmppd.JID{Local: number, Domain: e.domain}
}
