package xmppd

import (
	"slices"
	"sync/atomic"
)

// Hook priorities, highest runs first (as in Prosody). The first handler
// that returns Done stops the chain. Keep every priority used by the core
// and the extensions in this one list so their order is visible at a glance.
const (
	PriorityFilter   = 1000 // policy: blocking, rate limits, window checks; may reject
	PriorityObserve  = 800  // reads stanzas without changing or stopping them (entity caps); always Pass
	PriorityRewrite  = 500  // adds or strips payloads (stanza-id, mentions)
	PriorityArchive  = 0    // archive before delivery: what a client receives is stored
	PriorityCount    = -10  // after the archive assigned ids: inbox counters, push triggers; observe only (Pass)
	PriorityCarbons  = -50  // copies to the user's other resources
	PriorityDeliver  = -100 // the core's default delivery
	PriorityFallback = -200 // offline storage and other last resorts
)

// Verdict is a hook's answer: Pass lets the next handler run, Done stops.
type Verdict bool

const (
	Pass Verdict = false
	Done Verdict = true
)

// HookPoint names a place in the stanza pipeline where extensions hook in.
// The type parameter is the event type its handlers receive, so a handler
// can never be registered for the wrong payload.
type HookPoint[E any] struct{ name string }

// Name returns the hook point's name (for logs and errors).
func (p HookPoint[E]) Name() string { return p.name }

// The hook points of the core pipeline.
var (
	// MessageOut runs for every message a local session sends, after 'from'
	// is stamped and before routing. Filters reject here (blocking,
	// correction window) by bouncing and returning Done.
	MessageOut = HookPoint[*Packet]{"message/out"}
	// MessageToAccount runs for a message addressed to a local account
	// (bare JID, or a full JID whose resource is gone). Archive, carbons,
	// delivery (PriorityDeliver) and offline storage (PriorityFallback)
	// are handlers here.
	MessageToAccount = HookPoint[*Packet]{"message/account"}
	// MessageToFull runs for a message addressed to an online full JID.
	MessageToFull = HookPoint[*Packet]{"message/full"}
	// MessageToServer runs for a message addressed to the server's domain.
	MessageToServer = HookPoint[*Packet]{"message/server"}
	// MessageUndeliverable runs when a message for a local account found no
	// available resource; the offline store handles it.
	MessageUndeliverable = HookPoint[*Packet]{"message/undeliverable"}

	// PresenceOut runs for every presence a local session sends, 'from'
	// stamped. Roster/presence logic (broadcast, subscriptions) lives here.
	PresenceOut = HookPoint[*Packet]{"presence/out"}
	// PresenceIn runs for a presence addressed to a local account or full
	// JID, before the core delivers it.
	PresenceIn = HookPoint[*Packet]{"presence/in"}

	// IQOut runs for every IQ a local session sends, before dispatch.
	IQOut = HookPoint[*Packet]{"iq/out"}
	// IQToFull runs for an IQ (any type, any sender) addressed to an online
	// local full JID, before the core delivers it; a filter that returns
	// Done answers or drops it itself (blocking).
	IQToFull = HookPoint[*Packet]{"iq/full"}

	// SessionBound runs when a resource is bound (the session is routable).
	SessionBound = HookPoint[*Session]{"session/bound"}
	// SessionInitialPresence runs after a session's first available presence
	// has been processed (offline messages are delivered here).
	SessionInitialPresence = HookPoint[*Session]{"session/initial-presence"}
	// SessionClosed runs after a session left the routing table.
	SessionClosed = HookPoint[*Session]{"session/closed"}

	// AccountDeleted runs after an account is deleted, so every extension
	// drops the account's data. It also runs, with the guest's bare JID,
	// when a guest's session ends (guest.go): a guest's JID is its
	// temporary account.
	AccountDeleted = HookPoint[JID]{"account/deleted"}
)

type hookEntry[E any] struct {
	priority int
	order    int
	fn       func(E) Verdict
}

// hookList is a priority-sorted, copy-on-write list of handlers: the hot
// path (run) reads it without locking.
type hookList[E any] struct {
	entries atomic.Pointer[[]hookEntry[E]]
}

func (l *hookList[E]) add(priority int, fn func(E) Verdict) {
	var next []hookEntry[E]
	if cur := l.entries.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, hookEntry[E]{priority: priority, order: len(next), fn: fn})
	slices.SortStableFunc(next, func(a, b hookEntry[E]) int {
		if a.priority != b.priority {
			return b.priority - a.priority
		}
		return a.order - b.order
	})
	l.entries.Store(&next)
}

// run calls handlers in priority order until one returns Done.
func (l *hookList[E]) run(ev E) Verdict {
	cur := l.entries.Load()
	if cur == nil {
		return Pass
	}
	for _, e := range *cur {
		if e.fn(ev) == Done {
			return Done
		}
	}
	return Pass
}

// hookTable holds the lists of all hook points of one server, keyed by
// point name; each list is typed by its point.
type hookTable struct {
	lists map[string]any
}

func listFor[E any](t *hookTable, p HookPoint[E]) *hookList[E] {
	if l, ok := t.lists[p.name]; ok {
		return l.(*hookList[E])
	}
	l := &hookList[E]{}
	t.lists[p.name] = l
	return l
}

// Hook registers fn at point p with the given priority. Registration
// happens while extensions register, before the server accepts
// connections.
func Hook[E any](r *Registrar, p HookPoint[E], priority int, fn func(E) Verdict) {
	listFor(&r.srv.hooks, p).add(priority, fn)
}

// RunHook runs the handlers of point p on ev. Extensions use it to run a
// core pipeline step on a stanza they generate.
func RunHook[E any](s *Server, p HookPoint[E], ev E) Verdict {
	// Read-only lookup: sessions run hooks concurrently, so a point nobody
	// hooked must not be created here (that would write the map).
	l, ok := s.hooks.lists[p.name]
	if !ok {
		return Pass
	}
	return l.(*hookList[E]).run(ev)
}
