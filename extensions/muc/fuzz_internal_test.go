package muc

import (
	"slices"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// fuzzRoom is a room with two occupants (alice a moderator, bob a
// participant) and a member who is away (carol).
func fuzzRoom() (*Extension, *room, *occupant) {
	e := &Extension{idKey: []byte("fuzz-key"), domain: "conference.localhost"}
	r := newRoom("team", e.domain)
	users := map[string]string{"alice": roleModerator, "bob": roleParticipant}
	var sender *occupant
	for nick, role := range users {
		bare := xmppd.JID{Local: nick, Domain: "localhost"}
		o := &occupant{nick: nick, bare: bare, role: role, id: e.occupantID(r.name, bare),
			jid: xmppd.JID{Local: "team", Domain: e.domain, Resource: nick}}
		r.occupants[nick] = o
		if nick == "bob" {
			sender = o
		}
	}
	r.setAffiliation(xmppd.JID{Local: "carol", Domain: "localhost"}, affMember)
	return e, r, sender
}

// FuzzMentions: any group chat message either mentions room users (never
// its sender) or is refused with an error; nothing panics.
func FuzzMentions(f *testing.F) {
	for _, seed := range []string{
		`<message type='groupchat'><body>hi alice</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='3' end='8' uri='xmpp:team@conference.localhost/alice'/></message>`,
		`<message type='groupchat'><body>@all now</body></message>`,
		`<message type='groupchat'><body>x</body><mention xmlns='urn:xmpp:mentions:0' mentions='urn:xmpp:mentions:0#channel'/></message>`,
		`<message type='groupchat'><body>carol</body><mention xmlns='urn:xmpp:mentions:0' jid='carol@localhost' begin='0' end='5'/></message>`,
		`<message type='groupchat'><body>é</body><reference xmlns='urn:xmpp:reference:0' type='mention' begin='-1' end='99999999999999999999' uri='xmpp:'/></message>`,
	} {
		f.Add([]byte(seed))
	}
	e, r, sender := fuzzRoom()
	users := r.users()
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := wire.ParseStanza(b)
		if err != nil {
			return
		}
		got, err := e.mentionsOf(r, sender, st)
		if err != nil {
			return
		}
		for _, j := range got {
			if j == sender.bare || !slices.Contains(users, j) {
				t.Fatalf("mentions %s (sender %s, users %v)", j, sender.bare, users)
			}
		}
	})
}

// FuzzModeration: any payload is a moderation request or not; nothing
// panics, and a request always names the id it was given.
func FuzzModeration(f *testing.F) {
	for _, seed := range []string{
		`<moderate xmlns='urn:xmpp:message-moderate:1' id='x'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate>`,
		`<apply-to xmlns='urn:xmpp:fasten:0' id='y'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := wire.Parse(b)
		if err != nil {
			return
		}
		if m, ok := parseModeration(q); ok && m.id != q.Attr("id") {
			t.Fatalf("moderation of %q from a payload naming %q", m.id, q.Attr("id"))
		}
	})
}
