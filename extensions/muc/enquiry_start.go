package muc

import (
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Starting an enquiry (SPEC §1, §6 [enquiry]): a visitor's client (the web
// chat page, as a guest) asks the MUC service for an enquiry room with
//
//	<iq type='set' to='conference.<domain>'>
//	  <enquiry xmlns='urn:xmppd:enquiry:0'>
//	    <x xmlns='jabber:x:data' type='submit'>FORM_TYPE urn:xmppd:enquiry:0,
//	      then context fields: channel, utm_*, visitor_*, device_*, language…</x>
//	  </enquiry>
//	</iq>
//
// and gets <enquiry xmlns='urn:xmppd:enquiry:0' room='enquiry-…@…'/>. The
// room is private (members-only, hidden), owned by the desk's staff, with
// the visitor as its member; its context is what the visitor sent plus the
// start time, an enquiry id and the desk's destination. Staff and the
// members of the desk's space room are invited (mediated invitations, kept
// offline for who is away), and the room posts its system message. A
// requester has one open enquiry at a time: asking again returns it.

// EnquiryDesk is where web enquiries go ([enquiry] staff and destination).
type EnquiryDesk struct {
	// Staff are the bare JIDs invited to, and owning, every new enquiry room.
	Staff []string
	// SpaceRoom, if set, is a space room whose members are invited too.
	SpaceRoom string
	// Destination is recorded in every enquiry's context.
	Destination Destination
}

const maxEnquiryFields = 100

// startEnquiry answers the enquiry request. The requester's session is the
// only one that may ask; r.mu of no room is held.
func (e *Extension) startEnquiry(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	requester := p.From.Bare()
	if room := e.openEnquiryOf(requester); room != "" {
		return enquiryAnswer(room), nil
	}
	x := q.Child("x", dataform.NS)
	if x == nil {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest, "the enquiry request carries no data form")
	}
	f := dataform.Parse(x)
	if f.FormType != FormTypeEnquiry {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest, "the enquiry form's FORM_TYPE must be "+FormTypeEnquiry)
	}
	kv := map[string]string{}
	for _, name := range f.Vars() {
		switch name {
		case "enquiry_id", "start_time", "destination_name", "destination_type", "destination_endpoint":
			continue // the server's to set
		}
		if len(kv) == maxEnquiryFields {
			return nil, stanzaErr(stanza.Modify, stanza.NotAcceptable, "the enquiry form has too many fields")
		}
		kv[name] = strings.Join(f.Values(name), " ")
	}
	ctx, err := ParseEnquiryContext(kv)
	if err != nil {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest, err.Error())
	}
	id := e.srv.NextID()
	ctx.EnquiryID = id
	if ctx.Channel == "" {
		ctx.Channel = ChannelWeblink
	}
	ctx.StartTime = time.Now().UTC().Truncate(time.Second)
	ctx.Destination = e.Desk.Destination
	owners := append([]string(nil), e.Desk.Staff...)
	info, err := e.CreateEnquiry(RoomSpec{
		JID:     "enquiry-" + strings.ToLower(id) + "@" + e.domain,
		Name:    enquiryName(ctx),
		Private: true,
		Owners:  owners,
		Members: []string{requester.String()},
	}, ctx)
	if err != nil {
		e.log.Error("creating an enquiry room failed", "requester", requester.String(), "err", err)
		return nil, stanzaErr(stanza.Wait, stanza.InternalServerError, "the enquiry room could not be created")
	}
	room, err := xmppd.ParseJID(info.JID)
	if err != nil {
		return nil, err
	}
	e.inviteDesk(room, requester)
	e.enquiries.Store(requester, info.JID)
	return enquiryAnswer(info.JID), nil
}

func enquiryAnswer(room string) *wire.Element {
	return wire.NewElement("enquiry", FormTypeEnquiry, wire.Attr{Name: "room", Value: room})
}

// enquiryName names the room after the visitor, if known.
func enquiryName(c EnquiryContext) string {
	name := strings.TrimSpace(c.Visitor.FirstName + " " + c.Visitor.LastName)
	if name == "" {
		return "Enquiry"
	}
	return "Enquiry: " + name
}

// openEnquiryOf returns the requester's enquiry room if it still exists.
func (e *Extension) openEnquiryOf(requester xmppd.JID) string {
	v, ok := e.enquiries.Load(requester)
	if !ok {
		return ""
	}
	room := v.(string)
	j, err := xmppd.ParseJID(room)
	if err != nil {
		return ""
	}
	if r := e.room(j.Local); r != nil {
		r.mu.Lock()
		gone := r.destroyed
		r.mu.Unlock()
		if !gone {
			return room
		}
	}
	e.enquiries.Delete(requester)
	return ""
}

// inviteDesk sends the room's invitations to the staff and to the members
// of the desk's space room (XEP-0045 §7.8.2 mediated invitations).
func (e *Extension) inviteDesk(room, requester xmppd.JID) {
	seen := map[xmppd.JID]bool{requester: true}
	var invitees []xmppd.JID
	add := func(s string) {
		if j, err := xmppd.ParseJID(s); err == nil && !seen[j.Bare()] {
			seen[j.Bare()] = true
			invitees = append(invitees, j.Bare())
		}
	}
	for _, s := range e.Desk.Staff {
		add(s)
	}
	if e.Desk.SpaceRoom != "" {
		if name, err := e.parseRoomJID(e.Desk.SpaceRoom); err == nil {
			if r := e.room(name); r != nil {
				r.mu.Lock()
				for _, u := range r.users() {
					add(u.String())
				}
				r.mu.Unlock()
			}
		}
	}
	reason := "New enquiry"
	for _, to := range invitees {
		b := make([]byte, 0, 320)
		b = append(b, "<message"...)
		b = wire.AppendAttr(b, "from", room.String())
		b = wire.AppendAttr(b, "to", to.String())
		b = wire.AppendAttr(b, "id", e.srv.NextID())
		b = append(b, "><x xmlns='"+NSUser+"'><invite"...)
		b = wire.AppendAttr(b, "from", requester.String())
		b = append(b, '>')
		b = appendTextEl(b, "reason", reason)
		b = append(b, "</invite></x>"...)
		b = appendTextEl(b, "body", "A new enquiry is waiting in "+room.String())
		b = append(b, "</message>"...)
		e.route(room, to, b)
	}
}
