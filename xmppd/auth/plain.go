package auth

import (
	"bytes"

	"mellium.im/sasl"
)

// plainServer is SASL PLAIN (RFC 4616) bound to one connection. It is our
// own mechanism rather than sasl.Plain plus a permissions callback so that
// it reports into Outcome like SCRAM does and needs no glue in the caller.
type plainServer struct {
	policy *Policy
	lookup Lookup
	out    *Outcome
}

// plainAwait marks "empty initial response seen, waiting for the message".
type plainAwait struct{}

func (p *plainServer) mechanism() sasl.Mechanism {
	return sasl.Mechanism{Name: "PLAIN", Start: serverOnlyStart, Next: p.next}
}

func (p *plainServer) next(_ *sasl.Negotiator, msg []byte, data any) (bool, []byte, any, error) {
	switch data.(type) {
	case nil:
		p.out.Mechanism = "PLAIN"
		if len(msg) == 0 {
			// RFC 6120 §6.4.2: no initial response; answer with an empty
			// challenge.
			return true, nil, plainAwait{}, nil
		}
	case plainAwait:
	default:
		return false, nil, nil, p.out.fail("too many steps")
	}

	// message = [authzid] NUL authcid NUL passwd
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return false, nil, nil, p.out.fail("malformed PLAIN message")
	}
	authz, authc, pass := string(parts[0]), string(parts[1]), string(parts[2])

	user, ok := p.out.attempt(authc)
	if !ok {
		return false, nil, nil, p.out.fail("invalid username")
	}
	if authz != "" && !authzMatches(authz, user) {
		return false, nil, nil, p.out.fail("authzid differs from username")
	}

	cred, found, err := p.lookup(user)
	if err != nil {
		return false, nil, nil, p.out.lookupFailed(user, err)
	}
	if !found || !cred.usable() {
		// Spend the same PBKDF2 time as a real check so the response time
		// does not reveal whether the account exists.
		p.policy.decoyCredentials(user).VerifyPlain(pass)
		return false, nil, nil, p.out.fail("unknown user")
	}
	if !cred.VerifyPlain(pass) {
		return false, nil, nil, p.out.fail("wrong password")
	}
	p.out.succeed(user)
	return false, nil, nil, nil
}
