package muc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Operator commands (xmppd room ...). They work on a running server and
// on one the CLI built only to reach the store: rooms are loaded at
// Register either way.

// RoomInfo describes a room for the operator.
type RoomInfo struct {
	JID               string   `json:"jid"`
	Kind              string   `json:"kind"`
	Name              string   `json:"name,omitempty"`
	Description       string   `json:"description,omitempty"`
	Public            bool     `json:"public"`
	MembersOnly       bool     `json:"members_only"`
	Persistent        bool     `json:"persistent"`
	PasswordProtected bool     `json:"password_protected"`
	NonAnonymous      bool     `json:"non_anonymous"`
	Moderated         bool     `json:"moderated"`
	Subject           string   `json:"subject,omitempty"`
	Owners            []string `json:"owners,omitempty"`
	Admins            []string `json:"admins,omitempty"`
	Members           []string `json:"members,omitempty"`
	Outcasts          []string `json:"outcasts,omitempty"`
	Occupants         []string `json:"occupants,omitempty"` // nicks
	HistoryMessages   int      `json:"history_messages"`
	// Enquiry is the context of an enquiry room.
	Enquiry *EnquiryContext `json:"enquiry,omitempty"`
	// Calls is the call log of a conference room, oldest first.
	Calls []Call `json:"calls,omitempty"`
}

// RoomSpec is what CreateRoom needs.
type RoomSpec struct {
	JID         string
	Kind        string
	Name        string
	Description string
	// Private: members-only and hidden; otherwise listed and open (SPEC §1).
	Private bool
	Members []string
	Owners  []string
}

// parseRoomJID accepts "room" or "room@<service domain>".
func (e *Extension) parseRoomJID(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("no room JID given")
	}
	if !strings.Contains(s, "@") {
		s += "@" + e.domain
	}
	j, err := xmppd.ParseJID(s)
	if err != nil || j.Local == "" || j.Resource != "" {
		return "", fmt.Errorf("%s: not a room JID", s)
	}
	if j.Domain != e.domain {
		return "", fmt.Errorf("%s: rooms live at %s", s, e.domain)
	}
	return j.Local, nil
}

func parseUsers(l []string) ([]xmppd.JID, error) {
	var out []xmppd.JID
	for _, s := range l {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		j, err := xmppd.ParseJID(s)
		if err != nil || j.Local == "" {
			return nil, fmt.Errorf("%s: not a user JID", s)
		}
		out = append(out, j.Bare())
	}
	return out, nil
}

// CreateRoom makes a persistent, unlocked room. An enquiry room gets an
// empty context (see CreateEnquiry).
func (e *Extension) CreateRoom(spec RoomSpec) (RoomInfo, error) {
	if spec.Kind == KindEnquiry {
		return e.CreateEnquiry(spec, EnquiryContext{})
	}
	return e.createRoom(spec, nil)
}

// CreateEnquiry makes a persistent enquiry room holding ctx (its start
// time defaults to now) and posts the room's system message naming the
// channel and the visitor, which joining clients get as history. For the
// web-chat code and `xmppd room create --kind enquiry --context k=v`.
func (e *Extension) CreateEnquiry(spec RoomSpec, ctx EnquiryContext) (RoomInfo, error) {
	switch spec.Kind {
	case "", KindEnquiry:
		spec.Kind = KindEnquiry
	default:
		return RoomInfo{}, fmt.Errorf("room %s: an enquiry context needs kind enquiry, not %s", spec.JID, spec.Kind)
	}
	c, err := ctx.normalised()
	if err != nil {
		return RoomInfo{}, fmt.Errorf("room %s: %w", spec.JID, err)
	}
	if c.StartTime.IsZero() {
		c.StartTime = time.Now().UTC().Truncate(time.Second)
	}
	return e.createRoom(spec, &c)
}

func (e *Extension) createRoom(spec RoomSpec, ctx *EnquiryContext) (RoomInfo, error) {
	name, err := e.parseRoomJID(spec.JID)
	if err != nil {
		return RoomInfo{}, err
	}
	switch spec.Kind {
	case "":
		spec.Kind = KindSpace
	case KindSpace, KindEnquiry, KindConference:
	default:
		return RoomInfo{}, fmt.Errorf("room kind %q: want space, enquiry or conference", spec.Kind)
	}
	members, err := parseUsers(spec.Members)
	if err != nil {
		return RoomInfo{}, err
	}
	owners, err := parseUsers(spec.Owners)
	if err != nil {
		return RoomInfo{}, err
	}
	r := newRoom(name, e.domain)
	cfg := e.defaultConfig()
	cfg.Kind, cfg.Name, cfg.Description = spec.Kind, spec.Name, spec.Description
	cfg.Persistent = true
	cfg.Public, cfg.MembersOnly = !spec.Private, spec.Private
	r.rec.Config = cfg
	r.rec.Enquiry = ctx
	for _, m := range members {
		r.setAffiliation(m, affMember)
	}
	for _, o := range owners {
		r.setAffiliation(o, affOwner)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rooms[name] != nil {
		return RoomInfo{}, fmt.Errorf("room %s already exists", r.jid.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := e.save(r); err != nil {
		return RoomInfo{}, err
	}
	e.rooms[name] = r
	if ctx != nil {
		if err := e.announceEnquiry(r); err != nil {
			// The room exists; only its opening message is missing.
			e.log.Error("posting the enquiry message failed", "room", r.jid.String(), "err", err)
		}
	}
	return e.info(r), nil
}

// announceEnquiry posts the room's system message (from the room's bare
// JID, with a stanza-id, kept in history) naming the channel and the
// visitor (SPEC §1). r.mu is held.
func (e *Extension) announceEnquiry(r *room) error {
	room := r.jid.String()
	b := make([]byte, 0, 512)
	b = append(b, "<message type='groupchat'"...)
	b = wire.AppendAttr(b, "from", room)
	b = wire.AppendAttr(b, "to", room)
	b = wire.AppendAttr(b, "id", e.srv.NextID())
	b = append(b, '>')
	b = appendTextEl(b, "body", r.rec.Enquiry.announcement())
	id := e.srv.NextID()
	b = append(b, "<stanza-id xmlns='"+NSStanzaID+"'"...)
	b = wire.AppendAttr(b, "id", id)
	b = wire.AppendAttr(b, "by", room)
	b = append(b, "/></message>"...)
	st, err := parseStanza(b)
	if err != nil {
		return err
	}
	if err := e.remember(r, st, id, room, time.Now()); err != nil {
		return err
	}
	e.fanout(r, st)
	return nil
}

// ListRooms describes every room.
func (e *Extension) ListRooms() []RoomInfo {
	var l []RoomInfo
	for _, r := range e.roomList() {
		r.mu.Lock()
		if !r.destroyed {
			l = append(l, e.info(r))
		}
		r.mu.Unlock()
	}
	return l
}

// Room describes one room.
func (e *Extension) Room(jid string) (RoomInfo, error) {
	name, err := e.parseRoomJID(jid)
	if err != nil {
		return RoomInfo{}, err
	}
	r := e.room(name)
	if r == nil {
		return RoomInfo{}, fmt.Errorf("no room %s@%s", name, e.domain)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return e.info(r), nil
}

// DestroyRoom ends a room, telling its occupants why.
func (e *Extension) DestroyRoom(jid, reason string) (string, error) {
	name, err := e.parseRoomJID(jid)
	if err != nil {
		return "", err
	}
	r := e.room(name)
	if r == nil {
		return "", fmt.Errorf("no room %s@%s", name, e.domain)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.destroyed {
		return "", fmt.Errorf("no room %s@%s", name, e.domain)
	}
	e.destroy(r, "", reason)
	return r.jid.String(), nil
}

// info describes r; r.mu is held.
func (e *Extension) info(r *room) RoomInfo {
	c := r.rec.Config
	ri := RoomInfo{
		JID: r.jid.String(), Kind: c.Kind, Name: c.Name, Description: c.Description,
		Public: c.Public, MembersOnly: c.MembersOnly, Persistent: c.Persistent,
		PasswordProtected: c.Password != "", NonAnonymous: c.NonAnonymous, Moderated: c.Moderated,
		Subject: r.rec.Subject, HistoryMessages: len(e.recent(r)),
	}
	for j, a := range r.rec.Affiliations {
		switch a {
		case affOwner:
			ri.Owners = append(ri.Owners, j)
		case affAdmin:
			ri.Admins = append(ri.Admins, j)
		case affMember:
			ri.Members = append(ri.Members, j)
		case affOutcast:
			ri.Outcasts = append(ri.Outcasts, j)
		}
	}
	for _, l := range [][]string{ri.Owners, ri.Admins, ri.Members, ri.Outcasts} {
		slices.Sort(l)
	}
	ri.Occupants = sortedNicks(r)
	if c.Kind == KindEnquiry && r.rec.Enquiry != nil {
		ri.Enquiry = r.rec.Enquiry.clone()
	}
	ri.Calls = r.callLog()
	return ri
}

// splitList reads a list argument of the admin protocol (one per line or
// comma-separated).
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' })
}

// adminCreate takes the enquiry context in args["context"] as a JSON
// object of field name → value.
func (e *Extension) adminCreate(_ context.Context, args map[string]string) (any, error) {
	spec := RoomSpec{
		JID: args["jid"], Kind: args["kind"], Name: args["name"], Description: args["description"],
		Private: args["private"] == "true", Members: splitList(args["members"]), Owners: splitList(args["owners"]),
	}
	kv, err := decodeContextArg(args["context"])
	if err != nil {
		return nil, err
	}
	if len(kv) == 0 {
		return e.CreateRoom(spec)
	}
	if spec.Kind != KindEnquiry {
		return nil, fmt.Errorf("room %s: an enquiry context (--context) is only for --kind enquiry", spec.JID)
	}
	ctx, err := ParseEnquiryContext(kv)
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", spec.JID, err)
	}
	return e.CreateEnquiry(spec, ctx)
}

func (e *Extension) adminList(context.Context, map[string]string) (any, error) {
	l := e.ListRooms()
	if l == nil {
		l = []RoomInfo{}
	}
	return l, nil
}

func (e *Extension) adminInfo(_ context.Context, args map[string]string) (any, error) {
	return e.Room(args["jid"])
}

func (e *Extension) adminDestroy(_ context.Context, args map[string]string) (any, error) {
	return e.DestroyRoom(args["jid"], args["reason"])
}
