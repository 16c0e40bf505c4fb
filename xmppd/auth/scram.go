package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"hash"
	"log/slog"
	"strconv"
	"strings"

	"mellium.im/sasl"
)

// RFC 9266 tls-exporter channel binding parameters.
const (
	cbTypeExporter  = "tls-exporter"
	cbExporterLabel = "EXPORTER-Channel-Binding"
	cbExporterLen   = 32
)

// serverNonceLen is the number of random bytes in our half of the nonce.
const serverNonceLen = 18

// maxAttemptedLen bounds Outcome.Attempted for names that fail
// normalisation, since those are raw client input headed for logs.
const maxAttemptedLen = 64

// exporterData returns the tls-exporter channel binding data of a connection,
// or nil if the connection cannot provide it safely. Go refuses to export
// keying material on TLS 1.2 without extended master secret (RFC 9266 §4
// forbids it), so a successful export is the capability test.
func exporterData(cs *tls.ConnectionState) (cb []byte) {
	if cs == nil || !cs.HandshakeComplete || cs.Version < tls.VersionTLS12 {
		return nil
	}
	// A hand-built ConnectionState has no exporter function and panics.
	defer func() {
		if recover() != nil {
			cb = nil
		}
	}()
	b, err := cs.ExportKeyingMaterial(cbExporterLabel, nil, cbExporterLen)
	if err != nil || len(b) != cbExporterLen {
		return nil
	}
	return b
}

// scramServer is one SCRAM mechanism bound to one connection.
type scramServer struct {
	name   string
	fn     func() hash.Hash
	plus   bool   // this is the -PLUS variant
	cbData []byte // tls-exporter data; non-nil iff -PLUS is offered on this connection
	policy *Policy
	lookup Lookup
	out    *Outcome

	serverNonce func() string // tests only: fixes our half of the nonce
}

// scramState is the per-exchange state kept in the sasl.Negotiator cache.
type scramState struct {
	step       int // 0: expect client-first-message, 1: expect client-final-message
	user       string
	known      bool
	keys       Keys
	nonce      string
	cbExpect   string // the c= attribute the client must send
	authPrefix []byte // client-first-message-bare "," server-first-message ","
}

func (s *scramServer) mechanism() sasl.Mechanism {
	return sasl.Mechanism{Name: s.name, Start: serverOnlyStart, Next: s.next}
}

// serverOnlyStart is never called by a sasl server negotiator (servers start
// in the AuthTextSent state); these mechanisms cannot act as clients.
func serverOnlyStart(*sasl.Negotiator) (bool, []byte, any, error) {
	return false, nil, nil, sasl.ErrInvalidState
}

// next drives the exchange from our own state, not from n.State(): a client
// that sends no initial response costs an extra round trip that shifts
// mellium's step counter.
func (s *scramServer) next(_ *sasl.Negotiator, msg []byte, data any) (more bool, resp []byte, cache any, err error) {
	st, _ := data.(*scramState)
	if st == nil {
		s.out.Mechanism = s.name
		st = &scramState{}
		if len(msg) == 0 {
			// RFC 6120 §6.4.2: no initial response, so send an empty
			// challenge and read the client-first-message as the response.
			return true, nil, st, nil
		}
	}
	switch st.step {
	case 0:
		resp, err = s.first(st, msg)
		if err != nil {
			return false, nil, nil, err
		}
		st.step = 1
		return true, resp, st, nil
	case 1:
		resp, err = s.final(st, msg)
		if err != nil {
			return false, nil, nil, err
		}
		st.step = 2
		return false, resp, nil, nil
	}
	return false, nil, nil, s.out.fail("too many steps")
}

// first handles the client-first-message (RFC 5802 §7):
//
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func (s *scramServer) first(st *scramState, msg []byte) ([]byte, error) {
	m := string(msg)
	flag, rest, ok := strings.Cut(m, ",")
	if !ok {
		return nil, s.out.fail("malformed client-first-message")
	}
	authzField, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, s.out.fail("malformed client-first-message")
	}
	gs2Header := m[:len(m)-len(bare)]

	switch {
	case flag == "n":
		if s.plus {
			return nil, s.out.fail("-PLUS mechanism without channel binding")
		}
	case flag == "y":
		if s.plus {
			return nil, s.out.fail("-PLUS mechanism without channel binding")
		}
		// RFC 5802 §6: the client supports channel binding but thinks we
		// do not. We advertised -PLUS, so someone stripped it: downgrade.
		if s.cbData != nil {
			return nil, s.out.fail("channel binding downgrade (client sent y, server offers -PLUS)")
		}
	case strings.HasPrefix(flag, "p="):
		if !s.plus {
			return nil, s.out.fail("channel binding requested with a non-PLUS mechanism")
		}
		if flag[2:] != cbTypeExporter || s.cbData == nil {
			return nil, s.out.fail("unsupported channel binding type")
		}
	default:
		return nil, s.out.fail("malformed gs2-cbind-flag")
	}

	var authz string
	if authzField != "" {
		if !strings.HasPrefix(authzField, "a=") {
			return nil, s.out.fail("malformed authzid")
		}
		if authz, ok = unescapeSaslname(authzField[2:]); !ok || authz == "" {
			return nil, s.out.fail("malformed authzid")
		}
	}

	if strings.HasPrefix(bare, "m=") {
		return nil, s.out.fail("unsupported mandatory extension")
	}
	attrs := strings.SplitN(bare, ",", 3) // a third element holds ignored extensions
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, s.out.fail("malformed client-first-message")
	}
	rawUser, ok := unescapeSaslname(attrs[0][2:])
	if !ok {
		return nil, s.out.fail("malformed username")
	}
	cnonce := attrs[1][2:]
	if !validNonce(cnonce) {
		return nil, s.out.fail("malformed nonce")
	}

	user, ok := s.out.attempt(rawUser)
	if !ok {
		return nil, s.out.fail("invalid username")
	}
	if authz != "" && !authzMatches(authz, user) {
		return nil, s.out.fail("authzid differs from username")
	}

	cred, found, err := s.lookup(user)
	if err != nil {
		return nil, s.out.lookupFailed(user, err)
	}
	keys, usable := cred.keysFor(s.fn)
	st.known = found && usable
	if found && !usable {
		slog.Warn("auth: stored credentials have no usable keys for this mechanism", "user", user, "mechanism", s.name)
	}
	if !st.known {
		// Same exchange, same shape of answer, then fail in final.
		cred = s.policy.decoyCredentials(user)
		keys, _ = cred.keysFor(s.fn)
	}
	st.user = user
	st.keys = keys

	if s.serverNonce != nil {
		st.nonce = cnonce + s.serverNonce()
	} else {
		var snonce [serverNonceLen]byte
		_, _ = rand.Read(snonce[:]) // never fails
		st.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce[:])
	}

	serverFirst := "r=" + st.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)

	cbInput := []byte(gs2Header)
	if s.plus {
		cbInput = append(cbInput, s.cbData...)
	}
	st.cbExpect = "c=" + base64.StdEncoding.EncodeToString(cbInput)
	st.authPrefix = []byte(bare + "," + serverFirst + ",")
	return []byte(serverFirst), nil
}

// final handles the client-final-message:
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
func (s *scramServer) final(st *scramState, msg []byte) ([]byte, error) {
	m := string(msg)
	i := strings.LastIndex(m, ",p=")
	if i < 0 {
		return nil, s.out.fail("malformed client-final-message")
	}
	withoutProof, proofB64 := m[:i], m[i+3:]
	attrs := strings.SplitN(withoutProof, ",", 3)
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, s.out.fail("malformed client-final-message")
	}
	if subtle.ConstantTimeCompare([]byte(attrs[0]), []byte(st.cbExpect)) != 1 {
		return nil, s.out.fail("channel binding mismatch")
	}
	if attrs[1][2:] != st.nonce {
		return nil, s.out.fail("nonce mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != s.fn().Size() {
		return nil, s.out.fail("malformed proof")
	}

	authMsg := append(st.authPrefix, withoutProof...)
	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); check
	// H(ClientKey) == StoredKey.
	clientKey := hmacSum(s.fn, st.keys.StoredKey, authMsg)
	subtle.XORBytes(clientKey, clientKey, proof)
	h := s.fn()
	h.Write(clientKey)
	match := subtle.ConstantTimeCompare(h.Sum(nil), st.keys.StoredKey) == 1
	switch {
	case !st.known:
		return nil, s.out.fail("unknown user")
	case !match:
		return nil, s.out.fail("wrong password")
	}

	s.out.succeed(st.user)
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(s.fn, st.keys.ServerKey, authMsg))), nil
}

// unescapeSaslname reverses RFC 5802 §5.1 escaping ("=2C" -> ",", "=3D" ->
// "="); any other "=" is malformed.
func unescapeSaslname(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce: RFC 5802 §7, printable ASCII except ",".
func validNonce(n string) bool {
	if n == "" || len(n) > 1024 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// authzMatches reports whether an authorization identity names the user who
// authenticated. Accepted: the username itself, or a bare JID with that
// localpart (RFC 6120 §6.3.8 says the authzid is a JID; some clients send
// their own bare JID). The domain is not checked here: the session is bound
// to Outcome.User at the server's own domain whatever the client sends, so a
// foreign domain gains nothing.
func authzMatches(authz, user string) bool {
	local, domain, isJID := strings.Cut(authz, "@")
	if isJID && (domain == "" || strings.Contains(domain, "/")) {
		return false
	}
	n, err := NormalizeUsername(local)
	return err == nil && n == user
}
