package sms

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// Store names.
const (
	storeSent  = "sms.sent"  // provider message id → sentRecord
	storeRoute = "sms.route" // number → bare JID of the user who last texted it
)

// reportWindow is how long a sent SMS waits for its delivery report.
const reportWindow = 7 * 24 * time.Hour

// sentRecord is what a delivery report needs of a sent SMS.
type sentRecord struct {
	Sender  string    `json:"sender"` // full JID
	Number  string    `json:"number"`
	MsgID   string    `json:"msg_id,omitempty"`
	Receipt bool      `json:"receipt,omitempty"`
	At      time.Time `json:"at"`
}

// recordSent stores a sent SMS, makes its sender the number's contact and
// takes the SMS (ref) out of the outbox, in one transaction.
func (e *Extension) recordSent(ref, providerID string, rec sentRecord) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	sender, err := xmppd.ParseJID(rec.Sender)
	if err != nil {
		return err
	}
	return e.db.Update(func(tx *store.Tx) error {
		if err := tx.KV(storeOutbox).Delete(ref); err != nil {
			return err
		}
		if err := tx.KV(storeSent).Put(providerID, val); err != nil {
			return err
		}
		return tx.KV(storeRoute).Put(rec.Number, []byte(sender.Bare().String()))
	})
}

// takeSent returns the record of a sent SMS; with done it is removed (a
// final report came).
func (e *Extension) takeSent(providerID string, done bool) (sentRecord, error) {
	var rec sentRecord
	err := e.db.Update(func(tx *store.Tx) error {
		kv := tx.KV(storeSent)
		val, err := kv.Get(providerID)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(val, &rec); err != nil {
			return err
		}
		if done {
			return kv.Delete(providerID)
		}
		return nil
	})
	return rec, err
}

// contact returns the local user who last texted number, if that account
// still exists.
func (e *Extension) contact(number string) (xmppd.JID, bool) {
	val, err := e.db.KV(storeRoute).Get(number)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Error("reading an SMS route failed", "number", number, "err", err)
		}
		return xmppd.JID{}, false
	}
	j, err := xmppd.ParseJID(string(val))
	if err != nil || !e.srv.IsLocal(j) || !e.srv.Accounts().Exists(j.Local) {
		return xmppd.JID{}, false
	}
	return j, true
}

// sweep drops sent records whose delivery report never came and the ids
// of old inbound SMS.
func (e *Extension) sweep(context.Context) {
	cutoff := time.Now().Add(-reportWindow)
	e.deleteWhere(storeSent, func(val []byte) bool {
		var rec sentRecord
		return json.Unmarshal(val, &rec) != nil || rec.At.Before(cutoff)
	})
	e.deleteWhere(storeSeen, func(val []byte) bool {
		var at time.Time
		return at.UnmarshalText(val) != nil || at.Before(cutoff)
	})
}

// accountDeleted drops the account's sent records, routes and the SMS it
// left in the outbox (those already queued are still sent).
func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	bare := j.Bare().String()
	bySender := func(val []byte) bool {
		var rec struct {
			Sender string `json:"sender"`
		}
		if json.Unmarshal(val, &rec) != nil {
			return true
		}
		s, err := xmppd.ParseJID(rec.Sender)
		return err != nil || s.Bare().String() == bare
	}
	e.deleteWhere(storeSent, bySender)
	e.deleteWhere(storeOutbox, bySender)
	e.deleteWhere(storeRoute, func(val []byte) bool { return string(val) == bare })
	return xmppd.Pass
}

// deleteWhere removes every entry of the KV store name whose value doom
// picks, in one transaction.
func (e *Extension) deleteWhere(name string, doom func(val []byte) bool) {
	err := e.db.Update(func(tx *store.Tx) error {
		kv := tx.KV(name)
		var keys []string
		if err := kv.ForEach("", func(k string, v []byte) error {
			if doom(v) {
				keys = append(keys, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := kv.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Error("cleaning an SMS store failed", "store", name, "err", err)
	}
}
