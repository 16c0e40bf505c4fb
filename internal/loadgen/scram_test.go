package loadgen

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"testing"
)

// TestSCRAMVectors runs the example exchanges of RFC 5802 (SCRAM-SHA-1)
// and RFC 7677 (SCRAM-SHA-256) through the client.
func TestSCRAMVectors(t *testing.T) {
	for _, tc := range []struct {
		mech                                    string
		hash                                    func() hash.Hash
		nonce, serverFirst, clientFinal, server string
	}{
		{"SCRAM-SHA-1", sha1.New, "fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{"SCRAM-SHA-256", sha256.New, "rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			s := newSCRAMNonce(tc.mech, tc.hash, "user", "pencil", tc.nonce)
			if got, want := string(s.first()), "n,,n=user,r="+tc.nonce; got != want {
				t.Errorf("client-first %q, want %q", got, want)
			}
			final, err := s.final([]byte(tc.serverFirst))
			if err != nil {
				t.Fatal(err)
			}
			if string(final) != tc.clientFinal {
				t.Errorf("client-final %q, want %q", final, tc.clientFinal)
			}
			if err := s.verify([]byte(tc.server)); err != nil {
				t.Errorf("server-final: %v", err)
			}
			if err := s.verify([]byte("v=AAAA")); err == nil {
				t.Error("a wrong server signature was accepted")
			}
		})
	}
}
