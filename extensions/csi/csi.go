// Package csi implements XEP-0352 Client State Indication (urn:xmpp:csi:0):
// a client tells the server it is <inactive/> (the app is in the
// background, the screen is off) or <active/> again, and the server holds
// back what the user would not look at anyway, saving the phone's radio
// and battery.
//
// Stream feature: <csi xmlns='urn:xmpp:csi:0'/> is advertised after
// authentication (informational, nothing to negotiate). Nonzas <active/>
// and <inactive/> in that namespace, from a bound session, switch its
// state; sessions start active (XEP-0352 §4). Anything else in the
// namespace ends the stream with unsupported-stanza-type, as the core does
// for unknown elements.
//
// While a session is inactive, an xmppd.OutboundFilter on it sorts what is
// queued for it (in the manner of Prosody's mod_csi_simple):
//   - presence updates (available, unavailable, error) are held, only the
//     latest one per sender JID ('from'), in the order those latest ones
//     arrived: a contact who went away and came back while the phone slept
//     is one stanza, not two. Above maxHeld senders they are all released,
//     so memory stays bounded;
//   - urgent stanzas go out at once, after the held presence (so the client
//     sees a room occupant's presence before their message): IQs, messages
//     with a body, subject, encryption (XEP-0380), invitation (XEP-0249,
//     XEP-0045 muc#user) or call (XEP-0353), error messages, sent carbons
//     and received carbons of such messages, subscription presence, and
//     anything that is not a stanza;
//   - other messages (chat states, receipts, markers, PEP headlines) go out
//     at once too, without releasing held presence.
//
// <active/> releases everything held, in order, and removes the filter, so
// an active session pays for CSI only a nil check in Session.Send.
//
// No store and no config: the state lives and dies with the session.
package csi

import (
	"context"
	"encoding/xml"
	"sync"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

// NS is the XEP-0352 namespace.
const NS = "urn:xmpp:csi:0"

const (
	nsClient  = "jabber:client"
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
)

// maxHeld bounds the presence held for one inactive session (distinct
// senders); beyond it everything held is released.
const maxHeld = 1000

// urgentPayloads are message payloads (first-level namespace) worth
// waking the device for (beyond body and subject).
var urgentPayloads = map[string]bool{
	"urn:xmpp:eme:0":                      true, // XEP-0380: encrypted, the body is a fallback
	"jabber:x:conference":                 true, // XEP-0249 invitation
	"http://jabber.org/protocol/muc#user": true, // XEP-0045 invitation, decline, PM marker
	"urn:xmpp:jingle-message:0":           true, // XEP-0353 call
	"urn:xmpp:jingle-message:1":           true,
}

// Extension implements client state indication.
type Extension struct{}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the CSI extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "csi" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	r.StreamFeature(xmpp.StreamFeature{
		Name:      xml.Name{Space: NS, Local: "csi"},
		Necessary: xmpp.Authn,
		// Informational: mellium lists it after bind; a client cannot
		// select it (Negotiate nil) and it never counts as required.
		List: func(_ context.Context, w xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			if err := w.EncodeToken(start); err != nil {
				return false, err
			}
			return false, w.EncodeToken(start.End())
		},
	})
	return r.HandleNonza(NS, handleNonza)
}

// stateKey holds a session's *state.
type stateKey struct{}

// state is one session's CSI state and what is held for it.
type state struct {
	s *xmppd.Session

	mu       sync.Mutex
	inactive bool
	held     []heldPresence // arrival order; b == nil: superseded
	index    map[string]int // sender → its entry in held
	filter   xmppd.OutboundFilter
}

type heldPresence struct {
	from string
	b    []byte
}

func stateOf(s *xmppd.Session) *state {
	if st, ok := s.Value(stateKey{}).(*state); ok {
		return st
	}
	st := &state{s: s, index: make(map[string]int)}
	st.filter = st.outbound
	s.SetValue(stateKey{}, st)
	return st
}

// handleNonza switches the session's state. It runs on the session's
// reader goroutine, so one session's nonzas never race each other.
func handleNonza(s *xmppd.Session, el *wire.Stanza) {
	switch el.Name {
	case "inactive":
		stateOf(s).setInactive()
	case "active":
		if st, ok := s.Value(stateKey{}).(*state); ok {
			st.setActive()
		}
	default:
		s.CloseWithError("unsupported-stanza-type", "unexpected element <"+el.Name+"> in namespace "+NS)
	}
}

func (st *state) setInactive() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.inactive {
		return
	}
	st.inactive = true
	st.s.SetOutboundFilter(st.filter)
	st.s.Logger().Debug("client inactive (XEP-0352)")
}

// setActive releases what is held and removes the filter. A sender that
// loaded the filter just before it went finds inactive false under the
// lock and passes its stanza, after the released ones.
func (st *state) setActive() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.inactive {
		return
	}
	st.inactive = false
	st.releaseLocked()
	st.s.SetOutboundFilter(nil)
	st.s.Logger().Debug("client active (XEP-0352)")
}

// outbound is the session's xmppd.OutboundFilter while it is inactive.
func (st *state) outbound(b []byte) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.inactive {
		return true
	}
	class, from := classify(b)
	switch class {
	case hold:
		st.holdLocked(from, b)
	case urgent:
		// Queued here, under the lock, so nothing held later can overtake
		// what was held before it.
		st.releaseLocked()
		st.s.SendUnfiltered(b)
	default:
		return true
	}
	return false
}

func (st *state) holdLocked(from string, b []byte) {
	if i, ok := st.index[from]; ok {
		st.held[i].b = nil
	}
	st.index[from] = len(st.held)
	st.held = append(st.held, heldPresence{from: from, b: b})
	switch {
	case len(st.index) > maxHeld:
		st.releaseLocked()
	case len(st.held) > 2*len(st.index)+16:
		st.compactLocked()
	}
}

// compactLocked drops superseded entries.
func (st *state) compactLocked() {
	kept := st.held[:0]
	for _, h := range st.held {
		if h.b != nil {
			st.index[h.from] = len(kept)
			kept = append(kept, h)
		}
	}
	clear(st.held[len(kept):])
	st.held = kept
}

// releaseLocked queues everything held, in order.
func (st *state) releaseLocked() {
	if len(st.held) == 0 {
		return
	}
	for _, h := range st.held {
		if h.b != nil {
			st.s.SendUnfiltered(h.b)
		}
	}
	st.held = nil
	clear(st.index)
}

type class int

const (
	pass   class = iota // send now, nothing to release
	hold                // presence update: keep the latest per sender
	urgent              // release what is held, then send
)

// classify sorts one outgoing top-level element; for a held presence it
// also returns its sender. Only inactive sessions pay for the parse.
func classify(b []byte) (class, string) {
	st, err := wire.ParseStanza(b)
	if err != nil || st.NS != nsClient {
		return urgent, ""
	}
	switch st.Name {
	case "presence":
		switch st.Type {
		case "", "unavailable", "error":
			return hold, st.From
		}
		return urgent, "" // subscription requests and answers
	case "message":
		if messageUrgent(st) {
			return urgent, ""
		}
		return pass, ""
	}
	return urgent, "" // IQs: someone waits for the answer
}

func messageUrgent(st *wire.Stanza) bool {
	if st.Type == "error" {
		return true
	}
	for _, c := range st.Children {
		switch {
		case c.NS == nsClient && (c.Name == "body" || c.Name == "subject"):
			return true
		case urgentPayloads[c.NS]:
			return true
		case c.NS == nsCarbons && c.Name == "sent":
			// The user wrote it on another device: they are active.
			return true
		case c.NS == nsCarbons && c.Name == "received":
			return receivedCarbonUrgent(st.ChildBytes(c))
		}
	}
	return false
}

// receivedCarbonUrgent applies the message rules to the message a
// received carbon forwards.
func receivedCarbonUrgent(received []byte) bool {
	el, err := wire.Parse(received)
	if err != nil {
		return true
	}
	m := el.Child("forwarded", nsForward).Child("message", nsClient)
	if m == nil {
		return true
	}
	inner, err := wire.ParseStanza(m.AppendXML(nil))
	if err != nil {
		return true
	}
	return messageUrgent(inner)
}
