// Package config loads xmppd's TOML configuration (SPEC §5, §6, §7).
//
// The core sections are typed here; every other top-level table belongs to
// an extension, which decodes it into its own struct of defaults with
// [Config.Section] (ARCHITECTURE point 7). Decoding is strict in three steps,
// because no single step knows every key:
//
//  1. [Load] parses the file, decodes the core keys with type checks and
//     validates them ([Config.Validate]);
//  2. each extension calls [Config.Section] for its table;
//  3. [Config.CheckUnknown] reports every key nobody decoded, so a typo such
//     as "c2s.lissten" stops start-up instead of silently keeping a default.
//
// Every error is one line naming the file, the dotted key and the problem,
// e.g. `config xmppd.toml: limits.idle_timeout: "5 minutes" is not a duration`.
//
// Core keys, with the defaults xmppd runs on when there is no file at all
// (config.example.toml at the repository root documents each one):
//
//	domain   = "localhost"
//	data_dir = "./xmppd-data"
//	[c2s]    listen = "0.0.0.0:5222", direct_tls_listen = "0.0.0.0:5223",
//	         resume_timeout = "5m", max_unacked = 1000
//	[tls]    cert_file = "", key_file = ""
//	[http]   listen = "0.0.0.0:5280", public_url = "http://localhost:5280",
//	         websocket_secure = false
//	[auth]   scram_iterations = 10000, allow_plain = true,
//	         channel_binding = true
//	[limits] max_stanza_size = "256KB", read_rate = "1MB",
//	         connections_per_ip = 500, preauth_timeout = "30s",
//	         idle_timeout = "10m", failed_logins_per_account = 5,
//	         failed_logins_per_ip = 20, failed_login_window = "5m",
//	         max_resources_per_user = 10, outbound_queue = "4MB",
//	         offline_messages = 1000
//	[log]    level = "info", format = "text"
//	[admin]  socket = ""
//	[enquiry] guest_domain = "", guest_logins_per_ip = 20,
//	         guest_login_window = "10m", staff = [], space_room = "",
//	         destination = "Support", destination_type = "",
//	         destination_endpoint = ""
//
// Relative paths (data_dir, tls.cert_file, admin.socket) are relative to the
// working directory, like the default "./xmppd.toml" itself.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPath is the file LoadDefaultPath reads when it exists (SPEC §5).
const DefaultPath = "xmppd.toml"

// Config is xmppd's configuration. The exported fields are the core
// sections; extension sections are reached through Section.
//
// A Config is not safe for concurrent use while sections are being decoded;
// after start-up it is read-only.
type Config struct {
	Domain  string  `toml:"domain"`   // the XMPP domain served, e.g. "example.com"
	DataDir string  `toml:"data_dir"` // store, generated certificate, admin socket
	C2S     C2S     `toml:"c2s"`
	TLS     TLS     `toml:"tls"`
	HTTP    HTTP    `toml:"http"`
	Auth    Auth    `toml:"auth"`
	Limits  Limits  `toml:"limits"`
	Log     Log     `toml:"log"`
	Admin   Admin   `toml:"admin"`
	Enquiry Enquiry `toml:"enquiry"`

	path string                    // file loaded; "" for the built-in defaults
	md   toml.MetaData             // tracks which keys have been decoded
	raw  map[string]toml.Primitive // every top-level key, undecoded
	// sections records the destination type of every Section call, so that
	// CheckUnknown knows which tables have an owner and what keys they accept.
	sections map[string]reflect.Type
}

// C2S configures client-to-server listeners (RFC 6120, XEP-0368).
// An empty address disables that listener.
type C2S struct {
	Listen          string `toml:"listen"`            // STARTTLS
	DirectTLSListen string `toml:"direct_tls_listen"` // TLS from the first byte
	// ResumeTimeout is how long a XEP-0198 session whose connection broke
	// is kept for resumption; "0s" offers acks but no resumption.
	ResumeTimeout Duration `toml:"resume_timeout"`
	// MaxUnacked bounds the stanzas a XEP-0198 session holds unacknowledged
	// (connected or waiting for resumption); beyond it the session ends and
	// what it holds is rerouted (offline storage, errors to senders).
	MaxUnacked int `toml:"max_unacked"`
}

// TLS names the certificate and key. Both empty: a self-signed certificate
// for the domain is generated into data_dir.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// PostQuantum offers the hybrid X25519MLKEM768 key exchange to clients
	// that support it (Go's default). false: classical ECDHE only (X25519,
	// P-256, P-384), about 0.2-0.3 ms less CPU per TLS handshake, but
	// recorded traffic loses its protection against a future quantum
	// computer.
	PostQuantum bool `toml:"post_quantum"`
}

// HTTP configures the HTTP listener (upload, WebSocket, web chat).
// An empty listen address disables it.
type HTTP struct {
	Listen string `toml:"listen"`
	// PublicURL is how clients reach the listener, e.g. behind a reverse
	// proxy; upload slots, the web chat link and the XEP-0156 WebSocket
	// address are built from it.
	PublicURL string `toml:"public_url"`
	// WebSocketSecure treats every WebSocket (RFC 7395) connection as
	// secure, so SASL is offered on it, like Prosody's
	// consider_websocket_secure: for a TLS proxy on another host. Without
	// it a WebSocket is secure when it came over TLS, from a loopback
	// proxy saying X-Forwarded-Proto: https, or straight from loopback.
	WebSocketSecure bool `toml:"websocket_secure"`
}

// Enquiry configures web visitors (SPEC §1, §6). The core serves the
// guest domain; the enquiry rooms themselves are the web chat's business.
type Enquiry struct {
	// GuestDomain is a second host for c2s only, where visitors log in with
	// SASL ANONYMOUS (RFC 4505) and get a temporary JID (XEP-0175).
	// Empty: no guests.
	GuestDomain string `toml:"guest_domain"`
	// GuestLoginsPerIP guest logins are allowed from one address within
	// GuestLoginWindow; more are refused with policy-violation.
	GuestLoginsPerIP int      `toml:"guest_logins_per_ip"`
	GuestLoginWindow Duration `toml:"guest_login_window"`
	// Staff are the bare JIDs that own, and are invited to, every new
	// enquiry room a web visitor starts.
	Staff []string `toml:"staff"`
	// SpaceRoom is a space room whose members are invited too; "" none.
	SpaceRoom string `toml:"space_room"`
	// Destination names where enquiries go, recorded in each enquiry's
	// context with its type and endpoint (e.g. "Support", "team",
	// "support@localhost").
	Destination         string `toml:"destination"`
	DestinationType     string `toml:"destination_type"`
	DestinationEndpoint string `toml:"destination_endpoint"`
}

// Auth configures SASL (RFC 6120 §6).
type Auth struct {
	// SCRAMIterations is used when a password is set; stored keys keep the
	// count they were made with. RFC 7677 asks for at least 4096.
	SCRAMIterations int `toml:"scram_iterations"`
	// AllowPlain offers SASL PLAIN; it is only ever offered over TLS.
	AllowPlain bool `toml:"allow_plain"`
	// ChannelBinding offers SCRAM-SHA-*-PLUS with the tls-exporter channel
	// binding (RFC 9266). Clients that only know tls-unique (e.g. slixmpp
	// <= 1.8) cannot use SCRAM while it is on.
	ChannelBinding bool `toml:"channel_binding"`
}

// Limits bounds what one client can cost the server (SPEC §7).
type Limits struct {
	MaxStanzaSize          Size     `toml:"max_stanza_size"`           // larger stanzas end the stream with <policy-violation/>
	ReadRate               Size     `toml:"read_rate"`                 // bytes per second per connection after login (token bucket); 0 = unlimited
	ConnectionsPerIP       int      `toml:"connections_per_ip"`        // open connections from one address
	PreauthTimeout         Duration `toml:"preauth_timeout"`           // TLS + SASL + bind must finish within it
	IdleTimeout            Duration `toml:"idle_timeout"`              // authenticated session with no traffic; pinged before closing
	FailedLoginsPerAccount int      `toml:"failed_logins_per_account"` // within FailedLoginWindow, then throttled
	FailedLoginsPerIP      int      `toml:"failed_logins_per_ip"`      // within FailedLoginWindow, then throttled
	FailedLoginWindow      Duration `toml:"failed_login_window"`
	MaxResourcesPerUser    int      `toml:"max_resources_per_user"` // concurrent sessions of one account
	OutboundQueue          Size     `toml:"outbound_queue"`         // bytes queued to one slow session before it is disconnected
	OfflineMessages        int      `toml:"offline_messages"`       // stored per user while offline
}

// Log configures the log/slog handler.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // text | json
}

// SlogLevel returns Level as a slog.Level (info if Level is not valid;
// Validate rejects invalid levels).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Admin configures the local admin socket the CLI talks to (SPEC §5).
type Admin struct {
	Socket string `toml:"socket"` // "" = <data_dir>/admin.sock
}

// core lists the top-level keys this package decodes, in file order of
// config.example.toml.
var core = []string{"domain", "data_dir", "c2s", "tls", "http", "auth", "limits", "log", "admin", "enquiry"}

// Default returns the built-in configuration: with it, xmppd serve runs with
// no file at all (SPEC §5).
func Default() *Config {
	return &Config{
		Domain:  "localhost",
		DataDir: "./xmppd-data",
		C2S: C2S{Listen: "0.0.0.0:5222", DirectTLSListen: "0.0.0.0:5223",
			ResumeTimeout: Duration{5 * time.Minute}, MaxUnacked: 1000},
		HTTP: HTTP{Listen: "0.0.0.0:5280", PublicURL: "http://localhost:5280"},
		TLS:  TLS{PostQuantum: true},
		Auth: Auth{SCRAMIterations: 10000, AllowPlain: true, ChannelBinding: true},
		Limits: Limits{
			MaxStanzaSize:          256 * KB,
			ReadRate:               1 * MB,
			ConnectionsPerIP:       500,
			PreauthTimeout:         Duration{30 * time.Second},
			IdleTimeout:            Duration{10 * time.Minute},
			FailedLoginsPerAccount: 5,
			FailedLoginsPerIP:      20,
			FailedLoginWindow:      Duration{5 * time.Minute},
			MaxResourcesPerUser:    10,
			OutboundQueue:          4 * MB,
			OfflineMessages:        1000,
		},
		Log:     Log{Level: "info", Format: "text"},
		Enquiry: Enquiry{GuestLoginsPerIP: 20, GuestLoginWindow: Duration{10 * time.Minute}, Staff: []string{}, Destination: "Support"},
	}
}

// Load reads the TOML file at path over the defaults, decodes the core
// sections strictly, keeps the other top-level tables for Section and
// validates the core. A path of "" returns Default().
//
// Unknown keys are not reported here, since extension tables are not yet
// decoded: call CheckUnknown once every extension has called Section.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	c := Default()
	c.path = path
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	var raw map[string]toml.Primitive
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, c.syntaxError(err, data)
	}
	c.md, c.raw = md, raw
	dst := map[string]any{
		"domain": &c.Domain, "data_dir": &c.DataDir,
		"c2s": &c.C2S, "tls": &c.TLS, "http": &c.HTTP, "auth": &c.Auth,
		"limits": &c.Limits, "log": &c.Log, "admin": &c.Admin, "enquiry": &c.Enquiry,
	}
	for _, name := range core {
		prim, ok := raw[name]
		if !ok {
			continue
		}
		if err := c.md.PrimitiveDecode(prim, dst[name]); err != nil {
			return nil, c.decodeError(err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadDefaultPath loads ./xmppd.toml if it exists, else returns Default()
// (SPEC §5: the default for --config).
func LoadDefaultPath() (*Config, error) {
	if _, err := os.Stat(DefaultPath); errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	// Any other Stat error (permissions) is reported by Load with the path.
	return Load(DefaultPath)
}

// Path returns the file the configuration was loaded from, "" for the
// built-in defaults.
func (c *Config) Path() string { return c.path }

// Section decodes the top-level table [name] into v, a pointer to the
// extension's config already holding its defaults. Keys absent from the
// file keep their defaults; a missing table keeps them all. Types are
// checked here; unknown keys are reported later by CheckUnknown.
func (c *Config) Section(name string, v any) error {
	if slices.Contains(core, name) {
		return fmt.Errorf("config: Section(%q): %q is a core section; use the Config fields", name, name)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: Section(%q): need a non-nil pointer, got %T", name, v)
	}
	if c.sections == nil {
		c.sections = make(map[string]reflect.Type)
	}
	c.sections[name] = rv.Type()
	prim, ok := c.raw[name]
	if !ok {
		return nil
	}
	if err := c.md.PrimitiveDecode(prim, v); err != nil {
		return c.decodeError(err)
	}
	return nil
}

// CheckUnknown reports every key in the file that neither Load nor any
// Section call decoded, one line per key. Call it after all extensions have
// decoded their sections; a table no extension asked for is unknown as a
// whole.
func (c *Config) CheckUnknown() error {
	if c.raw == nil {
		return nil
	}
	undecoded := make(map[string]bool)
	for _, k := range c.md.Undecoded() {
		undecoded[k.String()] = true
	}
	tops := slices.Clone(core)
	for name := range c.sections {
		tops = append(tops, name)
	}
	slices.Sort(tops)

	var errs []error
	reported := make(map[string]bool)
	for _, k := range c.md.Keys() {
		if underReported(k, reported) {
			continue
		}
		name := k.String()
		if len(k) == 1 {
			if slices.Contains(tops, k[0]) {
				continue
			}
			reported[name] = true
			what := "key"
			if t := c.md.Type(k...); t == "Hash" || t == "ArrayHash" {
				what = "section"
			}
			errs = append(errs, c.unknown(what, name, tops, ""))
			continue
		}
		fields := c.fields(k[0])
		if undecoded[name] || len(k) == 2 && fields != nil && !accepts(fields, k[1]) {
			reported[name] = true
			var cands []string
			if len(k) == 2 {
				for _, f := range fields {
					cands = append(cands, f.name)
				}
			}
			errs = append(errs, c.unknown("key", k[1], cands, toml.Key(k[:len(k)-1]).String()+"."))
		}
	}
	return errors.Join(errs...)
}

// underReported reports whether a parent table of k was already reported.
func underReported(k toml.Key, reported map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if reported[k[:i].String()] {
			return true
		}
	}
	return false
}

// unknown builds the error for an unknown key or section, suggesting the
// closest known name when it looks like a typo.
func (c *Config) unknown(what, name string, candidates []string, prefix string) error {
	msg := fmt.Sprintf("unknown %s %q", what, prefix+name)
	if s := suggest(name, candidates); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", prefix+s)
	}
	return &Error{File: c.path, Msg: msg}
}

// fields returns the keys the table [name] accepts, nil if unknown or any.
func (c *Config) fields(name string) []field {
	if t, ok := c.sections[name]; ok {
		return fieldsOf(t)
	}
	for sf := range reflect.TypeFor[Config]().Fields() {
		if sf.Tag.Get("toml") == name {
			return fieldsOf(sf.Type)
		}
	}
	return nil
}

// SocketPath returns the admin socket path: admin.socket, or admin.sock in
// the data directory.
func (c *Config) SocketPath() string {
	if c.Admin.Socket != "" {
		return c.Admin.Socket
	}
	return filepath.Join(c.DataDir, "admin.sock")
}

// StorePath returns the bbolt store file in the data directory.
func (c *Config) StorePath() string {
	return filepath.Join(c.DataDir, "xmppd.db")
}
