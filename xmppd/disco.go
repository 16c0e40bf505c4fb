package xmppd

import (
	"slices"
	"sync"
)

// discoRegistry collects what extensions announce, so the disco extension
// (XEP-0030) and entity capabilities (XEP-0115) can answer from one place.
type discoRegistry struct {
	mu                sync.RWMutex
	identities        []Identity
	features          []string
	accountFeatures   []string
	accountIdentities []Identity
}

func addUnique(l []string, v string) []string {
	if slices.Contains(l, v) {
		return l
	}
	return append(l, v)
}

func (d *discoRegistry) addFeature(ns string) {
	d.mu.Lock()
	d.features = addUnique(d.features, ns)
	d.mu.Unlock()
}

func (d *discoRegistry) addAccountFeature(ns string) {
	d.mu.Lock()
	d.accountFeatures = addUnique(d.accountFeatures, ns)
	d.mu.Unlock()
}

func (d *discoRegistry) addIdentity(id Identity) {
	d.mu.Lock()
	if !slices.Contains(d.identities, id) {
		d.identities = append(d.identities, id)
	}
	d.mu.Unlock()
}

func (d *discoRegistry) addAccountIdentity(id Identity) {
	d.mu.Lock()
	if !slices.Contains(d.accountIdentities, id) {
		d.accountIdentities = append(d.accountIdentities, id)
	}
	d.mu.Unlock()
}

// ServerFeatures returns the features of the server domain, sorted.
func (srv *Server) ServerFeatures() []string {
	srv.disco.mu.RLock()
	defer srv.disco.mu.RUnlock()
	l := slices.Clone(srv.disco.features)
	slices.Sort(l)
	return l
}

// AccountFeatures returns the features of an account's bare JID, sorted.
func (srv *Server) AccountFeatures() []string {
	srv.disco.mu.RLock()
	defer srv.disco.mu.RUnlock()
	l := slices.Clone(srv.disco.accountFeatures)
	slices.Sort(l)
	return l
}

// ServerIdentities returns the identities of the server domain.
func (srv *Server) ServerIdentities() []Identity {
	srv.disco.mu.RLock()
	defer srv.disco.mu.RUnlock()
	return slices.Clone(srv.disco.identities)
}

// AccountIdentities returns the identities of an account's bare JID.
func (srv *Server) AccountIdentities() []Identity {
	srv.disco.mu.RLock()
	defer srv.disco.mu.RUnlock()
	return slices.Clone(srv.disco.accountIdentities)
}

// ComponentDomains returns the domains served by components, sorted (the
// server's disco#items).
func (srv *Server) ComponentDomains() []string {
	var l []string
	for d := range srv.domains {
		if d != srv.guestDomain {
			l = append(l, d)
		}
	}
	slices.Sort(l)
	return l
}
