// Package preview adds link previews to messages: XEP-0511 Link Metadata
// built from the OpenGraph tags of the pages a message links to.
//
// A handler on xmppd.MessageOut at xmppd.PriorityRewrite (after the
// filters, before the archive) looks at every chat, normal and groupchat
// message a local client sends with a <body/> holding http(s) URLs. For
// the first max_urls of them it adds, with Packet.AddChild,
//
//	<rdf:Description xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'
//	    xmlns:og='https://ogp.me/ns#' rdf:about='URL as written'>
//	  <og:title/> <og:description/> <og:url/> <og:image/> <ogi:alt/>
//	  <og:type/> <og:site_name/>
//	</rdf:Description>
//
// (elements only for what the page has), so the recipient's copy, the
// archived copies and a room's copy all carry it. Skipped: messages
// carrying a XEP-0334 <no-store/> or <no-permanent-store/> hint or an
// encrypted payload (OMEMO, OpenPGP, XEP-0027, XEP-0380), whose body is
// then only a fallback; URLs the sender already described (an
// rdf:Description about the same URL); and XEP-0066 OOB URLs, which are
// files, not pages.
//
// Fetching (fetch.go): GET with User-Agent "xmppd-preview", only http and
// https, no credentials in the URL, at most max_redirects redirects (each
// target checked the same way), only a 200 text/html or
// application/xhtml+xml answer, at most max_bytes of it read and only its
// <head> parsed, the whole exchange within timeout. Connections to
// loopback, private, link-local and CGNAT addresses are refused unless
// allow_private is true, and to unspecified, multicast, documentation and
// reserved ones always; the check runs on the resolved address when the
// connection is made, so host names, DNS rebinding and redirects cannot
// get around it. No proxy is used, as a proxy would connect on the
// server's behalf past that check.
//
// Results are kept in an in-memory LRU cache of cache_size pages, for
// cache_ttl when the page had metadata and for negative_ttl when it had
// none or could not be fetched. Messages that link the same page share one
// fetch. A message waits at most max_wait for its previews; what is not
// ready by then is left out and its fetch goes on in the background to
// fill the cache for the next message. At most max_fetches fetches run at
// once; beyond that a URL simply gets no preview.
//
// Config [preview]: enabled (default true), allow_private (false),
// max_wait ("1s"), timeout ("5s"), max_bytes ("512KiB"), max_redirects
// (3), max_urls (3), max_fetches (16), cache_size (1024), cache_ttl
// ("1h"), negative_ttl ("5m").
//
// No store: the cache lives in memory and starts empty.
package preview

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

// UserAgent is sent with every page request.
const UserAgent = "xmppd-preview"

// Defaults of the [preview] table.
const (
	// A person notices a chat message lagging after about a second, and
	// the sender's next stanzas wait behind this one (a session's stanzas
	// are handled in order); most pages answer well within it, and a slow
	// one still lands in the cache for the next message.
	DefaultMaxWait      = time.Second
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBytes     = 512 * config.KiB
	DefaultMaxRedirects = 3
	DefaultMaxURLs      = 3
	DefaultMaxFetches   = 16
	DefaultCacheSize    = 1024
	DefaultCacheTTL     = time.Hour
	DefaultNegativeTTL  = 5 * time.Minute
)

// Config is the [preview] table.
type Config struct {
	// Enabled switches link previews on.
	Enabled bool `toml:"enabled"`
	// AllowPrivate lets fetches reach loopback, private, link-local and
	// CGNAT addresses (tests, intranets).
	AllowPrivate bool `toml:"allow_private"`
	// MaxWait bounds how long a message waits for its previews; 0 adds
	// only previews already in the cache.
	MaxWait config.Duration `toml:"max_wait"`
	// Timeout bounds one fetch, redirects and reading included.
	Timeout config.Duration `toml:"timeout"`
	// MaxBytes is how much of a page is read at most.
	MaxBytes config.Size `toml:"max_bytes"`
	// MaxRedirects is how many redirects a fetch follows.
	MaxRedirects int `toml:"max_redirects"`
	// MaxURLs is how many URLs of one message get a preview.
	MaxURLs int `toml:"max_urls"`
	// MaxFetches bounds the fetches running at once.
	MaxFetches int `toml:"max_fetches"`
	// CacheSize is how many pages the cache remembers.
	CacheSize int `toml:"cache_size"`
	// CacheTTL is how long a page's metadata is reused.
	CacheTTL config.Duration `toml:"cache_ttl"`
	// NegativeTTL is how long a page without metadata, or a failed fetch,
	// is not tried again.
	NegativeTTL config.Duration `toml:"negative_ttl"`
}

// DefaultConfig returns the defaults of [preview].
func DefaultConfig() Config {
	return Config{
		Enabled:      true,
		MaxWait:      config.Duration{Duration: DefaultMaxWait},
		Timeout:      config.Duration{Duration: DefaultTimeout},
		MaxBytes:     DefaultMaxBytes,
		MaxRedirects: DefaultMaxRedirects,
		MaxURLs:      DefaultMaxURLs,
		MaxFetches:   DefaultMaxFetches,
		CacheSize:    DefaultCacheSize,
		CacheTTL:     config.Duration{Duration: DefaultCacheTTL},
		NegativeTTL:  config.Duration{Duration: DefaultNegativeTTL},
	}
}

// Extension adds link previews to messages.
type Extension struct {
	// Config holds the defaults until Register decodes [preview] over it;
	// tests may change it before the server is built.
	Config Config

	// addrPolicy, if set, replaces the address policy (tests pretend a
	// loopback server is public).
	addrPolicy func(netip.Addr) error

	group  *group
	cancel context.CancelFunc // ends the background fetches at Stop
	wg     sync.WaitGroup
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the link preview extension.
func New() *Extension { return &Extension{Config: DefaultConfig()} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "preview" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("preview", &e.Config); err != nil {
		return err
	}
	if err := e.Config.validate(r.Server().Config()); err != nil {
		return err
	}
	if !e.Config.Enabled {
		return nil
	}
	c := e.Config
	check := e.addrPolicy
	if check == nil {
		check = func(ip netip.Addr) error { return checkAddr(ip, c.AllowPrivate) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.group = newGroup(ctx, &e.wg, newFetcher(c, check).fetch, c, r.Logger())
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityRewrite, e.messageOut)
	return nil
}

// Stop implements xmppd.Stopper: it cancels the fetches still running.
func (e *Extension) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	return xmppd.WaitContext(ctx, &e.wg)
}

// validate checks the values Register decoded; errors name the key.
func (c *Config) validate(file *config.Config) error {
	bad := func(key, format string, args ...any) error {
		return file.Errorf("preview."+key, format, args...)
	}
	switch {
	case c.MaxWait.Duration < 0:
		return bad("max_wait", "must not be negative, got %s", c.MaxWait)
	case c.Timeout.Duration <= 0:
		return bad("timeout", "must be longer than 0, got %s", c.Timeout)
	case c.MaxWait.Duration > c.Timeout.Duration:
		return bad("max_wait", "%s must not be longer than preview.timeout (%s)", c.MaxWait, c.Timeout)
	case c.MaxBytes < 1*config.KiB:
		return bad("max_bytes", "must be at least 1KiB, got %s", c.MaxBytes)
	case c.MaxRedirects < 0:
		return bad("max_redirects", "must be 0 or more, got %d", c.MaxRedirects)
	case c.MaxURLs < 1:
		return bad("max_urls", "must be at least 1, got %d", c.MaxURLs)
	case c.MaxFetches < 1:
		return bad("max_fetches", "must be at least 1, got %d", c.MaxFetches)
	case c.CacheSize < 1:
		return bad("cache_size", "must be at least 1, got %d", c.CacheSize)
	case c.CacheTTL.Duration <= 0:
		return bad("cache_ttl", "must be longer than 0, got %s", c.CacheTTL)
	case c.NegativeTTL.Duration <= 0:
		return bad("negative_ttl", "must be longer than 0, got %s", c.NegativeTTL)
	}
	return nil
}
