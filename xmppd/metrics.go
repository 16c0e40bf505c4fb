package xmppd

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics: the server's counters and latency histograms, for `xmppd
// status` and for Prometheus at GET /metrics on the HTTP listener (text
// exposition format 0.0.4, written by hand: a few counters do not need a
// client library). /metrics answers loopback clients only (a scraper on
// the host, or a reverse proxy that decides who may see it): the HTTP
// listener also serves the public (uploads, web chat).

// latencyBuckets are the upper bounds of the histograms' buckets.
var latencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// Histogram counts durations into latencyBuckets (the last slot: above
// them all); lock-free, so the hot path only adds.
type Histogram struct {
	buckets [len(latencyBuckets) + 1]atomic.Uint64
	sumNs   atomic.Uint64
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := sort.Search(len(latencyBuckets), func(i int) bool { return d <= latencyBuckets[i] })
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// snapshot returns the bucket counts, the total count and the sum.
func (h *Histogram) snapshot() (counts [len(latencyBuckets) + 1]uint64, n uint64, sum time.Duration) {
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	return counts, n, time.Duration(h.sumNs.Load())
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as the upper bound of
// the bucket it falls in; 0 with no observations, and the largest bound
// when it falls above them all.
func (h *Histogram) Quantile(q float64) time.Duration {
	counts, n, _ := h.snapshot()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return latencyBuckets[min(i, len(latencyBuckets)-1)]
		}
	}
	return latencyBuckets[len(latencyBuckets)-1]
}

// Counter is a monotonic counter an extension registers
// (Registrar.Counter) and adds to.
type Counter struct {
	name, help string
	v          atomic.Uint64
}

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

var metricName = regexp.MustCompile(`^xmppd_[a-z0-9_]+_total$`)

// Counter registers a counter shown at /metrics and by `xmppd status`;
// its name must be xmppd_<what>_total and new.
func (r *Registrar) Counter(name, help string) (*Counter, error) {
	if !metricName.MatchString(name) {
		return nil, fmt.Errorf("extension %s: metric name %q: want xmppd_<what>_total in lower case", r.name, name)
	}
	m := &r.srv.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.counters {
		if c.name == name {
			return nil, fmt.Errorf("extension %s: metric %s is already registered", r.name, name)
		}
	}
	c := &Counter{name: name, help: help}
	m.counters = append(m.counters, c)
	return c, nil
}

// stanzaKinds index metrics.stanzasByKind.
var stanzaKinds = [...]string{"message", "presence", "iq", "other"}

func kindIndex(name string) int {
	switch name {
	case "message":
		return 0
	case "presence":
		return 1
	case "iq":
		return 2
	}
	return 3
}

type metrics struct {
	stanzasIn, stanzasOut atomic.Uint64
	stanzasByKind         [len(stanzaKinds)]atomic.Uint64 // in, by kind
	logins, authFailures  atomic.Uint64
	connections           atomic.Int64
	routing               Histogram // a client stanza, read to handled
	commit                Histogram // one group-committed store write of a stanza

	mu       sync.Mutex
	counters []*Counter // extensions' (Registrar.Counter)
}

// ExtensionCounters returns the extensions' counters by name.
func (srv *Server) extensionCounters() map[string]uint64 {
	m := &srv.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.counters))
	for _, c := range m.counters {
		out[c.name] = c.v.Load()
	}
	return out
}

func (srv *Server) handleMetrics(core *Registrar) error {
	return core.HandleHTTP("GET /metrics", http.HandlerFunc(srv.serveMetrics))
}

func (srv *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !peerIsLoopback(r) {
		http.Error(w, "metrics are served to loopback clients only", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	m := &srv.metrics
	sessions, online := srv.sessions.count()
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("xmppd_sessions", "Bound client sessions.", int64(sessions))
	gauge("xmppd_online_users", "Users with at least one session.", int64(online))
	gauge("xmppd_connections", "Open client connections (any stage).", m.connections.Load())
	fmt.Fprintf(bw, "# HELP xmppd_stanzas_in_total Stanzas received from clients, by kind.\n# TYPE xmppd_stanzas_in_total counter\n")
	for i, k := range stanzaKinds {
		fmt.Fprintf(bw, "xmppd_stanzas_in_total{kind=%q} %d\n", k, m.stanzasByKind[i].Load())
	}
	counter("xmppd_stanzas_out_total", "Stanzas routed to sessions.", m.stanzasOut.Load())
	counter("xmppd_logins_total", "Successful logins.", m.logins.Load())
	counter("xmppd_auth_failures_total", "Failed SASL authentications.", m.authFailures.Load())
	writeHistogram(bw, "xmppd_routing_seconds", "Time from reading a client stanza to having handled it (routing, hooks, store commit).", &m.routing)
	counter("xmppd_store_writes_total", "Store writes requested (all of a stanza's changes count once).", srv.store.WriteTransactions())
	counter("xmppd_store_commits_total", "Group commits (one transaction and fsync each) that carried the store writes.", srv.store.GroupCommits())
	writeHistogram(bw, "xmppd_commit_seconds", "Time of a stanza's group-committed store write (archive, inbox, offline).", &m.commit)
	m.mu.Lock()
	counters := append([]*Counter(nil), m.counters...)
	m.mu.Unlock()
	for _, c := range counters {
		counter(c.name, c.help, c.v.Load())
	}
}

func writeHistogram(w *bufio.Writer, name, help string, h *Histogram) {
	counts, n, sum := h.snapshot()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range latencyBuckets {
		cum += counts[i]
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(b.Seconds(), 'g', -1, 64), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, n, name, strconv.FormatFloat(sum.Seconds(), 'g', -1, 64), name, n)
}
