package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestCLIWhileStoppedAndRunning: the same admin commands work on a stopped
// server (store opened directly) and on a running one (admin socket), and
// a user added live can log in at once.
func TestCLIWhileStoppedAndRunning(t *testing.T) {
	in := newInstance(t, "")

	// Stopped: the CLI opens the store itself.
	if out := in.mustCLI("pw-a\n", "user", "add", "alice", "--password-stdin"); !strings.Contains(out, "created alice@localhost") {
		t.Fatalf("user add: %q", out)
	}
	if out, err := in.cli("", "user", "add", "alice", "--password", "x"); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate add: err=%v out=%q", err, out)
	}
	if out := in.mustCLI("", "status"); !strings.Contains(out, "stopped") || statusField(out, "accounts") != "1" {
		t.Fatalf("status while stopped: %q", out)
	}

	in.start()
	// Running: the CLI talks to the server over its admin socket.
	in.mustCLI("", "user", "add", "Bob@localhost", "--password", "pw-b")
	if out := in.mustCLI("", "user", "list"); out != "alice@localhost\nbob@localhost\n" {
		t.Fatalf("user list: %q", out)
	}
	bob, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "bob", "pw-b", xmppdtest.DialOptions{})
	if err != nil {
		t.Fatalf("bob, created live, cannot log in: %v", err)
	}
	if out := in.mustCLI("", "status"); !strings.Contains(out, "running") || !strings.HasPrefix(statusField(out, "sessions"), "1 ") {
		t.Fatalf("status while running: %q", out)
	}
	in.mustCLI("", "user", "passwd", "alice", "--password", "pw-a2")
	if _, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a", xmppdtest.DialOptions{}); err == nil {
		t.Fatal("old password still works after passwd")
	}
	if _, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a2", xmppdtest.DialOptions{}); err != nil {
		t.Fatalf("new password: %v", err)
	}

	// Deleting a user closes their sessions.
	in.mustCLI("", "user", "del", "bob@localhost")
	if err := bob.Closed(5e9); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Fatalf("deleted user's session: %v", err)
	}
	if out, err := in.cli("", "user", "del", "nobody"); err == nil || !strings.Contains(out, "no such account") {
		t.Fatalf("del unknown: err=%v out=%q", err, out)
	}
	if out, err := in.cli("", "user", "add", "other@example.org", "--password", "x"); err == nil || !strings.Contains(out, "not an account of localhost") {
		t.Fatalf("foreign domain: err=%v out=%q", err, out)
	}
	if out, err := in.cli("", "user", "add", "carol"); err == nil || !strings.Contains(out, "no password given") {
		t.Fatalf("no password: err=%v out=%q", err, out)
	}

	// SIGTERM closes every stream politely.
	last, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a2", xmppdtest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in.stop()
	if err := last.Closed(5e9); err == nil || !strings.Contains(err.Error(), "system-shutdown") {
		t.Fatalf("on SIGTERM a client should get system-shutdown, got %v", err)
	}
	if out := in.mustCLI("", "user", "list"); out != "alice@localhost\n" {
		t.Fatalf("user list after restart: %q", out)
	}
}

// TestBackupAndRestore: a hot backup taken while the server runs restores
// into a stopped server; restore refuses while the server runs.
func TestBackupAndRestore(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	in.mustCLI("", "user", "add", "alice", "--password", "pw")
	backup := filepath.Join(t.TempDir(), "xmppd.backup")
	if out := in.mustCLI("", "backup", backup); !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %q", out)
	}
	in.mustCLI("", "user", "add", "bob", "--password", "pw")
	if out, err := in.cli("", "restore", backup); err == nil || !strings.Contains(out, "running") {
		t.Fatalf("restore while running: err=%v out=%q", err, out)
	}
	in.stop()
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a database"), 0o600)
	if _, err := in.cli("", "restore", garbage); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
	if out := in.mustCLI("", "user", "list"); out != "alice@localhost\nbob@localhost\n" {
		t.Fatalf("a failed restore changed the store: %q", out)
	}
	in.mustCLI("", "restore", backup)
	if out := in.mustCLI("", "user", "list"); out != "alice@localhost\n" {
		t.Fatalf("after restore: %q", out)
	}
}

// TestBadConfigIsOneClearLine: start-up stops with one line naming the key.
func TestBadConfigIsOneClearLine(t *testing.T) {
	in := newInstance(t, "[limits]\nmax_stanza_size = \"lots\"\n")
	out, err := in.cli("", "serve")
	if err == nil {
		t.Fatal("serve with a bad config succeeded")
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "limits.max_stanza_size") {
		t.Fatalf("want one line naming limits.max_stanza_size, got %q", out)
	}
	in2 := newInstance(t, "[limits]\nmax_stanza_sise = \"1MB\"\n")
	if out, err := in2.cli("", "serve"); err == nil || !strings.Contains(out, "limits.max_stanza_sise") {
		t.Fatalf("unknown key: err=%v out=%q", err, out)
	}
}

func TestVersion(t *testing.T) {
	in := newInstance(t, "")
	if out := in.mustCLI("", "version"); !strings.HasPrefix(out, "xmppd ") {
		t.Fatalf("version: %q", out)
	}
}

// statusField returns the value of one line of `xmppd status`.
func statusField(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestExampleConfigIsAccepted: config.example.toml, as shipped, is a valid
// configuration for this binary (every key known to some extension).
func TestExampleConfigIsAccepted(t *testing.T) {
	example, err := filepath.Abs("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xmppdBin, "user", "list", "--config", example)
	cmd.Dir = t.TempDir() // data_dir is relative: keep it out of the repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("config.example.toml rejected: %v\n%s", err, out)
	}
}
