// Package adhoc is the server side of XEP-0050 Ad-Hoc Commands, shared by
// whatever entity offers commands: the server's domain (ServerCommands,
// one registry per server that every extension adds to) or a component
// that answers its own IQs (New, then Items, Info and Handle with the JID
// addressed, so one registry can serve many entities, e.g. a MUC
// service's rooms). It is a library, not an extension.
//
// A Registry holds the commands (node, name, who may run them) and the
// running sessions. Handle answers <command/> requests: execute starts a
// session, next and complete hand the submitted form to the command's Run,
// prev shows the previous stage again (the library keeps the stages'
// answers), cancel ends the session. Sessions belong to the full JID that
// started them at the entity addressed, expire after Options.TTL from their start, and are bounded
// per user (the oldest goes) and in all (resource-constraint). Errors carry
// XEP-0050's specific conditions: malformed-action (an unknown action),
// bad-action (an action the current stage does not offer), bad-sessionid
// (unknown, someone else's, or another command's session), session-expired,
// bad-payload (Run's business, BadPayload); a command the requester may not
// run is forbidden.
//
// Disco (XEP-0050 §2): Items lists the commands the requester may run at
// the node http://jabber.org/protocol/commands; Info describes that node
// (automation/command-list) and each command node (automation/command-node
// with the commands and jabber:x:data features).
package adhoc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// NS is XEP-0050's namespace and the disco node of the command list.
const NS = "http://jabber.org/protocol/commands"

// Actions a command stage may offer next.
const (
	ActionPrev     = "prev"
	ActionNext     = "next"
	ActionComplete = "complete"
)

// Note types.
const (
	NoteInfo  = "info"
	NoteWarn  = "warn"
	NoteError = "error"
)

// Defaults of Options.
const (
	DefaultTTL         = 15 * time.Minute
	DefaultMaxPerUser  = 8
	DefaultMaxSessions = 10000
)

// Command is one command a Registry offers.
type Command struct {
	Node, Name string
	// Allowed says whether from may list and run the command at the
	// entity to (the JID the request was addressed to); nil lets everyone
	// who can reach the entity.
	Allowed func(from, to xmppd.JID) bool
	// Run answers one stage. It is called with Stage 0 for execute and
	// with the number of the stages shown so far for next and complete;
	// prev never reaches it. An error ends the request, not the session
	// (the requester may correct the form or cancel).
	Run func(req *Request) (*Response, error)
}

// Request is one stage of a command as handed to Run.
type Request struct {
	From   xmppd.JID
	To     xmppd.JID // the entity addressed
	Node   string
	Action string // execute, next or complete
	Stage  int
	// Form is the submitted form, nil when the request carried none.
	Form *dataform.Form
	// Payload is the whole <command/> element.
	Payload *wire.Element
	// State is what earlier stages of this session left in it; Run may
	// set it for later ones.
	State any
}

// Response is what a stage answers.
type Response struct {
	// Completed ends the session; otherwise it waits for the next stage.
	Completed bool
	Notes     []Note
	// Form is the payload, usually a dataform.Builder's Element.
	Form *wire.Element
	// Actions offered while executing (next, complete); none means
	// complete. prev is added by the library from the second stage on.
	Actions []string
	// Default is the action 'execute' stands for; "" picks next if
	// offered, else complete.
	Default string
}

// Note is a XEP-0050 note.
type Note struct{ Type, Text string }

// Info, Warn and Error make notes.
func Info(text string) Note  { return Note{NoteInfo, text} }
func Warn(text string) Note  { return Note{NoteWarn, text} }
func Error(text string) Note { return Note{NoteError, text} }

// Options bound a Registry's sessions. Zero values take the defaults.
type Options struct {
	TTL         time.Duration
	MaxPerUser  int // sessions of one bare JID; beyond, the oldest goes
	MaxSessions int // sessions in all; beyond, resource-constraint
	// Now is the clock, for tests; nil is time.Now.
	Now func() time.Time
}

// Registry is a set of commands and their sessions.
type Registry struct {
	opt  Options
	cmds []*Command

	wired atomic.Bool // ServerCommands has set it up

	mu       sync.Mutex
	sessions map[string]*session
	created  int // sessions made since the last sweep
}

// New returns an empty registry.
func New(opt Options) *Registry {
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.MaxPerUser <= 0 {
		opt.MaxPerUser = DefaultMaxPerUser
	}
	if opt.MaxSessions <= 0 {
		opt.MaxSessions = DefaultMaxSessions
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Registry{opt: opt, sessions: make(map[string]*session)}
}

// Add registers commands; a node given twice, or without a name or Run,
// is an error.
func (g *Registry) Add(cmds ...Command) error {
	for _, c := range cmds {
		switch {
		case c.Node == "" || c.Node == NS:
			return fmt.Errorf("adhoc: a command needs a node of its own, got %q", c.Node)
		case c.Name == "" || c.Run == nil:
			return fmt.Errorf("adhoc: command %s needs a name and a Run", c.Node)
		case g.command(c.Node) != nil:
			return fmt.Errorf("adhoc: command %s is already registered", c.Node)
		}
		g.cmds = append(g.cmds, &c)
	}
	return nil
}

// command returns the command at node, or nil. Commands are added before
// the entity serves requests, so no lock is needed.
func (g *Registry) command(node string) *Command {
	for _, c := range g.cmds {
		if c.Node == node {
			return c
		}
	}
	return nil
}

func (c *Command) allows(from, to xmppd.JID) bool { return c.Allowed == nil || c.Allowed(from, to) }

// Err is a stanza error with XEP-0050's specific condition (bad-action,
// bad-payload, bad-sessionid, malformed-action, session-expired).
func Err(typ stanza.ErrorType, cond stanza.Condition, specific, text string) error {
	return xmppd.AppError{Err: xmppd.StanzaError(typ, cond, text), App: wire.NewElement(specific, NS)}
}

// BadPayload is the error for a form Run cannot accept.
func BadPayload(text string) error {
	return Err(stanza.Modify, stanza.BadRequest, "bad-payload", text)
}
