package muc

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// adminFuzzExt is a MUC service on a server that never listens: enough
// for muc#admin and muc#owner requests in a room whose occupants'
// sessions are not connected (what the room sends them goes nowhere).
func adminFuzzExt(f *testing.F) *Extension {
	cfg := config.Default()
	cfg.DataDir = f.TempDir()
	db, err := store.Open(cfg.StorePath(), store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	e := New()
	if _, err := xmppd.New(xmppd.Options{Config: cfg, Store: db, Extensions: []xmppd.Extension{e},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		f.Fatal(err)
	}
	return e
}

// requesters: occupants alice (owner), dave (admin), bob (participant),
// erin (visitor), then two who are not in the room: carol (member) and
// mallory (outcast).
var requesters = []string{"alice", "dave", "bob", "erin", "carol", "mallory"}

func userJID(nick string) xmppd.JID { return xmppd.JID{Local: nick, Domain: "localhost"} }

// phoneOf is the full JID each requester sends from.
func phoneOf(nick string) xmppd.JID {
	return xmppd.JID{Local: nick, Domain: "localhost", Resource: "phone"}
}

// adminFuzzRoom is a fresh room with the requesters in place.
func adminFuzzRoom(e *Extension) *room {
	r := newRoom("team", e.domain)
	r.rec.Config = e.defaultConfig()
	for _, u := range []struct{ nick, aff, role string }{
		{"alice", affOwner, roleModerator}, {"dave", affAdmin, roleModerator},
		{"bob", affNone, roleParticipant}, {"erin", affNone, roleVisitor},
		{"carol", affMember, ""}, {"mallory", affOutcast, ""},
	} {
		bare := userJID(u.nick)
		r.setAffiliation(bare, u.aff)
		if u.role == "" {
			continue
		}
		o := &occupant{nick: u.nick, bare: bare, role: u.role, id: e.occupantID(r.name, bare),
			jid: xmppd.JID{Local: r.name, Domain: e.domain, Resource: u.nick}}
		o.from = o.jid.String()
		full := phoneOf(u.nick)
		o.sessions = []*occSession{{full: full, to: full.String()}}
		r.occupants[u.nick] = o
		r.byReal[full] = o
	}
	return r
}

// roomState is what a muc#admin or muc#owner request may change.
type roomState struct {
	affs      map[string]string
	roles     map[string]string // nick -> role
	cfg       roomConfig
	destroyed bool
}

func stateOf(r *room) roomState {
	roles := make(map[string]string, len(r.occupants))
	for n, o := range r.occupants {
		roles[n] = o.role
	}
	return roomState{maps.Clone(r.rec.Affiliations), roles, r.rec.Config, r.destroyed}
}

func (s roomState) equal(o roomState) bool {
	return maps.Equal(s.affs, o.affs) && maps.Equal(s.roles, o.roles) && s.cfg == o.cfg && s.destroyed == o.destroyed
}

// checkRoom asserts what holds after any request: affiliations are
// canonical bare JIDs with a stored affiliation, at least one owner is
// left, no outcast is in the room and every occupant has a role.
func checkRoom(t *testing.T, r *room) {
	t.Helper()
	owners := 0
	for j, a := range r.rec.Affiliations {
		pj, err := xmppd.ParseJID(j)
		if err != nil || pj.String() != j || pj.Resource != "" {
			t.Fatalf("affiliation stored under %q (not a bare JID)", j)
		}
		switch a {
		case affOwner:
			owners++
		case affAdmin, affMember, affOutcast:
		default:
			t.Fatalf("affiliation %q stored for %s", a, j)
		}
	}
	if owners == 0 {
		t.Fatalf("no owner left: %v", r.rec.Affiliations)
	}
	for n, o := range r.occupants {
		if n != o.nick || r.affiliation(o.bare) == affOutcast {
			t.Fatalf("occupant %s (%s, %s) in the room", n, o.bare, r.affiliation(o.bare))
		}
		switch o.role {
		case roleModerator, roleParticipant, roleVisitor:
		default:
			t.Fatalf("occupant %s has role %q", n, o.role)
		}
		if affRank(r.affiliation(o.bare)) >= affRank(affAdmin) && o.role != roleModerator {
			t.Fatalf("admin or owner %s is a %s", n, o.role)
		}
	}
}

// FuzzAdmin: any muc#admin get or set from any requester either fails
// and changes nothing, or leaves a consistent room; users without the
// rights change nothing, and lists hold only what was asked for.
func FuzzAdmin(f *testing.F) {
	for _, seed := range []struct {
		who uint8
		set bool
		q   string
	}{
		{0, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='bob' role='none'><reason>spam</reason></item></query>`},
		{0, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@localhost' affiliation='outcast'/><item nick='erin' role='participant'/></query>`},
		{0, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='dave@localhost' affiliation='owner'/><item jid='alice@localhost' affiliation='none'/></query>`},
		{0, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='alice@localhost' affiliation='member'/></query>`},
		{1, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='alice' role='visitor'/></query>`},
		{1, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='new@localhost/res' affiliation='member'/><item nick='bob' affiliation='admin'/></query>`},
		{1, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='@@' affiliation='member'/></query>`},
		{2, true, `<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='erin' role='participant'/></query>`},
		{0, false, `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>`},
		{1, false, `<query xmlns='http://jabber.org/protocol/muc#admin'><item role='moderator'/></query>`},
		{3, false, `<query xmlns='http://jabber.org/protocol/muc#admin'><item role='participant'/></query>`},
	} {
		f.Add(seed.who, seed.set, []byte(seed.q))
	}
	e := adminFuzzExt(f)
	f.Fuzz(func(t *testing.T, who uint8, set bool, b []byte) {
		q, err := wire.Parse(b)
		if err != nil || q.NS != NSAdmin {
			return
		}
		r := adminFuzzRoom(e)
		nick := requesters[int(who)%len(requesters)]
		p := &xmppd.Packet{From: phoneOf(nick)}
		privileged := nick == "alice" || nick == "dave"
		before := stateOf(r)
		if !set {
			res, err := e.adminGet(r, p, q)
			if !stateOf(r).equal(before) {
				t.Fatal("a muc#admin get changed the room")
			}
			if err != nil {
				return
			}
			if !privileged {
				t.Fatalf("%s listed %s", nick, res)
			}
			want := q.Child("item", NSAdmin)
			for _, it := range res.ChildrenNamed("item", NSAdmin) {
				if a := want.Attr("affiliation"); a != "" && it.Attr("affiliation") != a ||
					a == "" && it.Attr("role") != want.Attr("role") {
					t.Fatalf("asked for %s, got %s", want, it)
				}
			}
			return
		}
		err = e.adminSet(r, p, q)
		after := stateOf(r)
		switch {
		case err != nil && !after.equal(before):
			t.Fatalf("a refused muc#admin set (%v) changed the room: %+v -> %+v", err, before, after)
		case err == nil && !privileged:
			t.Fatalf("%s without rights changed the room: %+v -> %+v", nick, before, after)
		case err == nil && nick == "dave" && (after.affs["alice@localhost"] != affOwner || !maps.Equal(ownersOf(before.affs), ownersOf(after.affs))):
			t.Fatalf("an admin changed the owners: %v -> %v", before.affs, after.affs)
		}
		checkRoom(t, r)
	})
}

func ownersOf(affs map[string]string) map[string]string {
	return maps.Collect(func(yield func(string, string) bool) {
		for j, a := range affs {
			if (a == affOwner || a == affAdmin) && !yield(j, a) {
				return
			}
		}
	})
}

// FuzzOwner: any muc#owner set either fails and changes nothing or
// destroys the room or leaves a valid configuration; only the owner
// changes anything, and a configuration survives its own form: the form
// the room shows, submitted to a new room, gives the same configuration.
func FuzzOwner(f *testing.F) {
	for _, seed := range []struct {
		who uint8
		q   string
	}{
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='other@conference.localhost'><reason>moved</reason></destroy></query>`},
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>`},
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
			`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
			`<field var='muc#roomconfig_roomname'><value> Team </value></field>` +
			`<field var='muc#roomconfig_membersonly'><value>1</value></field>` +
			`<field var='muc#roomconfig_passwordprotectedroom'><value>true</value></field>` +
			`<field var='muc#roomconfig_roomsecret'><value>s3cret</value></field>` +
			`<field var='muc#roomconfig_maxusers'><value>20</value></field>` +
			`<field var='x-xmppd#kind'><value>conference</value></field>` +
			`<field var='muc#roomconfig_whois'><value>anyone</value></field>` +
			`<field var='x-xmppd#mention_all'><value>participants</value></field>` +
			`</x></query>`},
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_moderatedroom'><value>1</value></field></x></query>`},
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>-3</value></field></x></query>`},
		{0, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'/></query>`},
		{1, `<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>`},
	} {
		f.Add(seed.who, []byte(seed.q))
	}
	e := adminFuzzExt(f)
	f.Fuzz(func(t *testing.T, who uint8, b []byte) {
		q, err := wire.Parse(b)
		if err != nil || q.NS != NSOwner {
			return
		}
		r := adminFuzzRoom(e)
		nick := requesters[int(who)%len(requesters)]
		p := &xmppd.Packet{From: phoneOf(nick)}
		before := stateOf(r)
		err = e.ownerSet(r, p, q)
		after := stateOf(r)
		switch {
		case err != nil && !after.equal(before):
			t.Fatalf("a refused muc#owner set (%v) changed the room: %+v -> %+v", err, before, after)
		case err == nil && nick != "alice" && !after.equal(before):
			t.Fatalf("%s changed the room: %+v -> %+v", nick, before, after)
		case err == nil && nick != "alice":
			t.Fatalf("%s's muc#owner set was taken", nick)
		case after.destroyed:
			if len(r.occupants) > 0 {
				t.Fatalf("a destroyed room has occupants: %v", slices.Collect(maps.Keys(r.occupants)))
			}
			return
		}
		if err != nil {
			return
		}
		checkConfig(t, e, r.rec.Config)
		if r.rec.Config.MembersOnly {
			for n, o := range r.occupants {
				if r.affiliation(o.bare) == affNone {
					t.Fatalf("%s, not a member, is in a members-only room", n)
				}
			}
		}
	})
}

// checkConfig asserts that c is a configuration the form can express and
// that the form gives it back.
func checkConfig(t *testing.T, e *Extension, c roomConfig) {
	t.Helper()
	switch {
	case c.MaxUsers < 1 || c.MaxUsers > e.Config.MaxOccupants:
		t.Fatalf("max users %d", c.MaxUsers)
	case c.Kind != KindSpace && c.Kind != KindEnquiry && c.Kind != KindConference:
		t.Fatalf("kind %q", c.Kind)
	case c.MentionAll != "" && c.MentionAll != "participants":
		t.Fatalf("mention_all %q", c.MentionAll)
	}
	x, err := wire.Parse([]byte(c.configForm().String()))
	if err != nil {
		t.Fatalf("the configuration form does not parse: %v", err)
	}
	again := e.defaultConfig()
	if err := again.applyForm(dataform.Parse(x), e.Config.MaxOccupants); err != nil {
		t.Fatalf("the room's own form is refused: %v", err)
	}
	if again != c {
		t.Fatalf("configuration %+v comes back from its form as %+v", c, again)
	}
}

// FuzzCommand: any XEP-0050 <command/> to an enquiry room from any
// requester either fails and leaves the enquiry context as it was, or
// comes from an owner or admin; a session id the room did not make is
// refused, and a completed edit changes only the visitor's details.
func FuzzCommand(f *testing.F) {
	for _, seed := range []struct {
		who uint8
		q   string
	}{
		{0, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' action='execute'/>`},
		{1, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='visitor_first_name'><value>Grace</value></field><field var='new_field_name'><value>plan</value></field><field var='new_field_value'><value>gold</value></field></x></command>`},
		{0, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' sessionid='{sid}' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='visitor_email'><value>a@example.com</value></field></x></command>`},
		{0, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' sessionid='zz.forged' action='complete'><x xmlns='jabber:x:data' type='submit'/></command>`},
		{2, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='visitor_phone'><value>+1</value></field></x></command>`},
		{0, `<command xmlns='http://jabber.org/protocol/commands' node='call-log'/>`},
		{0, `<command xmlns='http://jabber.org/protocol/commands' node='enquiry-context' action='next'/>`},
	} {
		f.Add(seed.who, []byte(seed.q))
	}
	e := adminFuzzExt(f)
	f.Fuzz(func(t *testing.T, who uint8, b []byte) {
		r := adminFuzzRoom(e)
		r.rec.Config.Kind = KindEnquiry
		ctx, err := ParseEnquiryContext(map[string]string{"channel": "weblink", "visitor_first_name": "Ada", "utm_source": "ads"})
		if err != nil {
			t.Fatal(err)
		}
		r.rec.Enquiry = &ctx
		nick := requesters[int(who)%len(requesters)]
		from := phoneOf(nick)
		sid := e.newSession(r, CommandEnquiryContext, from, time.Now())
		q, err := wire.Parse(bytes.ReplaceAll(b, []byte("{sid}"), []byte(sid)))
		if err != nil || q.Name != "command" || q.NS != NSCommands {
			return
		}
		before := *ctx.clone()
		_, err = e.executeCommand(r, &xmppd.Packet{From: from}, q)
		after := *r.rec.Enquiry
		switch {
		case err != nil && !reflect.DeepEqual(after, before):
			t.Fatalf("a refused command (%v) changed the context: %+v -> %+v", err, before, after)
		case err == nil && nick != "alice" && nick != "dave":
			t.Fatalf("%s ran %s", nick, q)
		case err == nil && q.Attr("sessionid") != "" && q.Attr("sessionid") != sid:
			t.Fatalf("session id %q taken", q.Attr("sessionid"))
		}
		after.Visitor, before.Visitor = Visitor{}, Visitor{}
		if !reflect.DeepEqual(after, before) {
			t.Fatalf("the command changed more than the visitor: %+v -> %+v", before, after)
		}
	})
}
