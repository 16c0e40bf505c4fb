// Package sms is an SMS gateway in the style of XEP-0100: a component at
// [sms] domain (default "sms.<domain>", in the server's disco#items,
// identity gateway/sms) where every phone number is a JID,
// +E164@sms.<domain>. jabber:iq:gateway translates a written number to
// its JID; subscriptions to a number are approved at once, so numbers sit
// in rosters like any contact.
//
// Outbound: a message with a <body/> from a local user to a number is sent
// through the provider at provider_url: provider_format "json" posts
// {"to","from","text","id"} with a bearer token, "twilio" posts Twilio's
// form (To, From, Body, StatusCallback) with basic auth. Sending never
// blocks the sender's read loop: the message goes into a bounded queue
// (queue_size) served by workers. A 5xx, 408, 429, a timeout or a
// connection error is retried after retry_backoff, doubled each time,
// max_attempts tries in all; a 4xx, or the last failed try, comes back to
// the sender as a message error naming the number and the provider's
// status. A local part that is not E.164 ('+', 8 to 15 digits, no leading
// 0) is jid-malformed at once.
//
// Inbound (Registrar.HandleHTTP, only when inbound_secret is set): POST
// /sms/inbound with JSON {"from","to","text","id"} or Twilio's form
// (From, To, Body, MessageSid), signed in X-Xmppd-Signature with the hex
// HMAC-SHA256 of the raw body under inbound_secret (with provider_format
// "twilio", Twilio's own X-Twilio-Signature is accepted instead). It
// becomes a chat message from the number's JID to the user who last
// texted that number, else to default_route: a user, or a room the number
// joins as an occupant to speak in (room.go). POST /sms/status
// ({"id","status"} or Twilio's MessageSid, MessageStatus), signed the same
// way, turns "delivered" into a XEP-0184 receipt (when the original
// message asked for one) and "failed"/"undelivered" into a message error
// to the sender. Bad or missing signature: 401; malformed body or number:
// 400; a body over 64 KiB: 413; no route: 503. Messages go through the
// core's routing (Server.RouteMessage), so offline storage and the
// archive (MAM) treat them like any other.
//
// Config [sms]: domain, provider_url (empty: the gateway is off and not
// registered), provider_format, inbound_secret, token, account_sid,
// auth_token, sender, default_route, timeout, max_attempts, retry_backoff,
// queue_size, workers. XMPPD_SMS_TOKEN, XMPPD_SMS_ACCOUNT_SID,
// XMPPD_SMS_AUTH_TOKEN, XMPPD_SMS_SENDER and XMPPD_SMS_INBOUND_SECRET
// override the file's keys. Secrets are never logged.
//
// Stores: KV "sms.outbox" (our SMS id → the queued SMS, until the provider
// took it or it failed: queued SMS survive a restart), KV "sms.sent"
// (provider message id → sender, number, message
// id; kept a week for delivery reports), KV "sms.route" (number → the
// user who last texted it), KV "sms.seen" (ids of inbound SMS delivered,
// kept a week, so a repeated webhook is delivered once). A deleted
// account's entries go (hook AccountDeleted).
package sms

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

// Provider formats.
const (
	FormatJSON   = "json"
	FormatTwilio = "twilio"
)

// Defaults of the [sms] table.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = 2 * time.Second
	DefaultQueueSize    = 1000
	DefaultWorkers      = 4
)

// Config is the [sms] table.
type Config struct {
	// Domain of the gateway; "" means "sms.<domain>".
	Domain string `toml:"domain"`
	// ProviderURL is where outbound SMS are posted; "" turns SMS off.
	ProviderURL string `toml:"provider_url"`
	// ProviderFormat is FormatJSON or FormatTwilio.
	ProviderFormat string `toml:"provider_format"`
	// InboundSecret is the HMAC-SHA256 key of /sms/inbound and
	// /sms/status; "" leaves both unregistered.
	InboundSecret string `toml:"inbound_secret"`
	// Token is the bearer token of the json format.
	Token string `toml:"token"`
	// AccountSID and AuthToken are the twilio format's basic auth.
	AccountSID string `toml:"account_sid"`
	AuthToken  string `toml:"auth_token"`
	// Sender is the sender id asked of the provider (a number or name).
	Sender string `toml:"sender"`
	// DefaultRoute gets inbound SMS from numbers no local user texted: a
	// user's bare JID or a room's JID.
	DefaultRoute string `toml:"default_route"`
	// Timeout bounds one request to the provider.
	Timeout config.Duration `toml:"timeout"`
	// MaxAttempts bounds the tries of one SMS (1 = no retry).
	MaxAttempts int `toml:"max_attempts"`
	// RetryBackoff is the wait before the first retry; it doubles after
	// each one.
	RetryBackoff config.Duration `toml:"retry_backoff"`
	// QueueSize bounds the SMS waiting for a worker.
	QueueSize int `toml:"queue_size"`
	// Workers is the number of concurrent requests to the provider.
	Workers int `toml:"workers"`
}

// envOverrides maps environment variables to the keys they override.
var envOverrides = []struct {
	env string
	key string
	dst func(*Config) *string
}{
	{"XMPPD_SMS_TOKEN", "token", func(c *Config) *string { return &c.Token }},
	{"XMPPD_SMS_ACCOUNT_SID", "account_sid", func(c *Config) *string { return &c.AccountSID }},
	{"XMPPD_SMS_AUTH_TOKEN", "auth_token", func(c *Config) *string { return &c.AuthToken }},
	{"XMPPD_SMS_SENDER", "sender", func(c *Config) *string { return &c.Sender }},
	{"XMPPD_SMS_INBOUND_SECRET", "inbound_secret", func(c *Config) *string { return &c.InboundSecret }},
}

// Extension is the SMS gateway.
type Extension struct {
	// Config holds the defaults until Register decodes [sms] over it;
	// tests may change it before the server is built.
	Config Config

	srv       *xmppd.Server
	log       *slog.Logger
	db        *store.DB
	domain    string
	publicURL string // [http] public_url without a trailing slash
	statusURL string // public_url + /sms/status, Twilio's StatusCallback
	client    *http.Client
	route     xmppd.JID // parsed DefaultRoute, zero when unset

	queue chan *job
	bg    xmppd.Background // the workers

	rooms   roomJoins
	sweeper xmppd.Periodic
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Starter   = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the SMS gateway with its default configuration.
func New() *Extension {
	return &Extension{Config: Config{
		ProviderFormat: FormatJSON,
		Timeout:        config.Duration{Duration: DefaultTimeout},
		MaxAttempts:    DefaultMaxAttempts,
		RetryBackoff:   config.Duration{Duration: DefaultRetryBackoff},
		QueueSize:      DefaultQueueSize,
		Workers:        DefaultWorkers,
	}}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "sms" }

// Domain returns the gateway's domain ("" while SMS is off).
func (e *Extension) Domain() string { return e.domain }

// Register implements xmppd.Extension. With no provider_url nothing is
// registered: messages to the gateway's domain get remote-server-not-found
// like any unknown domain.
func (e *Extension) Register(r *xmppd.Registrar) error {
	c := &e.Config
	if err := r.Config("sms", c); err != nil {
		return err
	}
	for _, o := range envOverrides {
		if v := os.Getenv(o.env); v != "" {
			*o.dst(c) = v
		}
	}
	if c.ProviderURL == "" {
		r.Logger().Info("SMS gateway off: sms.provider_url is empty")
		return nil
	}
	if err := e.validate(r.Domain()); err != nil {
		return err
	}
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.client = &http.Client{
		Timeout: c.Timeout.Duration,
		// A redirected POST would become a GET, maybe to another host:
		// the provider's 3xx is an answer like any other.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg := e.srv.Config(); cfg != nil {
		e.publicURL = strings.TrimSuffix(cfg.HTTP.PublicURL, "/")
		e.statusURL = e.publicURL + "/sms/status"
	}
	if err := r.HandleDomain(e.domain, e); err != nil {
		return err
	}
	if c.InboundSecret == "" {
		e.log.Warn("SMS inbound webhooks off: sms.inbound_secret is empty")
	} else {
		if err := r.HandleHTTP("POST /sms/inbound", http.HandlerFunc(e.serveInbound)); err != nil {
			return err
		}
		if err := r.HandleHTTP("POST /sms/status", http.HandlerFunc(e.serveStatus)); err != nil {
			return err
		}
	}
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	return nil
}

// validate checks the [sms] table of an enabled gateway and sets the
// derived fields.
func (e *Extension) validate(serverDomain string) error {
	c := &e.Config
	if c.Domain == "" {
		c.Domain = "sms." + serverDomain
	}
	d, err := xmppd.ParseJID(c.Domain)
	if err != nil || d.Local != "" || d.Resource != "" {
		return fmt.Errorf("sms.domain: %q is not a domain name", c.Domain)
	}
	e.domain = d.Domain
	u, err := url.Parse(c.ProviderURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("sms.provider_url: %q is not an http(s) URL", c.ProviderURL)
	}
	switch c.ProviderFormat {
	case FormatJSON:
	case FormatTwilio:
		if c.AccountSID == "" || c.AuthToken == "" {
			return fmt.Errorf("sms.provider_format \"twilio\" needs sms.account_sid and sms.auth_token (or XMPPD_SMS_ACCOUNT_SID, XMPPD_SMS_AUTH_TOKEN)")
		}
		if c.Sender == "" {
			return fmt.Errorf("sms.provider_format \"twilio\" needs sms.sender (or XMPPD_SMS_SENDER), the From number")
		}
	default:
		return fmt.Errorf("sms.provider_format: %q is not one of json, twilio", c.ProviderFormat)
	}
	if c.DefaultRoute != "" {
		j, err := xmppd.ParseJID(c.DefaultRoute)
		if err != nil || j.Local == "" || j.Resource != "" {
			return fmt.Errorf("sms.default_route: %q is not a user's or a room's bare JID", c.DefaultRoute)
		}
		e.route = j
	}
	switch {
	case c.Timeout.Duration <= 0:
		return fmt.Errorf("sms.timeout must be longer than 0, got %s", c.Timeout.Duration)
	case c.MaxAttempts < 1:
		return fmt.Errorf("sms.max_attempts must be at least 1, got %d", c.MaxAttempts)
	case c.RetryBackoff.Duration <= 0:
		return fmt.Errorf("sms.retry_backoff must be longer than 0, got %s", c.RetryBackoff.Duration)
	case c.QueueSize < 1:
		return fmt.Errorf("sms.queue_size must be at least 1, got %d", c.QueueSize)
	case c.Workers < 1:
		return fmt.Errorf("sms.workers must be at least 1, got %d", c.Workers)
	}
	return nil
}

// Start implements xmppd.Starter: it starts the workers and the sweep of
// old delivery records.
func (e *Extension) Start(context.Context) error {
	if e.srv == nil {
		return nil // SMS off
	}
	if u, _ := url.Parse(e.Config.ProviderURL); u.Scheme == "http" && !loopback(u.Hostname()) {
		e.log.Warn("sms.provider_url is plain http: credentials and messages travel unencrypted", "host", u.Host)
	}
	e.queue = make(chan *job, e.Config.QueueSize)
	for range e.Config.Workers {
		e.bg.Go(e.worker)
	}
	if left := e.loadOutbox(); len(left) > 0 {
		e.log.Info("sending SMS left from the last run", "count", len(left))
		e.bg.Go(func(ctx context.Context) { e.requeue(ctx, left) })
	}
	e.sweeper.Start(time.Hour, e.sweep)
	return nil
}

// Stop implements xmppd.Stopper: it ends the workers (a request in flight
// is cut) and the sweep. Unsent SMS stay in the outbox for the next start.
func (e *Extension) Stop(ctx context.Context) error {
	err := e.bg.Stop(ctx)
	if n := len(e.queue); n > 0 {
		e.log.Info("SMS left in the outbox at shutdown", "queued", n)
	}
	if serr := e.sweeper.Stop(ctx); err == nil {
		err = serr
	}
	return err
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
