package auth

import (
	"context"
	"crypto/sha1" // #nosec G505 -- SCRAM-SHA-1 tests.
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"mellium.im/sasl"
)

func mechNames(ms []sasl.Mechanism) []string {
	var n []string
	for _, m := range ms {
		n = append(n, m.Name)
	}
	return n
}

func pick(t testing.TB, ms []sasl.Mechanism, name string) sasl.Mechanism {
	t.Helper()
	for _, m := range ms {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("mechanism %s not offered (offered: %v)", name, mechNames(ms))
	return sasl.Mechanism{}
}

// exchange runs a full SCRAM exchange through mellium's server negotiator,
// as xmpp.SASLServer does, and checks the server signature on success.
func exchange(t testing.TB, m sasl.Mechanism, c *scramClient) error {
	t.Helper()
	n := sasl.NewServer(m, nil)
	more, serverFirst, err := n.Step(c.first())
	if err != nil {
		return err
	}
	if !more {
		t.Fatal("server finished after client-first-message")
	}
	final, err := c.final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	more, serverFinal, err := n.Step(final)
	if err != nil {
		return err
	}
	if more {
		t.Fatal("server wants more after client-final-message")
	}
	c.checkServerFinal(t, serverFinal)
	return nil
}

func TestMechanismsOffered(t *testing.T) {
	st := newTestStore(t)
	srv13, _ := tlsPair(t, tls.VersionTLS13)
	srv12, _ := tlsPair(t, tls.VersionTLS12) // Go negotiates extended master secret
	all := []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	for _, tc := range []struct {
		name string
		cs   *tls.ConnectionState
		want []string
		cb   []string
	}{
		{"no TLS", nil, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}, nil},
		{"TLS 1.3", &srv13, all, []string{"tls-exporter"}},
		{"TLS 1.2 with EMS", &srv12, all, []string{"tls-exporter"}},
		// A state without an exporter (as for TLS 1.2 without EMS, or a
		// hand-built value) must not offer -PLUS, and must not panic.
		{"no exporter", &tls.ConnectionState{Version: tls.VersionTLS12, HandshakeComplete: true}, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}, nil},
		{"handshake incomplete", &tls.ConnectionState{Version: tls.VersionTLS13}, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mechNames(Mechanisms(testPolicy(), st.lookup, tc.cs, &Outcome{})); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Mechanisms = %v, want %v", got, tc.want)
			}
			if got := ChannelBindingTypes(testPolicy(), tc.cs); !reflect.DeepEqual(got, tc.cb) {
				t.Errorf("ChannelBindingTypes = %v, want %v", got, tc.cb)
			}
		})
	}
}

func TestPolicyChannelBindingOff(t *testing.T) {
	st := newTestStore(t)
	srv, _ := tlsPair(t, tls.VersionTLS13)
	p := testPolicy()
	p.ChannelBinding = false
	want := []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	if got := mechNames(Mechanisms(p, st.lookup, &srv, &Outcome{})); !reflect.DeepEqual(got, want) || ChannelBindingTypes(p, &srv) != nil {
		t.Fatalf("with channel binding off: %v, %v", got, ChannelBindingTypes(p, &srv))
	}
	// "y" is legitimate when -PLUS is not offered.
	out := &Outcome{}
	c := &scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "y"}
	if err := exchange(t, pick(t, Mechanisms(p, st.lookup, &srv, out), "SCRAM-SHA-256"), c); err != nil {
		t.Fatalf("y flag refused without -PLUS: %v (%s)", err, out.Failure)
	}
	// The policy is per call, not global: another policy still offers -PLUS.
	if got := mechNames(Mechanisms(testPolicy(), st.lookup, &srv, &Outcome{})); got[0] != "SCRAM-SHA-256-PLUS" {
		t.Fatalf("default policy after a channel_binding=false one: %v", got)
	}
}

func TestPolicyAllowPlainOff(t *testing.T) {
	st := newTestStore(t)
	srv, _ := tlsPair(t, tls.VersionTLS13)
	p := testPolicy()
	p.AllowPlain = false
	want := []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"}
	if got := mechNames(Mechanisms(p, st.lookup, &srv, &Outcome{})); !reflect.DeepEqual(got, want) {
		t.Fatalf("with allow_plain off: %v, want %v", got, want)
	}
}

func TestSCRAM(t *testing.T) {
	st := newTestStore(t)
	srvTLS, cliTLS := tlsPair(t, tls.VersionTLS13)
	cliCB, err := cliTLS.ExportKeyingMaterial(cbExporterLabel, nil, cbExporterLen)
	if err != nil {
		t.Fatal(err)
	}
	otherSrv, _ := tlsPair(t, tls.VersionTLS13)

	type tc struct {
		name    string
		cs      *tls.ConnectionState
		mech    string
		client  scramClient
		failure string // "" = success
		user    string // expected Outcome.User on success
	}
	cases := []tc{
		{name: "sha256", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse"}, user: "alice"},
		{name: "sha1", cs: &srvTLS, mech: "SCRAM-SHA-1", client: scramClient{fn: sha1.New, user: "bob", pass: "hunter2"}, user: "bob"},
		{name: "sha256 without TLS", mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse"}, user: "alice"},
		{name: "sha256-plus", cs: &srvTLS, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "p=tls-exporter", cb: cliCB}, user: "alice"},
		{name: "sha1-plus", cs: &srvTLS, mech: "SCRAM-SHA-1-PLUS", client: scramClient{fn: sha1.New, user: "alice", pass: "correct horse", flag: "p=tls-exporter", cb: cliCB}, user: "alice"},
		{name: "username is normalised", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "ALICE", pass: "correct horse"}, user: "alice"},
		{name: "authzid equal to user", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", authz: "Alice"}, user: "alice"},
		{name: "authzid own bare JID", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", authz: "alice@localhost"}, user: "alice"},
		{name: "y without PLUS offered", mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "y"}, user: "alice"},

		{name: "wrong password", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "Correct horse"}, failure: "wrong password"},
		{name: "wrong password sha1", cs: &srvTLS, mech: "SCRAM-SHA-1", client: scramClient{fn: sha1.New, user: "alice", pass: "hunter2"}, failure: "wrong password"},
		{name: "unknown user", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "mallory", pass: "x"}, failure: "unknown user"},
		{name: "store error", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "broken-store", pass: "x"}, failure: "credential store error"},
		{name: "throttled", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "throttled", pass: "x"}, failure: "throttled"},
		{name: "authzid other user", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", authz: "bob"}, failure: "authzid differs"},
		{name: "authzid other user JID", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", authz: "bob@localhost"}, failure: "authzid differs"},
		{name: "authzid full JID", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", authz: "alice@localhost/res"}, failure: "authzid differs"},
		{name: "downgrade: y while PLUS offered", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "y"}, failure: "downgrade"},
		{name: "p= on non-PLUS", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "p=tls-exporter", cb: cliCB}, failure: "non-PLUS"},
		{name: "tls-unique", cs: &srvTLS, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "p=tls-unique", cb: cliTLS.TLSUnique}, failure: "unsupported channel binding type"},
		{name: "n on PLUS", cs: &srvTLS, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse"}, failure: "without channel binding"},
		{name: "y on PLUS", cs: &srvTLS, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "y"}, failure: "without channel binding"},
		// Relayed exchange: the client's TLS session is not the server's.
		{name: "cb data from another connection", cs: &otherSrv, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "p=tls-exporter", cb: cliCB}, failure: "channel binding mismatch"},
		{name: "cb data missing", cs: &srvTLS, mech: "SCRAM-SHA-256-PLUS", client: scramClient{fn: sha256.New, user: "alice", pass: "correct horse", flag: "p=tls-exporter"}, failure: "channel binding mismatch"},
		{name: "invalid username", cs: &srvTLS, mech: "SCRAM-SHA-256", client: scramClient{fn: sha256.New, user: "a b", pass: "x"}, failure: "invalid username"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &Outcome{}
			client := c.client
			err := exchange(t, pick(t, Mechanisms(testPolicy(), st.lookup, c.cs, out), c.mech), &client)
			if out.Mechanism != c.mech {
				t.Errorf("Outcome.Mechanism = %q, want %q", out.Mechanism, c.mech)
			}
			if c.failure == "" {
				if err != nil {
					t.Fatalf("exchange failed: %v (failure %q)", err, out.Failure)
				}
				if out.User != c.user || out.Attempted != c.user || out.Failure != "" {
					t.Fatalf("outcome = %+v, want user %q", out, c.user)
				}
				return
			}
			if !errors.Is(err, sasl.ErrAuthn) || err != sasl.ErrAuthn {
				t.Fatalf("err = %v, want exactly sasl.ErrAuthn (the only error mellium turns into not-authorized)", err)
			}
			if !strings.Contains(out.Failure, c.failure) {
				t.Fatalf("Outcome.Failure = %q, want it to mention %q", out.Failure, c.failure)
			}
			if out.User != "" {
				t.Fatalf("Outcome.User = %q after a failure", out.User)
			}
		})
	}
}

// TestSCRAMUnknownUserLooksReal checks that an unknown user gets an answer
// of the same shape as a real one, with a salt that is stable per name.
func TestSCRAMUnknownUserLooksReal(t *testing.T) {
	st := newTestStore(t)
	first := func(user string) string {
		out := &Outcome{}
		n := sasl.NewServer(pick(t, Mechanisms(testPolicy(), st.lookup, nil, out), "SCRAM-SHA-256"), nil)
		c := &scramClient{fn: sha256.New, user: user}
		_, sf, err := n.Step(c.first())
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		// Drop the random nonce, keep s= and i=.
		_, rest, _ := strings.Cut(string(sf), ",")
		return rest
	}
	ghost1, ghost2, other := first("ghost"), first("ghost"), first("ghost2")
	if ghost1 != ghost2 {
		t.Errorf("unknown user's salt changes between attempts: %q vs %q", ghost1, ghost2)
	}
	if ghost1 == other {
		t.Error("two unknown users share a salt")
	}
	real := first("alice") // store uses testIterations, so compare the salt part only
	saltOf := func(s string) string { v, _, _ := strings.Cut(s, ","); return v }
	if len(saltOf(real)) != len(saltOf(ghost1)) || !strings.HasSuffix(ghost1, ",i=10000") {
		t.Errorf("unknown user answer %q does not look like a real one %q (iterations should be DefaultIterations)", ghost1, real)
	}
}

func TestSCRAMProtocolErrors(t *testing.T) {
	st := newTestStore(t)
	srvTLS, _ := tlsPair(t, tls.VersionTLS13)
	for _, tc := range []struct {
		name    string
		first   string
		final   string // if set, sent after a valid first message
		failure string
	}{
		{"empty parts", ",,", "", "malformed"},
		{"no gs2 header", "n=alice,r=abc", "", "malformed"},
		{"bad flag", "x,,n=alice,r=abc", "", "malformed gs2-cbind-flag"},
		{"bad authzid", "n,b=bob,n=alice,r=abc", "", "malformed authzid"},
		{"bad escape", "n,,n=al=41ice,r=abc", "", "malformed username"},
		{"mandatory extension", "n,,m=x,n=alice,r=abc", "", "mandatory extension"},
		{"missing nonce", "n,,n=alice", "", "malformed client-first"},
		{"nonce with control char", "n,,n=alice,r=a\x01b", "", "malformed nonce"},
		{"final without proof", "n,,n=alice,r=abc", "c=biws,r=abc", "malformed client-final"},
		{"final wrong nonce", "n,,n=alice,r=abc", "c=biws,r=abcX,p=AAAA", "nonce mismatch"},
		{"final bad proof", "n,,n=alice,r=abc", "c=biws,r=NONCE,p=!!", "malformed proof"},
		{"final short proof", "n,,n=alice,r=abc", "c=biws,r=NONCE,p=AAAA", "malformed proof"},
		{"final wrong cb", "n,,n=alice,r=abc", "c=eSws,r=NONCE,p=AAAA", "channel binding mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &Outcome{}
			n := sasl.NewServer(pick(t, Mechanisms(testPolicy(), st.lookup, &srvTLS, out), "SCRAM-SHA-256"), nil)
			_, sf, err := n.Step([]byte(tc.first))
			if tc.final != "" {
				if err != nil {
					t.Fatalf("first: %v (%s)", err, out.Failure)
				}
				nonce, _, _ := strings.Cut(strings.TrimPrefix(string(sf), "r="), ",")
				_, _, err = n.Step([]byte(strings.Replace(tc.final, "NONCE", nonce, 1)))
			}
			if err != sasl.ErrAuthn || !strings.Contains(out.Failure, tc.failure) {
				t.Fatalf("err = %v, failure = %q; want ErrAuthn and %q", err, out.Failure, tc.failure)
			}
		})
	}
}

// TestSCRAMNoInitialResponse: a client may send <auth/> without data and
// the client-first-message in the following <response/>.
func TestSCRAMNoInitialResponse(t *testing.T) {
	st := newTestStore(t)
	out := &Outcome{}
	n := sasl.NewServer(pick(t, Mechanisms(testPolicy(), st.lookup, nil, out), "SCRAM-SHA-256"), nil)
	more, resp, err := n.Step(nil)
	if err != nil || !more || len(resp) != 0 {
		t.Fatalf("empty auth: more=%v resp=%q err=%v", more, resp, err)
	}
	c := &scramClient{fn: sha256.New, user: "alice", pass: "correct horse"}
	_, sf, err := n.Step(c.first())
	if err != nil {
		t.Fatal(err)
	}
	final, _ := c.final(sf)
	more, sfin, err := n.Step(final)
	if err != nil || more {
		t.Fatalf("final: more=%v err=%v (%s)", more, err, out.Failure)
	}
	c.checkServerFinal(t, sfin)
	if out.User != "alice" {
		t.Fatalf("User = %q", out.User)
	}
	if _, _, err := n.Step([]byte("again")); err != sasl.ErrAuthn {
		t.Fatalf("step after success: %v", err)
	}
}

func TestSaslnameEscaping(t *testing.T) {
	for in, want := range map[string]string{"a=2Cb": "a,b", "a=3Db": "a=b", "plain": "plain", "=3D=2C": "=,"} {
		if got, ok := unescapeSaslname(in); !ok || got != want {
			t.Errorf("unescape(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"=", "=2", "a=2cb", "=41"} {
		if _, ok := unescapeSaslname(in); ok {
			t.Errorf("unescape(%q) accepted", in)
		}
	}
}

func TestPlain(t *testing.T) {
	st := newTestStore(t)
	srvTLS, _ := tlsPair(t, tls.VersionTLS13)
	for _, tc := range []struct {
		name, msg, failure, user string
	}{
		{"ok", "\x00alice\x00correct horse", "", "alice"},
		{"normalised", "\x00Alice\x00correct horse", "", "alice"},
		{"authz self", "alice@localhost\x00alice\x00correct horse", "", "alice"},
		{"wrong password", "\x00alice\x00hunter2", "wrong password", ""},
		{"unknown user", "\x00nobody\x00x", "unknown user", ""},
		{"store error", "\x00broken-store\x00x", "credential store error", ""},
		{"throttled", "\x00throttled\x00x", "throttled", ""},
		{"authz other", "bob\x00alice\x00correct horse", "authzid differs", ""},
		{"malformed", "alice\x00correct horse", "malformed", ""},
		{"empty password", "\x00alice\x00", "wrong password", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &Outcome{}
			n := sasl.NewServer(pick(t, Mechanisms(testPolicy(), st.lookup, &srvTLS, out), "PLAIN"), nil)
			more, _, err := n.Step([]byte(tc.msg))
			if more {
				t.Fatal("PLAIN wants more")
			}
			if tc.failure == "" {
				if err != nil || out.User != tc.user || out.Mechanism != "PLAIN" {
					t.Fatalf("err=%v outcome=%+v", err, out)
				}
				return
			}
			if err != sasl.ErrAuthn || !strings.Contains(out.Failure, tc.failure) || out.User != "" {
				t.Fatalf("err=%v outcome=%+v, want failure %q", err, out, tc.failure)
			}
		})
	}
	// Empty initial response, then the message.
	out := &Outcome{}
	n := sasl.NewServer(pick(t, Mechanisms(testPolicy(), st.lookup, &srvTLS, out), "PLAIN"), nil)
	if more, _, err := n.Step(nil); !more || err != nil {
		t.Fatalf("empty initial response: more=%v err=%v", more, err)
	}
	if more, _, err := n.Step([]byte("\x00bob\x00hunter2")); more || err != nil || out.User != "bob" {
		t.Fatalf("second step: more=%v err=%v outcome=%+v", more, err, out)
	}
}

// TestFailureNeverLeaksKeys: Outcome.Failure is meant for logs.
func TestFailureNeverLeaksKeys(t *testing.T) {
	st := newTestStore(t)
	cred := st.users["alice"]
	out := &Outcome{}
	c := &scramClient{fn: sha256.New, user: "alice", pass: "wrong"}
	_ = exchange(t, pick(t, Mechanisms(testPolicy(), st.lookup, nil, out), "SCRAM-SHA-256"), c)
	for _, secret := range [][]byte{cred.SHA256.StoredKey, cred.SHA256.ServerKey, cred.Salt} {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret), fmt.Sprintf("%q", secret)} {
			if strings.Contains(out.Failure, enc) {
				t.Fatalf("failure %q contains key material", out.Failure)
			}
		}
	}
	if out.Failure != "wrong password" {
		t.Fatalf("failure = %q", out.Failure)
	}
}

// TestStreamFeatureTLSState: the advertisement follows the TLS state the
// feature is given, and a feature with no TLS state offers no PLAIN/-PLUS.
func TestStreamFeatureTLSState(t *testing.T) {
	st := newTestStore(t)
	srv, _ := tlsPair(t, tls.VersionTLS13)
	list := func(f func() *tls.ConnectionState) string {
		var buf strings.Builder
		e := xml.NewEncoder(&buf)
		feat := StreamFeatureTLS(testPolicy(), f, st.lookup, &Outcome{})
		if _, err := feat.List(context.Background(), e, xml.StartElement{Name: feat.Name}); err != nil {
			t.Fatal(err)
		}
		e.Flush()
		return buf.String()
	}
	with := list(func() *tls.ConnectionState { return &srv })
	if !strings.Contains(with, "SCRAM-SHA-256-PLUS") || !strings.Contains(with, "PLAIN") || !strings.Contains(with, `type="tls-exporter"`) {
		t.Errorf("with TLS 1.3: %s", with)
	}
	without := list(nil)
	if strings.Contains(without, "PLUS") || strings.Contains(without, "PLAIN") || strings.Contains(without, "sasl-cb") || !strings.Contains(without, "SCRAM-SHA-1") {
		t.Errorf("without TLS state: %s", without)
	}
	if noTLS := StreamFeatureTLS(testPolicy(), nil, st.lookup, nil); noTLS.Name.Space != nsSASL {
		t.Errorf("feature name %v", noTLS.Name)
	}
}

// recordLevels is a slog handler that keeps the level and message of each
// record.
type recordLevels struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordLevels) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLevels) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *recordLevels) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLevels) WithGroup(string) slog.Handler      { return h }

// TestLookupErrorLogLevel: a throttled attempt is routine and logged at
// Info; a store failure is logged at Error. Both fail with not-authorized.
func TestLookupErrorLogLevel(t *testing.T) {
	st := newTestStore(t)
	srv, _ := tlsPair(t, tls.VersionTLS13)
	h := &recordLevels{}
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(old) })

	for _, tc := range []struct{ user, mech, failure, log string }{
		{"throttled", "SCRAM-SHA-256", "throttled", "INFO auth: login throttled"},
		{"throttled", "PLAIN", "throttled", "INFO auth: login throttled"},
		{"broken-store", "SCRAM-SHA-256", "credential store error", "ERROR auth: credential lookup failed"},
		{"broken-store", "PLAIN", "credential store error", "ERROR auth: credential lookup failed"},
	} {
		h.recs = nil
		out := &Outcome{}
		var err error
		m := pick(t, Mechanisms(testPolicy(), st.lookup, &srv, out), tc.mech)
		if tc.mech == "PLAIN" {
			_, _, err = sasl.NewServer(m, nil).Step([]byte("\x00" + tc.user + "\x00x"))
		} else {
			err = exchange(t, m, &scramClient{fn: sha256.New, user: tc.user, pass: "x"})
		}
		if err != sasl.ErrAuthn || out.Failure != tc.failure || out.User != "" || out.Attempted != tc.user {
			t.Errorf("%s %s: err=%v outcome=%+v, want ErrAuthn and failure %q", tc.mech, tc.user, err, out, tc.failure)
		}
		if want := []string{tc.log}; !reflect.DeepEqual(h.recs, want) {
			t.Errorf("%s %s: logged %q, want %q", tc.mech, tc.user, h.recs, want)
		}
	}
}
