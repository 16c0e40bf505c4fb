package auth

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"unicode/utf8"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

// maxTraceLen is RFC 4505's limit on the trace information: 255 UTF-8
// characters, so at most 1020 bytes.
const maxTraceLen = 255

// Guest configures SASL ANONYMOUS (RFC 4505) for one connection: a visitor
// without an account gets a fresh temporary username (XEP-0175).
type Guest struct {
	// Allow is asked once per attempt before a username is made; an error
	// (e.g. a login rate limit) fails the attempt, and Outcome.Failure is
	// its text.
	Allow func() error
	// NewUser returns a fresh random username, never one in use.
	NewUser func() string
}

type anonymousServer struct {
	g   Guest
	out *Outcome
}

func (a *anonymousServer) mechanism() sasl.Mechanism {
	return sasl.Mechanism{Name: "ANONYMOUS", Start: serverOnlyStart, Next: a.next}
}

func (a *anonymousServer) next(_ *sasl.Negotiator, trace []byte, data any) (bool, []byte, any, error) {
	a.out.Mechanism = "ANONYMOUS"
	if data != nil {
		return false, nil, nil, a.out.fail("too many steps")
	}
	// The trace (an email address or token the client may send) is not
	// kept: a guest's identity is the temporary JID, nothing else.
	if !utf8.Valid(trace) || utf8.RuneCount(trace) > maxTraceLen {
		return false, nil, nil, a.out.fail("malformed ANONYMOUS trace")
	}
	if a.g.Allow != nil {
		if err := a.g.Allow(); err != nil {
			return false, nil, nil, a.out.fail(err.Error())
		}
	}
	a.out.succeed(a.g.NewUser())
	return false, nil, nil, nil
}

// GuestStreamFeature is the SASL stream feature of a guest host: it offers
// ANONYMOUS only, so no account can log in there and no guest anywhere
// else. Like StreamFeatureTLS it is advertised only on Secure streams and
// holds per-connection state.
func GuestStreamFeature(g Guest, out *Outcome) xmpp.StreamFeature {
	if out == nil {
		out = &Outcome{}
	}
	if g.NewUser == nil {
		panic("auth: GuestStreamFeature needs NewUser")
	}
	mech := (&anonymousServer{g: g, out: out}).mechanism()
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL, Local: "mechanisms"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			return true, writeMechanisms(e, start, []sasl.Mechanism{mech})
		},
		Parse: xmpp.SASLServer(nil, sasl.Plain).Parse,
		Negotiate: func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
			if s.State()&xmpp.Received == 0 {
				return 0, nil, errors.New("auth: GuestStreamFeature is for receiving (server) streams only")
			}
			return xmpp.SASLServer(nil, mech).Negotiate(ctx, s, data)
		},
	}
}
