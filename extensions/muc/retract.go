package muc

import (
	"slices"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces of retraction and moderation.
const (
	NSModerate  = mamproto.NSModerate
	NSModerate0 = "urn:xmpp:message-moderate:0"
	nsRetract   = mamproto.NSRetract
	nsRetract0  = "urn:xmpp:message-retract:0"
	nsFasten    = "urn:xmpp:fasten:0"
)

// queueTombstones queues, on the packet whose commit stores the
// retraction, the replacement of the retracted message's archived
// versions in the room archive.
func (e *Extension) queueTombstones(pkt *xmppd.Packet, refs []xmppd.ArchiveRef, ret mamproto.Retracted) {
	if !e.Config.Archive {
		return
	}
	pkt.Persist(func(tx *store.Tx) error {
		return mamproto.TombstoneAll(tx.Archive(storeArchive), refs, ret)
	})
}

// retracted follows a committed retraction: the history on join shows
// tombstones too (XEP-0424 §5: no further distribution), and the
// MessageRetracted hook runs (the upload service deletes shared files).
// r.mu is held.
func (e *Extension) retracted(r *room, ed *xmppd.MessageEdit, by xmppd.JID, ret mamproto.Retracted) {
	owner := r.jid.String()
	for i, h := range r.history {
		if !slices.Contains(ed.Archived, xmppd.ArchiveRef{Owner: owner, ID: h.id}) {
			continue
		}
		tomb, err := mamproto.Tombstone(h.st.Raw, ret)
		if err != nil {
			continue
		}
		if st, err := parseStanza(tomb); err == nil {
			r.history[i].st, r.history[i].length = st, len(st.Raw)
		}
	}
	xmppd.RunHook(e.srv, xmppd.MessageRetracted, &xmppd.RetractedEvent{
		Sender: ed.Sender, By: by, Where: r.jid, ID: ed.Target, URLs: ed.URLs,
	})
}

// moderation is a moderator's request to remove a message (XEP-0425):
// the current form (<moderate xmlns='urn:xmpp:message-moderate:1' id/>)
// or the older one inside XEP-0422 fastening (<apply-to id><moderate
// xmlns='urn:xmpp:message-moderate:0'><retract/></moderate></apply-to>).
type moderation struct {
	id, reason string
}

func parseModeration(q *wire.Element) (moderation, bool) {
	switch {
	case q.Name == "moderate" && q.NS == NSModerate && q.Child("retract", nsRetract) != nil:
		return moderation{id: q.Attr("id"), reason: q.ChildText("reason", NSModerate)}, true
	case q.Name == "apply-to" && q.NS == nsFasten:
		m := q.Child("moderate", NSModerate0)
		if m == nil || m.Child("retract", nsRetract0) == nil {
			return moderation{}, false
		}
		return moderation{id: q.Attr("id"), reason: m.ChildText("reason", NSModerate0)}, true
	}
	return moderation{}, false
}

// moderate removes a message on a moderator's request: the archived
// versions become tombstones naming the moderator, and every occupant
// gets the retraction from the room, in both the current and the older
// form. There is no time window. r.mu is held.
func (e *Extension) moderate(r *room, p *xmppd.Packet, m moderation) error {
	o := r.byReal[p.From]
	if o == nil || o.role != roleModerator {
		return stanzaErr(stanza.Auth, stanza.Forbidden, "only moderators may remove messages in "+r.jid.String())
	}
	if m.id == "" {
		return stanzaErr(stanza.Modify, stanza.BadRequest, "the moderation request names no message id")
	}
	owner := r.jid.String()
	orig, err := e.original(r, m.id)
	if err != nil {
		return err
	}
	origSt, err := parseStanza(orig)
	if err != nil {
		return stanzaErr(stanza.Wait, stanza.InternalServerError, "")
	}
	if _, gone := origSt.Child("retracted", nsRetract); gone {
		return stanzaErr(stanza.Cancel, stanza.ItemNotFound, "message "+m.id+" was already removed")
	}
	// The index knows the author and the corrections (all versions go);
	// without it, the one archived message.
	ed := &xmppd.MessageEdit{Retract: true, Target: m.id, Archived: []xmppd.ArchiveRef{{Owner: owner, ID: m.id}}}
	if ix := e.srv.MessageIndex(); ix != nil {
		if known, ok := ix.Lookup(r.jid, m.id); ok {
			ed.Sender, ed.URLs = known.Sender, known.URLs
			for _, ref := range known.Archived {
				if !slices.Contains(ed.Archived, ref) {
					ed.Archived = append(ed.Archived, ref)
				}
			}
		}
	}
	now := time.Now()
	id := e.srv.NextID()
	moderated := wire.NewElement("moderated", NSModerate, wire.Attr{Name: "by", Value: o.from}).
		Append(wire.NewElement("occupant-id", NSOccupantID, wire.Attr{Name: "id", Value: o.id}))
	ret := mamproto.Retracted{ID: id, At: now, Moderated: moderated, Reason: m.reason}

	msg := e.moderationMessage(r, id, m, o)
	st, err := parseStanza(msg)
	if err != nil {
		return stanzaErr(stanza.Wait, stanza.InternalServerError, "")
	}
	pkt := xmppd.NewPacket(st, r.jid, r.jid)
	e.queueArchive(pkt, owner, id, now, owner, st.Raw)
	e.queueTombstones(pkt, ed.Archived, ret)
	if err := e.srv.CommitQueued(pkt); err != nil {
		e.log.Error("storing a moderation failed", "room", owner, "err", err)
		return stanzaErr(stanza.Wait, stanza.InternalServerError, "the room could not store the moderation")
	}
	e.remembered(r, st, id, now)
	e.retracted(r, ed, o.bare, ret)
	e.fanout(r, st)
	return nil
}

// original is the stored stanza of the room message id: from the archive,
// or with [muc] archive off from the history on join.
func (e *Extension) original(r *room, id string) ([]byte, error) {
	owner := r.jid.String()
	if !e.Config.Archive {
		for _, h := range r.history {
			if h.id == id {
				return h.st.Raw, nil
			}
		}
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no message "+id+" in the recent history of "+owner+" (the room keeps no archive)")
	}
	orig, err := e.archive.Get(owner, id)
	if err != nil {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no message "+id+" in the archive of "+owner)
	}
	return orig.Value, nil
}

// moderationMessage is what occupants get (XEP-0425 §3.1, plus the older
// fastening form for clients that only know it).
func (e *Extension) moderationMessage(r *room, id string, m moderation, by *occupant) []byte {
	b := make([]byte, 0, 640)
	b = append(b, "<message type='groupchat'"...)
	b = wire.AppendAttr(b, "from", r.jid.String())
	b = wire.AppendAttr(b, "to", r.jid.String())
	b = wire.AppendAttr(b, "id", id)
	b = append(b, "><retract xmlns='"+nsRetract+"'"...)
	b = wire.AppendAttr(b, "id", m.id)
	b = append(b, "><moderated xmlns='"+NSModerate+"'"...)
	b = wire.AppendAttr(b, "by", by.from)
	b = append(b, '>')
	b = appendOccupantID(b, by.id)
	b = append(b, "</moderated>"...)
	if m.reason != "" {
		b = appendTextEl(b, "reason", m.reason)
	}
	b = append(b, "</retract><apply-to xmlns='"+nsFasten+"'"...)
	b = wire.AppendAttr(b, "id", m.id)
	b = append(b, "><moderated xmlns='"+NSModerate0+"'"...)
	b = wire.AppendAttr(b, "by", by.from)
	b = append(b, "><retract xmlns='"+nsRetract0+"'/>"...)
	if m.reason != "" {
		b = appendTextEl(b, "reason", m.reason)
	}
	b = append(b, "</moderated></apply-to><stanza-id xmlns='"+NSStanzaID+"'"...)
	b = wire.AppendAttr(b, "id", id)
	b = wire.AppendAttr(b, "by", r.jid.String())
	b = append(b, "/></message>"...)
	return b
}
