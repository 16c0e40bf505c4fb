package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchLogin: the operator creates the bench users with the helper
// script, then `xmppd bench login` logs them in against the running
// server and reports logins/s without errors (text and JSON lines);
// --create keeps existing accounts.
func TestBenchLogin(t *testing.T) {
	in := newInstance(t, "")
	in.start()

	script, err := filepath.Abs("../../bench/create-users.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, "-n", "5", "-w", "bench-pw", "--", "--config", in.config)
	cmd.Env = append(os.Environ(), "XMPPD="+xmppdBin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "users: 5 created, 0 existed already") {
		t.Fatalf("create-users.sh: %v\n%s", err, out)
	}

	args := []string{"bench", "login", "--users", "5", "--duration", "1s", "--addr", in.c2s, "--password", "bench-pw"}
	text := in.mustCLI("", args...)
	for _, want := range []string{"scenario      login", "logins", "errors        0", "bench cpu"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}

	lines := strings.Split(strings.TrimSpace(in.mustCLI("", append(args, "--json", "--create")...)), "\n")
	var res struct {
		Type   string  `json:"type"`
		Ops    int64   `json:"ops"`
		Rate   float64 `json:"rate"`
		Errors int64   `json:"errors"`
	}
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if res.Type != "result" || res.Ops == 0 || res.Rate <= 0 || res.Errors != 0 {
		t.Errorf("result %+v: want logins > 0 and no errors\n%s", res, strings.Join(lines, "\n"))
	}
	if !strings.Contains(strings.Join(lines, "\n"), "users: 0 created, 5 existed already") {
		t.Errorf("--create did not report the existing users:\n%s", strings.Join(lines, "\n"))
	}

	if out, err := in.cli("", "bench", "nope", "--users", "5"); err == nil || !strings.Contains(out, `unknown scenario "nope"`) {
		t.Errorf("unknown scenario: err=%v out=%q", err, out)
	}
}
