// Package loadgen is the engine of `xmppd bench`: a load generator that
// measures any XMPP server (RFC 6120 c2s: STARTTLS, SASL SCRAM-SHA-256 or
// SCRAM-SHA-1, resource binding) over real sockets.
//
// Scenarios:
//
//   - login: workers log in and out repeatedly; logins/s and latency.
//   - chat: pairs of users, each user sending to the other with a bounded
//     window of messages in flight (or at a fixed total rate); delivered
//     messages/s, end-to-end latency, lost and duplicated messages.
//   - muc: K rooms (XEP-0045) with M occupants each and one sender per
//     room; deliveries/s (messages × occupants) and latency.
//   - idle: N authenticated idle connections; with a server PID, the
//     server's resident memory per connection.
//
// The generator is meant to cost as little CPU as possible, so that it
// measures the server and not itself: a byte-level stanza splitter
// (xmppd/wire), batched writes (several stanzas per TLS record and
// syscall), SCRAM keys derived once per run, per-goroutine histograms. It
// reports its own CPU time next to the server's (read from /proc/PID).
//
// Users are named <prefix><i>@<domain> for i = 1..Users and must exist
// with the same password (see `xmppd bench --create` and
// bench/create-users.sh).
package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenarios lists the scenario names Run accepts.
var Scenarios = []string{"login", "chat", "muc", "idle"}

// Config describes one run.
type Config struct {
	Addr       string // host:port of the c2s (STARTTLS) listener
	Domain     string
	UserPrefix string // users are <UserPrefix><i>@<Domain>, i = 1..Users
	Users      int
	Password   string

	Connections int // login: concurrent workers; idle: connections held (default Users)
	Pairs       int // chat: user pairs (default Users/2)
	Duration    time.Duration
	Window      int     // chat, muc: messages in flight per sender (default 16)
	Rate        float64 // chat, muc: total messages/s, paced; 0 = as fast as the window allows
	SM          bool    // chat: XEP-0198 on every connection, an ack asked for with every batch; reports acknowledged messages never delivered
	Rooms       int     // muc
	Occupants   int     // muc: occupants per room
	MUCDomain   string  // muc: default conference.<Domain>

	PID           int           // server process to sample (0: none)
	TLSSkipVerify bool          // accept any certificate (self-signed test servers)
	Grace         time.Duration // chat, muc: how long to wait for messages in flight at the end (default 5s)
	Timeout       time.Duration // per login negotiation (default 10s)
	SetupParallel int           // concurrent logins while setting up chat/muc/idle (default 32)

	// Progress, if set, is called about once a second with an interval
	// report (Type "progress").
	Progress func(*Report)
}

// ServerStats are the server's figures over the measured interval (--pid).
type ServerStats struct {
	PID          int     `json:"pid"`
	CPUSeconds   float64 `json:"cpu_s"`
	Cores        float64 `json:"cores"`                   // CPU seconds per wall second
	CPUPerOpUS   float64 `json:"cpu_per_op_us,omitempty"` // server CPU per operation (the portable figure)
	RSSKB        int64   `json:"rss_kb"`
	RSSDeltaKB   int64   `json:"rss_delta_kb"`
	KBPerConn    float64 `json:"kb_per_conn,omitempty"` // idle: RSS delta / connections
	RSSBeforeKB  int64   `json:"rss_before_kb"`
	SampledError string  `json:"error,omitempty"`
}

// Report is a progress line or the final result.
type Report struct {
	Type        string   `json:"type"` // "progress" or "result"
	Scenario    string   `json:"scenario"`
	Phase       string   `json:"phase,omitempty"` // progress: setup, run, drain, hold
	Elapsed     float64  `json:"elapsed_s"`       // since the measured phase began (setup: since start)
	Unit        string   `json:"unit"`            // what Ops counts: logins, messages, deliveries, connections
	Ops         int64    `json:"ops"`             // progress: in the interval; result: in total
	Rate        float64  `json:"rate"`            // Ops per second (result: over the measured phase)
	P50ms       float64  `json:"p50_ms"`
	P99ms       float64  `json:"p99_ms"`
	Connections int64    `json:"connections"`
	Sent        int64    `json:"sent,omitempty"`
	Expected    int64    `json:"expected,omitempty"` // deliveries owed for Sent (muc: × occupants)
	Lost        int64    `json:"lost"`
	Dup         int64    `json:"dup"`
	Acked       int64    `json:"acked,omitempty"`      // chat --sm: messages the server acknowledged (XEP-0198)
	AckedLost   int64    `json:"acked_lost,omitempty"` // chat --sm: of those, never delivered: a broken promise
	Errors      int64    `json:"errors"`
	ErrorSample []string `json:"error_samples,omitempty"`

	ClientCPU   float64      `json:"client_cpu_s"`
	ClientCores float64      `json:"client_cores"`
	Server      *ServerStats `json:"server,omitempty"`
}

type run struct {
	cfg    Config
	tls    *tls.Config
	name   string
	unit   string
	runID  string
	epoch  time.Time
	conns  atomic.Int64
	errs   atomic.Int64
	phase  atomic.Value // string
	mu     sync.Mutex
	hists  []*Hist
	errMsg map[string]int

	stats atomic.Pointer[trafficStats] // chat, muc: set once the traffic starts
}

// Run executes scenario against the server and returns the final report.
// Cancelling ctx ends the measured phase early (the report covers what
// ran).
func Run(ctx context.Context, scenario string, cfg Config) (*Report, error) {
	if err := cfg.defaults(scenario); err != nil {
		return nil, err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	r := &run{
		cfg:    cfg,
		tls:    &tls.Config{InsecureSkipVerify: cfg.TLSSkipVerify, ServerName: cfg.Domain, MinVersion: tls.VersionTLS12},
		name:   scenario,
		runID:  hex.EncodeToString(id[:]),
		epoch:  time.Now(),
		errMsg: map[string]int{},
	}
	r.phase.Store("setup")
	if cfg.PID > 0 {
		if _, err := ReadProc(cfg.PID); err != nil {
			return nil, err
		}
	}
	switch scenario {
	case "login":
		r.unit = "logins"
		return r.login(ctx)
	case "chat":
		r.unit = "messages"
		return r.chat(ctx)
	case "muc":
		r.unit = "deliveries"
		return r.muc(ctx)
	case "idle":
		r.unit = "connections"
		return r.idle(ctx)
	}
	return nil, fmt.Errorf("unknown scenario %q (want one of %s)", scenario, strings.Join(Scenarios, ", "))
}

func (c *Config) defaults(scenario string) error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:5222"
	}
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.UserPrefix == "" {
		c.UserPrefix = "bench"
	}
	if c.Window <= 0 {
		c.Window = 16
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.SetupParallel <= 0 {
		c.SetupParallel = 32
	}
	if c.MUCDomain == "" {
		c.MUCDomain = "conference." + c.Domain
	}
	if c.Duration <= 0 {
		return errors.New("--duration must be positive")
	}
	if c.Users <= 0 {
		return errors.New("--users must be at least 1")
	}
	if c.SM && scenario != "chat" {
		return errors.New("--sm applies to the chat scenario only")
	}
	if c.Password == "" {
		return errors.New("--password is empty")
	}
	if c.Rate < 0 {
		return errors.New("--rate must not be negative")
	}
	switch scenario {
	case "login":
		if c.Connections <= 0 {
			c.Connections = min(c.Users, 10)
		}
	case "idle":
		if c.Connections <= 0 {
			c.Connections = c.Users
		}
	case "chat":
		if c.Pairs <= 0 {
			c.Pairs = c.Users / 2
		}
		if c.Pairs < 1 || 2*c.Pairs > c.Users {
			return fmt.Errorf("chat needs 2 users per pair: --pairs %d with --users %d", c.Pairs, c.Users)
		}
	case "muc":
		if c.Rooms < 1 || c.Occupants < 1 {
			return errors.New("muc needs --rooms and --occupants of at least 1")
		}
	}
	return nil
}

// user returns the localpart of user i (0-based index, wrapped).
func (r *run) user(i int) string {
	return r.cfg.UserPrefix + strconv.Itoa(i%r.cfg.Users+1)
}

// now is the time since the run's epoch, the clock message timestamps use
// (monotonic; sender and receiver are in this process).
func (r *run) now() int64 { return int64(time.Since(r.epoch)) }

func (r *run) newHist() *Hist {
	h := new(Hist)
	r.mu.Lock()
	r.hists = append(r.hists, h)
	r.mu.Unlock()
	return h
}

func (r *run) merged() counts {
	var c counts
	r.mu.Lock()
	for _, h := range r.hists {
		c.add(h)
	}
	r.mu.Unlock()
	return c
}

func (r *run) fail(err error) {
	r.errs.Add(1)
	msg := err.Error()
	r.mu.Lock()
	if _, ok := r.errMsg[msg]; ok || len(r.errMsg) < 20 {
		r.errMsg[msg]++
	}
	r.mu.Unlock()
}

func (r *run) errorSample() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type kv struct {
		msg string
		n   int
	}
	var l []kv
	for m, n := range r.errMsg {
		l = append(l, kv{m, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].msg < l[j].msg })
	var out []string
	for i, e := range l {
		if i == 5 {
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", e.n, e.msg))
	}
	return out
}

func (r *run) login1(ctx context.Context, i int) (*Conn, time.Duration, error) {
	t0 := time.Now()
	c, err := Login(ctx, r.cfg.Addr, r.cfg.Domain, r.user(i), r.cfg.Password, r.tls, r.cfg.Timeout)
	return c, time.Since(t0), err
}

// connectAll logs in n connections, user i for connection i (wrapped),
// SetupParallel at a time, recording login latencies. With tolerant set,
// failed logins are counted and left nil; otherwise the first failure
// ends the setup.
func (r *run) connectAll(ctx context.Context, n int, tolerant bool) ([]*Conn, error) {
	conns := make([]*Conn, n)
	h := r.newHist()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(r.cfg.SetupParallel, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, d, err := r.login1(ctx, i)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					r.fail(err)
					if !tolerant {
						once.Do(func() { firstErr = err; cancel() })
						return
					}
					continue
				}
				h.Record(d) // atomic: shared by the setup workers, off the hot path
				conns[i] = c
				r.conns.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil && !tolerant && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		r.conns.Store(0)
		return nil, firstErr
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			wg.Go(func() { _ = c.Close(0) })
		}
	}
	wg.Wait()
}

// measure tracks the measured phase of a run.
type measure struct {
	r        *run
	begin    time.Time
	cpu0     time.Duration
	srv0     ProcSample
	srvErr   error
	hist0    counts
	stopAt   time.Time // end of the load (before draining)
	histStop counts
}

func (r *run) beginMeasure(phase string) *measure {
	m := &measure{r: r, cpu0: selfCPU()}
	if r.cfg.PID > 0 {
		m.srv0, m.srvErr = ReadProc(r.cfg.PID)
	}
	m.hist0 = r.merged()
	m.begin = time.Now()
	r.phase.Store(phase)
	return m
}

// stopLoad marks the end of the load; the rate is computed up to here.
func (m *measure) stopLoad() {
	m.stopAt = time.Now()
	m.histStop = m.r.merged()
}

// result builds the final report: Ops counted over the whole measured
// phase (drain included), Rate over the load phase, CPU over both.
func (m *measure) result(connectionsForKB int64) *Report {
	r := m.r
	end := time.Now()
	if m.stopAt.IsZero() {
		m.stopLoad()
	}
	all := r.merged()
	d := all.sub(&m.hist0)
	loadOps := m.histStop.sub(&m.hist0)
	rep := &Report{
		Type:        "result",
		Scenario:    r.name,
		Elapsed:     end.Sub(m.begin).Seconds(),
		Unit:        r.unit,
		Ops:         int64(d.total()),
		Rate:        float64(loadOps.total()) / m.stopAt.Sub(m.begin).Seconds(),
		P50ms:       ms(d.quantile(0.50)),
		P99ms:       ms(d.quantile(0.99)),
		Connections: r.conns.Load(),
		Errors:      r.errs.Load(),
		ErrorSample: r.errorSample(),
	}
	if r.unit == "connections" {
		rep.Ops = connectionsForKB
		rep.Rate = 0
		// Latencies are the setup logins (before the phase began).
		rep.P50ms, rep.P99ms = ms(all.quantile(0.5)), ms(all.quantile(0.99))
	}
	if ts := r.stats.Load(); ts != nil {
		rep.Sent, rep.Expected = ts.sent(), ts.expected()
		got, dup := ts.received()
		rep.Lost, rep.Dup = max(rep.Expected-got, 0), dup
	}
	cpu := selfCPU() - m.cpu0
	rep.ClientCPU = cpu.Seconds()
	rep.ClientCores = cpu.Seconds() / rep.Elapsed
	if r.cfg.PID > 0 {
		s := &ServerStats{PID: r.cfg.PID}
		s1, err := ReadProc(r.cfg.PID)
		if err == nil {
			err = m.srvErr
		}
		if err != nil {
			s.SampledError = err.Error()
		} else {
			c := s1.CPU - m.srv0.CPU
			s.CPUSeconds = c.Seconds()
			s.Cores = c.Seconds() / rep.Elapsed
			if rep.Ops > 0 && r.unit != "connections" {
				s.CPUPerOpUS = float64(c.Microseconds()) / float64(rep.Ops)
			}
			s.RSSKB, s.RSSBeforeKB, s.RSSDeltaKB = s1.RSSKB, m.srv0.RSSKB, s1.RSSKB-m.srv0.RSSKB
			if r.unit == "connections" && connectionsForKB > 0 {
				s.KBPerConn = float64(s.RSSDeltaKB) / float64(connectionsForKB)
			}
		}
		rep.Server = s
	}
	return rep
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// progress reports once a second until stop is closed.
func (r *run) progress(stop <-chan struct{}, m func() *measure) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev := r.merged()
	prevT := time.Now()
	start := prevT
	var prevSrv ProcSample
	if r.cfg.PID > 0 {
		prevSrv, _ = ReadProc(r.cfg.PID)
	}
	prevCPU := selfCPU()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			cur := r.merged()
			d := cur.sub(&prev)
			dt := now.Sub(prevT).Seconds()
			elapsed := now.Sub(start).Seconds()
			if mm := m(); mm != nil {
				elapsed = now.Sub(mm.begin).Seconds()
			}
			rep := &Report{
				Type: "progress", Scenario: r.name, Phase: r.phase.Load().(string), Elapsed: elapsed,
				Unit: r.unit, Ops: int64(d.total()), Rate: float64(d.total()) / dt,
				P50ms: ms(d.quantile(0.5)), P99ms: ms(d.quantile(0.99)),
				Connections: r.conns.Load(), Errors: r.errs.Load(),
			}
			if ts := r.stats.Load(); ts != nil {
				rep.Sent = ts.sent()
			}
			cpu := selfCPU()
			rep.ClientCPU = (cpu - prevCPU).Seconds()
			rep.ClientCores = rep.ClientCPU / dt
			if r.cfg.PID > 0 {
				if s, err := ReadProc(r.cfg.PID); err == nil {
					c := s.CPU - prevSrv.CPU
					rep.Server = &ServerStats{PID: r.cfg.PID, CPUSeconds: c.Seconds(), Cores: c.Seconds() / dt, RSSKB: s.RSSKB}
					if d.total() > 0 {
						rep.Server.CPUPerOpUS = float64(c.Microseconds()) / float64(d.total())
					}
					prevSrv = s
				}
			}
			prev, prevT, prevCPU = cur, now, cpu
			r.cfg.Progress(rep)
		}
	}
}

// withProgress runs the progress reporter for the duration of fn. fn
// publishes its measure through set so progress lines show the elapsed
// measured time.
func (r *run) withProgress(fn func(set func(*measure)) (*Report, error)) (*Report, error) {
	var mm atomic.Pointer[measure]
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.progress(stop, mm.Load)
	}()
	rep, err := fn(func(m *measure) { mm.Store(m) })
	close(stop)
	<-done
	return rep, err
}

// closing reports whether the run is tearing its connections down (or
// was cancelled): read errors then are expected, not counted.
func (r *run) closing() bool {
	p, _ := r.phase.Load().(string)
	return p == "close"
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
