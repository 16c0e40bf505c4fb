package xmppd

// AdoptPersist moves the store changes queued on q (Persist) to the end
// of p's queue, so that one commit of p stores both, in that order. A
// component that stores several stanzas in a row (a MUC room's messages
// that arrived while its previous commit ran) commits them in one
// transaction, and in their order, this way. q is left with nothing to
// commit.
func (p *Packet) AdoptPersist(q *Packet) {
	p.persist = append(p.persist, q.persist...)
	q.persist = nil
}
