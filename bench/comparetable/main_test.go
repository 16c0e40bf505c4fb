package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/builtin"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/mamproto"
)

// TestTable renders the sample results (real output of bench/compare.sh
// with tiny parameters) and checks the rows and cells a reader relies on.
func TestTable(t *testing.T) {
	f, err := os.Open("testdata/sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	if err := write(&b, f, "users 20", "bench/compare.sh --users 20", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Parameters: users 20.",
		"| server | archive | login | chat | chat p50 / p99 | chat lost / dup | MUC | idle |",
		"| Prosody 0.12.3 | on | 69.5/s, 5.73 ms CPU each | 79.9 msg/s (98/s over 3 s: 160 arrived after the load), 3,094 µs each | 1,540 / 1,737 ms | 0 / 0 | 240 deliveries/s, 938 µs each | 52.4 KB/conn (50 conns) | 0.41 / 0.21 · 0.30 / 0.01 · 0.25 / 0.01 |",
		"| ejabberd 23.01 | on | 30/s, 4 ms CPU each | 499 msg/s, 2,097 µs each |",
		"| xmppd | off | not run [1] |",
		"[1] no archive-off mode",
		"Command: `bench/compare.sh --users 20`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Every table line has the header's number of cells.
	cols := -1
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		if n := strings.Count(l, "|"); cols < 0 {
			cols = n
		} else if n != cols {
			t.Errorf("%d cells instead of %d: %s", n-1, cols-1, l)
		}
	}
}

func TestScenarioErrorAndBadInput(t *testing.T) {
	in := `{"server":"prosody","archive":"off","scenario":"muc","error":"joining benchroom1@conference.localhost: timeout"}
{"server":"prosody","archive":"off","report":{"type":"result","scenario":"chat","unit":"messages","ops":10,"rate":2,"errors":3,"error_samples":["3× message error"],"client_cores":0.5}}
{"server":"prosody","archive":"on","report":{"type":"result","scenario":"chat","elapsed_s":40,"unit":"messages","ops":800,"rate":20,"lost":800,"server":{"cpu_s":8,"cores":0.2,"cpu_per_op_us":10000}}}
`
	var b strings.Builder
	if err := write(&b, strings.NewReader(in), "", "", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| prosody | off | – | 2 msg/s [1] | 0 / 0 ms | 0 / 0 | failed [2] | – | – · ? / 0.50 · – |",
		"[1] chat: 3 errors, e.g. 3× message error",
		"[2] muc: joining benchroom1@conference.localhost: timeout",
		"| prosody | on | – | 20 msg/s (20/s over 40 s: 700 arrived after the load), 10,000 µs each | 0 / 0 ms | 800 / 0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"", "not json\n", `{"server":"x"}` + "\n"} {
		if err := write(&b, strings.NewReader(bad), "", "", 0); err == nil {
			t.Errorf("input %q: no error", bad)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.4249: "0.42", 5: "5", 57.34: "57.3", 5761.2: "5,761", 1234567: "1,234,567", -63.68: "-63.7", -1234567: "-1,234,567"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestCompareScript keeps bench/compare.sh parseable (and shellcheck-clean
// where shellcheck is installed); running it takes minutes and root, so
// that is left to people.
func TestCompareScript(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "compare.sh")
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n compare.sh: %v\n%s", err, out)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck compare.sh: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command("bash", script, "--pairs", "0").CombinedOutput(); err == nil || !strings.Contains(string(out), "PAIRS must be a positive number") {
		t.Errorf("compare.sh --pairs 0: want a usage error before anything runs, got %v\n%s", err, out)
	}
}

// TestCompareScriptXmppdConfig: the config compare.sh runs xmppd with is
// accepted by xmppd with every built-in extension, and its archive-off
// run really archives nothing (no MAM for accounts or rooms).
func TestCompareScriptXmppdConfig(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "compare.sh")
	for _, archive := range []string{"on", "off"} {
		out, err := exec.Command("bash", script, "--xmppd-config", archive).Output()
		if err != nil {
			t.Fatalf("compare.sh --xmppd-config %s: %v", archive, err)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "xmppd.toml")
		// The certificate compare.sh makes is not here: without the two
		// keys xmppd uses one of its own.
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(string(out), "/tmp/xmppd-compare", dir), "\n") {
			if !strings.HasPrefix(l, "cert_file") && !strings.HasPrefix(l, "key_file") {
				lines = append(lines, l)
			}
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("archive %s: %v", archive, err)
		}
		exts := builtin.All()
		srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: exts})
		if err != nil {
			t.Fatalf("archive %s: xmppd rejects the config: %v", archive, err)
		}
		_ = srv.Close()
		on := archive == "on"
		if got := slices.Contains(srv.AccountFeatures(), mamproto.NS); got != on {
			t.Errorf("archive %s: accounts advertise MAM: %t", archive, got)
		}
		for _, ext := range exts {
			if m, ok := ext.(*muc.Extension); ok && m.Config.Archive != on {
				t.Errorf("archive %s: rooms archive: %t", archive, m.Config.Archive)
			}
		}
	}
}
