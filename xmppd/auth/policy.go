package auth

import (
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 is mandatory-to-implement (RFC 6120 §13.8.3).
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
)

// MinDecoySecretLen is the shortest Policy.DecoySecret accepted: the secret
// keys the HMAC that derives unknown users' salts, so it must not be
// guessable.
const MinDecoySecretLen = 16

// ErrThrottled is what a Lookup returns (or wraps) to refuse a login attempt
// because of too many failed logins. The client sees not-authorized like any
// other failure; the attempt is logged at Info (not as a store error) and
// Outcome.Failure is "throttled".
var ErrThrottled = errors.New("too many failed logins")

// Policy is what a server decides about SASL. One value is built per server
// at start-up and shared by all its connections; it must not be modified
// afterwards. Different servers in one process may use different policies.
type Policy struct {
	// ChannelBinding offers SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS with the
	// tls-exporter channel binding (RFC 9266), and the XEP-0440
	// advertisement, on connections that can export it.
	//
	// Interop trade-off: clients that only know tls-unique (which TLS 1.3
	// does not have), such as slixmpp 1.8.3 (Debian 12), cannot use SCRAM
	// while it is on: seeing -PLUS they pick SCRAM-*-PLUS with
	// p=tls-unique (refused), or, told to use plain SCRAM, send the "y"
	// flag, which RFC 5802 §6 requires us to refuse as a downgrade. With it
	// off they log in with SCRAM ("y" is then legitimate).
	ChannelBinding bool
	// AllowPlain offers SASL PLAIN (RFC 4616). PLAIN is still only offered
	// after a completed TLS handshake, whatever this says.
	AllowPlain bool
	// DecoySecret is a persistent server secret of at least
	// MinDecoySecretLen bytes from which the salts and keys of unknown
	// users are derived. It must survive restarts: were it to change, the
	// salt of an unknown name would change while a real user's would not,
	// which tells a patient prober which names exist.
	DecoySecret []byte
	// Iterations is the iteration count shown to unknown users; it should
	// be the count used for new accounts so that unknown users get the same
	// "i=" as real ones.
	Iterations int
}

// Validate reports what is wrong with a policy, in one line. Mechanisms and
// StreamFeatureTLS panic on a policy that does not validate, so check it
// once at start-up.
func (p *Policy) Validate() error {
	if p == nil {
		return errors.New("auth: no SASL policy")
	}
	if len(p.DecoySecret) < MinDecoySecretLen {
		return fmt.Errorf("auth: unknown-user secret is %d bytes, need at least %d", len(p.DecoySecret), MinDecoySecretLen)
	}
	if p.Iterations < MinIterations || p.Iterations > MaxIterations {
		return fmt.Errorf("auth: iteration count %d out of range [%d, %d]", p.Iterations, MinIterations, MaxIterations)
	}
	return nil
}

// mustValidate panics on an invalid policy: that is a programming error
// (the server validates its policy before it listens), and serving unknown
// users with a guessable or empty secret would leak which accounts exist.
func (p *Policy) mustValidate() {
	if err := p.Validate(); err != nil {
		panic(err.Error())
	}
}

// offeredCB is the tls-exporter data of a connection if the policy offers
// channel binding and the connection can provide it, else nil. Non-nil
// means -PLUS is offered.
func (p *Policy) offeredCB(cs *tls.ConnectionState) []byte {
	if !p.ChannelBinding {
		return nil
	}
	return exporterData(cs)
}

// decoyCredentials returns deterministic fake credentials for a username:
// the same name always gets the same salt, like a real account would. The
// keys are HMAC outputs no password maps to (with overwhelming
// probability), and the caller fails the exchange regardless.
func (p *Policy) decoyCredentials(username string) Credentials {
	derive := func(label string) []byte {
		return hmacSum(sha256.New, p.DecoySecret, []byte(label+"\x00"+username))
	}
	return Credentials{
		Iterations: p.Iterations,
		Salt:       derive("salt")[:saltLen],
		SHA1:       Keys{StoredKey: derive("sha1-stored")[:sha1.Size], ServerKey: derive("sha1-server")[:sha1.Size]},
		SHA256:     Keys{StoredKey: derive("sha256-stored"), ServerKey: derive("sha256-server")},
	}
}
