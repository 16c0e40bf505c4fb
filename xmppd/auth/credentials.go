package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 is mandatory-to-implement (RFC 6120 §13.8.3).
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/text/secure/precis"
)

// Iteration count limits for the SCRAM key derivation (PBKDF2).
const (
	// MinIterations is the RFC 7677 §4 floor ("SHOULD be at least 4096").
	MinIterations = 4096
	// DefaultIterations is what xmppd uses when the config does not say.
	DefaultIterations = 10000
	// MaxIterations bounds the work PLAIN (and clients) must do per login,
	// so a typo in the config cannot turn logins into a CPU sink.
	MaxIterations = 10_000_000
)

// saltLen is the length of newly generated salts (RFC 5802 leaves it open;
// 16 bytes is what Prosody and ejabberd use).
const saltLen = 16

// maxUsernameLen is the RFC 7622 §3.3 limit for a localpart, since usernames
// become the localpart of the user's JID.
const maxUsernameLen = 1023

var (
	clientKeyLabel = []byte("Client Key")
	serverKeyLabel = []byte("Server Key")
)

// Keys are the RFC 5802 §3 verifiers for one hash function. Neither can be
// used to log in: StoredKey = H(ClientKey) only verifies a proof, ServerKey
// only proves the server to the client.
type Keys struct {
	StoredKey []byte
	ServerKey []byte
}

// Credentials is what the store keeps per user. It never contains the
// password or the SaltedPassword (which is password-equivalent for SCRAM).
type Credentials struct {
	Iterations int    `json:"i"`
	Salt       []byte `json:"s"`
	SHA1       Keys   `json:"sha1"`
	SHA256     Keys   `json:"sha256"`
}

// NewCredentials derives the stored keys for a password with a fresh random
// salt. The password is normalised with PRECIS OpaqueString first, as
// clients do before hashing.
func NewCredentials(password string, iterations int) (Credentials, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return Credentials{}, fmt.Errorf("auth: iteration count %d out of range [%d, %d]", iterations, MinIterations, MaxIterations)
	}
	pw, err := NormalizePassword(password)
	if err != nil {
		return Credentials{}, err
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it crashes the program instead).
	return deriveCredentials(pw, salt, iterations)
}

// deriveCredentials computes both key sets for an already normalised
// password. Split out so the RFC test vectors can fix the salt.
func deriveCredentials(normalizedPassword string, salt []byte, iterations int) (Credentials, error) {
	c := Credentials{Iterations: iterations, Salt: salt}
	var err error
	if c.SHA1, err = deriveKeys(sha1.New, normalizedPassword, salt, iterations); err != nil {
		return Credentials{}, err
	}
	if c.SHA256, err = deriveKeys(sha256.New, normalizedPassword, salt, iterations); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// deriveKeys is RFC 5802 §3: SaltedPassword := Hi(password, salt, i),
// StoredKey := H(HMAC(SaltedPassword, "Client Key")),
// ServerKey := HMAC(SaltedPassword, "Server Key").
func deriveKeys(fn func() hash.Hash, password string, salt []byte, iterations int) (Keys, error) {
	sp, err := saltedPassword(fn, password, salt, iterations)
	if err != nil {
		return Keys{}, err
	}
	return Keys{
		StoredKey: storedKeyFromSalted(fn, sp),
		ServerKey: hmacSum(fn, sp, serverKeyLabel),
	}, nil
}

func saltedPassword(fn func() hash.Hash, password string, salt []byte, iterations int) ([]byte, error) {
	sp, err := pbkdf2.Key(fn, password, salt, iterations, fn().Size())
	if err != nil {
		// Only reachable in FIPS 140-only mode with a short password or salt.
		return nil, errors.New("auth: key derivation failed (PBKDF2 refused the parameters)")
	}
	return sp, nil
}

func storedKeyFromSalted(fn func() hash.Hash, sp []byte) []byte {
	h := fn()
	h.Write(hmacSum(fn, sp, clientKeyLabel))
	return h.Sum(nil)
}

func hmacSum(fn func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(fn, key)
	m.Write(msg)
	return m.Sum(nil)
}

// usable reports whether the stored credentials can verify anything at all
// (a zero value from a broken store entry must never authenticate).
func (c Credentials) usable() bool {
	return c.Iterations >= 1 && c.Iterations <= MaxIterations && len(c.Salt) > 0
}

// keysFor returns the key set for a hash, or false if it is missing.
func (c Credentials) keysFor(fn func() hash.Hash) (Keys, bool) {
	k := c.SHA256
	if fn().Size() == sha1.Size {
		k = c.SHA1
	}
	size := fn().Size()
	return k, c.usable() && len(k.StoredKey) == size && len(k.ServerKey) == size
}

// VerifyPlain checks a cleartext password (SASL PLAIN) against the stored
// keys: H(HMAC(SaltedPassword, "Client Key")) must equal StoredKey. It uses
// the SHA-256 keys, or the SHA-1 keys for entries that only have those. The
// comparison is constant time.
func (c Credentials) VerifyPlain(password string) bool {
	pw, err := NormalizePassword(password)
	if err != nil {
		return false
	}
	fn := sha256.New
	k, ok := c.keysFor(fn)
	if !ok {
		fn = sha1.New
		if k, ok = c.keysFor(fn); !ok {
			return false
		}
	}
	sp, err := saltedPassword(fn, pw, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(storedKeyFromSalted(fn, sp), k.StoredKey) == 1
}

// NormalizeUsername applies PRECIS UsernameCaseMapped (RFC 8265 §3.3) and the
// RFC 7622 localpart rules, since the username becomes the localpart of the
// user's JID. The error says what is wrong with the name.
func NormalizeUsername(s string) (string, error) {
	if s == "" {
		return "", errors.New("auth: username is empty")
	}
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("auth: username %q is not a valid PRECIS UsernameCaseMapped string (disallowed or unassigned characters, spaces, or invalid UTF-8): %v", s, err)
	}
	if u == "" {
		return "", fmt.Errorf("auth: username %q is empty after normalisation", s)
	}
	if len(u) > maxUsernameLen {
		return "", fmt.Errorf("auth: username is %d bytes long, the limit is %d", len(u), maxUsernameLen)
	}
	// RFC 7622 §3.3.1: characters a localpart must not contain.
	if i := strings.IndexAny(u, "\"&'/:<>@"); i >= 0 {
		return "", fmt.Errorf("auth: username %q contains %q, which is not allowed in a JID localpart", s, u[i])
	}
	return u, nil
}

// NormalizePassword applies PRECIS OpaqueString (RFC 8265 §4.2). The error
// never contains the password.
func NormalizePassword(s string) (string, error) {
	if s == "" {
		return "", errors.New("auth: password is empty")
	}
	p, err := precis.OpaqueString.String(s)
	if err != nil {
		return "", errors.New("auth: password is not a valid PRECIS OpaqueString (it contains control or unassigned characters, or invalid UTF-8)")
	}
	if p == "" {
		return "", errors.New("auth: password is empty after normalisation")
	}
	return p, nil
}
