package xmppd

import "github.com/xmppd/xmppd/xmppd/wire"

// Routing to guests. The guest domain is a DomainHandler of the core (not
// listed in disco#items, see ComponentDomains): stanzas to a guest reach
// its session; once it left they get service-unavailable, never offline
// storage; the domain itself answers like the server.

// guestHost routes stanzas addressed to the guest domain.
type guestHost struct{ srv *Server }

func (g guestHost) HandleStanza(p *Packet) {
	srv := g.srv
	to := p.To
	if to.Local == "" {
		// The guest domain itself stands for the server: a guest's client
		// pings and discovers its own domain.
		if p.Kind() == "iq" && (p.Type() == "get" || p.Type() == "set") && len(p.Stanza.Children) == 1 {
			c := p.Stanza.Children[0]
			if h, ok := srv.iqHandlers[iqKey{target: TargetServer, typ: p.Type(), ns: c.NS, name: c.Name}]; ok {
				srv.runIQHandler(p, h)
				return
			}
		}
		if p.Kind() == "iq" {
			srv.Bounce(p, errServiceUnavailable)
		}
		return
	}
	if to.Resource != "" {
		if s := srv.sessions.full(to); s != nil {
			srv.deliver(s, p)
			return
		}
	} else if p.Kind() != "iq" {
		delivered := false
		for _, s := range srv.sessions.sessions(to.Bare()) {
			srv.deliver(s, p)
			delivered = true
		}
		if delivered {
			return
		}
	} else if p.From.Bare() == to.Bare() && len(p.Stanza.Children) == 1 {
		// What a client asks of its own account: a guest has an empty
		// roster, and legacy session establishment succeeds.
		switch c := p.Stanza.Children[0]; {
		case p.Type() == "get" && c.NS == nsRoster && c.Name == "query":
			srv.sendRawToGuest(p.From, resultIQ(p, wire.NewElement("query", nsRoster)))
			return
		case p.Type() == "set" && c.NS == nsSession && c.Name == "session":
			srv.sendRawToGuest(p.From, resultIQ(p, nil))
			return
		}
	}
	// Gone (or never there): no offline storage for guests.
	switch p.Kind() {
	case "message":
		if t := p.Type(); t != "error" && t != "headline" {
			srv.Bounce(p, errServiceUnavailable)
		}
	case "iq":
		if t := p.Type(); t == "get" || t == "set" {
			srv.Bounce(p, errServiceUnavailable)
		}
	}
}

// sendRawToGuest delivers server-made XML to a guest's session(s).
func (srv *Server) sendRawToGuest(to JID, b []byte) {
	if to.Resource != "" {
		if s := srv.sessions.full(to); s != nil {
			s.Send(b)
		}
		return
	}
	for _, s := range srv.sessions.sessions(to.Bare()) {
		s.Send(b)
	}
}
