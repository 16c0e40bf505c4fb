package muc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// XEP-0050 ad-hoc commands on room JIDs. The core has no command facility
// yet, so the room answers them itself: disco#items on the node
// http://jabber.org/protocol/commands lists the commands the requester may
// run in this room, disco#info describes a command node, and
// <command xmlns='http://jabber.org/protocol/commands'/> runs one.
//
//   - enquiry-context (enquiry rooms; owners and admins): a form with the
//     visitor fields; submitting it updates the context and tells the
//     occupants (status 104), so clients re-read disco#info.
//   - call-log (conference rooms; owners): the call log as a result table
//     and a text note, in one step.
//
// Sessions are stateless: the session id carries its start time and an
// HMAC (service key) over room, node, requester and time, so the room keeps
// nothing between the steps and a forged or stale id is refused.

// NSCommands is XEP-0050's namespace and the disco node of the command list.
const NSCommands = "http://jabber.org/protocol/commands"

// Command nodes.
const (
	CommandEnquiryContext = "enquiry-context"
	CommandCallLog        = "call-log"
)

// commandSessionTTL is how long a multi-step command may take.
const commandSessionTTL = 30 * time.Minute

type roomCommand struct {
	node, name string
	kind       string
	allowed    func(aff string) bool
}

var roomCommands = []roomCommand{
	{CommandEnquiryContext, "Edit the enquiry's visitor details", KindEnquiry,
		func(aff string) bool { return affRank(aff) >= affRank(affAdmin) }},
	{CommandCallLog, "Show the call log", KindConference,
		func(aff string) bool { return aff == affOwner }},
}

// command returns the command at node that r's kind offers, or nil.
func (r *room) command(node string) *roomCommand {
	for i := range roomCommands {
		if c := &roomCommands[i]; c.node == node && c.kind == r.rec.Config.Kind {
			return c
		}
	}
	return nil
}

func (r *room) hasCommands() bool {
	k := r.rec.Config.Kind
	return k == KindEnquiry || k == KindConference
}

// commandItems lists the commands the requester may run (XEP-0050 §2.2).
func (e *Extension) commandItems(r *room, from xmppd.JID) *wire.Element {
	res := wire.NewElement("query", nsDiscoItems, wire.Attr{Name: "node", Value: NSCommands})
	aff := r.affiliation(from.Bare())
	for _, c := range roomCommands {
		if c.kind == r.rec.Config.Kind && c.allowed(aff) {
			res.Append(wire.NewElement("item", nsDiscoItems, wire.Attr{Name: "jid", Value: r.jid.String()},
				wire.Attr{Name: "node", Value: c.node}, wire.Attr{Name: "name", Value: c.name}))
		}
	}
	return res
}

// commandInfo is disco#info on the command list or a command node
// (XEP-0050 §2.3); nil when the node is unknown here.
func (e *Extension) commandInfo(r *room, node string) *wire.Element {
	res := wire.NewElement("query", nsDiscoInfo, wire.Attr{Name: "node", Value: node})
	identity := func(typ, name string) {
		res.Append(wire.NewElement("identity", nsDiscoInfo, wire.Attr{Name: "category", Value: "automation"},
			wire.Attr{Name: "type", Value: typ}, wire.Attr{Name: "name", Value: name}))
	}
	switch c := r.command(node); {
	case node == NSCommands && r.hasCommands():
		identity("command-list", "Commands")
	case c != nil:
		identity("command-node", c.name)
		res.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: NSCommands}))
		res.Append(wire.NewElement("feature", nsDiscoInfo, wire.Attr{Name: "var", Value: nsData}))
	default:
		return nil
	}
	return res
}

// commandErr is a stanza error with one of XEP-0050's specific conditions.
type commandErr struct {
	se   stanza.Error
	cond string // bad-action, bad-sessionid, malformed-action, session-expired, bad-payload
}

func (c commandErr) Error() string { return c.se.Error() }

func badCommand(typ stanza.ErrorType, cond stanza.Condition, specific, text string) error {
	return commandErr{se: xmppd.StanzaError(typ, cond, text), cond: specific}
}

// executeCommand runs a <command/> request (XEP-0050 §3). r.mu is held.
func (e *Extension) executeCommand(r *room, p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	node := q.Attr("node")
	c := r.command(node)
	if c == nil {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound, "no command "+node+" in the room "+r.jid.String())
	}
	if !c.allowed(r.affiliation(p.From.Bare())) {
		return nil, stanzaErr(stanza.Auth, stanza.Forbidden, "you may not run "+node+" in "+r.jid.String())
	}
	action := q.Attr("action")
	switch action {
	case "", "execute", "complete", "cancel":
	case "next", "prev":
		return nil, badCommand(stanza.Modify, stanza.BadRequest, "bad-action", "the command "+node+" has a single step")
	default:
		return nil, badCommand(stanza.Modify, stanza.BadRequest, "malformed-action", "unknown action "+action)
	}
	sid := q.Attr("sessionid")
	if sid != "" {
		if err := e.checkSession(sid, r, node, p.From); err != nil {
			return nil, err
		}
	}
	if action == "cancel" {
		return commandResult(node, sid, "canceled"), nil
	}
	if sid == "" {
		sid = e.newSession(r, node, p.From, time.Now())
	}
	switch node {
	case CommandCallLog:
		calls := r.callLog()
		res := commandResult(node, sid, "completed")
		res.Append(wire.NewElement("note", NSCommands, wire.Attr{Name: "type", Value: "info"}).SetText(callLogText(calls)))
		return res.Append(callLogForm(r.jid.String(), calls)), nil
	case CommandEnquiryContext:
		x := q.Child("x", nsData)
		if x == nil {
			if action == "complete" {
				return nil, badCommand(stanza.Modify, stanza.BadRequest, "bad-payload", "complete the command with the submitted form")
			}
			ctx := r.rec.Enquiry
			if ctx == nil {
				ctx = &EnquiryContext{}
			}
			res := commandResult(node, sid, "executing")
			res.Append(wire.NewElement("actions", NSCommands, wire.Attr{Name: "execute", Value: "complete"}).
				Append(wire.NewElement("complete", NSCommands)))
			return res.Append(ctx.visitorForm()), nil
		}
		f := dataform.Parse(x)
		switch f.Type {
		case "cancel":
			return commandResult(node, sid, "canceled"), nil
		case "submit":
		default:
			return nil, badCommand(stanza.Modify, stanza.BadRequest, "bad-payload", "the form must be of type submit or cancel")
		}
		next := EnquiryContext{}
		if r.rec.Enquiry != nil {
			next = *r.rec.Enquiry
		}
		if err := next.applyVisitorForm(f); err != nil {
			return nil, badCommand(stanza.Modify, stanza.NotAcceptable, "bad-payload", err.Error())
		}
		old := r.rec.Enquiry
		r.rec.Enquiry = &next
		if err := e.save(r); err != nil {
			r.rec.Enquiry = old
			return nil, err
		}
		e.notifyConfigChange(r)
		res := commandResult(node, sid, "completed")
		return res.Append(wire.NewElement("note", NSCommands, wire.Attr{Name: "type", Value: "info"}).
			SetText("Visitor details updated.")), nil
	}
	return nil, errNotImplemented
}

func commandResult(node, sid, status string) *wire.Element {
	res := wire.NewElement("command", NSCommands, wire.Attr{Name: "node", Value: node}, wire.Attr{Name: "status", Value: status})
	if sid != "" {
		res.SetAttr("sessionid", sid)
	}
	return res
}

func (e *Extension) sessionMAC(r *room, node string, from xmppd.JID, t string) string {
	m := hmac.New(sha256.New, e.idKey)
	for _, s := range []string{"adhoc", r.name, node, from.String(), t} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:15])
}

func (e *Extension) newSession(r *room, node string, from xmppd.JID, now time.Time) string {
	t := strconv.FormatInt(now.Unix(), 36)
	return t + "." + e.sessionMAC(r, node, from, t)
}

func (e *Extension) checkSession(sid string, r *room, node string, from xmppd.JID) error {
	t, mac, ok := strings.Cut(sid, ".")
	sec, err := strconv.ParseInt(t, 36, 64)
	if !ok || err != nil || !hmac.Equal([]byte(mac), []byte(e.sessionMAC(r, node, from, t))) {
		return badCommand(stanza.Modify, stanza.BadRequest, "bad-sessionid", "unknown command session "+sid)
	}
	if time.Since(time.Unix(sec, 0)) > commandSessionTTL {
		return badCommand(stanza.Cancel, stanza.NotAllowed, "session-expired", "the command session has expired; start again")
	}
	return nil
}

// replyCommandError answers p with se plus XEP-0050's specific condition.
func (e *Extension) replyCommandError(p *xmppd.Packet, ce commandErr) {
	b := make([]byte, 0, 256)
	b = append(b, "<iq type='error'"...)
	b = wire.AppendAttr(b, "id", p.Stanza.ID)
	b = wire.AppendAttr(b, "to", p.From.String())
	b = wire.AppendAttr(b, "from", p.To.String())
	b = append(b, "><error"...)
	b = wire.AppendAttr(b, "type", string(ce.se.Type))
	b = append(b, "><"...)
	b = append(b, ce.se.Condition...)
	b = append(b, " xmlns='"+nsStanzas+"'/>"...)
	if t := ce.se.Text[""]; t != "" {
		b = append(b, "<text xmlns='"+nsStanzas+"'>"...)
		b = wire.AppendEscaped(b, t)
		b = append(b, "</text>"...)
	}
	b = append(b, '<')
	b = append(b, ce.cond...)
	b = append(b, " xmlns='"+NSCommands+"'/></error></iq>"...)
	e.reply(p, b)
}

// notifyConfigChange tells the occupants that the room's information
// changed (status 104), so clients fetch disco#info again. r.mu is held.
func (e *Extension) notifyConfigChange(r *room) {
	b := make([]byte, 0, 160)
	for _, o := range r.occupants {
		for _, s := range o.sessions {
			b = b[:0]
			b = append(b, "<message type='groupchat'"...)
			b = wire.AppendAttr(b, "from", r.jid.String())
			b = wire.AppendAttr(b, "to", s.to)
			b = wire.AppendAttr(b, "id", e.srv.NextID())
			b = append(b, "><x xmlns='"+NSUser+"'><status code='104'/></x></message>"...)
			e.send(s, append([]byte(nil), b...))
		}
	}
}
