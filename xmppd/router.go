package xmppd

import (
	"hash/maphash"
	"slices"
	"sync"
)

// sessionTable maps bare JIDs to their bound sessions. It is sharded so
// that routing never serialises all sessions behind one lock; each entry's
// slice is copy-on-write, so readers iterate it without holding the lock.
type sessionTable struct {
	seed   maphash.Seed
	shards [64]sessionShard
}

type sessionShard struct {
	mu sync.RWMutex
	m  map[JID][]*Session
}

func newSessionTable() *sessionTable {
	t := &sessionTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[JID][]*Session)
	}
	return t
}

func (t *sessionTable) shard(bare JID) *sessionShard {
	return &t.shards[maphash.Comparable(t.seed, bare)%uint64(len(t.shards))]
}

// sessions returns the bound sessions of a bare JID. The slice is shared:
// do not modify it.
func (t *sessionTable) sessions(bare JID) []*Session {
	sh := t.shard(bare)
	sh.mu.RLock()
	l := sh.m[bare]
	sh.mu.RUnlock()
	return l
}

// full returns the session bound to a full JID, or nil.
func (t *sessionTable) full(j JID) *Session {
	for _, s := range t.sessions(j.Bare()) {
		if s.jid.Resource == j.Resource {
			return s
		}
	}
	return nil
}

// add binds s. A session already bound to the same full JID is returned as
// replaced (RFC 6120 §7.7.2.2: the server terminates the old session);
// adding fails with false if the account already has max sessions.
func (t *sessionTable) add(s *Session, max int) (replaced *Session, ok bool) {
	sh := t.shard(s.bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := sh.m[s.bare]
	next := make([]*Session, 0, len(cur)+1)
	for _, o := range cur {
		if o.jid.Resource == s.jid.Resource {
			replaced = o
			continue
		}
		next = append(next, o)
	}
	if max > 0 && len(next) >= max {
		return nil, false
	}
	sh.m[s.bare] = append(next, s)
	return replaced, true
}

// remove unbinds s; it reports whether s was bound.
func (t *sessionTable) remove(s *Session) bool {
	sh := t.shard(s.bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := sh.m[s.bare]
	i := slices.Index(cur, s)
	if i < 0 {
		return false
	}
	if len(cur) == 1 {
		delete(sh.m, s.bare)
		return true
	}
	next := make([]*Session, 0, len(cur)-1)
	next = append(next, cur[:i]...)
	sh.m[s.bare] = append(next, cur[i+1:]...)
	return true
}

// resourceInUse reports whether a full JID is bound.
func (t *sessionTable) resourceInUse(j JID) bool { return t.full(j) != nil }

// count returns the number of bound sessions and of distinct accounts.
func (t *sessionTable) count() (sessions, accounts int) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		accounts += len(sh.m)
		for _, l := range sh.m {
			sessions += len(l)
		}
		sh.mu.RUnlock()
	}
	return sessions, accounts
}

// each calls fn for every bound session.
func (t *sessionTable) each(fn func(*Session)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		var all []*Session
		for _, l := range sh.m {
			all = append(all, l...)
		}
		sh.mu.RUnlock()
		for _, s := range all {
			fn(s)
		}
	}
}
