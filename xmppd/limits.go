package xmppd

import (
	"net"
	"sync"
	"time"
)

// tokenBucket limits one connection's read rate (bytes per second) by
// making its reader wait; a flooding client slows itself, not others.
type tokenBucket struct {
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int64) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	b := float64(rate)
	return &tokenBucket{rate: b, burst: b, tokens: b, last: time.Now()}
}

func (b *tokenBucket) wait(n int) {
	now := time.Now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	b.last = now
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.tokens -= float64(n)
	if b.tokens < 0 {
		time.Sleep(time.Duration(-b.tokens / b.rate * float64(time.Second)))
	}
}

// connCounter enforces connections per IP address.
type connCounter struct {
	mu  sync.Mutex
	max int
	m   map[string]int
}

func ipOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// acquire reserves a slot for ip; false when ip is at its limit.
func (c *connCounter) acquire(ip string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.m[ip] >= c.max {
		return false
	}
	c.m[ip]++
	return true
}

func (c *connCounter) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ip] <= 1 {
		delete(c.m, ip)
		return
	}
	c.m[ip]--
}

// failureLog counts failed logins in a sliding window, per key (an account
// or an IP address), to throttle password guessing.
type failureLog struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	m      map[string][]time.Time
}

func newFailureLog(max int, window time.Duration) *failureLog {
	return &failureLog{max: max, window: window, m: make(map[string][]time.Time)}
}

func (f *failureLog) prune(key string, now time.Time) []time.Time {
	l := f.m[key]
	i := 0
	for i < len(l) && now.Sub(l[i]) > f.window {
		i++
	}
	l = l[i:]
	if len(l) == 0 {
		delete(f.m, key)
		return nil
	}
	f.m[key] = l
	return l
}

// blocked reports whether key reached its limit within the window.
func (f *failureLog) blocked(key string) bool {
	if f.max <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.prune(key, time.Now())) >= f.max
}

func (f *failureLog) add(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.m[key] = append(f.prune(key, now), now)
}

func (f *failureLog) reset(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}

// take counts one event for key and reports whether it was within the
// limit (a rate limit, where add and blocked are a failure count).
func (f *failureLog) take(key string) bool {
	if f.max <= 0 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	l := f.prune(key, now)
	if len(l) >= f.max {
		return false
	}
	f.m[key] = append(l, now)
	return true
}
