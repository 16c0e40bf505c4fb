package pep

import (
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// capsQueryTimeout bounds how long the server waits for a client to answer
// its disco#info.
const capsQueryTimeout = 10 * time.Second

// sessionKey is the per-session state key.
type sessionKey struct{}

// sessionState is what PEP knows about one session.
type sessionState struct {
	mu      sync.Mutex
	ver     string          // the caps key of its last broadcast presence
	notify  map[string]bool // nodes it asked notifications for
	initial bool            // its initial presence has been processed
}

func stateOf(s *xmppd.Session) *sessionState {
	st, _ := s.Value(sessionKey{}).(*sessionState)
	return st
}

// wantsNotify reports whether s advertised <node>+notify.
func wantsNotify(s *xmppd.Session, node string) bool {
	st := stateOf(s)
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.notify[node]
}

// sessionBound creates the session's state before it can send anything,
// so the other hooks and the caps queries never race to create it.
func (e *Extension) sessionBound(s *xmppd.Session) xmppd.Verdict {
	s.SetValue(sessionKey{}, &sessionState{})
	return xmppd.Pass
}

// initialPresence sends the last items the session already asked for; the
// ones its caps query finds later are sent when it completes.
func (e *Extension) initialPresence(s *xmppd.Session) xmppd.Verdict {
	st := stateOf(s)
	if st == nil {
		return xmppd.Pass
	}
	st.mu.Lock()
	st.initial = true
	nodes := make([]string, 0, len(st.notify))
	for n := range st.notify {
		nodes = append(nodes, n)
	}
	st.mu.Unlock()
	slices.Sort(nodes)
	e.sendLastItems(s, nodes)
	return xmppd.Pass
}

// setInterests records a session's +notify set; after its initial
// presence, the nodes that joined the set get their last items.
func (e *Extension) setInterests(s *xmppd.Session, key string, notify map[string]bool) {
	st := stateOf(s)
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.ver != key {
		// A newer presence changed caps while this answer was on its way.
		st.mu.Unlock()
		return
	}
	var added []string
	for n := range notify {
		if !st.notify[n] {
			added = append(added, n)
		}
	}
	st.notify = notify
	send := st.initial
	st.mu.Unlock()
	if send {
		slices.Sort(added)
		e.sendLastItems(s, added)
	}
}

// caps is a parsed XEP-0115 <c/> element.
type caps struct {
	hash, node, ver string
}

// key is the cache key: verification strings of different algorithms
// never collide; legacy caps (no hash) get none.
func (c caps) key() string { return c.hash + " " + c.ver }

// presenceOut watches broadcast available presence for entity caps.
func (e *Extension) presenceOut(p *xmppd.Packet) xmppd.Verdict {
	st := p.Stanza
	if p.Origin == nil || st.To != "" || st.Type != "" {
		return xmppd.Pass
	}
	ch, ok := st.Child("c", nsCaps)
	if !ok {
		return xmppd.Pass
	}
	el, err := wire.Parse(st.ChildBytes(ch))
	if err != nil {
		return xmppd.Pass
	}
	c := caps{hash: el.Attr("hash"), node: el.Attr("node"), ver: el.Attr("ver")}
	if c.ver == "" || len(c.ver) > 256 || len(c.node) > 1024 {
		return xmppd.Pass
	}
	ss := stateOf(p.Origin)
	if ss == nil {
		return xmppd.Pass
	}
	key := c.key()
	ss.mu.Lock()
	same := ss.ver == key
	ss.ver = key
	ss.mu.Unlock()
	if same {
		return xmppd.Pass
	}
	if notify, ok := e.caps.get(key); ok {
		e.setInterests(p.Origin, key, notify)
		return xmppd.Pass
	}
	// The answer arrives through this session's own reading goroutine,
	// which runs this hook: ask from another one.
	s := p.Origin
	e.bg.Go(func(context.Context) { e.resolveCaps(s, c) })
	return xmppd.Pass
}

// resolveCaps finds the +notify set of c, asking s when no other session
// is already asking about the same verification string.
func (e *Extension) resolveCaps(s *xmppd.Session, c caps) {
	key := c.key()
	if c.hash != "" {
		if wait, leader := e.caps.join(key); !leader {
			select {
			case <-wait:
			case <-e.bg.Context().Done():
				return
			}
			if notify, ok := e.caps.get(key); ok {
				e.setInterests(s, key, notify)
				return
			}
			// The other client did not answer well; ask this one.
		} else {
			defer e.caps.done(key)
		}
	}
	ctx, cancel := context.WithTimeout(e.bg.Context(), capsQueryTimeout)
	defer cancel()
	q := wire.NewElement("query", nsDiscoInfo, wire.Attr{Name: "node", Value: c.node + "#" + c.ver})
	res, err := e.srv.SendIQ(ctx, xmppd.JID{Domain: e.srv.Domain()}, s.JID(), "get", q)
	if err != nil {
		e.log.Debug("entity caps query failed", "jid", s.JID().String(), "ver", c.ver, "err", err)
		return
	}
	el, err := res.Element()
	if err != nil {
		return
	}
	info := el.Child("query", nsDiscoInfo)
	if info == nil {
		return
	}
	notify := make(map[string]bool)
	for _, f := range info.ChildrenNamed("feature", nsDiscoInfo) {
		if n, ok := strings.CutSuffix(f.Attr("var"), "+notify"); ok && n != "" {
			notify[n] = true
		}
	}
	if h := capsHash(c.hash); h != nil {
		if got, ok := verString(info, h); ok && got == c.ver {
			e.caps.put(key, notify)
		} else {
			e.log.Debug("entity caps hash mismatch; using the answer for this session only", "jid", s.JID().String(), "ver", c.ver, "computed", got)
		}
	}
	e.setInterests(s, key, notify)
}

// capsHash returns the hash function named by a XEP-0115 hash attribute
// (IANA names), nil for unknown or legacy.
func capsHash(name string) hash.Hash {
	switch name {
	case "sha-1":
		return sha1.New()
	case "sha-256":
		return sha256.New()
	case "sha-512":
		return sha512.New()
	}
	return nil
}

// verString computes the XEP-0115 §5.1 verification string of a
// disco#info answer; ok is false for answers §5.4 says must not be
// accepted (duplicate identities or features, malformed forms).
func verString(q *wire.Element, h hash.Hash) (string, bool) {
	type ident struct{ cat, typ, lang, name string }
	var ids []ident
	for _, i := range q.ChildrenNamed("identity", nsDiscoInfo) {
		ids = append(ids, ident{i.Attr("category"), i.Attr("type"), i.Attr("xml:lang"), i.Attr("name")})
	}
	slices.SortFunc(ids, func(a, b ident) int {
		return cmp.Or(cmp.Compare(a.cat, b.cat), cmp.Compare(a.typ, b.typ), cmp.Compare(a.lang, b.lang), cmp.Compare(a.name, b.name))
	})
	var feats []string
	for _, f := range q.ChildrenNamed("feature", nsDiscoInfo) {
		feats = append(feats, f.Attr("var"))
	}
	slices.Sort(feats)
	ok := true
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			ok = false
		}
	}
	for i := 1; i < len(feats); i++ {
		if feats[i] == feats[i-1] {
			ok = false
		}
	}
	var b strings.Builder
	for _, i := range ids {
		b.WriteString(i.cat + "/" + i.typ + "/" + i.lang + "/" + i.name + "<")
	}
	for _, f := range feats {
		b.WriteString(f + "<")
	}
	type form struct {
		formType string
		fields   []dataform.Field
	}
	var forms []form
	for _, x := range q.ChildrenNamed("x", nsData) {
		f := dataform.Parse(x)
		if !f.HasFormType {
			// §5.4: forms without FORM_TYPE are ignored.
			continue
		}
		forms = append(forms, form{f.FormType, f.Fields})
	}
	slices.SortFunc(forms, func(a, b form) int { return cmp.Compare(a.formType, b.formType) })
	for i := 1; i < len(forms); i++ {
		if forms[i].formType == forms[i-1].formType {
			ok = false
		}
	}
	for _, f := range forms {
		b.WriteString(f.formType + "<")
		slices.SortFunc(f.fields, func(a, b dataform.Field) int { return cmp.Compare(a.Var, b.Var) })
		for _, fl := range f.fields {
			b.WriteString(fl.Var + "<")
			vals := slices.Clone(fl.Values)
			slices.Sort(vals)
			for _, v := range vals {
				b.WriteString(v + "<")
			}
		}
	}
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), ok
}

// capsCache maps verified caps keys to +notify sets, and tracks the
// queries in flight so that a thousand clients of the same build are
// asked once.
type capsCache struct {
	mu       sync.Mutex
	max      int
	m        map[string]map[string]bool
	inflight map[string]chan struct{}
}

func newCapsCache(max int) *capsCache {
	return &capsCache{max: max, m: make(map[string]map[string]bool), inflight: make(map[string]chan struct{})}
}

// get returns a cached set; callers must not modify it.
func (c *capsCache) get(key string) (map[string]bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[key]
	return n, ok
}

func (c *capsCache) put(key string, notify map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Client builds change rarely; starting over is simpler than LRU
		// and bounds memory against clients inventing hashes.
		clear(c.m)
	}
	c.m[key] = notify
}

// join registers interest in key: the first caller leads (and must call
// done), the others get a channel closed when the leader finishes.
func (c *capsCache) join(key string) (wait <-chan struct{}, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.inflight[key]; ok {
		return ch, false
	}
	c.inflight[key] = make(chan struct{})
	return nil, true
}

func (c *capsCache) done(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.inflight[key])
	delete(c.inflight, key)
}
