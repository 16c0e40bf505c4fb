package adhoc

import (
	"slices"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Handle answers a <command/> request from from to the entity to
// (XEP-0050 §3, §4) and returns the <command/> answer or an error for the
// IQ.
func (g *Registry) Handle(from, to xmppd.JID, q *wire.Element) (*wire.Element, error) {
	node := q.Attr("node")
	c := g.command(node)
	if c == nil {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no command "+node+" at "+to.String())
	}
	if !c.allows(from, to) {
		return nil, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, from.BareString()+" may not run the command "+node)
	}
	action := q.Attr("action")
	switch action {
	case "", "execute", ActionNext, ActionPrev, ActionComplete, "cancel":
	default:
		return nil, Err(stanza.Modify, stanza.BadRequest, "malformed-action", "unknown action "+action)
	}
	req := &Request{From: from, To: to, Node: node, Payload: q}
	if x := q.Child("x", dataform.NS); x != nil {
		req.Form = dataform.Parse(x)
	}
	id := q.Attr("sessionid")
	if id == "" {
		if action != "" && action != "execute" {
			return nil, Err(stanza.Modify, stanza.BadRequest, "bad-sessionid", action+" needs the sessionid of a running command")
		}
		s := &session{id: newID(g.opt.Now()), node: node, from: from, to: to, started: g.opt.Now()}
		req.Action = "execute"
		return g.run(c, s, req, true)
	}
	s, err := g.take(id, node, from, to)
	if err != nil {
		return nil, err
	}
	cur := s.shown[len(s.shown)-1]
	if action == "cancel" {
		return answer(node, id, "canceled"), nil
	}
	if action == "" || action == "execute" {
		action = cur.defaultAction()
	}
	if !slices.Contains(g.offered(s), action) {
		_ = g.keep(s, false)
		return nil, Err(stanza.Modify, stanza.BadRequest, "bad-action", "this stage of "+node+" does not offer "+action)
	}
	if action == ActionPrev {
		s.shown = s.shown[:len(s.shown)-1]
		_ = g.keep(s, false)
		return g.render(s, s.shown[len(s.shown)-1]), nil
	}
	req.Action, req.Stage, req.State = action, len(s.shown), s.state
	return g.run(c, s, req, false)
}

// run calls the command for one stage and keeps or ends the session.
func (g *Registry) run(c *Command, s *session, req *Request, isNew bool) (*wire.Element, error) {
	res, err := c.Run(req)
	if err != nil {
		if !isNew {
			_ = g.keep(s, false)
		}
		return nil, err
	}
	s.state = req.State
	if res.Completed {
		return g.render(s, res), nil
	}
	s.shown = append(s.shown, res)
	if err := g.keep(s, isNew); err != nil {
		return nil, err
	}
	return g.render(s, res), nil
}

// offered are the actions the session's current stage accepts.
func (g *Registry) offered(s *session) []string {
	l := s.shown[len(s.shown)-1].actions()
	if len(s.shown) > 1 {
		l = append([]string{ActionPrev}, l...)
	}
	return l
}

func (r *Response) actions() []string {
	if len(r.Actions) == 0 {
		return []string{ActionComplete}
	}
	return r.Actions
}

func (r *Response) defaultAction() string {
	if r.Default != "" {
		return r.Default
	}
	if slices.Contains(r.actions(), ActionNext) {
		return ActionNext
	}
	return ActionComplete
}

// render builds the <command/> answer for res.
func (g *Registry) render(s *session, res *Response) *wire.Element {
	status := "executing"
	if res.Completed {
		status = "completed"
	}
	el := answer(s.node, s.id, status)
	if !res.Completed {
		acts := wire.NewElement("actions", NS, wire.Attr{Name: "execute", Value: res.defaultAction()})
		for _, a := range g.offered(s) {
			acts.Append(wire.NewElement(a, NS))
		}
		el.Append(acts)
	}
	for _, n := range res.Notes {
		el.Append(wire.NewElement("note", NS, wire.Attr{Name: "type", Value: n.Type}).SetText(n.Text))
	}
	if res.Form != nil {
		el.Append(res.Form)
	}
	return el
}

func answer(node, id, status string) *wire.Element {
	return wire.NewElement("command", NS, wire.Attr{Name: "node", Value: node},
		wire.Attr{Name: "sessionid", Value: id}, wire.Attr{Name: "status", Value: status})
}
