package sms

import (
	"context"
	"encoding/json"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// storeOutbox keeps every queued SMS (our id → outboxRecord) until the
// provider took it or it failed, so an SMS whose message the server
// acknowledged survives a restart (SPEC §7). After a crash in the middle
// of a request the SMS may be sent twice: at least once, never lost.
const storeOutbox = "sms.outbox"

type outboxRecord struct {
	Sender  string `json:"sender"` // full JID
	Number  string `json:"number"`
	Text    string `json:"text"`
	MsgID   string `json:"msg_id,omitempty"`
	Receipt bool   `json:"receipt,omitempty"`
	Stanza  []byte `json:"stanza"` // the sender's message, for an error reply
}

// saveOutbox stores j before it is queued.
func (e *Extension) saveOutbox(j *job) error {
	val, err := json.Marshal(outboxRecord{Sender: j.sender.String(), Number: j.number, Text: j.text,
		MsgID: j.msgID, Receipt: j.receipt, Stanza: j.orig.Raw})
	if err != nil {
		return err
	}
	return e.db.KV(storeOutbox).Put(j.ref, val)
}

// dropOutbox forgets an SMS that is done with.
func (e *Extension) dropOutbox(ref string) {
	if err := e.db.KV(storeOutbox).Delete(ref); err != nil {
		e.log.Error("removing an SMS from the outbox failed", "id", ref, "err", err)
	}
}

// loadOutbox returns the SMS a previous run left unsent.
func (e *Extension) loadOutbox() []*job {
	var jobs []*job
	err := e.db.View(func(tx *store.Tx) error {
		return tx.KV(storeOutbox).ForEach("", func(ref string, val []byte) error {
			var rec outboxRecord
			if err := json.Unmarshal(val, &rec); err != nil {
				e.log.Error("unreadable SMS in the outbox, dropped", "id", ref, "err", err)
				return nil
			}
			sender, err := xmppd.ParseJID(rec.Sender)
			if err != nil {
				return nil
			}
			st, err := wire.ParseStanza(rec.Stanza)
			if err != nil {
				st, _ = wire.ParseStanza([]byte("<message/>"))
			}
			jobs = append(jobs, &job{sender: sender, number: rec.Number, text: rec.Text, msgID: rec.MsgID,
				receipt: rec.Receipt, orig: st, ref: ref})
			return nil
		})
	})
	if err != nil {
		e.log.Error("reading the SMS outbox failed", "err", err)
	}
	return jobs
}

// requeue hands the SMS of a previous run to the workers, waiting for room
// in the queue (it runs beside them).
func (e *Extension) requeue(ctx context.Context, jobs []*job) {
	for _, j := range jobs {
		select {
		case e.queue <- j:
		case <-ctx.Done():
			return
		}
	}
}
