package mam

import (
	"slices"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzPrefs: any <prefs/> set is refused or becomes preferences with a
// known default and two disjoint lists of distinct bare JIDs, which the
// <prefs/> answer the client gets back carries unchanged.
func FuzzPrefs(f *testing.F) {
	for _, seed := range []string{
		`<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>romeo@montague.lit</jid></always><never><jid>montague@montague.lit</jid></never></prefs>`,
		`<prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>a@b/c</jid><jid>A@B</jid><jid>b</jid></always><never><jid>a@b</jid></never></prefs>`,
		`<prefs xmlns='urn:xmpp:mam:2' default='never'><never><jid>@bad</jid></never></prefs>`,
		`<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := wire.Parse(b)
		if err != nil {
			return
		}
		p, err := parsePrefs(el)
		if err != nil {
			return
		}
		if !slices.Contains([]string{"always", "never", "roster"}, p.Default) {
			t.Fatalf("default %q", p.Default)
		}
		for _, l := range [][]string{p.Always, p.Never} {
			for i, s := range l {
				j, err := xmppd.ParseJID(s)
				if err != nil || j.Resource != "" || j.String() != s || slices.Contains(l[:i], s) {
					t.Fatalf("list entry %q (of %q) is not a distinct bare JID", s, l)
				}
			}
		}
		for _, s := range p.Always {
			if slices.Contains(p.Never, s) {
				t.Fatalf("%s is on both lists", s)
			}
		}
		back, err := wire.Parse([]byte(prefsElement(p).String()))
		if err != nil {
			t.Fatalf("the answer does not parse: %v", err)
		}
		again, err := parsePrefs(back)
		if err != nil || again.Default != p.Default || !slices.Equal(again.Always, p.Always) || !slices.Equal(again.Never, p.Never) {
			t.Fatalf("preferences %+v come back as %+v (%v)", p, again, err)
		}
	})
}
