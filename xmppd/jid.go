package xmppd

import (
	"errors"
	"strings"

	"mellium.im/xmpp/jid"
)

// JID is a normalised Jabber ID split into its parts (RFC 7622). It is a
// plain value type so routing can compare and map it without allocating.
type JID struct {
	Local, Domain, Resource string
}

// ErrJIDMalformed is returned by ParseJID for addresses RFC 7622 rejects.
var ErrJIDMalformed = errors.New("jid-malformed")

// ParseJID parses and normalises s. Addresses made only of lowercase ASCII
// letters, digits and common punctuation are already in PRECIS canonical
// form, so they take a fast path that allocates nothing; anything else goes
// through mellium's full RFC 7622 preparation.
func ParseJID(s string) (JID, error) {
	if s == "" {
		return JID{}, ErrJIDMalformed
	}
	if j, ok := parseASCII(s); ok {
		return j, nil
	}
	p, err := jid.Parse(s)
	if err != nil || emptyLabel(p.Domainpart()) {
		return JID{}, ErrJIDMalformed
	}
	return JID{Local: p.Localpart(), Domain: p.Domainpart(), Resource: p.Resourcepart()}, nil
}

// parseASCII handles the common case. It refuses (ok=false) anything that
// needs case mapping, width mapping or other PRECIS work.
func parseASCII(s string) (JID, bool) {
	var j JID
	rest := s
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		j.Resource = rest[i+1:]
		rest = rest[:i]
		if j.Resource == "" || len(j.Resource) > 1023 || !asciiResource(j.Resource) {
			return JID{}, false
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		j.Local = rest[:i]
		rest = rest[i+1:]
		if j.Local == "" || len(j.Local) > 1023 || !asciiLocal(j.Local) {
			return JID{}, false
		}
	}
	rest = strings.TrimSuffix(rest, ".")
	if rest == "" || len(rest) > 1023 || !asciiDomain(rest) {
		return JID{}, false
	}
	j.Domain = rest
	return j, true
}

func asciiLocal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == '_' || c == '+':
		default:
			return false
		}
	}
	return true
}

// emptyLabel reports whether domain has an empty label ("a..b", ".a",
// ".."), which no DNS name has but mellium's preparation lets through;
// ".." would even come out as the domain ".", which does not parse again.
func emptyLabel(domain string) bool {
	return domain == "" || domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..")
}

// asciiDomain accepts lowercase LDH labels already in canonical form. An
// empty label, a label starting or ending with '-', or one with "--" in
// its third and fourth place (an A-label such as xn--…, which RFC 7622
// §3.2 turns into its U-label) goes the slow way, which rejects or
// converts it: otherwise one domain could be written two ways (found by
// FuzzParseJID).
func asciiDomain(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			l := s[start:i]
			if l == "" || l[0] == '-' || l[len(l)-1] == '-' || len(l) >= 4 && l[2] == '-' && l[3] == '-' {
				return false
			}
			start = i + 1
			continue
		}
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
		default:
			return false
		}
	}
	return true
}

func asciiResource(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Bare returns the JID without its resource.
func (j JID) Bare() JID { return JID{Local: j.Local, Domain: j.Domain} }

// IsBare reports whether j has no resource.
func (j JID) IsBare() bool { return j.Resource == "" }

// IsZero reports whether j is empty.
func (j JID) IsZero() bool { return j.Domain == "" }

// String returns the canonical text form.
func (j JID) String() string {
	if j.Local == "" && j.Resource == "" {
		return j.Domain
	}
	n := len(j.Domain)
	if j.Local != "" {
		n += len(j.Local) + 1
	}
	if j.Resource != "" {
		n += len(j.Resource) + 1
	}
	var b strings.Builder
	b.Grow(n)
	if j.Local != "" {
		b.WriteString(j.Local)
		b.WriteByte('@')
	}
	b.WriteString(j.Domain)
	if j.Resource != "" {
		b.WriteByte('/')
		b.WriteString(j.Resource)
	}
	return b.String()
}

// BareString returns the bare JID as text.
func (j JID) BareString() string { return j.Bare().String() }
