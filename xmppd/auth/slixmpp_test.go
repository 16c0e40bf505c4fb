package auth

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// slixmppPython is Debian's interpreter, which has python3-slixmpp.
const slixmppPython = "/usr/bin/python3"

// TestInteropSlixmpp logs in with slixmpp (python3-slixmpp 1.8.3) over
// StartTLS/TLS 1.3. Skipped when slixmpp is not installed.
func TestInteropSlixmpp(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	if err := exec.Command(slixmppPython, "-c", "import slixmpp").Run(); err != nil {
		t.Skipf("slixmpp not available: %v", err)
	}
	st := newTestStore(t)
	ts := startServer(t, st.lookup)
	_, port, _ := net.SplitHostPort(ts.addr)

	for _, tc := range []struct {
		name, jid, pass, mech string
		wantMech              string // server-side Outcome.Mechanism
		ok                    bool
	}{
		{"SCRAM-SHA-256", "alice@localhost", "correct horse", "SCRAM-SHA-256", "SCRAM-SHA-256", true},
		{"SCRAM-SHA-1", "Alice@localhost", "correct horse", "SCRAM-SHA-1", "SCRAM-SHA-1", true},
		{"PLAIN", "bob@localhost", "hunter2", "PLAIN", "PLAIN", true},
		{"wrong password", "alice@localhost", "nope", "SCRAM-SHA-256", "SCRAM-SHA-256", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, slixmppPython, "testdata/slixmpp_login.py", tc.jid, tc.pass, port, tc.mech)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			outb, err := cmd.CombinedOutput()
			output := strings.TrimSpace(string(outb))
			r := ts.result(t)
			if err != nil {
				t.Fatalf("slixmpp: %v\n%s", err, output)
			}
			if r.out.Mechanism != tc.wantMech {
				t.Errorf("server saw mechanism %q, want %q", r.out.Mechanism, tc.wantMech)
			}
			if tc.ok {
				if !strings.HasSuffix(output, "BOUND alice@localhost/generated") && !strings.HasSuffix(output, "BOUND bob@localhost/generated") || r.err != nil {
					t.Fatalf("login failed: server err %v, failure %q\n%s", r.err, r.out.Failure, output)
				}
				return
			}
			if !strings.HasSuffix(output, "FAILED") || r.out.Failure != "wrong password" {
				t.Fatalf("expected failure, got server err %v failure %q\n%s", r.err, r.out.Failure, output)
			}
		})
	}
}
