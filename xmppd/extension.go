package xmppd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp"
)

// Extension is a feature of the server: one package under extensions/.
// Register is called once, in list order, before the server starts; the
// extension announces its disco features and hooks through the Registrar
// and keeps whatever it needs from it.
type Extension interface {
	Name() string
	Register(r *Registrar) error
}

// Starter is implemented by extensions that run background work (timers,
// listeners) once the server is up.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by extensions that must flush or release
// resources on shutdown. Stop is called in reverse registration order,
// also after a partial start.
type Stopper interface {
	Stop(ctx context.Context) error
}

// WaitContext waits for wg, or until ctx is done (then ctx.Err()): the
// usual end of a Stop that waits for its goroutines. The wait goes on in
// the background after a timeout.
func WaitContext(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Target says which entity an IQ is addressed to.
type Target int

const (
	// TargetServer: the server's own domain (disco, ping, version).
	TargetServer Target = iota
	// TargetAccount: a local account's bare JID, or no 'to' at all, which
	// RFC 6120 §10.3.3 says the server answers on the account's behalf
	// (roster, vCard, PEP, private storage, blocking).
	TargetAccount
)

// IQ is an IQ request handed to a handler. From is the stamped sender;
// To is the addressed entity (for TargetAccount with no 'to', the sender's
// bare JID).
type IQ struct {
	Server  *Server
	Session *Session // the sending session, nil when another component sent it
	From    JID
	To      JID
	Stanza  *wire.Stanza
	Payload *wire.Element // the IQ's child element, parsed
}

// IQHandler answers an IQ request. It returns the payload of the result
// (nil for an empty result) or a stanza error (mellium's stanza.Error);
// any other error is answered with internal-server-error and logged.
type IQHandler func(iq *IQ) (*wire.Element, error)

type iqKey struct {
	target Target
	typ    string // "get" or "set"
	ns     string
	name   string
}

// DomainHandler receives every stanza addressed to a domain it serves
// (e.g. conference.<domain>); it is how components plug into routing.
type DomainHandler interface {
	HandleStanza(p *Packet)
}

// NonzaHandler receives a top-level element that is not a stanza (XEP-0198
// <r/>, <a/>, <enable/>; XEP-0352 <active/>) from a bound session.
type NonzaHandler func(s *Session, el *wire.Stanza)

// Identity is a XEP-0030 identity.
type Identity struct {
	Category, Type, Name string
}

// Registrar is what an extension gets to plug itself into the server.
type Registrar struct {
	srv  *Server
	name string
	log  *slog.Logger
}

// Server returns the server, for routing and session lookups at run time.
func (r *Registrar) Server() *Server { return r.srv }

// Logger returns a logger scoped to the extension.
func (r *Registrar) Logger() *slog.Logger { return r.log }

// Store returns the server's store; an extension names its own buckets.
func (r *Registrar) Store() *store.DB { return r.srv.store }

// Domain returns the server's main domain.
func (r *Registrar) Domain() string { return r.srv.domain }

// Config decodes the extension's own TOML table [section] into v, which
// already holds the defaults. Unknown keys are reported at start-up.
func (r *Registrar) Config(section string, v any) error {
	if r.srv.cfg == nil {
		return nil
	}
	return r.srv.cfg.Section(section, v)
}

// Feature announces a XEP-0030 feature of the server domain.
func (r *Registrar) Feature(ns string) { r.srv.disco.addFeature(ns) }

// AccountFeature announces a feature of every account's bare JID (PEP).
func (r *Registrar) AccountFeature(ns string) { r.srv.disco.addAccountFeature(ns) }

// Identity announces a XEP-0030 identity of the server domain.
func (r *Registrar) Identity(id Identity) { r.srv.disco.addIdentity(id) }

// AccountIdentity announces a XEP-0030 identity of every account's bare
// JID (PEP's pubsub/pep, XEP-0163 §6.1).
func (r *Registrar) AccountIdentity(id Identity) { r.srv.disco.addAccountIdentity(id) }

// HandleIQ registers h for IQs of type typ ("get" or "set") whose payload
// is <name xmlns='ns'/> addressed to target. A duplicate registration is a
// start-up error.
func (r *Registrar) HandleIQ(target Target, typ, ns, name string, h IQHandler) error {
	k := iqKey{target: target, typ: typ, ns: ns, name: name}
	if owner, dup := r.srv.iqOwners[k]; dup {
		return fmt.Errorf("extension %s: IQ %s {%s}%s already handled by %s", r.name, typ, ns, name, owner)
	}
	r.srv.iqOwners[k] = r.name
	r.srv.iqHandlers[k] = h
	return nil
}

// HandleDomain routes every stanza addressed to domain (or a JID at it)
// to h. The domain is listed in the server's disco#items.
func (r *Registrar) HandleDomain(domain string, h DomainHandler) error {
	if domain == r.srv.domain {
		return fmt.Errorf("extension %s: domain %s is the server's own domain", r.name, domain)
	}
	if domain == r.srv.guestDomain {
		return fmt.Errorf("extension %s: domain %s is enquiry.guest_domain, where guests log in", r.name, domain)
	}
	if _, dup := r.srv.domains[domain]; dup {
		return fmt.Errorf("extension %s: domain %s is already served", r.name, domain)
	}
	r.srv.domains[domain] = h
	return nil
}

// HandleNonza registers h for top-level elements in namespace ns.
func (r *Registrar) HandleNonza(ns string, h NonzaHandler) error {
	if _, dup := r.srv.nonzas[ns]; dup {
		return fmt.Errorf("extension %s: namespace %s already handled", r.name, ns)
	}
	r.srv.nonzas[ns] = h
	return nil
}

// AdminFunc runs an operator command an extension provides (xmppd room
// ...). args are the CLI's flags and arguments; the result is sent back as
// JSON. It must work on a server that was never started (the CLI's offline
// path) as well as on a running one.
type AdminFunc func(ctx context.Context, args map[string]string) (any, error)

// AdminCommand registers an operator command under name (e.g.
// "room.create"), dispatched by Server.AdminCommand for the admin socket
// and the CLI's offline path. A name the core or another extension already
// uses is a start-up error.
func (r *Registrar) AdminCommand(name string, fn AdminFunc) error {
	if coreAdminCommands[name] {
		return fmt.Errorf("extension %s: admin command %q is a core command", r.name, name)
	}
	if _, dup := r.srv.adminCmds[name]; dup {
		return fmt.Errorf("extension %s: admin command %q is already registered", r.name, name)
	}
	r.srv.adminCmds[name] = fn
	return nil
}

// StreamFeature adds a feature advertised after authentication (next to
// bind), e.g. roster versioning or stream management.
func (r *Registrar) StreamFeature(f xmpp.StreamFeature) {
	r.srv.streamFeatures = append(r.srv.streamFeatures, f)
}

// Background holds the goroutines an extension runs beside the stanza
// path (outgoing requests, workers): Go starts one with a context that
// Stop cancels, and Stop waits for them, or for its ctx. The zero value
// is ready to use.
type Background struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *Background) init() {
	b.once.Do(func() { b.ctx, b.cancel = context.WithCancel(context.Background()) })
}

// Context is done once Stop was called.
func (b *Background) Context() context.Context {
	b.init()
	return b.ctx
}

// Go runs fn in a goroutine that Stop waits for; fn gets Context.
func (b *Background) Go(fn func(ctx context.Context)) {
	b.init()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

// Stop cancels the context and waits for the goroutines, or until ctx is
// done (then ctx.Err()).
func (b *Background) Stop(ctx context.Context) error {
	b.init()
	b.cancel()
	return WaitContext(ctx, &b.wg)
}
