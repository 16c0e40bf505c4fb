// Package shortcuts keeps text shortcuts ("quick links"): a /name that a
// client expands to a text, e.g. a phrase, a web link or a phone number.
// A user has their own; the domain has shortcuts every user sees, which
// only operators change. A user's own shortcut wins over a domain-wide one
// of the same name.
//
// Users manage theirs with XEP-0050 ad-hoc commands on the server's domain
// (xmppd/adhoc), so clients that speak ad-hoc commands (Gajim,
// Conversations, Profanity) need nothing new:
//   - shortcuts/list: the user's own and the domain-wide shortcuts, as a
//     result form table (name, text, scope) and a text note.
//   - shortcuts/set: a form with name and text; adds the shortcut or
//     changes the user's own one of that name. A bad name or text, or one
//     shortcut too many, shows the form again with an error note.
//   - shortcuts/delete: pick any of the user's own to delete.
//
// The commands are for the server's own users only. Operators use admin
// commands (xmppd shortcut add|del|list, with --user for a user's):
// shortcut.add, shortcut.del, shortcut.list.
//
// Names: 1–32 letters, digits, '-' or '_', a leading '/' dropped, unique
// without regard to case (kept as last written). Texts: one or more lines,
// at most [shortcuts] max_text_length characters (default 1000).
// [shortcuts] max_per_user (default 100) and max_domain (default 500)
// bound the counts.
//
// Store: Map "shortcuts/entries": owner (a user's bare JID, or the domain
// for domain-wide ones) → lower-case name → JSON {name, text, updated}.
// A user's are dropped on AccountDeleted.
//
// Disco: the server's domain announces http://jabber.org/protocol/commands
// (by xmppd/adhoc) and lists the commands at that node.
package shortcuts

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

const storeEntries = "shortcuts/entries"

// Defaults of the [shortcuts] table.
const (
	DefaultMaxPerUser    = 100
	DefaultMaxDomain     = 500
	DefaultMaxTextLength = 1000
	// MaxNameLength bounds a name, in characters.
	MaxNameLength = 32
)

// Config is the [shortcuts] table.
type Config struct {
	MaxPerUser    int `toml:"max_per_user"`
	MaxDomain     int `toml:"max_domain"`
	MaxTextLength int `toml:"max_text_length"`
}

// Shortcut is one shortcut, as the admin commands report it.
type Shortcut struct {
	Name string `json:"name"`
	Text string `json:"text"`
	// Owner is the user's bare JID, or the domain for a domain-wide one.
	Owner   string    `json:"owner"`
	Updated time.Time `json:"updated"`
}

// Extension keeps the shortcuts.
type Extension struct {
	// Config holds the defaults until Register decodes [shortcuts] over
	// it; tests may change it before the server is built.
	Config Config

	log    *slog.Logger
	db     *store.DB
	domain string
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the shortcuts extension.
func New() *Extension {
	return &Extension{Config: Config{MaxPerUser: DefaultMaxPerUser, MaxDomain: DefaultMaxDomain, MaxTextLength: DefaultMaxTextLength}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "shortcuts" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("shortcuts", &e.Config); err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		v   int
	}{{"max_per_user", e.Config.MaxPerUser}, {"max_domain", e.Config.MaxDomain}, {"max_text_length", e.Config.MaxTextLength}} {
		if c.v < 1 {
			return fmt.Errorf("shortcuts.%s must be at least 1, got %d", c.key, c.v)
		}
	}
	e.log = r.Logger()
	e.db = r.Store()
	e.domain = r.Domain()
	if err := e.registerCommands(r); err != nil {
		return err
	}
	if err := e.registerAdmin(r); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// ParseName checks a shortcut name and returns it without its leading
// '/'; the store key is its lower case.
func ParseName(s string) (string, error) {
	name := strings.TrimPrefix(strings.TrimSpace(s), "/")
	n := utf8.RuneCountInString(name)
	ok := n >= 1 && n <= MaxNameLength
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			ok = false
		}
	}
	if !ok {
		return "", fmt.Errorf("shortcut name %q: use 1 to %d letters, digits, '-' or '_' (a leading '/' is optional)", s, MaxNameLength)
	}
	return name, nil
}

func key(name string) string { return strings.ToLower(name) }

// checkText trims a text and checks its length and characters.
func (e *Extension) checkText(name, text string) (string, error) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", fmt.Errorf("shortcut /%s: the text is empty", name)
	case n > e.Config.MaxTextLength:
		return "", fmt.Errorf("shortcut /%s: the text has %d characters, more than the %d allowed", name, n, e.Config.MaxTextLength)
	}
	for _, r := range text {
		// U+FFFE and U+FFFF are not XML characters either: clients
		// would get U+FFFD instead.
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF) {
			return "", fmt.Errorf("shortcut /%s: the text has a control character %U", name, r)
		}
	}
	return text, nil
}

// errLimit is told apart so callers can word it for their audience.
var errLimit = errors.New("too many shortcuts")

// put adds or replaces owner's shortcut name; replaced says which.
func (e *Extension) put(owner, name, text string) (sc Shortcut, replaced bool, err error) {
	name, err = ParseName(name)
	if err != nil {
		return Shortcut{}, false, err
	}
	if text, err = e.checkText(name, text); err != nil {
		return Shortcut{}, false, err
	}
	limit := e.Config.MaxPerUser
	if owner == e.domain {
		limit = e.Config.MaxDomain
	}
	sc = Shortcut{Name: name, Text: text, Owner: owner, Updated: time.Now().UTC().Truncate(time.Second)}
	val, err := json.Marshal(sc)
	if err != nil {
		return Shortcut{}, false, err
	}
	err = e.db.Update(func(tx *store.Tx) error {
		m := tx.Map(storeEntries)
		n := 0
		if err := m.All(owner, func(k string, _ []byte) error {
			n++
			replaced = replaced || k == key(name)
			return nil
		}); err != nil {
			return err
		}
		if !replaced && n >= limit {
			return fmt.Errorf("shortcut /%s: %s has %d shortcuts, the most allowed: %w", name, owner, n, errLimit)
		}
		return m.Put(owner, key(name), val)
	})
	return sc, replaced, err
}

// errNoShortcut is a delete of a name the owner does not have.
var errNoShortcut = errors.New("no such shortcut")

// del removes owner's shortcut name.
func (e *Extension) del(owner, name string) (Shortcut, error) {
	name, err := ParseName(name)
	if err != nil {
		return Shortcut{}, err
	}
	var sc Shortcut
	err = e.db.Update(func(tx *store.Tx) error {
		m := tx.Map(storeEntries)
		b, err := m.Get(owner, key(name))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("shortcut /%s: %s has none of that name: %w", name, owner, errNoShortcut)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &sc); err != nil {
			return fmt.Errorf("shortcut /%s of %s unreadable: %w", name, owner, err)
		}
		return m.Delete(owner, key(name))
	})
	return sc, err
}

// list returns owner's shortcuts in name order.
func (e *Extension) list(owner string) ([]Shortcut, error) {
	var l []Shortcut
	err := e.db.Map(storeEntries).All(owner, func(k string, v []byte) error {
		var sc Shortcut
		if err := json.Unmarshal(v, &sc); err != nil {
			return fmt.Errorf("shortcut /%s of %s unreadable: %w", k, owner, err)
		}
		l = append(l, sc)
		return nil
	})
	return l, err
}

// visible is what user sees: their own, then the domain-wide ones they
// have no own shortcut of the same name for, all in name order.
func (e *Extension) visible(user string) ([]Shortcut, error) {
	own, err := e.list(user)
	if err != nil {
		return nil, err
	}
	dom, err := e.list(e.domain)
	if err != nil {
		return nil, err
	}
	l := own
	for _, d := range dom {
		if !slices.ContainsFunc(own, func(o Shortcut) bool { return key(o.Name) == key(d.Name) }) {
			l = append(l, d)
		}
	}
	slices.SortFunc(l, func(a, b Shortcut) int { return strings.Compare(key(a.Name), key(b.Name)) })
	return l, nil
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	if err := e.db.Map(storeEntries).DeleteOwner(j.BareString()); err != nil {
		e.log.Error("dropping shortcuts of deleted account failed", "jid", j.BareString(), "err", err)
	}
	return xmppd.Pass
}
