package loadgen

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// scramHashes are the SCRAM mechanisms the generator speaks, preferred
// first. SCRAM-SHA-1 is the fallback for servers that store SHA-1 keys
// only (Prosody's default password_hash).
var scramHashes = []struct {
	mech string
	hash func() hash.Hash
}{
	{"SCRAM-SHA-256", sha256.New},
	{"SCRAM-SHA-1", sha1.New},
}

// scramKeys are the keys derived from one (password, salt, iterations):
// PBKDF2 is what makes SCRAM expensive, and every bench user shares the
// password, so a run derives them once per distinct salt instead of once
// per login (the generator must not measure its own PBKDF2).
type scramKeys struct {
	clientKey, storedKey, serverKey []byte
}

type scramCacheKey struct {
	mech, password, salt string
	iter                 int
}

var scramCache sync.Map // scramCacheKey -> *scramKeys

func deriveKeys(mech string, h func() hash.Hash, password string, salt []byte, iter int) (*scramKeys, error) {
	k := scramCacheKey{mech, password, string(salt), iter}
	if v, ok := scramCache.Load(k); ok {
		return v.(*scramKeys), nil
	}
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		return nil, err
	}
	ck := hmacSum(h, salted, "Client Key")
	sk := h()
	sk.Write(ck)
	keys := &scramKeys{clientKey: ck, storedKey: sk.Sum(nil), serverKey: hmacSum(h, salted, "Server Key")}
	v, _ := scramCache.LoadOrStore(k, keys)
	return v.(*scramKeys), nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scram is one SCRAM-SHA-256 or SCRAM-SHA-1 client exchange (RFC 5802,
// RFC 7677) without channel binding (gs2 header "n,,": the client does
// not support it, which a server offering -PLUS must accept).
type scram struct {
	mech           string
	hash           func() hash.Hash
	user, password string
	nonce          string
	clientFirst    string // client-first-message-bare
	authMessage    string
	keys           *scramKeys
}

func newSCRAM(mech string, h func() hash.Hash, user, password string) *scram {
	var nb [18]byte
	_, _ = rand.Read(nb[:])
	return newSCRAMNonce(mech, h, user, password, base64.RawStdEncoding.EncodeToString(nb[:]))
}

func newSCRAMNonce(mech string, h func() hash.Hash, user, password, nonce string) *scram {
	s := &scram{mech: mech, hash: h, user: user, password: password, nonce: nonce}
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	s.clientFirst = "n=" + name + ",r=" + s.nonce
	return s
}

// first returns the client-first-message.
func (s *scram) first() []byte { return []byte("n,," + s.clientFirst) }

// final answers the server-first-message with the client-final-message.
func (s *scram) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt string
	iter := 0
	for _, f := range bytes.Split(serverFirst, []byte(",")) {
		if len(f) < 2 || f[1] != '=' {
			continue
		}
		v := string(f[2:])
		switch f[0] {
		case 'r':
			nonce = v
		case 's':
			salt = v
		case 'i':
			iter, _ = strconv.Atoi(v)
		case 'm':
			return nil, errors.New("scram: server requires an unsupported extension")
		}
	}
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return nil, errors.New("scram: server nonce does not extend the client nonce")
	}
	saltB, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || len(saltB) == 0 || iter <= 0 {
		return nil, fmt.Errorf("scram: bad server-first-message %q", serverFirst)
	}
	if s.keys, err = deriveKeys(s.mech, s.hash, s.password, saltB, iter); err != nil {
		return nil, err
	}
	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	s.authMessage = s.clientFirst + "," + string(serverFirst) + "," + withoutProof
	sig := hmacSum(s.hash, s.keys.storedKey, s.authMessage)
	proof := make([]byte, len(sig))
	for i := range sig {
		proof[i] = s.keys.clientKey[i] ^ sig[i]
	}
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message (v=ServerSignature), so that a
// server which skipped the proof is not counted as a successful login.
func (s *scram) verify(serverFinal []byte) error {
	if s.keys == nil {
		return errors.New("scram: success before the challenge")
	}
	if bytes.HasPrefix(serverFinal, []byte("e=")) {
		return fmt.Errorf("scram: server error %s", serverFinal[2:])
	}
	v, ok := bytes.CutPrefix(serverFinal, []byte("v="))
	if !ok {
		return fmt.Errorf("scram: bad server-final-message %q", serverFinal)
	}
	want := base64.StdEncoding.EncodeToString(hmacSum(s.hash, s.keys.serverKey, s.authMessage))
	if string(v) != want {
		return errors.New("scram: wrong server signature")
	}
	return nil
}
