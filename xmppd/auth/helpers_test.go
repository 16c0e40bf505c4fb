package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testIterations keeps PBKDF2 cheap in tests while staying at the RFC floor.
const testIterations = MinIterations

// testSecret is a fixed unknown-user secret, as a server would load it.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testPolicy offers everything, and shows unknown users DefaultIterations.
func testPolicy() *Policy {
	return &Policy{ChannelBinding: true, AllowPlain: true, DecoySecret: testSecret, Iterations: DefaultIterations}
}

// testUsers is an in-memory store: alice/"correct horse", bob/"hunter2";
// "broken-store" makes the lookup fail, "throttled" makes it refuse with
// ErrThrottled (wrapped, as a server's throttle would).
type testStore struct {
	mu    sync.Mutex
	users map[string]Credentials
	calls []string
}

func newTestStore(t testing.TB) *testStore {
	t.Helper()
	s := &testStore{users: map[string]Credentials{}}
	for u, p := range map[string]string{"alice": "correct horse", "bob": "hunter2"} {
		c, err := NewCredentials(p, testIterations)
		if err != nil {
			t.Fatal(err)
		}
		s.users[u] = c
	}
	return s
}

func (s *testStore) lookup(u string) (Credentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, u)
	switch u {
	case "broken-store":
		return Credentials{}, false, errors.New("disk on fire")
	case "throttled":
		return Credentials{}, false, fmt.Errorf("address 192.0.2.1: %w", ErrThrottled)
	}
	c, ok := s.users[u]
	return c, ok, nil
}

// selfSigned returns a TLS certificate for "localhost" made in the test.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsPair handshakes over an in-memory pipe and returns both sides' states.
func tlsPair(t testing.TB, version uint16) (server, client tls.ConnectionState) {
	t.Helper()
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	srv := tls.Server(c1, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: version, MaxVersion: version})
	cli := tls.Client(c2, &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version}) // #nosec G402 -- test
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv.ConnectionState(), cli.ConnectionState()
}

// scramClient is a minimal client side of RFC 5802 used to drive our server
// with messages mellium's client never sends (y flag, tls-unique, authzid
// for another user, unnormalised usernames).
type scramClient struct {
	fn     func() hash.Hash
	user   string
	pass   string
	authz  string
	flag   string // "n", "y" or "p=<type>"
	cb     []byte // channel binding data for p=
	cnonce string

	gs2, bare   string
	serverFinal string
}

func (c *scramClient) first() []byte {
	if c.flag == "" {
		c.flag = "n"
	}
	if c.cnonce == "" {
		c.cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	}
	c.gs2 = c.flag + ","
	if c.authz != "" {
		c.gs2 += "a=" + escapeSaslname(c.authz)
	}
	c.gs2 += ","
	c.bare = "n=" + escapeSaslname(c.user) + ",r=" + c.cnonce
	return []byte(c.gs2 + c.bare)
}

func (c *scramClient) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt string
	iter := 0
	for _, a := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt = a[2:]
		case strings.HasPrefix(a, "i="):
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	if !strings.HasPrefix(nonce, c.cnonce) {
		return nil, fmt.Errorf("server nonce %q does not extend ours", nonce)
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		return nil, err
	}
	sp, err := saltedPassword(c.fn, c.pass, rawSalt, iter)
	if err != nil {
		return nil, err
	}
	cbInput := append([]byte(c.gs2), c.cb...)
	without := "c=" + base64.StdEncoding.EncodeToString(cbInput) + ",r=" + nonce
	authMsg := []byte(c.bare + "," + string(serverFirst) + "," + without)
	clientKey := hmacSum(c.fn, sp, clientKeyLabel)
	h := c.fn()
	h.Write(clientKey)
	sig := hmacSum(c.fn, h.Sum(nil), authMsg)
	proof := make([]byte, len(sig))
	for i := range sig {
		proof[i] = clientKey[i] ^ sig[i]
	}
	c.serverFinal = "v=" + base64.StdEncoding.EncodeToString(hmacSum(c.fn, hmacSum(c.fn, sp, serverKeyLabel), authMsg))
	return []byte(without + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

func escapeSaslname(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// checkServerFinal verifies mutual authentication.
func (c *scramClient) checkServerFinal(t testing.TB, got []byte) {
	t.Helper()
	if !hmac.Equal(got, []byte(c.serverFinal)) {
		t.Fatalf("server-final = %q, want %q", got, c.serverFinal)
	}
}
