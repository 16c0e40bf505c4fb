// Package vcard implements XEP-0054 vcard-temp and the server side of
// XEP-0153 vCard-based avatars.
//
// IQs (addressed to an account's bare JID, or without 'to' for one's own):
//
//   - get <vCard xmlns='vcard-temp'/>: anyone may read any local user's
//     vCard, as on Prosody and ejabberd; a user who never set one gets an
//     empty <vCard/> (what clients expect), never item-not-found.
//   - set <vCard xmlns='vcard-temp'>…</vCard>: only the owner (forbidden
//     otherwise); larger than [vcard] max_size (default 64KiB) is refused
//     with not-acceptable. The vCard is stored whole (the workspace's first
//     name, last name, phone, email and timezone are N/GIVEN, N/FAMILY,
//     TEL/NUMBER, EMAIL/USERID and TZ inside it; the server never needs
//     them itself). A set with no children deletes the vCard.
//
// Avatars (XEP-0153): on a set, the SHA-1 of the decoded PHOTO/BINVAL is
// kept. The PresenceOut hook (PriorityRewrite) adds
// <x xmlns='vcard-temp:x:update'><photo>hash</photo></x> (an empty <photo/>
// when the vCard has no photo) to the user's broadcast available presence
// when the client did not include an update element itself; users who never
// stored a vCard get nothing added. After a vCard set the server broadcasts
// nothing: XEP-0153 §4.2 has the publishing client re-send its presence,
// which then carries the new hash, and a server-generated broadcast would
// duplicate it and reorder it against the client's own presence.
//
// Disco: the server domain announces vcard-temp.
//
// Stores: KV "vcard.vcards" (bare JID → vCard XML, serialised from the
// parsed payload so it is self-contained whatever prefixes the client
// used) and KV "vcard.avatar_hashes" (bare JID → hex SHA-1, "" for no
// photo). Both are dropped on AccountDeleted.
//
// Config: [vcard] max_size = "64KiB".
package vcard

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS       = "vcard-temp"
	NSUpdate = "vcard-temp:x:update"
)

// DefaultMaxSize is the default limit of one stored vCard.
const DefaultMaxSize = 64 * config.KiB

// Config is the [vcard] table.
type Config struct {
	// MaxSize bounds a stored vCard (serialised), avatar included.
	MaxSize config.Size `toml:"max_size"`
}

// Extension serves vCards and avatar hashes.
type Extension struct {
	cfg    Config
	log    *slog.Logger
	vcards *store.KV
	hashes *store.KV

	mu    sync.Mutex
	cache map[string]hashEntry // bare JID → avatar hash, as last read or written
}

// hashEntry is a cached avatar hash; known=false means no vCard stored.
type hashEntry struct {
	hash  string
	known bool
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the vCard extension.
func New() *Extension {
	return &Extension{cfg: Config{MaxSize: DefaultMaxSize}, cache: make(map[string]hashEntry)}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "vcard" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("vcard", &e.cfg); err != nil {
		return err
	}
	if e.cfg.MaxSize <= 0 {
		return fmt.Errorf("vcard.max_size must be larger than 0, got %d", e.cfg.MaxSize)
	}
	e.log = r.Logger()
	e.vcards = r.Store().KV("vcard.vcards")
	e.hashes = r.Store().KV("vcard.avatar_hashes")
	r.Feature(NS)
	if err := r.HandleIQ(xmppd.TargetAccount, "get", NS, "vCard", e.get); err != nil {
		return err
	}
	if err := r.HandleIQ(xmppd.TargetAccount, "set", NS, "vCard", e.set); err != nil {
		return err
	}
	xmppd.Hook(r, xmppd.PresenceOut, xmppd.PriorityRewrite, e.addAvatarHash)
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// get answers with the addressed user's vCard, or an empty one.
func (e *Extension) get(iq *xmppd.IQ) (*wire.Element, error) {
	b, err := e.vcards.Get(iq.To.BareString())
	if errors.Is(err, store.ErrNotFound) {
		return wire.NewElement("vCard", NS), nil
	}
	if err != nil {
		return nil, err
	}
	el, err := wire.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("vCard of %s: stored XML unreadable: %w", iq.To.BareString(), err)
	}
	return el, nil
}

// set stores the sender's own vCard and its avatar hash.
func (e *Extension) set(iq *xmppd.IQ) (*wire.Element, error) {
	if iq.From.Bare() != iq.To {
		return nil, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only the owner may change a vCard")
	}
	owner := iq.To.BareString()
	if len(iq.Payload.Children) == 0 && strings.TrimSpace(iq.Payload.Text) == "" {
		if err := e.vcards.Delete(owner); err != nil {
			return nil, err
		}
		if err := e.hashes.Delete(owner); err != nil {
			return nil, err
		}
		e.setCache(owner, hashEntry{})
		return nil, nil
	}
	raw := iq.Payload.AppendXML(nil)
	if int64(len(raw)) > int64(e.cfg.MaxSize) {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
			fmt.Sprintf("vCard is %d bytes, larger than the server's limit of %s", len(raw), e.cfg.MaxSize))
	}
	hash, err := photoHash(iq.Payload)
	if err != nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, err.Error())
	}
	// The hash is written first: a crash between the two writes leaves an
	// old vCard with a newer hash, which clients resolve by fetching it.
	if err := e.hashes.Put(owner, []byte(hash)); err != nil {
		return nil, err
	}
	if err := e.vcards.Put(owner, raw); err != nil {
		return nil, err
	}
	e.setCache(owner, hashEntry{hash: hash, known: true})
	return nil, nil
}

// photoHash returns the hex SHA-1 of the decoded PHOTO/BINVAL (XEP-0153
// §3.1), "" when the vCard has no photo.
func photoHash(v *wire.Element) (string, error) {
	bin := v.Child("PHOTO", NS).Child("BINVAL", NS)
	if bin == nil {
		return "", nil
	}
	// Base64 in XML is commonly wrapped at 76 columns; drop all whitespace.
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, bin.Text)
	if clean == "" {
		return "", nil
	}
	img, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		// Some clients omit the padding.
		var err2 error
		if img, err2 = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "=")); err2 != nil {
			return "", fmt.Errorf("PHOTO/BINVAL is not valid base64: %v", err)
		}
	}
	sum := sha1.Sum(img)
	return hex.EncodeToString(sum[:]), nil
}

func (e *Extension) setCache(owner string, h hashEntry) {
	e.mu.Lock()
	e.cache[owner] = h
	e.mu.Unlock()
}

// avatarHash returns the user's avatar hash, reading the store once.
func (e *Extension) avatarHash(owner string) (hashEntry, error) {
	e.mu.Lock()
	h, ok := e.cache[owner]
	e.mu.Unlock()
	if ok {
		return h, nil
	}
	b, err := e.hashes.Get(owner)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h = hashEntry{}
	case err != nil:
		return hashEntry{}, err
	default:
		h = hashEntry{hash: string(b), known: true}
	}
	e.mu.Lock()
	// A concurrent set wins over what we read before it.
	if cur, ok := e.cache[owner]; ok {
		h = cur
	} else {
		e.cache[owner] = h
	}
	e.mu.Unlock()
	return h, nil
}

// addAvatarHash adds the XEP-0153 update element to a broadcast available
// presence that lacks one.
func (e *Extension) addAvatarHash(p *xmppd.Packet) xmppd.Verdict {
	st := p.Stanza
	if p.Origin == nil || st.To != "" || st.Type != "" {
		return xmppd.Pass
	}
	if _, ok := st.Child("x", NSUpdate); ok {
		return xmppd.Pass
	}
	owner := p.From.BareString()
	h, err := e.avatarHash(owner)
	if err != nil {
		e.log.Error("reading avatar hash failed", "jid", owner, "err", err)
		return xmppd.Pass
	}
	if !h.known {
		return xmppd.Pass
	}
	b := make([]byte, 0, 96)
	b = append(b, "<x xmlns='vcard-temp:x:update'>"...)
	if h.hash == "" {
		b = append(b, "<photo/>"...)
	} else {
		b = append(b, "<photo>"...)
		b = wire.AppendEscaped(b, h.hash)
		b = append(b, "</photo>"...)
	}
	b = append(b, "</x>"...)
	p.AddChild(b)
	return xmppd.Pass
}

func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	owner := j.BareString()
	if err := e.vcards.Delete(owner); err != nil {
		e.log.Error("deleting vCard failed", "jid", owner, "err", err)
	}
	if err := e.hashes.Delete(owner); err != nil {
		e.log.Error("deleting avatar hash failed", "jid", owner, "err", err)
	}
	e.mu.Lock()
	delete(e.cache, owner)
	e.mu.Unlock()
	return xmppd.Pass
}
