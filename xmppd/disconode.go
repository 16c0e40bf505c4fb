package xmppd

import "fmt"

// DiscoNode answers XEP-0030 queries to the server's domain at one node
// (e.g. XEP-0050's http://jabber.org/protocol/commands). The disco
// extension owns the disco IQs and asks here for any node it does not
// know itself; a nil handler is item-not-found.
type DiscoNode struct {
	Info  IQHandler // disco#info at the node
	Items IQHandler // disco#items at the node
}

// ServerNode registers h for disco queries to the server's domain at
// node. A node registered twice is a start-up error.
func (r *Registrar) ServerNode(node string, h DiscoNode) error {
	if node == "" {
		return fmt.Errorf("extension %s: a disco node needs a name", r.name)
	}
	if _, dup := r.srv.discoNodes[node]; dup {
		return fmt.Errorf("extension %s: disco node %s is already served", r.name, node)
	}
	if r.srv.discoNodes == nil {
		r.srv.discoNodes = make(map[string]DiscoNode)
	}
	r.srv.discoNodes[node] = h
	return nil
}

// ServerNode returns the handlers of a server-domain disco node.
// Registration ends before the server starts, so no lock is needed.
func (srv *Server) ServerNode(node string) (DiscoNode, bool) {
	h, ok := srv.discoNodes[node]
	return h, ok
}

// Shared returns the value kept under key for this server, made by
// create on the first call. It lets a library used by several extensions
// keep one state per server (xmppd/adhoc's command registry of the
// server's domain) without the extensions importing each other. key
// should be an unexported type of the calling package.
func (r *Registrar) Shared(key any, create func() any) any {
	if v, ok := r.srv.shared.Load(key); ok {
		return v
	}
	v, _ := r.srv.shared.LoadOrStore(key, create())
	return v
}
