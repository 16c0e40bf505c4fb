package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// The tests in this package run the built xmppd binary, as an operator
// and real clients would.
var xmppdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xmppd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	xmppdBin = filepath.Join(dir, "xmppd")
	build := exec.Command("go", "build", "-o", xmppdBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building xmppd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool finds an external client; in CI a missing one fails the
// test rather than hiding behind a skip.
func requireTool(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (scripts/test.sh installs it)", path)
	}
	t.Skipf("%s is not installed; run scripts/test.sh as root to install it", path)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// instance is one xmppd process with its own config and data directory.
type instance struct {
	t       *testing.T
	dir     string
	config  string
	c2s     string
	tls     string
	http    string // the HTTP listener, also its public_url
	extra   string // more TOML after [auth]
	proc    *exec.Cmd
	exited  chan struct{} // closed when proc has exited; waitErr is then set
	waitErr error
	logs    *bytes.Buffer
	stopped bool
}

func newInstance(t *testing.T, extraTOML string) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, config: filepath.Join(dir, "xmppd.toml"), extra: extraTOML}
	in.pickPorts()
	return in
}

// pickPorts chooses free loopback ports and writes the config with them.
func (in *instance) pickPorts() {
	in.t.Helper()
	in.c2s = fmt.Sprintf("127.0.0.1:%d", freePort(in.t))
	in.tls = fmt.Sprintf("127.0.0.1:%d", freePort(in.t))
	in.http = fmt.Sprintf("127.0.0.1:%d", freePort(in.t))
	cfg := fmt.Sprintf(`domain = "localhost"
data_dir = %q

[c2s]
listen = %q
direct_tls_listen = %q

[http]
listen = %q
public_url = "http://%s"

[auth]
scram_iterations = 4096
%s`, filepath.Join(in.dir, "data"), in.c2s, in.tls, in.http, in.http, in.extra)
	if err := os.WriteFile(in.config, []byte(cfg), 0o600); err != nil {
		in.t.Fatal(err)
	}
}

// start runs `xmppd serve` and waits until it accepts connections. A
// port picked free can be taken by another test process before the server
// binds it: then it picks new ports and tries again.
func (in *instance) start() {
	in.t.Helper()
	for attempt := 1; ; attempt++ {
		err := in.launch()
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(in.logs.String(), "address already in use") {
			in.t.Fatalf("xmppd did not start: %v: %s", err, in.logs)
		}
		in.pickPorts()
	}
}

// launch starts the process once and waits for its listeners.
func (in *instance) launch() error {
	in.logs = &bytes.Buffer{}
	in.proc = exec.Command(xmppdBin, "serve", "--config", in.config)
	in.proc.Stdout = in.logs
	in.proc.Stderr = in.logs
	if err := in.proc.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.exited = make(chan struct{})
	go func(p *exec.Cmd, exited chan struct{}) {
		in.waitErr = p.Wait()
		close(exited)
	}(in.proc, in.exited)
	in.stopped = false
	in.t.Cleanup(in.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-in.exited:
			in.stopped = true
			return fmt.Errorf("exited: %v", in.waitErr)
		default:
		}
		c, err := net.DialTimeout("tcp", in.c2s, 200*time.Millisecond)
		if err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(in.dir, "data", "admin.sock")); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("no listener after 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() {
	if in.proc == nil || in.stopped {
		return
	}
	in.stopped = true
	_ = in.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
		if in.waitErr != nil {
			in.t.Errorf("xmppd exited with %v: %s", in.waitErr, in.logs)
		}
	case <-time.After(20 * time.Second):
		_ = in.proc.Process.Kill()
		in.t.Errorf("xmppd did not stop on SIGTERM: %s", in.logs)
	}
}

// cli runs an xmppd command with this instance's config; stdin may be "".
func (in *instance) cli(stdin string, args ...string) (string, error) {
	in.t.Helper()
	cmd := exec.Command(xmppdBin, append(args, "--config", in.config)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (in *instance) mustCLI(stdin string, args ...string) string {
	in.t.Helper()
	out, err := in.cli(stdin, args...)
	if err != nil {
		in.t.Fatalf("xmppd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

type wireElement = wire.Element

// slixmppPassword is the password of every account the slixmpp scripts
// log in with.
const slixmppPassword = "secret-1"

// slixmppTimeout bounds one slixmpp script; the script bounds each of its
// steps (testdata/xmpptest_common.py).
const slixmppTimeout = 90 * time.Second

// newSlixmppInstance starts the built binary for a testdata/slixmpp_*.py
// script, with the accounts users (local parts) on localhost, all with
// slixmppPassword. Without python3 and slixmpp the test fails in CI and
// is skipped elsewhere (requireTool).
func newSlixmppInstance(t *testing.T, users ...string) *instance {
	t.Helper()
	return newSlixmppInstanceWith(t, "", users...)
}

// newSlixmppInstanceWith is newSlixmppInstance with more configuration
// (TOML after the [auth] table).
func newSlixmppInstanceWith(t *testing.T, extraTOML string, users ...string) *instance {
	t.Helper()
	py := requireTool(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		requireTool(t, "python3-slixmpp (import slixmpp failed)")
	}
	// slixmpp 1.8 knows only tls-unique channel binding, which TLS 1.3
	// lacks; with -PLUS offered it cannot use SCRAM (README, [auth]).
	in := newInstance(t, "channel_binding = false\n"+extraTOML)
	in.start()
	for _, u := range users {
		in.mustCLI(slixmppPassword+"\n", "user", "add", u, "--password-stdin")
	}
	return in
}

// runSlixmpp runs testdata/<script> HOST PORT localhost slixmppPassword
// against in and decodes the one JSON object it prints into res. The
// script imports testdata/xmpptest_common.py, which Python finds next to
// it. Every "<name>_login" in the output must be null (logged in), and no
// step may have recorded {"error": ...}; a test that fails by then or
// later logs the script's stderr and the server's log.
func runSlixmpp(t *testing.T, in *instance, script string, res any) {
	t.Helper()
	py := requireTool(t, "/usr/bin/python3")
	host, port, _ := strings.Cut(in.c2s, ":")
	ctx, cancel := context.WithTimeout(t.Context(), slixmppTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", script), host, port, "localhost", slixmppPassword)
	// No __pycache__ for xmpptest_common.py in the source tree.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if t.Failed() {
			// Stopped, the server has written all of its log.
			in.stop()
			t.Logf("%s stderr:\n%s\nserver log:\n%s", script, stderr.String(), in.logs)
		}
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	t.Logf("slixmpp saw: %s", out)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		t.Fatalf("%s output %q: %v", script, out, err)
	}
	keys := slices.Sorted(maps.Keys(top))
	for _, k := range keys {
		if strings.HasSuffix(k, "_login") && string(top[k]) != "null" {
			t.Errorf("%s failed: %s", k, top[k])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, k := range keys {
		var step struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(top[k], &step) == nil && step.Error != "" {
			t.Errorf("%s step failed in slixmpp: %s", k, step.Error)
		}
	}
	if err := json.Unmarshal(out, res); err != nil {
		t.Fatalf("%s output %q: %v", script, out, err)
	}
}
