package shortcuts

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzNameAndText: a name and a text, as a client's form or the CLI gives
// them, are refused or normalised once and for all (checking them again
// changes nothing), and what is stored reaches clients unchanged through
// the command's XML form.
func FuzzNameAndText(f *testing.F) {
	for _, seed := range [][2]string{
		{"/addr", "Main street 1\r\n10115 Berlin"},
		{" Hours_2 ", "https://example.com/hours?a=1&b=<2>"},
		{"/", "x"},
		{"tél", "\t+49 30 1234567 "},
		{"a/b", "bell\a"},
		{"ok", "\xff"},
		{"nc", "not a character: \ufffe"},
		{strings.Repeat("n", 33), "long name"},
	} {
		f.Add(seed[0], seed[1])
	}
	e := New()
	f.Fuzz(func(t *testing.T, name, text string) {
		n, err := ParseName(name)
		if err != nil {
			return
		}
		if again, err := ParseName("/" + n); err != nil || again != n || key(n) != strings.ToLower(n) {
			t.Fatalf("name %q -> %q -> %q, %v", name, n, again, err)
		}
		txt, err := e.checkText(n, text)
		if err != nil {
			return
		}
		if again, err := e.checkText(n, txt); err != nil || again != txt {
			t.Fatalf("text %q -> %q -> %q, %v", text, txt, again, err)
		}
		x, err := wire.Parse([]byte(e.setForm(n, txt).String()))
		if err != nil {
			t.Fatalf("the form with %q, %q does not parse: %v", n, txt, err)
		}
		form := dataform.Parse(x)
		if got := form.Value("name"); got != n {
			t.Fatalf("name %q comes back from the form as %q", n, got)
		}
		if got := strings.Join(form.Values("text"), "\n"); got != txt {
			t.Fatalf("text %q comes back from the form as %q", txt, got)
		}
	})
}
