// Package xmppd is the core of the xmppd XMPP server: listeners and stream
// negotiation (RFC 6120, on mellium.im/xmpp), the session table, stanza
// routing (RFC 6120 §10, RFC 6121 §8), the IQ table and the hook bus that
// every feature under extensions/ plugs into (see Extension, Registrar,
// Hook). Delivery to an account's resources is itself a hook handler at
// PriorityDeliver; everything else (roster, presence broadcast, offline
// storage, disco, ...) is an extension.
package xmppd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/admin"
	"github.com/xmppd/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

// Version is the server version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Options configure a Server.
type Options struct {
	Config     *config.Config
	Extensions []Extension
	Logger     *slog.Logger
	// Store, if set, is used instead of opening <data_dir>/xmppd.db (the
	// server then does not close it).
	Store *store.DB
}

// Server is one xmppd instance.
type Server struct {
	cfg       *config.Config
	domain    string
	log       *slog.Logger
	store     *store.DB
	ownsStore bool
	accounts  *Accounts
	limits    config.Limits
	// authPolicy is what SASL offers on every c2s connection of this
	// server (auth has no global settings).
	authPolicy *auth.Policy
	tlsConfig  *tls.Config
	// Guests (guest.go): the guest domain ("" = none), their logins per
	// address, and the component domains open to them.
	guestDomain string
	guestLogins *failureLog
	guestOpen   map[string]bool

	exts            []Extension
	hooks           hookTable
	iqHandlers      map[iqKey]IQHandler
	iqOwners        map[iqKey]string
	domains         map[string]DomainHandler
	nonzas          map[string]NonzaHandler
	refersToEarlier map[childKey]bool // RefersToEarlierMessages
	streamFeatures  []xmpp.StreamFeature
	adminCmds       map[string]AdminFunc
	httpMux         *http.ServeMux
	httpOwners      map[string]string // pattern -> extension
	disco           discoRegistry
	discoNodes      map[string]DiscoNode // server-domain disco nodes (disconode.go)
	shared          sync.Map             // Registrar.Shared
	roster          Roster
	messageIndex    MessageIndex

	sessions    *sessionTable
	conns       connCounter
	failIP      *failureLog
	failAccount *failureLog
	ids         idGen
	pending     pendingIQs
	metrics     metrics

	// XEP-0198: resumable sessions by resumption id, and expiries in flight.
	smMu       sync.Mutex
	smIDs      map[string]*Session
	smInflight smTracker

	ctx       context.Context
	cancel    context.CancelFunc
	listeners []net.Listener
	// negotiating holds connections not yet bound, closed on shutdown.
	negotiating sync.Map
	admin       *admin.Listener
	http        *http.Server
	httpLn      net.Listener
	wg          sync.WaitGroup
	started     time.Time
	running     atomic.Bool
	stopOnce    sync.Once
}

// New builds a server: opens the store and registers every extension in
// order. It does not listen; call Start. A server that is never started is
// what the CLI uses to administer a stopped server.
func New(opt Options) (*Server, error) {
	cfg := opt.Config
	if cfg == nil {
		cfg = config.Default()
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	srv := &Server{
		cfg:         cfg,
		domain:      cfg.Domain,
		log:         log,
		limits:      cfg.Limits,
		hooks:       hookTable{lists: make(map[string]any)},
		iqHandlers:  make(map[iqKey]IQHandler),
		iqOwners:    make(map[iqKey]string),
		domains:     make(map[string]DomainHandler),
		nonzas:      make(map[string]NonzaHandler),
		adminCmds:   make(map[string]AdminFunc),
		httpMux:     http.NewServeMux(),
		httpOwners:  make(map[string]string),
		sessions:    newSessionTable(),
		smIDs:       make(map[string]*Session),
		conns:       connCounter{max: cfg.Limits.ConnectionsPerIP, m: make(map[string]int)},
		failIP:      newFailureLog(cfg.Limits.FailedLoginsPerIP, cfg.Limits.FailedLoginWindow.Duration),
		failAccount: newFailureLog(cfg.Limits.FailedLoginsPerAccount, cfg.Limits.FailedLoginWindow.Duration),
		guestDomain: cfg.Enquiry.GuestDomain,
		guestLogins: newFailureLog(cfg.Enquiry.GuestLoginsPerIP, cfg.Enquiry.GuestLoginWindow.Duration),
		guestOpen:   make(map[string]bool),
	}
	srv.store = opt.Store
	if srv.store == nil {
		db, err := store.Open(cfg.StorePath(), store.Options{})
		if err != nil {
			return nil, err
		}
		srv.store = db
		srv.ownsStore = true
	}
	accounts, err := newAccounts(srv.store, cfg.Auth.SCRAMIterations)
	if err != nil {
		srv.closeStore()
		return nil, fmt.Errorf("loading accounts from %s: %w", srv.store.Path(), err)
	}
	srv.accounts = accounts
	if srv.authPolicy, err = loadAuthPolicy(srv.store, cfg, log); err != nil {
		srv.closeStore()
		return nil, err
	}

	// The core's own pipeline steps are hook handlers like any other.
	core := &Registrar{srv: srv, name: "core", log: log}
	Hook(core, MessageToAccount, PriorityRewrite, srv.assignStanzaID)
	// A message to an online full JID is archived and carbon-copied too, so
	// it needs the recipient's stanza-id (and loses forged ones) as well.
	Hook(core, MessageToFull, PriorityRewrite, srv.assignStanzaID)
	Hook(core, MessageToAccount, PriorityDeliver, srv.deliverToAccount)
	srv.disco.addIdentity(Identity{Category: "server", Type: "im", Name: "xmppd"})
	if err := core.HandleIQ(TargetAccount, "set", "urn:ietf:params:xml:ns:xmpp-session", "session", emptyResult); err != nil {
		return nil, err
	}
	srv.disco.addAccountFeature("urn:xmpp:sid:0")
	if err := core.HandleNonza(NSStreamManagement, srv.handleSM); err != nil {
		return nil, err
	}
	srv.setupGuests(core)
	if err := srv.handleWebSocket(core); err != nil {
		return nil, err
	}
	if err := srv.handleMetrics(core); err != nil {
		return nil, err
	}
	if err := srv.handleProfiling(core); err != nil {
		return nil, err
	}

	for _, ext := range opt.Extensions {
		r := &Registrar{srv: srv, name: ext.Name(), log: log.With("ext", ext.Name())}
		if err := ext.Register(r); err != nil {
			srv.closeStore()
			return nil, fmt.Errorf("extension %s: %w", ext.Name(), err)
		}
		srv.exts = append(srv.exts, ext)
	}
	if err := cfg.CheckUnknown(); err != nil {
		srv.closeStore()
		return nil, err
	}
	return srv, nil
}

// emptyResult answers legacy RFC 3921 session establishment, which some
// older clients still send.
func emptyResult(*IQ) (*wire.Element, error) { return nil, nil }

// Domain returns the server's domain.
func (srv *Server) Domain() string { return srv.domain }

// Logger returns the server's logger.
func (srv *Server) Logger() *slog.Logger { return srv.log }

// Store returns the server's store.
func (srv *Server) Store() *store.DB { return srv.store }

// Accounts returns the user database.
func (srv *Server) Accounts() *Accounts { return srv.accounts }

// Config returns the configuration the server runs with.
func (srv *Server) Config() *config.Config { return srv.cfg }

// Sessions returns the bound sessions of a bare JID (shared slice).
func (srv *Server) Sessions(bare JID) []*Session { return srv.sessions.sessions(bare.Bare()) }

// Session returns the session bound to full JID j, or nil.
func (srv *Server) Session(j JID) *Session { return srv.sessions.full(j) }

// NextID returns a fresh unguessable, time-ordered id.
func (srv *Server) NextID() string { return srv.ids.Next() }

// Start opens the listeners and starts the extensions.
func (srv *Server) Start(ctx context.Context) error {
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	cert, err := loadOrCreateCert(srv.cfg.TLS.CertFile, srv.cfg.TLS.KeyFile, srv.cfg.DataDir, srv.domain)
	if err != nil {
		return err
	}
	srv.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !srv.cfg.TLS.PostQuantum {
		srv.tlsConfig.CurvePreferences = classicalCurves
	}
	if err := srv.listen(srv.cfg.C2S.Listen, "c2s.listen", false); err != nil {
		srv.closeListeners()
		return err
	}
	if err := srv.listen(srv.cfg.C2S.DirectTLSListen, "c2s.direct_tls_listen", true); err != nil {
		srv.closeListeners()
		return err
	}
	if err := srv.listenHTTP(); err != nil {
		srv.closeListeners()
		return err
	}
	for i, ext := range srv.exts {
		if st, ok := ext.(Starter); ok {
			if err := st.Start(ctx); err != nil {
				srv.stopExtensions(ctx, i)
				srv.closeListeners()
				return fmt.Errorf("extension %s: start: %w", ext.Name(), err)
			}
		}
	}
	al, err := admin.Listen(srv.cfg.SocketPath(), srv.AdminCommand, srv.log.With("component", "admin"))
	if err != nil {
		srv.stopExtensions(ctx, len(srv.exts))
		srv.closeListeners()
		return err
	}
	srv.admin = al
	srv.started = time.Now()
	srv.running.Store(true)
	for _, l := range srv.listeners {
		srv.wg.Add(1)
		go srv.acceptLoop(l)
	}
	srv.serveHTTP()
	return nil
}

// classicalCurves is the key exchange with [tls] post_quantum = false:
// Go's default without the ML-KEM hybrids, whose encapsulation is about a
// sixth of a login's CPU. Clients offering X25519MLKEM768 also send an
// X25519 share, so the choice costs no extra round trip.
var classicalCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}

func (srv *Server) listen(addr, key string, directTLS bool) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", key, addr, err)
	}
	if directTLS {
		l = &tlsListener{Listener: l}
	}
	srv.listeners = append(srv.listeners, l)
	srv.log.Info("listening", "key", key, "addr", l.Addr().String())
	return nil
}

// tlsListener marks the direct-TLS (XEP-0368) listener; the handshake
// runs on the connection's own goroutine, not in Accept.
type tlsListener struct{ net.Listener }

// C2SAddr returns the address of the STARTTLS listener (nil if disabled).
func (srv *Server) C2SAddr() net.Addr { return srv.listenerAddr(false) }

// DirectTLSAddr returns the address of the direct TLS listener.
func (srv *Server) DirectTLSAddr() net.Addr { return srv.listenerAddr(true) }

func (srv *Server) listenerAddr(directTLS bool) net.Addr {
	for _, l := range srv.listeners {
		if _, ok := l.(*tlsListener); ok == directTLS {
			return l.Addr()
		}
	}
	return nil
}

// TLSConfig returns the server's TLS configuration (for the HTTP listener).
func (srv *Server) TLSConfig() *tls.Config { return srv.tlsConfig }

func (srv *Server) acceptLoop(l net.Listener) {
	defer srv.wg.Done()
	_, directTLS := l.(*tlsListener)
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			srv.log.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		srv.wg.Add(1)
		go func() {
			defer srv.wg.Done()
			srv.serveConn(conn, directTLS)
		}()
	}
}

// serveConn serves one TCP connection of a c2s listener.
func (srv *Server) serveConn(raw net.Conn, directTLS bool) {
	ip := ipOf(raw.RemoteAddr())
	log := withAttrs(srv.log, slog.String("remote", raw.RemoteAddr().String()))
	if !srv.conns.acquire(ip) {
		log.Warn("connection refused: too many connections from this address", "limit", srv.limits.ConnectionsPerIP)
		if !directTLS {
			_, _ = raw.Write([]byte(streamErrorDoc(srv.domain, "policy-violation", "too many connections from your address")))
		}
		_ = raw.Close()
		return
	}
	defer srv.conns.release(ip)
	srv.serveStream(transport{conn: raw, ip: ip, directTLS: directTLS, startTLS: !directTLS, log: log})
}

func (srv *Server) negotiationFailed(c *streamConn, out *auth.Outcome, log *slog.Logger, err error) {
	cond, text := negotiationCondition(c, out, err)
	if out.Attempted != "" && out.User == "" {
		log.Info("login failed", "user", out.Attempted, "mechanism", out.Mechanism, "reason", out.Failure)
	} else {
		log.Debug("negotiation failed", "condition", cond, "err", err)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if c.written == 0 {
		_, _ = c.Conn.Write([]byte(streamErrorDoc(srv.domain, cond, text)))
	} else {
		_, _ = c.Conn.Write([]byte(streamError(cond, text) + "</stream:stream>"))
	}
	_ = c.Conn.Close()
}

// streamError formats <stream:error/>.
func streamError(cond, text string) string {
	s := "<stream:error><" + cond + " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	if text != "" {
		s += "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" + string(wire.AppendEscaped(nil, text)) + "</text>"
	}
	return s + "</stream:error>"
}

// streamErrorDoc is a whole stream carrying only an error, for failures
// before our stream header went out (RFC 6120 §4.9.1.2).
func streamErrorDoc(domain, cond, text string) string {
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='" +
		string(wire.AppendEscaped(nil, domain)) + "'>" + streamError(cond, text) + "</stream:stream>"
}

// register creates the session for a resource being bound and puts it in
// the routing table before the bind result goes out, so a stanza sent to
// the new JID the moment the client learns it is never lost. Its outbound
// queue holds everything until negotiation has finished writing.
func (srv *Server) register(c *streamConn, r *wire.Reader, j JID, log *slog.Logger) (*Session, error) {
	s := &Session{
		srv:   srv,
		jid:   j,
		full:  j.String(),
		bare:  j.Bare(),
		done:  make(chan struct{}),
		rate:  newTokenBucket(int64(srv.limits.ReadRate)),
		guest: srv.IsGuest(j),
	}
	s.log = withAttrs(log, slog.String("jid", s.full))
	s.link.Store(&sessionLink{conn: c, r: r, readerDone: make(chan struct{})})
	s.out = outQueue{conn: c.Conn, held: true, limit: int(srv.limits.OutboundQueue), writeTTL: 30 * time.Second, onClose: func() { close(s.done) }}
	replaced, ok := srv.sessions.add(s, srv.limits.MaxResourcesPerUser)
	if !ok {
		return nil, StanzaError(stanza.Wait, stanza.ResourceConstraint, fmt.Sprintf("at most %d resources per account", srv.limits.MaxResourcesPerUser))
	}
	if replaced != nil {
		replaced.CloseWithError("conflict", "replaced by a new connection with the same resource")
	}
	return s, nil
}

// startSession starts writing to a bound (or resumed, XEP-0198) session
// and tells the extensions about a new one; serveSession then reads the
// link it returns.
func (srv *Server) startSession(s *Session, mechanism string, resumed bool) *sessionLink {
	link := s.link.Load()
	s.out.release()
	if !srv.running.Load() {
		// Shutdown began while this stream was negotiating.
		s.CloseWithError("system-shutdown", "the server is shutting down")
	}
	if resumed {
		s.log.Info("session resumed", "mechanism", mechanism, "new_remote", link.conn.(*streamConn).Conn.RemoteAddr().String())
	} else {
		s.log.Info("session bound", "mechanism", mechanism)
		RunHook(srv, SessionBound, s)
	}
	return link
}

// serveSession reads a started session on link until its stream ends, or
// until it hibernates waiting for a resumption.
func (srv *Server) serveSession(s *Session, link *sessionLink) {
	c := link.conn.(*streamConn)
	err := s.readLoop(link)
	close(link.readerDone)
	if srv.smKeep(s, link, err) {
		return
	}
	cond, text, bad := conditionOf(err)
	switch {
	case errors.Is(err, errStreamClosed):
		s.Close()
	case bad:
		s.log.Info("closing stream on bad input", "condition", cond, "err", text)
		s.CloseWithError(cond, text)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !s.closing.Load() {
			s.CloseWithError("connection-timeout", "idle for too long")
		} else {
			s.Close()
		}
	}
	if s.sm.Load() == nil {
		srv.unbind(s)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = c.Conn.Close()
	}
	if s.sm.Load() != nil {
		// Rerouted while still bound, so what arrives meanwhile follows
		// in order (see endSM).
		srv.endSM(s)
		srv.unbind(s)
	}
}

// unbind takes s out of routing and tells the extensions (presence
// broadcast of unavailable happens there).
func (srv *Server) unbind(s *Session) {
	if srv.sessions.remove(s) {
		srv.sessionEnded(s)
	}
}

// sessionEnded tells the extensions a session left the routing table;
// for a guest that is the end of its JID and of everything kept for it.
func (srv *Server) sessionEnded(s *Session) {
	RunHook(srv, SessionClosed, s)
	s.log.Info("session closed")
	if s.guest {
		srv.guestEnded(s)
	}
}

// Shutdown closes every stream politely (RFC 6120 §4.4), stops the
// extensions and closes the store.
func (srv *Server) Shutdown(ctx context.Context) error {
	var err error
	srv.stopOnce.Do(func() {
		srv.running.Store(false)
		srv.closeListeners()
		srv.shutdownHTTP(ctx)
		if srv.admin != nil {
			_ = srv.admin.Close()
		}
		// Hibernating sessions (XEP-0198) end first: what they hold goes
		// to offline storage while the extensions still run.
		srv.expireAllHibernating()
		srv.sessions.each(func(s *Session) {
			s.CloseWithError("system-shutdown", "the server is shutting down")
		})
		// Streams still negotiating are cut; one that already bound its
		// resource got the stream error above and closes after it.
		srv.negotiating.Range(func(c, bound any) bool {
			if bound.(*atomic.Pointer[Session]).Load() == nil {
				_ = c.(net.Conn).Close()
			}
			return true
		})
		if srv.cancel != nil {
			srv.cancel()
		}
		if WaitContext(ctx, &srv.wg) != nil {
			srv.log.Warn("shutdown timed out waiting for sessions")
		}
		srv.smInflight.wait()
		srv.stopExtensions(ctx, len(srv.exts))
		err = srv.closeStore()
	})
	return err
}

func (srv *Server) closeListeners() {
	for _, l := range srv.listeners {
		_ = l.Close()
	}
	if srv.httpLn != nil && srv.http == nil {
		// Opened but never served (a later start-up step failed).
		_ = srv.httpLn.Close()
	}
}

func (srv *Server) stopExtensions(ctx context.Context, n int) {
	for i := n - 1; i >= 0; i-- {
		if st, ok := srv.exts[i].(Stopper); ok {
			if err := st.Stop(ctx); err != nil {
				srv.log.Error("extension stop failed", "ext", srv.exts[i].Name(), "err", err)
			}
		}
	}
}

// Close releases a server that was never started (CLI use).
func (srv *Server) Close() error {
	if srv.running.Load() {
		return errors.New("server is running: use Shutdown")
	}
	srv.stopExtensions(context.Background(), 0)
	return srv.closeStore()
}

func (srv *Server) closeStore() error {
	if srv.ownsStore && srv.store != nil {
		err := srv.store.Close()
		srv.store = nil
		return err
	}
	return nil
}

// DataPath returns a path inside the data directory.
func (srv *Server) DataPath(elem ...string) string {
	return filepath.Join(append([]string{srv.cfg.DataDir}, elem...)...)
}
