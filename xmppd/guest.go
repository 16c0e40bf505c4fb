package xmppd

// Guests (SPEC §1, §6; XEP-0175): web visitors log in with SASL ANONYMOUS
// on the guest domain ([enquiry] guest_domain), a second host served for
// c2s only. A guest gets a random temporary JID <random>@<guest
// domain>/<resource>, has no account and no roster, may only address the
// domains extensions open to guests (the rooms service) and the server
// itself (ping, disco), and leaves nothing behind: when its session ends,
// AccountDeleted runs for its JID so every extension drops what it kept.
//
// Routing: the guest domain is a DomainHandler of the core (not listed in
// disco#items), so stanzas to guests reach their sessions, and a stanza to
// a guest who left gets service-unavailable rather than offline storage.

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"io"

	"github.com/xmppd/xmppd/xmppd/auth"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

// errGuestRate is the refusal of a guest login over the per-address limit.
var errGuestRate = errors.New("too many guest logins from this address")

var errGuestForbidden = StanzaError(stanza.Auth, stanza.Forbidden,
	"guests can only write to their enquiry room and to the server")

const (
	nsRoster  = "jabber:iq:roster"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
)

// GuestDomain returns the guest domain ("" when guests are off).
func (srv *Server) GuestDomain() string { return srv.guestDomain }

// IsGuest reports whether j is a guest's JID.
func (srv *Server) IsGuest(j JID) bool { return srv.guestDomain != "" && j.Domain == srv.guestDomain }

// Guest reports whether the session is a guest's (SASL ANONYMOUS).
func (s *Session) Guest() bool { return s.guest }

// OpenToGuests lets guests send stanzas to domain, a component this
// extension serves with HandleDomain (the rooms service, where a visitor's
// enquiry room is). Every other component stays closed to them: an SMS
// gateway must never be a guest's to use.
func (r *Registrar) OpenToGuests(domain string) {
	r.srv.guestOpen[domain] = true
}

// setupGuests serves the guest domain and installs the guest policy, as
// core filters that run before any extension's.
func (srv *Server) setupGuests(core *Registrar) {
	if srv.guestDomain == "" {
		return
	}
	srv.domains[srv.guestDomain] = guestHost{srv}
	Hook(core, MessageOut, PriorityFilter, srv.guestMessageOut)
	Hook(core, IQOut, PriorityFilter, srv.guestIQOut)
	Hook(core, PresenceOut, PriorityFilter, srv.guestPresenceOut)
}

// guestSASLFeature offers SASL ANONYMOUS on the guest host, rate-limited
// per address.
func (srv *Server) guestSASLFeature(c *streamConn, out *auth.Outcome, ip string) xmpp.StreamFeature {
	f := auth.GuestStreamFeature(auth.Guest{
		Allow: func() error {
			if !srv.guestLogins.take(ip) {
				return errGuestRate
			}
			return nil
		},
		NewUser: srv.newGuestName,
	}, out)
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		if err := srv.checkHost(c, s); err != nil {
			return 0, nil, err
		}
		return inner(ctx, s, data)
	}
	return f
}

var guestNames = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newGuestName returns an unguessable local part no session uses.
func (srv *Server) newGuestName() string {
	for {
		var b [10]byte
		_, _ = rand.Read(b[:])
		name := guestNames.EncodeToString(b[:])
		if len(srv.sessions.sessions(JID{Local: name, Domain: srv.guestDomain})) == 0 {
			return name
		}
	}
}

// guestAllowed reports whether a guest may address to: itself, the server
// (main or guest domain, not its accounts), or a domain open to guests.
func (srv *Server) guestAllowed(from, to JID) bool {
	switch {
	case to.Bare() == from.Bare():
		return true
	case to.Local == "" && to.Resource == "" && (to.Domain == srv.domain || to.Domain == srv.guestDomain):
		return true
	}
	return srv.guestOpen[to.Domain]
}

func (srv *Server) guestMessageOut(p *Packet) Verdict {
	if p.Origin == nil || !p.Origin.guest || srv.guestAllowed(p.From, p.To) {
		return Pass
	}
	srv.Bounce(p, errGuestForbidden)
	return Done
}

func (srv *Server) guestIQOut(p *Packet) Verdict {
	if p.Origin == nil || !p.Origin.guest || srv.guestAllowed(p.From, p.To) {
		return Pass
	}
	if t := p.Type(); t == "result" || t == "error" {
		// Answers to what someone asked the guest (a version or ping
		// request) are no way to reach staff.
		return Pass
	}
	srv.Bounce(p, errGuestForbidden)
	return Done
}

func (srv *Server) guestPresenceOut(p *Packet) Verdict {
	if p.Origin == nil || !p.Origin.guest || p.Stanza.To == "" || srv.guestAllowed(p.From, p.To) {
		return Pass
	}
	srv.Bounce(p, errGuestForbidden)
	return Done
}

// guestEnded drops everything kept for a guest whose session ended: the
// same AccountDeleted every extension already handles for accounts (the
// enquiry room's archive is the room's, and stays).
func (srv *Server) guestEnded(s *Session) {
	RunHook(srv, AccountDeleted, s.bare)
	s.log.Info("guest left; its data was removed")
}
