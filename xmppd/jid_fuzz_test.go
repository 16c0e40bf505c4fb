package xmppd

import (
	"testing"

	"mellium.im/xmpp/jid"
)

// FuzzParseJID: ParseJID never panics; what it accepts is normalised (its
// String parses back to the same JID) and its allocation-free fast path
// agrees with the full RFC 7622 preparation it stands in for.
func FuzzParseJID(f *testing.F) {
	for _, s := range []string{
		"alice@example.com/phone", "example.com", "example.com.", "a@b", "conference.example.com/nick with space",
		"Alice@Example.COM/R", "ﬀ@ⅷ.example/Ω", "@example.com", "a@", "a@b/", "/r", "a@b@c", "a/b@c",
		"a..b", "-a.example", "x@[::1]", "x@127.0.0.1/r", "\x00@a", "a@b/\u202e", "xn--nxasmq6b.example", "..", "a.b..", "ⅷ.example.", "ab--c.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJID(s)
		if fast, ok := parseASCII(s); ok {
			p, perr := jid.Parse(s)
			if perr != nil {
				t.Fatalf("fast path accepts %q, RFC 7622 preparation rejects it: %v", s, perr)
			}
			if full := (JID{Local: p.Localpart(), Domain: p.Domainpart(), Resource: p.Resourcepart()}); fast != full {
				t.Fatalf("%q: fast path %+v, full preparation %+v", s, fast, full)
			}
		}
		if err != nil {
			return
		}
		if j.Domain == "" || len(j.Local) > 1023 || len(j.Domain) > 1023 || len(j.Resource) > 1023 {
			t.Fatalf("ParseJID(%q) = %+v: empty domain or part over 1023 bytes", s, j)
		}
		j2, err := ParseJID(j.String())
		if err != nil || j2 != j {
			t.Fatalf("ParseJID(%q) = %+v, but its String %q parses to %+v, %v", s, j, j.String(), j2, err)
		}
		if b, err := ParseJID(j.BareString()); err != nil || b != j.Bare() {
			t.Fatalf("bare %q of %q: %+v, %v", j.BareString(), s, b, err)
		}
	})
}
