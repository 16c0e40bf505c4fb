package muc

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Mentions (SPEC §2): which users a group chat message mentions, for the
// notification logic (RoomMessageEvent.Mentions: push "on-mention", the
// inbox's unread mentions) and for XEP-0452 notifications to mentioned
// members who are not in the room.
//
// Recognised: XEP-0372 <reference type='mention' uri='xmpp:…'/> (an
// occupant JID room/nick, a member's or occupant's bare JID, or the room
// itself = everyone), XEP-0513 <mention/> (occupantid, jid, or
// mentions='urn:xmpp:mentions:0#channel' = everyone) and the word "@all"
// in the body. Mentioning everyone is for moderators (or, when the owner
// sets x-xmppd#mention_all to participants, for anyone who may speak);
// anyone else's @all is delivered as written and notifies nobody.
// A mention's begin/end must lie inside the body (code points, XEP-0372
// §2.1): a message with a range outside it is refused with bad-request.
const (
	NSReference     = "urn:xmpp:reference:0"
	NSMentions      = "urn:xmpp:mentions:0"
	NSMentionNotify = "urn:xmpp:mmn:0"
	mentionChannel  = NSMentions + "#channel"
	nsForward       = "urn:xmpp:forward:0"

	// FieldMentionAll is the room configuration field saying who may
	// mention everyone: "moderators" (default) or "participants".
	FieldMentionAll = "x-xmppd#mention_all"
	// FieldForwardMentions is XEP-0452's switch for notifying mentioned
	// members who are not in the room (default on).
	FieldForwardMentions = "muc#roomconfig_forwardmentions"
)

// mentionsOf returns the real bare JIDs a message mentions (without the
// sender), or an error for a malformed mention. r.mu is held.
func (e *Extension) mentionsOf(r *room, o *occupant, st *wire.Stanza) ([]xmppd.JID, error) {
	raw := st.Raw
	if !bytes.Contains(raw, []byte(NSReference)) && !bytes.Contains(raw, []byte(NSMentions)) && !bytes.Contains(raw, []byte("@all")) {
		return nil, nil // the fast path: most messages mention nobody
	}
	el, err := st.Element()
	if err != nil {
		return nil, nil
	}
	body := el.ChildText("body", nsClient)
	length := utf8.RuneCountInString(body)
	var users []xmppd.JID
	everyone := false
	add := func(j xmppd.JID) {
		if !j.IsZero() && j != o.bare && !slices.Contains(users, j) {
			users = append(users, j)
		}
	}
	for _, c := range el.Children {
		isRef := c.Name == "reference" && c.NS == NSReference && c.Attr("type") == "mention"
		isMention := c.Name == "mention" && c.NS == NSMentions
		if !isRef && !isMention {
			continue
		}
		if err := checkRange(c, length); err != nil {
			return nil, err
		}
		switch {
		case isMention && c.Attr("mentions") == mentionChannel:
			everyone = true
		case isMention && c.Attr("occupantid") != "":
			add(r.userByOccupantID(e, c.Attr("occupantid")))
		case isMention && c.Attr("jid") != "":
			all, j := r.userByJID(c.Attr("jid"))
			everyone = everyone || all
			add(j)
		case isRef:
			all, j := r.userByJID(strings.TrimPrefix(c.Attr("uri"), "xmpp:"))
			everyone = everyone || all
			add(j)
		}
	}
	if !everyone {
		for _, w := range strings.Fields(body) {
			if strings.TrimRight(w, ".,;:!?") == "@all" {
				everyone = true
				break
			}
		}
	}
	if everyone && r.mayMentionAll(o) {
		for _, j := range r.users() {
			add(j)
		}
	}
	return users, nil
}

// checkRange validates a mention's optional begin/end against the body.
func checkRange(c *wire.Element, length int) error {
	b, e := c.Attr("begin"), c.Attr("end")
	if b == "" && e == "" {
		return nil
	}
	begin, err1 := strconv.Atoi(b)
	end, err2 := strconv.Atoi(e)
	if err1 != nil || err2 != nil || begin < 0 || end <= begin || end > length {
		return fmt.Errorf("the mention at %q–%q lies outside the message body (%d characters)", b, e, length)
	}
	return nil
}

// userByJID resolves a mentioned JID: an occupant JID (room/nick), the
// room itself (everyone), or a member's or occupant's bare JID.
func (r *room) userByJID(s string) (everyone bool, user xmppd.JID) {
	j, err := xmppd.ParseJID(s)
	if err != nil {
		return false, xmppd.JID{}
	}
	if j.Bare() == r.jid {
		if j.Resource == "" {
			return true, xmppd.JID{}
		}
		if oc := r.occupants[j.Resource]; oc != nil {
			return false, oc.bare
		}
		return false, xmppd.JID{}
	}
	b := j.Bare()
	if r.affiliation(b) != affNone && r.affiliation(b) != affOutcast || r.present(b) {
		return false, b
	}
	return false, xmppd.JID{}
}

// userByOccupantID resolves a XEP-0421 occupant id of an occupant or a
// member (ids are derived from the real JID, so absent members have one).
func (r *room) userByOccupantID(e *Extension, id string) xmppd.JID {
	for _, oc := range r.occupants {
		if oc.id == id {
			return oc.bare
		}
	}
	for _, u := range r.users() {
		if e.occupantID(r.name, u) == id {
			return u
		}
	}
	return xmppd.JID{}
}

func (r *room) present(bare xmppd.JID) bool {
	for _, oc := range r.occupants {
		if oc.bare == bare {
			return true
		}
	}
	return false
}

// users are the room's members (owner, admin, member) and occupants.
func (r *room) users() []xmppd.JID {
	var out []xmppd.JID
	for j, a := range r.rec.Affiliations {
		switch a {
		case affOwner, affAdmin, affMember:
			if jj, err := xmppd.ParseJID(j); err == nil {
				out = append(out, jj.Bare())
			}
		}
	}
	for _, oc := range r.occupants {
		if !slices.Contains(out, oc.bare) {
			out = append(out, oc.bare)
		}
	}
	return out
}

func (r *room) mayMentionAll(o *occupant) bool {
	if o.role == roleModerator {
		return true
	}
	return r.rec.Config.MentionAll == "participants" && o.role == roleParticipant
}

// notifyAbsent sends XEP-0452 mention notifications to mentioned users
// who have no session in the room: the whole stored message, forwarded
// from the room, so it waits in the offline store if they are offline.
// r.mu is held.
func (e *Extension) notifyAbsent(r *room, mentioned []xmppd.JID, stored *wire.Stanza, at time.Time) {
	if r.rec.Config.QuietMentions {
		return
	}
	for _, u := range mentioned {
		if r.present(u) || !e.srv.IsLocal(u) {
			continue
		}
		b := make([]byte, 0, len(stored.Raw)+320)
		b = append(b, "<message type='normal'"...)
		b = wire.AppendAttr(b, "from", r.jid.String())
		b = wire.AppendAttr(b, "to", u.String())
		b = wire.AppendAttr(b, "id", e.srv.NextID())
		b = append(b, "><mentions xmlns='"+NSMentionNotify+"'><forwarded xmlns='"+nsForward+"'><delay xmlns='"+nsDelay+"'"...)
		b = wire.AppendAttr(b, "stamp", at.UTC().Format(time.RFC3339))
		b = append(b, "/>"...)
		b = mamproto.AppendWithClientNS(b, stored.Raw)
		b = append(b, "</forwarded></mentions></message>"...)
		e.route(r.jid, u, b)
	}
}
