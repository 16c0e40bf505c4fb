package auth

import (
	"crypto/sha1" // #nosec G505 -- RFC 5802 test vectors.
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"testing"

	"mellium.im/sasl"
)

// RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil", i=4096.
var vectors = []struct {
	name, salt, cnonce, snonce  string
	fn                          func() hash.Hash
	storedKey, serverKey        string // hex, from an independent implementation (Python hashlib)
	serverFirst, clientFinal, v string
}{
	{
		name: "SCRAM-SHA-1", fn: sha1.New, salt: "QSXCR+Q6sek8bf92",
		cnonce: "fyko+d2lbbFgONRv9qkxdawL", snonce: "3rfcNHYJY1ZVvWVs7j",
		storedKey:   "e9d94660c39d65c38fbad91c358f14da0eef2bd6",
		serverKey:   "0fe09258b3ac852ba502cc62ba903eaacdbf7d31",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		v:           "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		name: "SCRAM-SHA-256", fn: sha256.New, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		cnonce: "rOprNGfwEbeRWgbNEkqO", snonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		storedKey:   "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6",
		serverKey:   "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		v:           "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

func TestRFCVectorsKeyDerivation(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			k, err := deriveKeys(v.fn, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.StoredKey); got != v.storedKey {
				t.Errorf("StoredKey = %s, want %s", got, v.storedKey)
			}
			if got := hex.EncodeToString(k.ServerKey); got != v.serverKey {
				t.Errorf("ServerKey = %s, want %s", got, v.serverKey)
			}
		})
	}
}

// TestRFCVectorsExchange replays the RFC example exchanges byte for byte
// against our server, which holds only StoredKey/ServerKey.
func TestRFCVectorsExchange(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			cred, err := deriveCredentials("pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			out := &Outcome{}
			srv := &scramServer{
				name: v.name, fn: v.fn, out: out, policy: testPolicy(),
				lookup: func(u string) (Credentials, bool, error) {
					return cred, u == "user", nil
				},
				serverNonce: func() string { return v.snonce },
			}
			n := sasl.NewServer(srv.mechanism(), nil)
			more, resp, err := n.Step([]byte("n,,n=user,r=" + v.cnonce))
			if err != nil || !more {
				t.Fatalf("client-first: more=%v err=%v", more, err)
			}
			if string(resp) != v.serverFirst {
				t.Fatalf("server-first = %q, want %q", resp, v.serverFirst)
			}
			more, resp, err = n.Step([]byte(v.clientFinal))
			if err != nil || more {
				t.Fatalf("client-final: more=%v err=%v (failure %q)", more, err, out.Failure)
			}
			if string(resp) != v.v {
				t.Fatalf("server-final = %q, want %q", resp, v.v)
			}
			if out.User != "user" || out.Mechanism != v.name {
				t.Fatalf("outcome = %+v", out)
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	c, err := NewCredentials("correct horse", testIterations)
	if err != nil {
		t.Fatal(err)
	}
	if c.Iterations != testIterations || len(c.Salt) != saltLen ||
		len(c.SHA1.StoredKey) != sha1.Size || len(c.SHA1.ServerKey) != sha1.Size ||
		len(c.SHA256.StoredKey) != sha256.Size || len(c.SHA256.ServerKey) != sha256.Size {
		t.Fatalf("unexpected shape: %+v", c)
	}
	c2, _ := NewCredentials("correct horse", testIterations)
	if string(c.Salt) == string(c2.Salt) {
		t.Fatal("two credentials share a salt")
	}
	// The SaltedPassword must not be stored anywhere in the record.
	sp, _ := saltedPassword(sha256.New, "correct horse", c.Salt, c.Iterations)
	blob, _ := json.Marshal(c)
	if strings.Contains(string(blob), base64.StdEncoding.EncodeToString(sp)) {
		t.Fatal("SaltedPassword found in the stored record")
	}
	var back Credentials
	if err := json.Unmarshal(blob, &back); err != nil || !back.VerifyPlain("correct horse") {
		t.Fatalf("JSON round trip lost the credentials: %v", err)
	}

	for _, it := range []int{0, MinIterations - 1, MaxIterations + 1} {
		if _, err := NewCredentials("x", it); err == nil || !strings.Contains(err.Error(), "iteration count") {
			t.Errorf("iterations %d: err = %v", it, err)
		}
	}
	if _, err := NewCredentials("", testIterations); err == nil {
		t.Error("empty password accepted")
	}
	if _, err := NewCredentials("bad\x07bell", testIterations); err == nil || strings.Contains(err.Error(), "bell") {
		t.Errorf("control character: err = %v (must be an error that does not echo the password)", err)
	}
}

func TestVerifyPlain(t *testing.T) {
	c, err := NewCredentials("Pass\u00A0word", testIterations) // NBSP maps to SPACE under OpaqueString
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{
		"Pass\u00A0word": true,
		"Pass word":      true,
		"pass word":      false,
		"":               false,
		"Pass word ":     false,
	} {
		if got := c.VerifyPlain(pw); got != want {
			t.Errorf("VerifyPlain(%q) = %v, want %v", pw, got, want)
		}
	}
	// SHA-1-only record (e.g. imported): falls back to SHA-1 keys.
	sha1Only := c
	sha1Only.SHA256 = Keys{}
	if !sha1Only.VerifyPlain("Pass word") || sha1Only.VerifyPlain("nope") {
		t.Error("SHA-1 fallback broken")
	}
	if (Credentials{}).VerifyPlain("") || (Credentials{}).VerifyPlain("x") {
		t.Error("zero credentials verified a password")
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Alice":      "alice",
		"ALICE":      "alice",
		"\uFF21lice": "alice", // fullwidth A, width-mapped
		"rené":       "rené",
	} {
		got, err := NormalizeUsername(in)
		if err != nil || got != want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, wantErr := range map[string]string{
		"":                        "empty",
		"a b":                     "PRECIS",
		"a@b":                     "'@'",
		"a/b":                     "'/'",
		"\x00":                    "PRECIS",
		"\xff":                    "PRECIS",
		strings.Repeat("a", 1024): "limit",
	} {
		_, err := NormalizeUsername(in)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("NormalizeUsername(%q) err = %v, want it to mention %s", in, err, wantErr)
		}
	}
	if p, err := NormalizePassword("x\u00A0y"); err != nil || p != "x y" {
		t.Errorf("NormalizePassword = %q, %v", p, err)
	}
	if _, err := NormalizePassword(""); err == nil {
		t.Error("empty password accepted")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Policy
		want string
	}{
		{"nil", nil, "no SASL policy"},
		{"no secret", &Policy{Iterations: DefaultIterations}, "secret is 0 bytes"},
		{"short secret", &Policy{DecoySecret: []byte("short"), Iterations: DefaultIterations}, "secret is 5 bytes"},
		{"iterations below the floor", &Policy{DecoySecret: make([]byte, 32), Iterations: 1}, "iteration count 1"},
		{"iterations above the ceiling", &Policy{DecoySecret: make([]byte, 32), Iterations: MaxIterations + 1}, "iteration count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
			// Building mechanisms or a feature from it is a programming error.
			for name, f := range map[string]func(){
				"Mechanisms":       func() { Mechanisms(tc.p, nil, nil, nil) },
				"StreamFeatureTLS": func() { StreamFeatureTLS(tc.p, nil, nil, nil) },
			} {
				func() {
					defer func() {
						if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
							t.Errorf("%s with an invalid policy: panic %v, want one mentioning %q", name, r, tc.want)
						}
					}()
					f()
				}()
			}
		})
	}

	p := &Policy{DecoySecret: []byte("0123456789abcdef0123"), Iterations: 12345}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	a, b := p.decoyCredentials("ghost"), p.decoyCredentials("ghost")
	if a.Iterations != 12345 || string(a.Salt) != string(b.Salt) || string(a.Salt) == string(p.decoyCredentials("ghost2").Salt) {
		t.Fatalf("decoy salts must be per-name and stable: %+v", a)
	}
	// The salt depends on the secret: it is what the server must persist.
	other := &Policy{DecoySecret: []byte("another secret of 20b"), Iterations: 12345}
	if string(other.decoyCredentials("ghost").Salt) == string(a.Salt) {
		t.Fatal("two secrets give the same decoy salt")
	}
}
