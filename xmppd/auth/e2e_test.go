package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// serverResult is what one accepted connection reports back to the test.
type serverResult struct {
	out      *Outcome
	err      error
	features string // everything the server wrote after TLS, as seen via TeeOut
	bound    string
}

// testServer is a minimal c2s listener: StartTLS (TLS 1.3) + our SASL
// feature + bind to Outcome.User@localhost, as the lead wires it.
type testServer struct {
	addr    string
	results chan serverResult
}

func startServer(t *testing.T, p *Policy, lookup Lookup) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS13}
	ts := &testServer{addr: ln.Addr().String(), results: make(chan serverResult, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ts.results <- serve(conn, cfg, p, lookup)
			}()
		}
	}()
	return ts
}

func serve(conn net.Conn, cfg *tls.Config, p *Policy, lookup Lookup) (res serverResult) {
	defer conn.Close()
	// A panic here would kill the test binary, which is the point: the
	// server must survive every client below.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	out := &Outcome{}
	var tee bytes.Buffer
	var bound jid.JID
	neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{
			Features: []xmpp.StreamFeature{
				xmpp.StartTLS(cfg),
				// mellium's StartTLS swaps the session's conn for a
				// *tls.Conn, so the session reports the TLS state.
				StreamFeatureTLS(p, func() *tls.ConnectionState {
					if st := s.ConnectionState(); st.Version != 0 {
						return &st
					}
					return nil
				}, lookup, out),
				xmpp.BindCustom(func(_ jid.JID, res string) (jid.JID, error) {
					// Never trust the stream "from": bind the SASL identity.
					if out.User == "" {
						return jid.JID{}, errors.New("bind before authentication")
					}
					if res == "" {
						res = "generated"
					}
					j, err := jid.New(out.User, "localhost", res)
					bound = j
					return j, err
				}),
			},
			TeeOut: &tee,
		}
	})
	s, err := xmpp.ReceiveSession(ctx, conn, 0, neg)
	res = serverResult{out: out, err: err, features: tee.String()}
	if err == nil {
		// mellium does not record the bound JID on a receiving session
		// (RemoteAddr stays the stream "from"), so take it from bind.
		res.bound = bound.String()
		_ = s.Close()
	}
	return res
}

func (ts *testServer) result(t *testing.T) serverResult {
	t.Helper()
	select {
	case r := <-ts.results:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("server did not finish")
		return serverResult{}
	}
}

// login runs mellium's client: StartTLS (TLS 1.3, insecure), SASL with the
// given mechanisms, bind.
func (ts *testServer) login(t *testing.T, user, identity, pass string, mechs ...sasl.Mechanism) (string, error) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	origin, err := jid.New(user, "localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS13} // #nosec G402 -- test
	s, err := xmpp.NewClientSession(ctx, origin, conn,
		xmpp.StartTLS(tlsCfg),
		xmpp.SASL(identity, pass, mechs...),
		xmpp.BindResource(),
	)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.LocalAddr().String(), nil
}

func TestEndToEndMellium(t *testing.T) {
	st := newTestStore(t)
	ts := startServer(t, testPolicy(), st.lookup)

	for _, m := range []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		t.Run(m.Name, func(t *testing.T) {
			bound, err := ts.login(t, "alice", "", "correct horse", m)
			r := ts.result(t)
			if err != nil || r.err != nil {
				t.Fatalf("client err = %v, server err = %v (failure %q)", err, r.err, r.out.Failure)
			}
			if r.out.User != "alice" || r.out.Mechanism != m.Name {
				t.Fatalf("outcome = %+v", r.out)
			}
			if !strings.HasPrefix(bound, "alice@localhost/") || bound != r.bound {
				t.Fatalf("client bound as %q, server bound %q", bound, r.bound)
			}
		})
	}

	t.Run("client preference picks SCRAM-SHA-256-PLUS", func(t *testing.T) {
		_, err := ts.login(t, "bob", "", "hunter2", sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1Plus, sasl.ScramSha1, sasl.Plain)
		r := ts.result(t)
		if err != nil || r.out.Mechanism != "SCRAM-SHA-256-PLUS" || r.out.User != "bob" {
			t.Fatalf("err=%v outcome=%+v", err, r.out)
		}
		// Advertisement after TLS: all five mechanisms, strongest first,
		// plus XEP-0440 tls-exporter.
		want := "<mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
		if !strings.Contains(r.features, want) {
			t.Errorf("features do not list %s:\n%s", want, r.features)
		}
		if !strings.Contains(r.features, `<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0"><channel-binding type="tls-exporter"></channel-binding></sasl-channel-binding>`) {
			t.Errorf("no XEP-0440 element:\n%s", r.features)
		}
	})

	t.Run("username case is normalised", func(t *testing.T) {
		// mellium's jid package already case-maps the localpart; the raw
		// "ALICE" path is covered by TestSCRAM/username_is_normalised.
		bound, err := ts.login(t, "Alice", "", "correct horse", sasl.ScramSha256)
		r := ts.result(t)
		if err != nil || r.out.User != "alice" || !strings.HasPrefix(bound, "alice@localhost/") {
			t.Fatalf("err=%v bound=%q outcome=%+v", err, bound, r.out)
		}
	})

	failures := []struct {
		name, user, identity, pass string
		mech                       sasl.Mechanism
		failure                    string
	}{
		{"wrong password SCRAM-SHA-256-PLUS", "alice", "", "wrong", sasl.ScramSha256Plus, "wrong password"},
		{"wrong password SCRAM-SHA-256", "alice", "", "wrong", sasl.ScramSha256, "wrong password"},
		{"wrong password SCRAM-SHA-1", "alice", "", "wrong", sasl.ScramSha1, "wrong password"},
		{"wrong password PLAIN", "alice", "", "wrong", sasl.Plain, "wrong password"},
		{"unknown user SCRAM", "nobody", "", "x", sasl.ScramSha256, "unknown user"},
		{"unknown user PLAIN", "nobody", "", "x", sasl.Plain, "unknown user"},
		{"authzid for another user SCRAM", "alice", "bob", "correct horse", sasl.ScramSha256Plus, "authzid differs"},
		{"authzid for another user PLAIN", "alice", "bob", "correct horse", sasl.Plain, "authzid differs"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			_, err := ts.login(t, f.user, f.identity, f.pass, f.mech)
			r := ts.result(t)
			if err == nil || err.Error() != "not-authorized" {
				t.Fatalf("client err = %v, want not-authorized", err)
			}
			if !errors.Is(r.err, sasl.ErrAuthn) {
				t.Fatalf("server err = %v, want sasl.ErrAuthn", r.err)
			}
			if r.out.User != "" || !strings.Contains(r.out.Failure, f.failure) || r.out.Attempted != f.user {
				t.Fatalf("outcome = %+v, want failure %q", r.out, f.failure)
			}
		})
	}
}

// TestEndToEndNoPlainBeforeTLS: nothing SASL is offered on the plaintext
// stream (mellium's Secure gate), so PLAIN cannot leak a password.
func TestEndToEndNoSASLBeforeTLS(t *testing.T) {
	st := newTestStore(t)
	ts := startServer(t, testPolicy(), st.lookup)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("</stream:features>")) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if bytes.Contains(got, []byte("mechanism")) || !bytes.Contains(got, []byte("starttls")) {
		t.Fatalf("plaintext features: %s", got)
	}
	conn.Close()
	_ = ts.result(t)
}
