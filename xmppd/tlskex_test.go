package xmppd_test

import (
	"crypto/tls"
	"testing"

	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestTLSPostQuantum: a client offering the hybrid post-quantum key
// exchange gets it by default, and classical X25519 with
// [tls] post_quantum = false.
func TestTLSPostQuantum(t *testing.T) {
	for _, tc := range []struct {
		pq   bool
		want tls.CurveID
	}{{true, tls.X25519MLKEM768}, {false, tls.X25519}} {
		srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.TLS.PostQuantum = tc.pq }))
		conn, err := tls.Dial("tcp", srv.DirectTLSAddr().String(), &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		got := conn.ConnectionState().CurveID
		_ = conn.Close()
		if got != tc.want {
			t.Errorf("post_quantum = %v: key exchange %v, want %v", tc.pq, got, tc.want)
		}
	}
}
