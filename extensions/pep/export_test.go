package pep

import (
	"slices"

	"github.com/xmppd/xmppd/xmppd"
)

// NotifySet returns the +notify nodes recorded for a session, sorted, so
// tests can wait for a caps query to complete.
func (e *Extension) NotifySet(full xmppd.JID) []string {
	s := e.srv.Session(full)
	if s == nil {
		return nil
	}
	st := stateOf(s)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for n := range st.notify {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// CapsCached reports whether a verified caps hash is cached.
func (e *Extension) CapsCached(hash, ver string) bool {
	_, ok := e.caps.get(caps{hash: hash, ver: ver}.key())
	return ok
}
