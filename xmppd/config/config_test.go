package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// writeConfig writes body to a file in a fresh temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "xmppd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKeyPair writes a self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example.com"},
		DNSNames:     []string{"example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// wantErr fails unless err's message is exactly want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error:\n got %q\nwant %q", err.Error(), want)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	want := &Config{
		Domain:  "localhost",
		DataDir: "./xmppd-data",
		C2S: C2S{Listen: "0.0.0.0:5222", DirectTLSListen: "0.0.0.0:5223",
			ResumeTimeout: Duration{5 * time.Minute}, MaxUnacked: 1000},
		TLS:  TLS{PostQuantum: true},
		HTTP: HTTP{Listen: "0.0.0.0:5280", PublicURL: "http://localhost:5280"},
		Auth: Auth{SCRAMIterations: 10000, AllowPlain: true, ChannelBinding: true},
		Limits: Limits{
			MaxStanzaSize:          256_000,
			ReadRate:               1_000_000,
			ConnectionsPerIP:       500,
			PreauthTimeout:         Duration{30 * time.Second},
			IdleTimeout:            Duration{10 * time.Minute},
			FailedLoginsPerAccount: 5,
			FailedLoginsPerIP:      20,
			FailedLoginWindow:      Duration{5 * time.Minute},
			MaxResourcesPerUser:    10,
			OutboundQueue:          4_000_000,
			OfflineMessages:        1000,
		},
		Log:     Log{Level: "info", Format: "text"},
		Admin:   Admin{},
		Enquiry: Enquiry{GuestLoginsPerIP: 20, GuestLoginWindow: Duration{10 * time.Minute}, Staff: []string{}, Destination: "Support"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", c, want)
	}
	if c.Path() != "" {
		t.Errorf("Path() = %q; want \"\"", c.Path())
	}
	if got, want := c.SocketPath(), filepath.Join("xmppd-data", "admin.sock"); got != want {
		t.Errorf("SocketPath() = %q; want %q", got, want)
	}
	if got, want := c.StorePath(), filepath.Join("xmppd-data", "xmppd.db"); got != want {
		t.Errorf("StorePath() = %q; want %q", got, want)
	}

	// Load("") is the defaults; sections keep their defaults; nothing is unknown.
	c, err := Load("")
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load(\"\") = %+v, %v; want Default()", c, err)
	}
	muc := struct {
		Domain string `toml:"domain"`
	}{"conference.localhost"}
	if err := c.Section("muc", &muc); err != nil || muc.Domain != "conference.localhost" {
		t.Errorf("Section on defaults = %q, %v; want the default kept", muc.Domain, err)
	}
	if err := c.CheckUnknown(); err != nil {
		t.Errorf("CheckUnknown on defaults: %v", err)
	}
	wantErr(t, Default().Errorf("muc.domain", "bad %s", "thing"), "config built-in defaults: muc.domain: bad thing")
}

func TestLoadFull(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir)
	path := writeConfig(t, `
domain   = "example.com"
data_dir = "/var/lib/xmppd"

[c2s]
listen            = "[::]:15222"
direct_tls_listen = ""
resume_timeout    = "90s"
max_unacked       = 200

[tls]
cert_file = '`+cert+`'
key_file  = '`+key+`'
post_quantum = false

[http]
listen     = "127.0.0.1:8080"
public_url = "https://chat.example.com/xmpp"

[auth]
scram_iterations = 4096
allow_plain      = false
channel_binding  = false

[limits]
max_stanza_size           = "64KiB"
read_rate                 = 0
connections_per_ip        = 3
preauth_timeout           = "10s"
idle_timeout              = "1h"
failed_logins_per_account = 2
failed_logins_per_ip      = 4
failed_login_window       = "15m"
max_resources_per_user    = 3
outbound_queue            = "1MiB"
offline_messages          = 50

[log]
level  = "debug"
format = "json"

[admin]
socket = "/run/xmppd/admin.sock"

[muc]
domain = "rooms.example.com"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Domain:  "example.com",
		DataDir: "/var/lib/xmppd",
		C2S:     C2S{Listen: "[::]:15222", ResumeTimeout: Duration{90 * time.Second}, MaxUnacked: 200},
		TLS:     TLS{CertFile: cert, KeyFile: key, PostQuantum: false},
		HTTP:    HTTP{Listen: "127.0.0.1:8080", PublicURL: "https://chat.example.com/xmpp"},
		Auth:    Auth{SCRAMIterations: 4096},
		Limits: Limits{
			MaxStanzaSize:          64 * 1024,
			ReadRate:               0,
			ConnectionsPerIP:       3,
			PreauthTimeout:         Duration{10 * time.Second},
			IdleTimeout:            Duration{time.Hour},
			FailedLoginsPerAccount: 2,
			FailedLoginsPerIP:      4,
			FailedLoginWindow:      Duration{15 * time.Minute},
			MaxResourcesPerUser:    3,
			OutboundQueue:          1 << 20,
			OfflineMessages:        50,
		},
		Log:     Log{Level: "debug", Format: "json"},
		Admin:   Admin{Socket: "/run/xmppd/admin.sock"},
		Enquiry: Enquiry{GuestLoginsPerIP: 20, GuestLoginWindow: Duration{10 * time.Minute}, Staff: []string{}, Destination: "Support"},
	}
	got := *c
	got.path, got.md, got.raw, got.sections = "", toml.MetaData{}, nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", &got, want)
	}
	if c.Path() != path {
		t.Errorf("Path() = %q; want %q", c.Path(), path)
	}
	if c.SocketPath() != "/run/xmppd/admin.sock" || c.StorePath() != "/var/lib/xmppd/xmppd.db" {
		t.Errorf("SocketPath, StorePath = %q, %q", c.SocketPath(), c.StorePath())
	}
	if c.Log.SlogLevel().String() != "DEBUG" {
		t.Errorf("SlogLevel = %v; want DEBUG", c.Log.SlogLevel())
	}

	// An extension's section overrides only the keys present.
	muc := struct {
		Domain   string   `toml:"domain"`
		MaxUsers int      `toml:"max_users"`
		History  Duration `toml:"history"`
	}{"conference.localhost", 100, Duration{time.Hour}}
	if err := c.Section("muc", &muc); err != nil {
		t.Fatal(err)
	}
	if muc.Domain != "rooms.example.com" || muc.MaxUsers != 100 || muc.History.Duration != time.Hour {
		t.Errorf("muc section = %+v", muc)
	}
	// A table absent from the file keeps all its defaults.
	upload := struct {
		MaxFileSize Size `toml:"max_file_size"`
	}{100 * MB}
	if err := c.Section("upload", &upload); err != nil || upload.MaxFileSize != 100*MB {
		t.Errorf("absent upload section = %+v, %v", upload, err)
	}
	if err := c.CheckUnknown(); err != nil {
		t.Errorf("CheckUnknown: %v", err)
	}
}

// A file that sets nothing but one key keeps every other default.
func TestLoadPartial(t *testing.T) {
	c, err := Load(writeConfig(t, "domain = \"example.org\"\n[limits]\nread_rate = \"2MB\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Domain, want.Limits.ReadRate = "example.org", 2*MB
	if c.Domain != want.Domain || c.Limits != want.Limits || c.C2S != want.C2S || c.Log != want.Log {
		t.Errorf("Load = %+v; want defaults but domain and read_rate", c)
	}
}

func TestCheckUnknownCore(t *testing.T) {
	path := writeConfig(t, "[c2s]\nlissten = \"0.0.0.0:5222\"\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CheckUnknown(), `config `+path+`: unknown key "c2s.lissten" (did you mean "c2s.listen"?)`)
}

func TestCheckUnknownExtension(t *testing.T) {
	path := writeConfig(t, `
domian = "example.com"

[c2s]
Listen = "0.0.0.0:5222"

[muc]
domain = "conference.example.com"
domian = "x"
[muc.extra]
a = 1
b = 2

[mucc]
domain = "x"

[totally_unrelated]
x = 1
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	muc := struct {
		Domain string `toml:"domain"`
	}{}
	if err := c.Section("muc", &muc); err != nil {
		t.Fatal(err)
	}
	prefix := "config " + path + ": "
	wantErr(t, c.CheckUnknown(), strings.Join([]string{
		prefix + `unknown key "domian" (did you mean "domain"?)`,
		// TOML keys are case-sensitive, although the decoder matched it.
		prefix + `unknown key "c2s.Listen" (did you mean "c2s.listen"?)`,
		prefix + `unknown key "muc.domian" (did you mean "muc.domain"?)`,
		prefix + `unknown key "muc.extra"`, // its keys are not listed again
		prefix + `unknown section "mucc" (did you mean "muc"?)`,
		prefix + `unknown section "totally_unrelated"`,
	}, "\n"))
}

// A table is unknown until an extension asks for it.
func TestCheckUnknownBeforeSection(t *testing.T) {
	path := writeConfig(t, "[upload]\nmax_file_size = \"1GB\"\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CheckUnknown(), `config `+path+`: unknown section "upload"`)
	var upload struct {
		MaxFileSize Size `toml:"max_file_size"`
	}
	if err := c.Section("upload", &upload); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckUnknown(); err != nil || upload.MaxFileSize != GB {
		t.Errorf("after Section: %v, %+v", err, upload)
	}
}

// An extension that decodes into a map accepts any key of its table.
func TestSectionMap(t *testing.T) {
	c, err := Load(writeConfig(t, "[headers]\nX-Custom = \"1\"\nAuthorization = \"x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := c.Section("headers", &h); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckUnknown(); err != nil || h["Authorization"] != "x" {
		t.Errorf("map section: %v, %v", err, h)
	}
}

func TestSectionMisuse(t *testing.T) {
	c := Default()
	var v struct{}
	if err := c.Section("c2s", &v); err == nil {
		t.Error("Section on a core table: no error")
	}
	if err := c.Section("muc", v); err == nil {
		t.Error("Section with a non-pointer: no error")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir)
	otherCert, _ := writeKeyPair(t, t.TempDir())
	missing := filepath.Join(dir, "nope.pem")
	for _, tc := range []struct {
		name, body, want string // want follows "config <path>: "
	}{
		{"bad duration", "[limits]\nidle_timeout = \"5 minutes\"\n",
			`limits.idle_timeout: "5 minutes" is not a duration; use a number with a unit: ms, s, m or h, e.g. "30s", "5m", "720h"`},
		{"negative duration", "[limits]\nidle_timeout = \"-5m\"\n",
			`limits.idle_timeout: duration "-5m" must not be negative`},
		{"duration as integer", "[limits]\npreauth_timeout = 30\n",
			`limits.preauth_timeout: "30" is not a duration; use a number with a unit: ms, s, m or h, e.g. "30s", "5m", "720h"`},
		{"bad size", "[limits]\nmax_stanza_size = \"100 parsecs\"\n",
			`limits.max_stanza_size: "100 parsecs" is not a size: unknown unit "parsecs"; use a number of bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. "256KB"`},
		{"size as table", "[limits]\nmax_stanza_size = {a = 1}\n",
			`limits.max_stanza_size: expected a string, got a table`},
		{"wrong type", "domain = 5\n", `domain: expected a string, got an integer`},
		{"wrong type in section", "[c2s]\nlisten = 5222\n", `c2s.listen: expected a string, got an integer`},
		{"bool wanted", "[auth]\nallow_plain = \"yes\"\n", `auth.allow_plain: expected a boolean (true or false), got a string`},
		{"int wanted", "[limits]\nconnections_per_ip = \"500\"\n", `limits.connections_per_ip: expected an integer, got a string`},
		{"section not a table", "limits = 5\n", `limits: expected a table, got an integer`},
		{"syntax error", "domain = \"example.com\"\n\n[c2s]\nlisten = 0.0.0.0:5222\n", `line 4: `},
		{"unclosed table", "domain = \"example.com\"\n[c2s\n", `line 2: `},
		{"duplicate key", "domain = \"a\"\ndomain = \"b\"\n", `line 2: `},
		{"missing cert", "[tls]\ncert_file = '" + missing + "'\nkey_file = '" + key + "'\n",
			`tls.cert_file: open ` + missing + `: no such file or directory`},
		{"missing key", "[tls]\ncert_file = '" + cert + "'\nkey_file = '" + missing + "'\n",
			`tls.key_file: open ` + missing + `: no such file or directory`},
		{"cert without key", "[tls]\ncert_file = '" + cert + "'\n",
			`tls.key_file: must be set when tls.cert_file is (or leave both empty for a self-signed certificate)`},
		{"key without cert", "[tls]\nkey_file = '" + key + "'\n",
			`tls.cert_file: must be set when tls.key_file is (or leave both empty for a self-signed certificate)`},
		{"cert not PEM", "[tls]\ncert_file = '" + key + "'\nkey_file = '" + key + "'\n",
			`tls.cert_file: ` + key + `: no PEM CERTIFICATE block`},
		{"key does not match", "[tls]\ncert_file = '" + otherCert + "'\nkey_file = '" + key + "'\n",
			`tls.key_file: ` + key + `: private key does not match public key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			prefix := "config " + path + ": "
			if strings.HasSuffix(tc.want, ": ") { // syntax errors: only the line is ours
				if !strings.HasPrefix(err.Error(), prefix+tc.want) {
					t.Fatalf("error:\n got %q\nwant prefix %q", err, prefix+tc.want)
				}
			} else if err.Error() != prefix+tc.want {
				t.Fatalf("error:\n got %q\nwant %q", err, prefix+tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != path {
				t.Errorf("error %#v is not a *config.Error for %s", err, path)
			}
		})
	}
}

func TestSectionErrors(t *testing.T) {
	path := writeConfig(t, "[muc]\ndomain = 5\n[upload]\nexpire_after = \"30 days\"\n[sms]\nprovider_url = [1]\n[preview]\nenabled = 1\n[chat]\nstaff = \"a@b\"\n[messages]\nretraction_window = \"5m\"\n[[messages.x]]\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "config " + path + ": "
	var muc struct {
		Domain string `toml:"domain"`
	}
	wantErr(t, c.Section("muc", &muc), prefix+`muc.domain: expected a string, got an integer`)
	var upload struct {
		ExpireAfter Duration `toml:"expire_after"`
	}
	wantErr(t, c.Section("upload", &upload), prefix+`upload.expire_after: "30 days" is not a duration; use a number with a unit: ms, s, m or h, e.g. "30s", "5m", "720h"`)
	var sms struct {
		ProviderURL string `toml:"provider_url"`
	}
	wantErr(t, c.Section("sms", &sms), prefix+`sms.provider_url: expected a string, got an array`)
	var preview struct {
		Enabled bool `toml:"enabled"`
	}
	wantErr(t, c.Section("preview", &preview), prefix+`preview.enabled: expected a boolean (true or false), got an integer`)
	var chat struct {
		Staff []string `toml:"staff"`
	}
	wantErr(t, c.Section("chat", &chat), prefix+`chat.staff: expected an array, got a string`)
	var messages struct {
		X string `toml:"x"`
	}
	wantErr(t, c.Section("messages", &messages), prefix+`messages.x: expected a string, got an array of tables`)
}

func TestSectionNotATable(t *testing.T) {
	path := writeConfig(t, "muc = \"conference.localhost\"\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var muc struct {
		Domain string `toml:"domain"`
	}
	wantErr(t, c.Section("muc", &muc), "config "+path+": muc: expected a table, got a string")
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	_, err := Load(path)
	wantErr(t, err, "config "+path+": no such file or directory")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // follows "config built-in defaults: "
	}{
		{"empty domain", func(c *Config) { c.Domain = "" }, `domain: must not be empty`},
		{"upper-case domain", func(c *Config) { c.Domain = "Example.com" }, `domain: "Example.com" must be lower case`},
		{"domain with space", func(c *Config) { c.Domain = "exa mple.com" }, `domain: "exa mple.com" is not a domain name: ' ' is not allowed`},
		{"domain trailing dot", func(c *Config) { c.Domain = "example.com." }, `domain: "example.com.": write the domain without the trailing dot`},
		{"domain empty label", func(c *Config) { c.Domain = "a..b" }, `domain: "a..b" is not a domain name: each dot-separated label must be 1 to 63 characters`},
		{"domain hyphen", func(c *Config) { c.Domain = "-a.com" }, `domain: "-a.com" is not a domain name: a label must not start or end with '-'`},
		{"domain unicode", func(c *Config) { c.Domain = "bücher.de" }, `domain: "bücher.de": write an internationalised domain in its ASCII (xn--) form`},
		{"domain long label", func(c *Config) { c.Domain = strings.Repeat("a", 64) + ".com" }, `domain: "` + strings.Repeat("a", 64) + `.com" is not a domain name: each dot-separated label must be 1 to 63 characters`},
		{"empty data_dir", func(c *Config) { c.DataDir = "" }, `data_dir: must not be empty`},
		{"listen without port", func(c *Config) { c.C2S.Listen = "5222" }, `c2s.listen: "5222" is not host:port (e.g. "0.0.0.0:5222", "[::]:5222"); use "" to disable`},
		{"listen bad port", func(c *Config) { c.HTTP.Listen = "0.0.0.0:http" }, `http.listen: "0.0.0.0:http": port "http" is not a number from 0 to 65535`},
		{"listen port range", func(c *Config) { c.C2S.DirectTLSListen = ":70000" }, `c2s.direct_tls_listen: ":70000": port "70000" is not a number from 0 to 65535`},
		{"same listener twice", func(c *Config) { c.HTTP.Listen = c.C2S.Listen }, `http.listen: "0.0.0.0:5222" is also c2s.listen; each listener needs its own port`},
		{"relative public_url", func(c *Config) { c.HTTP.PublicURL = "localhost:5280" }, `http.public_url: "localhost:5280" is not an absolute http:// or https:// URL`},
		{"ftp public_url", func(c *Config) { c.HTTP.PublicURL = "ftp://example.com" }, `http.public_url: "ftp://example.com" is not an absolute http:// or https:// URL`},
		{"public_url query", func(c *Config) { c.HTTP.PublicURL = "https://example.com/?a=b" }, `http.public_url: "https://example.com/?a=b" must not have a query, fragment or user info`},
		{"guest domain is the domain", func(c *Config) { c.Enquiry.GuestDomain = "localhost" }, `enquiry.guest_domain: "localhost" is the server's domain; guests need a domain of their own, e.g. "guest.localhost"`},
		{"guest domain upper case", func(c *Config) { c.Enquiry.GuestDomain = "Guest.localhost" }, `enquiry.guest_domain: "Guest.localhost" must be lower case`},
		{"no guest logins", func(c *Config) { c.Enquiry.GuestLoginsPerIP = 0 }, `enquiry.guest_logins_per_ip: must be at least 1, got 0`},
		{"no guest window", func(c *Config) { c.Enquiry.GuestLoginWindow = Duration{} }, `enquiry.guest_login_window: must be longer than 0`},
		{"staff not a bare JID", func(c *Config) { c.Enquiry.Staff = []string{"alice@localhost", "bob@localhost/phone"} }, `enquiry.staff: "bob@localhost/phone" is not a bare JID like "alice@localhost"`},
		{"staff without local part", func(c *Config) { c.Enquiry.Staff = []string{"localhost"} }, `enquiry.staff: "localhost" is not a bare JID like "alice@localhost"`},
		{"few iterations", func(c *Config) { c.Auth.SCRAMIterations = 4095 }, `auth.scram_iterations: 4095 is below 4096, the minimum RFC 7677 allows`},
		{"tiny stanzas", func(c *Config) { c.Limits.MaxStanzaSize = 9999 }, `limits.max_stanza_size: 9999B is below 10000 bytes, the minimum RFC 6120 §13.12 requires servers to accept`},
		{"negative read_rate", func(c *Config) { c.Limits.ReadRate = -1 }, `limits.read_rate: must not be negative (0 means unlimited)`},
		{"small queue", func(c *Config) { c.Limits.OutboundQueue = 100 * KB }, `limits.outbound_queue: 100KB is smaller than limits.max_stanza_size (256KB); one large stanza would disconnect a session`},
		{"zero preauth", func(c *Config) { c.Limits.PreauthTimeout = Duration{} }, `limits.preauth_timeout: must be longer than 0`},
		{"zero idle", func(c *Config) { c.Limits.IdleTimeout = Duration{} }, `limits.idle_timeout: must be longer than 0`},
		{"zero window", func(c *Config) { c.Limits.FailedLoginWindow = Duration{-1} }, `limits.failed_login_window: must be longer than 0`},
		{"zero connections", func(c *Config) { c.Limits.ConnectionsPerIP = 0 }, `limits.connections_per_ip: must be at least 1, got 0`},
		{"zero logins", func(c *Config) { c.Limits.FailedLoginsPerAccount = 0 }, `limits.failed_logins_per_account: must be at least 1, got 0`},
		{"zero logins ip", func(c *Config) { c.Limits.FailedLoginsPerIP = -3 }, `limits.failed_logins_per_ip: must be at least 1, got -3`},
		{"zero resources", func(c *Config) { c.Limits.MaxResourcesPerUser = 0 }, `limits.max_resources_per_user: must be at least 1, got 0`},
		{"zero offline", func(c *Config) { c.Limits.OfflineMessages = 0 }, `limits.offline_messages: must be at least 1, got 0`},
		{"negative resume_timeout", func(c *Config) { c.C2S.ResumeTimeout = Duration{-time.Second} }, `c2s.resume_timeout: must not be negative ("0s" turns resumption off)`},
		{"zero max_unacked", func(c *Config) { c.C2S.MaxUnacked = 0 }, `c2s.max_unacked: must be at least 1, got 0`},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
		{"long socket", func(c *Config) { c.Admin.Socket = "/" + strings.Repeat("s", 110) }, `admin.socket: admin socket path "/` + strings.Repeat("s", 110) + `" is 111 bytes; unix sockets allow at most 103, set admin.socket to a shorter path`},
		{"long data_dir", func(c *Config) { c.DataDir = "/" + strings.Repeat("d", 100) }, `data_dir: admin socket path "/` + strings.Repeat("d", 100) + `/admin.sock" is 112 bytes; unix sockets allow at most 103, set admin.socket to a shorter path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(c)
			wantErr(t, c.Validate(), "config built-in defaults: "+tc.want)
		})
	}

	// Accepted variants.
	for _, mod := range []func(*Config){
		func(c *Config) { c.C2S.Listen, c.C2S.DirectTLSListen, c.HTTP.Listen = "", "", "" },
		func(c *Config) {
			c.C2S.Listen, c.C2S.DirectTLSListen, c.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		},
		func(c *Config) { c.C2S.Listen = "localhost:5222" },
		func(c *Config) { c.Domain = "xn--bcher-kva.example" },
		func(c *Config) { c.Domain = "a-b.c0" },
		func(c *Config) { c.HTTP.PublicURL = "https://chat.example.com:8443/xmpp/" },
		func(c *Config) { c.Limits.ReadRate = 0 },
		func(c *Config) { c.C2S.ResumeTimeout = Duration{} }, // acks without resumption
		func(c *Config) { c.Limits.MaxStanzaSize, c.Limits.OutboundQueue = 10000, 10000 },
	} {
		c := Default()
		mod(c)
		if err := c.Validate(); err != nil {
			t.Errorf("valid config rejected: %v", err)
		}
	}
}

func TestLoadDefaultPath(t *testing.T) {
	t.Run("absent", func(t *testing.T) {
		t.Chdir(t.TempDir())
		c, err := LoadDefaultPath()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, Default()) || c.Path() != "" {
			t.Errorf("LoadDefaultPath without xmppd.toml = %+v; want Default()", c)
		}
	})
	t.Run("present", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if err := os.WriteFile("xmppd.toml", []byte("domain = \"example.net\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadDefaultPath()
		if err != nil {
			t.Fatal(err)
		}
		if c.Domain != "example.net" || c.Path() != "xmppd.toml" {
			t.Errorf("LoadDefaultPath = domain %q path %q; want example.net from xmppd.toml", c.Domain, c.Path())
		}
	})
	t.Run("present but bad", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if err := os.WriteFile("xmppd.toml", []byte("[limits]\nidle_timeout = \"soon\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadDefaultPath()
		wantErr(t, err, `config xmppd.toml: limits.idle_timeout: "soon" is not a duration; use a number with a unit: ms, s, m or h, e.g. "30s", "5m", "720h"`)
	})
}

// What the TOML encoder writes for a Config loads back unchanged, so a
// future "xmppd config show" can print the effective configuration.
func TestEncodeRoundTrip(t *testing.T) {
	want := Default()
	want.Limits.MaxStanzaSize = 64 * KiB
	want.Limits.IdleTimeout = Duration{90 * time.Minute}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `max_stanza_size = "64KiB"`) || !strings.Contains(buf.String(), `idle_timeout = "1h30m"`) {
		t.Errorf("encoded config lacks readable size/duration:\n%s", buf.String())
	}
	c, err := Load(writeConfig(t, buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckUnknown(); err != nil {
		t.Error(err)
	}
	c.path, c.md, c.raw = "", toml.MetaData{}, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", c, want)
	}
}
