package edits

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// record is what the index knows of a message and its corrections.
type record struct {
	Sender    string             `json:"s"` // author's (real) bare JID
	At        int64              `json:"t"` // when the original arrived, Unix µs
	Archived  []xmppd.ArchiveRef `json:"a,omitempty"`
	URLs      []string           `json:"u,omitempty"`
	Keys      []string           `json:"k"` // the ids it is indexed under
	Retracted bool               `json:"r,omitempty"`
}

func decodeRecord(val []byte) (record, error) {
	var rec record
	if err := json.Unmarshal(val, &rec); err != nil {
		return record{}, fmt.Errorf("a damaged edit index record: %w", err)
	}
	return rec, nil
}

func indexKey(conv, id string) string { return conv + "\x00" + id }

// ids are the ids a client may use to refer to a message: its id
// attribute and its XEP-0359 origin-id (plus, in rooms, the room's
// stanza-id, added by the caller).
func ids(st *wire.Stanza) []string {
	var out []string
	if st.ID != "" {
		out = append(out, st.ID)
	}
	if c, ok := st.Child("origin-id", nsSID); ok {
		if id := attrOf(st, c, "id"); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func hasBody(st *wire.Stanza) bool {
	_, ok := st.Child("body", nsClient)
	return ok
}

// recordDirect indexes a 1:1 message a local user sent, once the archive
// ids of both copies are known.
func (e *Extension) recordDirect(p *xmppd.Packet) xmppd.Verdict {
	if p.Origin == nil || (p.Edit == nil && !hasBody(p.Stanza)) {
		return xmppd.Pass
	}
	conv, ok := e.conversation(p)
	if !ok {
		return xmppd.Pass
	}
	var refs []xmppd.ArchiveRef
	if p.SentStanzaID != "" {
		refs = append(refs, xmppd.ArchiveRef{Owner: p.From.BareString(), ID: p.SentStanzaID})
	}
	if p.StanzaID != "" {
		refs = append(refs, xmppd.ArchiveRef{Owner: p.To.BareString(), ID: p.StanzaID})
	}
	e.record(p, p.Edit, conv, p.From.Bare(), ids(p.Stanza), refs)
	if ed := p.Edit; ed != nil && ed.Retract && e.srv.Commit(p) {
		xmppd.RunHook(e.srv, xmppd.MessageRetracted, &xmppd.RetractedEvent{
			Sender: ed.Sender, By: ed.Sender, Where: p.To.Bare(), ID: ed.Target, URLs: ed.URLs,
		})
	}
	return xmppd.Pass
}

// recordRoom indexes a room's archived group chat message (the MUC
// service copies the checked edit onto ev.Packet, and runs
// xmppd.MessageRetracted itself once the room stored a retraction).
func (e *Extension) recordRoom(ev *xmppd.RoomMessageEvent) xmppd.Verdict {
	p := ev.Packet
	keys := ids(p.Stanza)
	var refs []xmppd.ArchiveRef
	if p.StanzaID != "" {
		keys = append(keys, p.StanzaID)
		refs = append(refs, xmppd.ArchiveRef{Owner: ev.Room.BareString(), ID: p.StanzaID})
	}
	e.record(p, p.Edit, ev.Room.BareString(), ev.Sender.Bare(), keys, refs)
	return xmppd.Pass
}

// record queues the index change for a message on its packet: a new
// record for an original, the correction's ids and copies added to the
// original's record, or the record marked retracted.
func (e *Extension) record(p *xmppd.Packet, edit *xmppd.MessageEdit, conv string, sender xmppd.JID, keys []string, refs []xmppd.ArchiveRef) {
	if edit == nil {
		if len(keys) == 0 {
			return // nothing a client could refer to
		}
		rec := record{Sender: sender.String(), At: e.Now().UnixMicro(), Archived: refs, URLs: xmppd.MessageURLs(p.Stanza), Keys: keys}
		p.Persist(func(tx *store.Tx) error { return put(tx.KV(storeName), conv, rec) })
		return
	}
	urls := xmppd.MessageURLs(p.Stanza)
	p.Persist(func(tx *store.Tx) error {
		kv := tx.KV(storeName)
		val, err := kv.Get(indexKey(conv, edit.Target))
		if errors.Is(err, store.ErrNotFound) {
			return nil // swept in the meantime: nothing left to update
		}
		if err != nil {
			return err
		}
		rec, err := decodeRecord(val)
		if err != nil {
			return err
		}
		if edit.Retract {
			rec.Retracted = true
		} else {
			rec.Archived = append(rec.Archived, refs...)
			for _, k := range keys {
				if !slices.Contains(rec.Keys, k) {
					rec.Keys = append(rec.Keys, k)
				}
			}
			for _, u := range urls {
				if !slices.Contains(rec.URLs, u) {
					rec.URLs = append(rec.URLs, u)
				}
			}
		}
		return put(kv, conv, rec)
	})
}

// put writes rec under every one of its keys.
func put(kv store.TxKV, conv string, rec record) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	for _, k := range rec.Keys {
		if err := kv.Put(indexKey(conv, k), val); err != nil {
			return err
		}
	}
	return nil
}

// moderated marks a record retracted when a room moderator removed the
// message (the author's own retractions are marked by record).
func (e *Extension) moderated(ev *xmppd.RetractedEvent) xmppd.Verdict {
	if ev.By == ev.Sender.Bare() || ev.ID == "" {
		return xmppd.Pass
	}
	conv := ev.Where.BareString()
	err := e.db.Update(func(tx *store.Tx) error {
		kv := tx.KV(storeName)
		val, err := kv.Get(indexKey(conv, ev.ID))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rec, err := decodeRecord(val)
		if err != nil {
			return err
		}
		rec.Retracted = true
		return put(kv, conv, rec)
	})
	if err != nil {
		e.log.Error("marking a moderated message failed", "room", conv, "id", ev.ID, "err", err)
	}
	return xmppd.Pass
}
