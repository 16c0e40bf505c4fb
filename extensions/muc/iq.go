package muc

import (
	"errors"
	"slices"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/mamproto"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// serviceFeatures are the features of the service domain.
var serviceFeatures = []string{nsDiscoInfo, nsDiscoItems, NS, NSOccupantID, NSSelfPing, nsPing, FormTypeEnquiry}

func stanzaErr(typ stanza.ErrorType, cond stanza.Condition, text string) error {
	return xmppd.StanzaError(typ, cond, text)
}

func (e *Extension) handleIQ(p *xmppd.Packet) {
	st := p.Stanza
	if st.Type != "get" && st.Type != "set" {
		return // results and errors: the room asks nothing of anyone
	}
	if len(st.Children) != 1 {
		e.bounce(p, stanza.BadRequest, stanza.Modify, "an IQ request carries exactly one payload element")
		return
	}
	c := st.Children[0]
	payload, err := wire.Parse(st.ChildBytes(c))
	if err != nil {
		e.bounce(p, stanza.BadRequest, stanza.Modify, "unparsable payload")
		return
	}
	var res *wire.Element
	switch {
	case p.To.Local == "":
		res, err = e.serviceIQ(p, payload)
	case p.To.Resource != "":
		res, err = e.occupantIQ(p, payload)
	default:
		res, err = e.roomIQ(p, payload)
	}
	if err != nil {
		var ce commandErr
		if errors.As(err, &ce) {
			e.replyCommandError(p, ce)
			return
		}
		var se stanza.Error
		if !errors.As(err, &se) {
			e.log.Error("MUC IQ failed", "to", p.To.String(), "payload", payload.NS+" "+payload.Name, "err", err)
			se = xmppd.StanzaError(stanza.Wait, stanza.InternalServerError, "")
		}
		e.srv.Bounce(p, se)
		return
	}
	e.srv.ReplyIQ(p, res)
}

var errNotImplemented = stanzaErr(stanza.Cancel, stanza.ServiceUnavailable, "")

func (e *Extension) serviceIQ(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	switch {
	case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoInfo:
		if q.Attr("node") != "" {
			return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such node")
		}
		res := wire.NewElement("query", nsDiscoInfo)
		res.Append(wire.NewElement("identity", nsDiscoInfo,
			wire.Attr{Name: "category", Value: "conference"}, wire.Attr{Name: "type", Value: "text"},
			wire.Attr{Name: "name", Value: "Chatrooms"}))
		for _, f := range serviceFeatures {
			res.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: f}))
		}
		return res, nil
	case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoItems:
		res := wire.NewElement("query", nsDiscoItems)
		for _, r := range e.roomList() {
			r.mu.Lock()
			if r.rec.Config.Public && !r.locked && !r.destroyed {
				res.Append(wire.NewElement("item", nsDiscoItems,
					wire.Attr{Name: "jid", Value: r.jid.String()}, wire.Attr{Name: "name", Value: r.displayName()}))
			}
			r.mu.Unlock()
		}
		return res, nil
	case p.Type() == "get" && q.Name == "ping" && q.NS == nsPing:
		return nil, nil
	case p.Type() == "set" && q.Name == "enquiry" && q.NS == FormTypeEnquiry:
		return e.startEnquiry(p, q)
	}
	return nil, errNotImplemented
}

func (r *room) displayName() string {
	if r.rec.Config.Name != "" {
		return r.rec.Config.Name
	}
	return r.name
}

// occupantIQ answers IQs to room/nick: XEP-0410 self-ping; other IQs are
// not relayed to occupants.
func (e *Extension) occupantIQ(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	r := e.room(p.To.Local)
	if r == nil {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such room")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.byReal[p.From]
	if o == nil || r.destroyed {
		return nil, stanzaErr(stanza.Cancel, stanza.NotAcceptable, "you are not in the room "+r.jid.String())
	}
	if q.Name == "ping" && q.NS == nsPing && o.nick == p.To.Resource {
		return nil, nil
	}
	if r.occupants[p.To.Resource] == nil {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no occupant "+p.To.Resource)
	}
	return nil, errNotImplemented
}

func (e *Extension) roomIQ(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	r := e.room(p.To.Local)
	if r == nil {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such room: "+p.To.String())
	}
	if q.NS == mamproto.NS {
		// Answered without holding the room lock while reading the store.
		return e.roomMAM(r, p, q)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.destroyed {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such room: "+p.To.String())
	}
	key := p.Type() + " " + q.NS + " " + q.Name
	switch key {
	case "get " + nsDiscoInfo + " query":
		if node := q.Attr("node"); node != "" {
			if res := e.commandInfo(r, node); res != nil {
				return res, nil
			}
			return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such node")
		}
		return e.roomInfo(r, p.From), nil
	case "get " + nsDiscoItems + " query":
		switch q.Attr("node") {
		case "":
			// Occupants are not listed: that would unmask semi-anonymous
			// rooms.
			return wire.NewElement("query", nsDiscoItems), nil
		case NSCommands:
			return e.commandItems(r, p.From), nil
		}
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such node")
	case "set " + NSCommands + " command":
		return e.executeCommand(r, p, q)
	case "get " + nsPing + " ping":
		return nil, nil
	case "get " + NSAdmin + " query":
		return e.adminGet(r, p, q)
	case "set " + NSAdmin + " query":
		return nil, e.adminSet(r, p, q)
	case "get " + NSOwner + " query":
		if r.affiliation(p.From.Bare()) != affOwner {
			return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "only owners may configure the room")
		}
		return wire.NewElement("query", NSOwner).Append(r.rec.Config.configForm()), nil
	case "set " + NSOwner + " query":
		return nil, e.ownerSet(r, p, q)
	case "set " + NSModerate + " moderate", "set " + nsFasten + " apply-to":
		if m, ok := parseModeration(q); ok {
			return nil, e.moderate(r, p, m)
		}
	}
	return nil, errNotImplemented
}

// roomInfo is the room's disco#info (XEP-0045 §6.4).
func (e *Extension) roomInfo(r *room, from xmppd.JID) *wire.Element {
	c := r.rec.Config
	res := wire.NewElement("query", nsDiscoInfo)
	res.Append(wire.NewElement("identity", nsDiscoInfo,
		wire.Attr{Name: "category", Value: "conference"}, wire.Attr{Name: "type", Value: "text"},
		wire.Attr{Name: "name", Value: r.displayName()}))
	pick := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	feats := []string{nsDiscoInfo, NS, NSStanzaID, NSOccupantID, NSSelfPing}
	if e.Config.Archive {
		feats = append(feats, mamproto.NS, mamproto.NSExtended)
	}
	for _, f := range append(feats,
		NSModerate, NSModerate0, nsRetract+"#tombstone",
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(c.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(c.NonAnonymous, "muc_nonanonymous", "muc_semianonymous"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
	) {
		res.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: f}))
	}
	if r.hasCommands() {
		res.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: NSCommands}))
	}
	res.Append(r.roomInfoForm(e.Config.MaxHistory))
	if c.Kind == KindEnquiry && (!c.MembersOnly || affRank(r.affiliation(from.Bare())) >= affRank(affMember)) {
		// The enquiry context, a second form (XEP-0128) every client sees;
		// in a members-only room only those who may enter, since it holds
		// the visitor's personal details.
		ctx := r.rec.Enquiry
		if ctx == nil {
			ctx = &EnquiryContext{}
		}
		res.Append(ctx.enquiryForm())
	}
	return res
}

// adminGet lists by affiliation (admins and owners) or by role
// (moderators) (XEP-0045 §9.5, §8.5).
func (e *Extension) adminGet(r *room, p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	it := q.Child("item", NSAdmin)
	if it == nil {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest, "muc#admin get needs an <item affiliation/> or <item role/>")
	}
	res := wire.NewElement("query", NSAdmin)
	requester := r.affiliation(p.From.Bare())
	if aff := it.Attr("affiliation"); aff != "" {
		if !validAff(aff) || aff == affNone {
			return nil, stanzaErr(stanza.Modify, stanza.BadRequest, "unknown affiliation "+aff)
		}
		if affRank(requester) < affRank(affAdmin) {
			return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "only admins and owners may list affiliations")
		}
		var jids []string
		for j, a := range r.rec.Affiliations {
			if a == aff {
				jids = append(jids, j)
			}
		}
		slices.Sort(jids)
		for _, j := range jids {
			res.Append(wire.NewElement("item", NSAdmin, wire.Attr{Name: "affiliation", Value: aff}, wire.Attr{Name: "jid", Value: j}))
		}
		return res, nil
	}
	role := it.Attr("role")
	switch role {
	case roleModerator, roleParticipant, roleVisitor:
	default:
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest, "unknown role "+role)
	}
	me := r.byReal[p.From]
	if me == nil || me.role != roleModerator {
		return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "only moderators may list roles")
	}
	for _, n := range sortedNicks(r) {
		o := r.occupants[n]
		if o.role == role {
			res.Append(wire.NewElement("item", NSAdmin,
				wire.Attr{Name: "affiliation", Value: r.affiliation(o.bare)}, wire.Attr{Name: "role", Value: role},
				wire.Attr{Name: "nick", Value: o.nick}, wire.Attr{Name: "jid", Value: o.bare.String()}))
		}
	}
	return res, nil
}

// change is one validated item of a muc#admin set.
type change struct {
	target *occupant // for role changes
	bare   xmppd.JID // for affiliation changes
	role   string    // "" when the affiliation changes
	aff    string    // "" when the role changes
	reason string
}

// adminSet changes roles and affiliations (XEP-0045 §8, §9, §10). Every
// item is checked before any is applied, so a refused request changes
// nothing.
func (e *Extension) adminSet(r *room, p *xmppd.Packet, q *wire.Element) error {
	me := r.byReal[p.From]
	myAff := r.affiliation(p.From.Bare())
	items := q.ChildrenNamed("item", NSAdmin)
	if len(items) == 0 {
		return stanzaErr(stanza.Modify, stanza.BadRequest, "muc#admin set needs at least one <item/>")
	}
	affs := make(map[string]string, len(r.rec.Affiliations))
	for j, a := range r.rec.Affiliations {
		affs[j] = a
	}
	var changes []change
	for _, it := range items {
		c := change{reason: it.ChildText("reason", NSAdmin)}
		role, aff := it.Attr("role"), it.Attr("affiliation")
		switch {
		case role != "" && aff == "":
			if me == nil || me.role != roleModerator {
				return stanzaErr(stanza.Auth, stanza.Forbidden, "only moderators may change roles")
			}
			t := r.occupants[it.Attr("nick")]
			if t == nil {
				return stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no occupant "+it.Attr("nick"))
			}
			switch role {
			case roleNone, roleVisitor, roleParticipant, roleModerator:
			default:
				return stanzaErr(stanza.Modify, stanza.BadRequest, "unknown role "+role)
			}
			tAff := r.affiliation(t.bare)
			if affRank(tAff) >= affRank(affAdmin) && role != roleModerator {
				return stanzaErr(stanza.Cancel, stanza.NotAllowed, "admins and owners cannot be kicked or silenced")
			}
			if (role == roleModerator || t.role == roleModerator) && affRank(myAff) < affRank(affAdmin) {
				return stanzaErr(stanza.Cancel, stanza.NotAllowed, "only admins and owners may grant or revoke moderation")
			}
			c.target, c.role = t, role
		case aff != "":
			if !validAff(aff) {
				return stanzaErr(stanza.Modify, stanza.BadRequest, "unknown affiliation "+aff)
			}
			if affRank(myAff) < affRank(affAdmin) {
				return stanzaErr(stanza.Auth, stanza.Forbidden, "only admins and owners may change affiliations")
			}
			var bare xmppd.JID
			if j := it.Attr("jid"); j != "" {
				pj, err := xmppd.ParseJID(j)
				if err != nil {
					return stanzaErr(stanza.Modify, stanza.JIDMalformed, "bad jid "+j)
				}
				bare = pj.Bare()
			} else if t := r.occupants[it.Attr("nick")]; t != nil {
				bare = t.bare
			} else {
				return stanzaErr(stanza.Modify, stanza.BadRequest, "an affiliation item needs a jid (or the nick of an occupant)")
			}
			cur := affs[bare.String()]
			if cur == "" {
				cur = affNone
			}
			if myAff != affOwner && (affRank(cur) >= affRank(affAdmin) || affRank(aff) >= affRank(affAdmin)) {
				return stanzaErr(stanza.Cancel, stanza.NotAllowed, "only owners may grant, revoke or act on admin and owner affiliations")
			}
			if aff == affNone {
				delete(affs, bare.String())
			} else {
				affs[bare.String()] = aff
			}
			c.bare, c.aff = bare, aff
		default:
			return stanzaErr(stanza.Modify, stanza.BadRequest, "an item needs a role or an affiliation")
		}
		changes = append(changes, c)
	}
	owners := 0
	for _, a := range affs {
		if a == affOwner {
			owners++
		}
	}
	if owners == 0 && len(r.owners()) > 0 {
		return stanzaErr(stanza.Cancel, stanza.Conflict, "a room keeps at least one owner")
	}

	actor := ""
	if me != nil {
		actor = me.nick
	}
	affChanged := false
	for _, c := range changes {
		if c.aff == "" {
			t := c.target
			if r.occupants[t.nick] != t {
				continue // already removed by an earlier item
			}
			if c.role == roleNone {
				e.evict(r, t, r.affiliation(t.bare), codeKicked, actor, c.reason)
				continue
			}
			t.role = c.role
			e.broadcastPresence(r, t, "", userX{item: &item{aff: r.affiliation(t.bare), role: t.role, actor: actor, reason: c.reason}}, nil)
			continue
		}
		r.setAffiliation(c.bare, c.aff)
		affChanged = true
		for _, t := range r.occupantsOf(c.bare) {
			switch {
			case c.aff == affOutcast:
				e.evict(r, t, affOutcast, codeBanned, actor, c.reason)
			case r.rec.Config.MembersOnly && c.aff == affNone:
				e.evict(r, t, affNone, codeAffRemoved, actor, c.reason)
			default:
				t.role = r.defaultRole(c.aff)
				e.broadcastPresence(r, t, "", userX{item: &item{aff: c.aff, role: t.role, actor: actor, reason: c.reason}}, nil)
			}
		}
	}
	if affChanged {
		if err := e.save(r); err != nil {
			return err
		}
	}
	return nil
}

// occupantsOf returns the occupants whose real bare JID is bare.
func (r *room) occupantsOf(bare xmppd.JID) []*occupant {
	var l []*occupant
	for _, o := range r.occupants {
		if o.bare == bare {
			l = append(l, o)
		}
	}
	return l
}

// ownerRequest is a muc#owner set: a destruction, or a configuration
// form of type submit or cancel.
type ownerRequest struct {
	destroy     bool
	alt, reason string // of a destruction
	form        *dataform.Form
}

// parseOwnerSet reads a muc#owner set (XEP-0045 §10.1, §10.2, §10.9); a
// cancel form is taken whatever its FORM_TYPE.
func parseOwnerSet(q *wire.Element) (ownerRequest, error) {
	if d := q.Child("destroy", NSOwner); d != nil {
		return ownerRequest{destroy: true, alt: d.Attr("jid"), reason: d.ChildText("reason", NSOwner)}, nil
	}
	x := q.Child("x", nsData)
	if x == nil {
		return ownerRequest{}, stanzaErr(stanza.Modify, stanza.BadRequest, "muc#owner set needs a data form or <destroy/>")
	}
	f := dataform.Parse(x)
	switch f.Type {
	case "cancel":
		return ownerRequest{form: f}, nil
	case "submit":
	default:
		return ownerRequest{}, stanzaErr(stanza.Modify, stanza.BadRequest, "the form must be of type submit or cancel")
	}
	if f.FormType != "" && f.FormType != NSRoomConfig {
		return ownerRequest{}, stanzaErr(stanza.Modify, stanza.BadRequest, "unexpected FORM_TYPE "+f.FormType)
	}
	return ownerRequest{form: f}, nil
}

// ownerSet takes the configuration form or destroys the room (XEP-0045
// §10.1, §10.2, §10.9).
func (e *Extension) ownerSet(r *room, p *xmppd.Packet, q *wire.Element) error {
	if r.affiliation(p.From.Bare()) != affOwner {
		return stanzaErr(stanza.Auth, stanza.Forbidden, "only owners may configure or destroy the room")
	}
	req, err := parseOwnerSet(q)
	switch {
	case err != nil:
		return err
	case req.destroy:
		e.destroy(r, req.alt, req.reason)
		return nil
	case req.form.Type == "cancel":
		if r.locked {
			// Creation abandoned (XEP-0045 §10.1.3).
			e.destroy(r, "", "")
		}
		return nil
	}
	f := req.form
	old := r.rec.Config
	cfg := old
	if err := cfg.applyForm(f, e.Config.MaxOccupants); err != nil {
		return stanzaErr(stanza.Modify, stanza.NotAcceptable, err.Error())
	}
	return e.reconfigure(r, old, cfg)
}

// reconfigure applies a new configuration: stores or forgets the room,
// unlocks it, removes non-members from a room that became members-only
// and tells the occupants (status 104). r.mu is held.
func (e *Extension) reconfigure(r *room, old, cfg roomConfig) error {
	r.rec.Config = cfg
	wasLocked := r.locked
	r.locked = false
	if cfg.Persistent {
		if err := e.save(r); err != nil {
			r.rec.Config = old
			r.locked = wasLocked
			return err
		}
	} else if old.Persistent {
		if err := e.forget(r); err != nil {
			return err
		}
	}
	if cfg.Kind == KindConference && old.Kind != KindConference {
		// Those already in a room that becomes a conference room are in
		// its call from now on.
		for _, n := range sortedNicks(r) {
			e.callJoin(r, r.occupants[n])
		}
	}
	if cfg.MembersOnly && !old.MembersOnly {
		for _, n := range sortedNicks(r) {
			o := r.occupants[n]
			if r.affiliation(o.bare) == affNone {
				e.evict(r, o, affNone, codeMembersOnly, "", "")
			}
		}
	}
	if !wasLocked {
		e.notifyConfigChange(r)
	}
	e.dropIfEmpty(r)
	return nil
}

// destroy ends the room (XEP-0045 §10.9): every occupant gets an
// unavailable presence naming the alternate venue and the reason. r.mu is
// held.
func (e *Extension) destroy(r *room, alt, reason string) {
	e.waitCommits(r) // messages in commit are archived before the archive goes
	if r.destroyed {
		return
	}
	d := &destroyInfo{jid: alt, reason: reason}
	for _, n := range sortedNicks(r) {
		o := r.occupants[n]
		for _, s := range o.sessions {
			x := userX{item: &item{aff: affNone, role: roleNone}, destroy: d, codes: []int{codeSelf}}
			e.send(s, presenceTo(o.from, s.to, "unavailable", presenceBody(o, x)))
		}
		e.removeOccupant(r, o)
	}
	if r.rec.Config.Persistent {
		if err := e.forget(r); err != nil {
			e.log.Error("removing destroyed room from the store failed", "room", r.jid.String(), "err", err)
		}
	}
	e.dropArchive(r)
	r.destroyed = true
	e.unlist(r)
}

// roomMAM answers XEP-0313 queries to the room's archive, following
// Prosody's mod_muc_mam: in an open room anyone but an outcast may read
// it, in a members-only room only members, admins and owners. Results come
// from the room's bare JID; each forwards the message as the room stored
// it (from room/nick, with the room's stanza-id and occupant id). 'with'
// filters by sender: room/nick for one nick, the room's JID for all.
func (e *Extension) roomMAM(r *room, p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	if !e.Config.Archive {
		return nil, stanzaErr(stanza.Cancel, stanza.FeatureNotImplemented, "rooms keep no archive on this server")
	}
	r.mu.Lock()
	destroyed, locked := r.destroyed, r.locked
	aff := r.affiliation(p.From.Bare())
	membersOnly := r.rec.Config.MembersOnly
	r.mu.Unlock()
	switch {
	case destroyed:
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such room: "+r.jid.String())
	case aff == affOutcast:
		return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "you are banned from "+r.jid.String())
	case membersOnly && affRank(aff) < affRank(affMember):
		return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "only members may read the archive of "+r.jid.String())
	case locked && aff != affOwner:
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no such room: "+r.jid.String())
	}
	owner := r.jid.String()
	switch p.Type() + " " + q.Name {
	case "set query":
		req, err := mamproto.ParseRequest(q)
		if err != nil {
			return nil, err
		}
		res, err := mamproto.Run(e.archive, owner, req)
		if err != nil {
			return nil, err
		}
		budget := max(int(e.srv.Config().Limits.OutboundQueue/4), 64*1024)
		page := mamproto.Answer(req, res, p.From.String(), owner, budget)
		for _, m := range page.Messages {
			e.reply(p, m)
		}
		return page.Fin, nil
	case "get query":
		return mamproto.Form(), nil
	case "get metadata":
		return mamproto.Metadata(e.archive, owner)
	}
	return nil, errNotImplemented
}
