package auth

import (
	"crypto/sha256"
	"testing"

	"mellium.im/sasl"
)

// BenchmarkScramSHA256Login is one full server-side SCRAM-SHA-256 exchange
// (client-first -> server-first, client-final -> server-final) through
// mellium's sasl.Negotiator, against a client whose messages are
// precomputed (fixed server nonce), so only server work is measured. The
// store lookup is a map read.
func BenchmarkScramSHA256Login(b *testing.B) {
	st := newTestStore(b)
	out := &Outcome{}
	srv := &scramServer{
		name: "SCRAM-SHA-256", fn: sha256.New, policy: testPolicy(), lookup: st.lookup, out: out,
		serverNonce: func() string { return "fixedservernonce" },
	}
	c := &scramClient{fn: sha256.New, user: "alice", pass: "correct horse"}
	first := c.first()
	n := sasl.NewServer(srv.mechanism(), nil)
	_, serverFirst, err := n.Step(first)
	if err != nil {
		b.Fatal(err)
	}
	final, err := c.final(serverFirst)
	if err != nil {
		b.Fatal(err)
	}
	m := srv.mechanism()
	b.ReportAllocs()
	for b.Loop() {
		st.calls = st.calls[:0]
		n := sasl.NewServer(m, nil)
		if _, _, err := n.Step(first); err != nil {
			b.Fatal(err)
		}
		more, _, err := n.Step(final)
		if err != nil || more {
			b.Fatalf("login failed: %v (%s)", err, out.Failure)
		}
	}
}
