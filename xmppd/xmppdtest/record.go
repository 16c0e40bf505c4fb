package xmppdtest

import (
	"sync"
	"time"

	"github.com/xmppd/xmppd/xmppd"
)

// Clock is a clock a test sets and advances, for extensions that take
// one (the edit windows).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (back, if negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Recorder is an extension that records every event of one hook point,
// at PriorityCount-1: after the filters, observers and counters, before
// carbons and delivery.
type Recorder[E any] struct {
	point  xmppd.HookPoint[E]
	mu     sync.Mutex
	events []E
}

// Record returns a recorder of point's events; pass it to WithExtensions.
func Record[E any](point xmppd.HookPoint[E]) *Recorder[E] { return &Recorder[E]{point: point} }

// Name implements xmppd.Extension.
func (r *Recorder[E]) Name() string { return "test-recorder-" + r.point.Name() }

// Register implements xmppd.Extension.
func (r *Recorder[E]) Register(reg *xmppd.Registrar) error {
	xmppd.Hook(reg, r.point, xmppd.PriorityCount-1, func(ev E) xmppd.Verdict {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		return xmppd.Pass
	})
	return nil
}

// Events returns the events recorded so far, oldest first.
func (r *Recorder[E]) Events() []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]E(nil), r.events...)
}
