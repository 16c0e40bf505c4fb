package preview

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// fetchFunc fetches one page's metadata (nil: the page has none).
type fetchFunc func(ctx context.Context, pageURL string) (*Meta, error)

// group runs fetches in the background, one per page however many
// messages ask for it, at most max_fetches at once, and keeps their
// results in the cache.
type group struct {
	ctx     context.Context // ends at Stop
	wg      *sync.WaitGroup
	fetch   fetchFunc
	cache   *cache
	timeout time.Duration
	posTTL  time.Duration
	negTTL  time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	inflight map[string]*call
	slots    chan struct{} // one token per running fetch
}

// call is one page's fetch; done is closed once meta is set.
type call struct {
	done chan struct{}
	meta *Meta
}

// ready reports whether the call finished, without waiting.
func (c *call) ready() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func newGroup(ctx context.Context, wg *sync.WaitGroup, fetch fetchFunc, c Config, log *slog.Logger) *group {
	return &group{
		ctx:      ctx,
		wg:       wg,
		fetch:    fetch,
		cache:    newCache(c.CacheSize),
		timeout:  c.Timeout.Duration,
		posTTL:   c.CacheTTL.Duration,
		negTTL:   c.NegativeTTL.Duration,
		log:      log,
		now:      time.Now,
		inflight: make(map[string]*call),
		slots:    make(chan struct{}, c.MaxFetches),
	}
}

// closedDone is the done channel of a call answered from the cache.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// get returns the call for pageURL: finished when the cache has it, the
// running one when another message asked first, else a new one. It
// returns nil when max_fetches are already running: queueing would only
// hold goroutines for previews that arrive too late.
func (g *group) get(pageURL string) *call {
	if meta, ok := g.cache.get(pageURL, g.now()); ok {
		return &call{done: closedDone, meta: meta}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.inflight[pageURL]; ok {
		return c
	}
	select {
	case g.slots <- struct{}{}:
	default:
		g.log.Debug("link preview skipped: too many fetches running", "url", pageURL)
		return nil
	}
	c := &call{done: make(chan struct{})}
	g.inflight[pageURL] = c
	g.wg.Add(1)
	go g.run(pageURL, c)
	return c
}

// run fetches pageURL, detached from the message that asked (which may
// have gone on without it), and caches the outcome.
func (g *group) run(pageURL string, c *call) {
	defer g.wg.Done()
	ctx, cancel := context.WithTimeout(g.ctx, g.timeout)
	meta, err := g.fetch(ctx, pageURL)
	cancel()
	<-g.slots
	ttl := g.posTTL
	switch {
	case err != nil:
		g.log.Debug("link preview fetch failed", "url", pageURL, "err", err)
		meta, ttl = nil, g.negTTL
	case meta == nil:
		g.log.Debug("link preview: page has no metadata", "url", pageURL)
		ttl = g.negTTL
	}
	// A fetch cut short by shutdown says nothing about the page.
	if g.ctx.Err() == nil {
		g.cache.put(pageURL, meta, g.now().Add(ttl))
	}
	c.meta = meta
	g.mu.Lock()
	delete(g.inflight, pageURL)
	g.mu.Unlock()
	close(c.done)
}
