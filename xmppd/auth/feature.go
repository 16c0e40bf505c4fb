package auth

import (
	"context"
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 is mandatory-to-implement (RFC 6120 §13.8.3).
	"crypto/sha256"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

const (
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	// nsSASLCB is XEP-0440 SASL Channel-Binding Type Capability.
	nsSASLCB = "urn:xmpp:sasl-cb:0"
)

// Lookup returns the user's credentials; found=false for unknown users (not
// an error). username is already PRECIS-normalised. An error means the store
// failed; the client sees not-authorized and the error is logged.
type Lookup func(username string) (cred Credentials, found bool, err error)

// Outcome is per-connection state the mechanisms fill in. It is written by
// the goroutine negotiating the stream; read it after negotiation returns.
type Outcome struct {
	// User is the normalised username that authenticated successfully ("" until then).
	User string
	// Attempted is the username the client tried (for throttling/logging),
	// even on failure: normalised when it normalises, otherwise the raw
	// name cut to 64 bytes.
	Attempted string
	// Mechanism is the mechanism the client selected.
	Mechanism string
	// Failure says why the last attempt failed, e.g. "wrong password",
	// "unknown user", "channel binding mismatch". It never contains key
	// material or client-supplied data and is safe to log. It is not sent
	// to the client, who only sees not-authorized.
	Failure string
	// OnFailure, if set, is called when an attempt fails, before the client
	// is told: failed-login throttling counts the attempt before the client
	// can try again.
	OnFailure func(o *Outcome)
}

// fail records a failure and returns the only error mellium turns into
// <failure><not-authorized/></failure>.
func (o *Outcome) fail(reason string) error {
	o.Failure = reason
	if o.OnFailure != nil {
		o.OnFailure(o)
	}
	return sasl.ErrAuthn
}

func (o *Outcome) succeed(user string) {
	o.User = user
	o.Failure = ""
}

// attempt normalises and records the username a client tries.
func (o *Outcome) attempt(raw string) (string, bool) {
	u, err := NormalizeUsername(raw)
	if err != nil {
		if len(raw) > maxAttemptedLen {
			raw = raw[:maxAttemptedLen]
		}
		o.Attempted = raw
		return "", false
	}
	o.Attempted = u
	return u, true
}

// lookupFailed records a Lookup error: a throttled attempt is routine
// (Info, Failure "throttled"), anything else is a store failure (Error).
func (o *Outcome) lookupFailed(user string, err error) error {
	if errors.Is(err, ErrThrottled) {
		slog.Info("auth: login throttled", "user", user)
		return o.fail("throttled")
	}
	slog.Error("auth: credential lookup failed", "user", user, "err", err)
	return o.fail("credential store error")
}

// Mechanisms returns the mechanisms to offer on one connection, strongest
// first: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (only when p.ChannelBinding is
// set and cs can export tls-exporter channel binding data: TLS 1.3, or TLS
// 1.2 with extended master secret), SCRAM-SHA-256, SCRAM-SHA-1, PLAIN (only
// when p.AllowPlain is set and cs is a completed TLS handshake). cs is the
// connection's TLS state or nil. It panics if p does not validate.
//
// Each call returns fresh mechanisms bound to out; they work with any
// sasl.NewServer negotiator and never need its permissions callback.
func Mechanisms(p *Policy, lookup Lookup, cs *tls.ConnectionState, out *Outcome) []sasl.Mechanism {
	p.mustValidate()
	if out == nil {
		out = &Outcome{}
	}
	cb := p.offeredCB(cs)
	mk := func(name string, plus bool, sha256Hash bool) sasl.Mechanism {
		s := &scramServer{name: name, plus: plus, cbData: cb, policy: p, lookup: lookup, out: out}
		if sha256Hash {
			s.fn = sha256.New
		} else {
			s.fn = sha1.New
		}
		return s.mechanism()
	}
	var ms []sasl.Mechanism
	if cb != nil {
		ms = append(ms, mk("SCRAM-SHA-256-PLUS", true, true), mk("SCRAM-SHA-1-PLUS", true, false))
	}
	ms = append(ms, mk("SCRAM-SHA-256", false, true), mk("SCRAM-SHA-1", false, false))
	if p.AllowPlain && cs != nil && cs.HandshakeComplete {
		ms = append(ms, (&plainServer{policy: p, lookup: lookup, out: out}).mechanism())
	}
	return ms
}

// ChannelBindingTypes returns the XEP-0440 channel-binding types supported on
// a connection under policy p: ["tls-exporter"] exactly when Mechanisms
// offers -PLUS, else nil. StreamFeatureTLS already advertises them; this is
// for callers that build their own feature list.
func ChannelBindingTypes(p *Policy, cs *tls.ConnectionState) []string {
	if p.offeredCB(cs) == nil {
		return nil
	}
	return []string{cbTypeExporter}
}

// StreamFeatureTLS returns the SASL stream feature for one connection.
// tlsState is called when the features are listed (after StartTLS, so it
// must read the connection's state then, not when the feature is built)
// and returns the connection's TLS state, or nil without TLS; a nil
// tlsState means no TLS. The advertised mechanisms (and the XEP-0440
// <sasl-channel-binding/> element, sent next to <mechanisms/>) are exactly
// the ones negotiated, so the -PLUS downgrade check is consistent with what
// the client saw. Without TLS state only SCRAM without -PLUS is offered.
//
// The wire protocol (<auth/>, <challenge/>, <response/>, <success/>,
// <failure/>, <abort/>) is mellium's xmpp.SASLServer, driven with our
// mechanisms. Like all mellium features it is advertised only on Secure
// streams. One failed attempt ends negotiation with an error from
// xmpp.ReceiveSession (mellium allows no retry); out says why.
//
// The returned feature holds per-connection state: do not share it between
// connections. The policy may be shared. It panics if p does not validate.
func StreamFeatureTLS(p *Policy, tlsState func() *tls.ConnectionState, lookup Lookup, out *Outcome) xmpp.StreamFeature {
	p.mustValidate()
	if out == nil {
		out = &Outcome{}
	}
	var offered []sasl.Mechanism
	var cbTypes []string
	offer := func() {
		var cs *tls.ConnectionState
		if tlsState != nil {
			cs = tlsState()
		}
		offered = Mechanisms(p, lookup, cs, out)
		cbTypes = ChannelBindingTypes(p, cs)
	}
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL, Local: "mechanisms"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			offer()
			if err := writeMechanisms(e, start, offered); err != nil {
				return true, err
			}
			return true, writeChannelBindings(e, cbTypes)
		},
		// Parse is only used on initiated (client) streams.
		Parse: xmpp.SASLServer(nil, sasl.Plain).Parse,
		Negotiate: func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
			if s.State()&xmpp.Received == 0 {
				return 0, nil, errors.New("auth: StreamFeatureTLS is for receiving (server) streams only")
			}
			if offered == nil {
				offer() // List always runs first; this is only a safety net.
			}
			return xmpp.SASLServer(nil, offered...).Negotiate(ctx, s, data)
		},
	}
}

func writeMechanisms(e xmlstream.TokenWriter, start xml.StartElement, ms []sasl.Mechanism) error {
	mech := xml.StartElement{Name: xml.Name{Local: "mechanism"}}
	toks := []xml.Token{start}
	for _, m := range ms {
		toks = append(toks, mech, xml.CharData(m.Name), mech.End())
	}
	toks = append(toks, start.End())
	return encodeAll(e, toks)
}

// writeChannelBindings writes the XEP-0440 element:
// <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>
func writeChannelBindings(e xmlstream.TokenWriter, types []string) error {
	if len(types) == 0 {
		return nil
	}
	outer := xml.StartElement{Name: xml.Name{Space: nsSASLCB, Local: "sasl-channel-binding"}}
	toks := []xml.Token{outer}
	for _, t := range types {
		cb := xml.StartElement{Name: xml.Name{Local: "channel-binding"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: t}}}
		toks = append(toks, cb, cb.End())
	}
	toks = append(toks, outer.End())
	return encodeAll(e, toks)
}

func encodeAll(e xmlstream.TokenWriter, toks []xml.Token) error {
	for _, t := range toks {
		if err := e.EncodeToken(t); err != nil {
			return err
		}
	}
	return nil
}

// SecureState stands for a connection that is confidential without a TLS
// handshake of the server's own: a WebSocket (RFC 7395) behind a
// TLS-terminating proxy, or on loopback. Passed as the TLS state to
// Mechanisms or StreamFeatureTLS, it lets PLAIN be offered (if the policy
// allows) but never -PLUS, since there is no TLS channel to bind to.
func SecureState() *tls.ConnectionState {
	return &tls.ConnectionState{HandshakeComplete: true}
}
