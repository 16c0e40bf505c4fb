package auth

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
)

// slixmppPython is Debian's interpreter, which has python3-slixmpp.
const slixmppPython = "/usr/bin/python3"

// TestInteropSlixmpp logs in with slixmpp (python3-slixmpp 1.8.3) over
// StartTLS/TLS 1.3. Skipped when slixmpp is not installed.
//
// slixmpp 1.8.3 only implements the tls-unique channel binding, which TLS
// 1.3 lacks, so it can only log in when -PLUS is not offered; with -PLUS
// offered it is refused (p=tls-unique, or the "y" downgrade flag). Both
// halves are asserted so a slixmpp upgrade that fixes this shows up here.
func TestInteropSlixmpp(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	if err := exec.Command(slixmppPython, "-c", "import slixmpp").Run(); err != nil {
		t.Skipf("slixmpp not available: %v", err)
	}
	st := newTestStore(t)
	// One server per policy, as channel_binding is a per-server setting.
	noPlus := testPolicy()
	noPlus.ChannelBinding = false
	servers := map[bool]*testServer{true: startServer(t, testPolicy(), st.lookup), false: startServer(t, noPlus, st.lookup)}

	for _, tc := range []struct {
		name, jid, pass, mech string
		plus                  bool   // Policy.ChannelBinding: offer -PLUS
		wantMech              string // server-side Outcome.Mechanism
		failure               string // "" = login succeeds
	}{
		{"SCRAM-SHA-256", "alice@localhost", "correct horse", "SCRAM-SHA-256", false, "SCRAM-SHA-256", ""},
		{"SCRAM-SHA-1", "Alice@localhost", "correct horse", "SCRAM-SHA-1", false, "SCRAM-SHA-1", ""},
		{"client's choice", "bob@localhost", "hunter2", "", false, "SCRAM-SHA-256", ""},
		{"PLAIN", "bob@localhost", "hunter2", "PLAIN", true, "PLAIN", ""},
		{"wrong password", "alice@localhost", "nope", "SCRAM-SHA-256", false, "SCRAM-SHA-256", "wrong password"},
		{"PLUS offered: client picks tls-unique", "bob@localhost", "hunter2", "", true, "SCRAM-SHA-256-PLUS", "unsupported channel binding type"},
		{"PLUS offered: y flag is a downgrade", "bob@localhost", "hunter2", "SCRAM-SHA-256", true, "SCRAM-SHA-256", "downgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := servers[tc.plus]
			_, port, _ := net.SplitHostPort(ts.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, slixmppPython, "testdata/slixmpp_login.py", tc.jid, tc.pass, port, tc.mech)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			outb, err := cmd.CombinedOutput()
			output := strings.TrimSpace(string(outb))
			if err != nil {
				t.Fatalf("slixmpp: %v\n%s", err, output)
			}
			r := ts.result(t)
			if r.out.Mechanism != tc.wantMech {
				t.Errorf("server saw mechanism %q, want %q", r.out.Mechanism, tc.wantMech)
			}
			if tc.failure == "" {
				want := "BOUND " + strings.ToLower(tc.jid) + "/generated"
				if !strings.Contains(output, want) || r.err != nil || r.out.User != strings.TrimSuffix(strings.ToLower(tc.jid), "@localhost") {
					t.Fatalf("login failed: server err %v, failure %q\n%s", r.err, r.out.Failure, output)
				}
				return
			}
			if strings.Contains(output, "BOUND") || !strings.Contains(r.out.Failure, tc.failure) || !errors.Is(r.err, sasl.ErrAuthn) {
				t.Fatalf("expected failure, got server err %v failure %q\n%s", r.err, r.out.Failure, output)
			}
		})
	}
}
