package xmppd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// xmppjs runs xmppd/testdata/xmppjs/client.js (xmpp.js, @xmpp/client
// 0.13.1, installed there with `npm ci` by scripts/test.sh) and returns
// the running command and its output. Without node or the package the
// test is skipped, or fails with CI=true.
func xmppjs(t *testing.T, srv *xmppdtest.Server, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	dir, _ := filepath.Abs("testdata/xmppjs")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@xmpp", "client"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("xmpp.js interop: %v (scripts/test.sh installs it with npm ci)", err)
		}
		t.Skipf("xmpp.js not installed (%v): run npm ci in %s", err, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, "client.js"), srv.WebSocketURL()}, args...)...)
	cmd.Dir = dir
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// syncBuffer is the node process's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A second client library, xmpp.js in node, logs in over WebSocket
// (SCRAM-SHA-1) and chats with a TCP client both ways; then a guest logs
// in with ANONYMOUS and is refused when it writes to staff.
func TestWebSocketInteropXMPPJS(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) { c.Enquiry.GuestDomain = guestDomain }))
	srv.AddUser(t, "alice", "pw-a")
	srv.AddUser(t, "bob", "pw-b")
	bob := srv.Login(t, "bob", "pw-b")
	bob.Available()

	cmd, out := xmppjs(t, srv, "localhost", "alice", "pw-a", "bob@localhost")
	m := bob.Expect("xmpp.js message", xmppdtest.Is("message", "chat"))
	if m.ChildText("body", "") != "hello from xmpp.js" || m.Attr("from") != "alice@localhost/xmppjs" {
		t.Fatalf("bob got %s\nnode: %s", m, out)
	}
	bob.Sendf("<message to='alice@localhost/xmppjs' type='chat'><body>hi node</body></message>")
	if m := bob.Expect("echo", xmppdtest.Is("message", "chat")); m.ChildText("body", "") != "echo: hi node" {
		t.Fatalf("bob got %s", m)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "online alice@localhost/xmppjs") ||
		!strings.Contains(out.String(), "got bob@localhost/") {
		t.Fatalf("node: %v\n%s", err, out)
	}

	cmd, out = xmppjs(t, srv, guestDomain, "", "", "bob@localhost")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "error forbidden") {
		if time.Now().After(deadline) {
			t.Fatalf("guest: no forbidden error\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !guestJIDInOutput(out.String()) {
		t.Fatalf("guest JID: %s", out)
	}
	bob.ExpectNothing(200*time.Millisecond, xmppdtest.Is("message", "chat"))
}

func guestJIDInOutput(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if j, ok := strings.CutPrefix(line, "online "); ok {
			return guestJID.MatchString(j)
		}
	}
	return false
}
