package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzScript runs scripts/fuzz.sh on two targets: it finds both by
// itself, fuzzes each alone (FuzzBreaks is a prefix of FuzzBreaksNot),
// and fails on the finding with the input and the command that replays it.
func TestFuzzScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and fuzzes two targets")
	}
	pkg := "./scripts/testdata/fuzzcase"
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join("testdata", "fuzzcase", "testdata")) })
	out, err := exec.Command("bash", "fuzz.sh", "1s", pkg).CombinedOutput()
	if err == nil {
		t.Fatalf("fuzz.sh passed despite a finding:\n%s", out)
	}
	s := string(out)
	for _, want := range []string{
		"fuzzing FuzzBreaks in github.com/xmppd/xmppd/scripts/testdata/fuzzcase",
		"fuzzing FuzzBreaksNot in github.com/xmppd/xmppd/scripts/testdata/fuzzcase",
		"fuzz: 2 targets, 1s each",
		"fuzz: FAILED: github.com/xmppd/xmppd/scripts/testdata/fuzzcase FuzzBreaks\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	replay := regexp.MustCompile(`--- reproduce: (go test -run '\^FuzzBreaks\$/[0-9a-f]+\$' \S+)`).FindStringSubmatch(s)
	if replay == nil {
		t.Fatalf("no replay command in:\n%s", s)
	}
	// The printed command replays the finding.
	cmd := exec.Command("bash", "-c", replay[1])
	cmd.Dir = filepath.Join("testdata", "fuzzcase")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "a finding") {
		t.Errorf("%s (in the package) did not replay the finding: %v\n%s", replay[1], err, out)
	}
}
