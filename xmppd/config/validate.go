package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// maxSocketPath is the longest unix socket path that works everywhere:
// sun_path holds 104 bytes on the BSDs and macOS (108 on Linux) including
// the terminating NUL. Checking it here turns a later "bind: invalid
// argument" into an error that names the key.
const maxSocketPath = 103

// minStanzaSize is the floor RFC 6120 §13.12 sets: servers must accept
// stanzas of at least 10000 bytes, or ordinary clients break.
const minStanzaSize = 10000

// Validate checks the core configuration and returns the first problem.
// Load calls it; call it again after changing fields in code.
func (c *Config) Validate() error {
	if err := validDomain(c.Domain); err != nil {
		return c.Errorf("domain", "%v", err)
	}
	if c.DataDir == "" {
		return c.Errorf("data_dir", "must not be empty")
	}

	listeners := []struct{ key, addr string }{
		{"c2s.listen", c.C2S.Listen},
		{"c2s.direct_tls_listen", c.C2S.DirectTLSListen},
		{"http.listen", c.HTTP.Listen},
	}
	for i, l := range listeners {
		if l.addr == "" {
			continue // disabled
		}
		if err := validListen(l.addr); err != nil {
			return c.Errorf(l.key, "%v", err)
		}
		for _, prev := range listeners[:i] {
			if prev.addr == l.addr && !strings.HasSuffix(l.addr, ":0") {
				return c.Errorf(l.key, "%q is also %s; each listener needs its own port", l.addr, prev.key)
			}
		}
	}

	if c.C2S.ResumeTimeout.Duration < 0 {
		return c.Errorf("c2s.resume_timeout", "must not be negative (\"0s\" turns resumption off)")
	}
	if c.C2S.MaxUnacked < 1 {
		return c.Errorf("c2s.max_unacked", "must be at least 1, got %d", c.C2S.MaxUnacked)
	}

	if err := c.validTLS(); err != nil {
		return err
	}

	if err := validPublicURL(c.HTTP.PublicURL); err != nil {
		return c.Errorf("http.public_url", "%v", err)
	}

	if err := c.validEnquiry(); err != nil {
		return err
	}

	if c.Auth.SCRAMIterations < 4096 {
		return c.Errorf("auth.scram_iterations", "%d is below 4096, the minimum RFC 7677 allows", c.Auth.SCRAMIterations)
	}

	l := &c.Limits
	if l.MaxStanzaSize < minStanzaSize {
		return c.Errorf("limits.max_stanza_size", "%s is below 10000 bytes, the minimum RFC 6120 §13.12 requires servers to accept", l.MaxStanzaSize)
	}
	if l.ReadRate < 0 {
		return c.Errorf("limits.read_rate", "must not be negative (0 means unlimited)")
	}
	if l.OutboundQueue < l.MaxStanzaSize {
		return c.Errorf("limits.outbound_queue", "%s is smaller than limits.max_stanza_size (%s); one large stanza would disconnect a session", l.OutboundQueue, l.MaxStanzaSize)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"limits.preauth_timeout", l.PreauthTimeout},
		{"limits.idle_timeout", l.IdleTimeout},
		{"limits.failed_login_window", l.FailedLoginWindow},
	} {
		if d.v.Duration <= 0 {
			return c.Errorf(d.key, "must be longer than 0")
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"limits.connections_per_ip", l.ConnectionsPerIP},
		{"limits.failed_logins_per_account", l.FailedLoginsPerAccount},
		{"limits.failed_logins_per_ip", l.FailedLoginsPerIP},
		{"limits.max_resources_per_user", l.MaxResourcesPerUser},
		{"limits.offline_messages", l.OfflineMessages},
	} {
		if n.v < 1 {
			return c.Errorf(n.key, "must be at least 1, got %d", n.v)
		}
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return c.Errorf("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return c.Errorf("log.format", "%q is not one of text, json", c.Log.Format)
	}

	if p := c.SocketPath(); len(p) > maxSocketPath {
		key := "admin.socket"
		if c.Admin.Socket == "" {
			key = "data_dir" // the socket path is derived from it
		}
		return c.Errorf(key, "admin socket path %q is %d bytes; unix sockets allow at most %d, set admin.socket to a shorter path", p, len(p), maxSocketPath)
	}
	return nil
}

// validDomain checks an XMPP domainpart that is a DNS name (RFC 7622 §3.2):
// LDH labels of 1 to 63 bytes, at most 253 bytes in all. Upper case is
// rejected rather than folded, because JIDs are compared in their
// normalised (lower-case) form and a silently different domain would be a
// surprise.
func validDomain(d string) error {
	if d == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.HasSuffix(d, ".") {
		return fmt.Errorf("%q: write the domain without the trailing dot", d)
	}
	if len(d) > 253 {
		return fmt.Errorf("%q is longer than 253 bytes", d)
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a domain name: each dot-separated label must be 1 to 63 characters", d)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a domain name: a label must not start or end with '-'", d)
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			case r >= 'A' && r <= 'Z':
				return fmt.Errorf("%q must be lower case", d)
			case r > 0x7f:
				return fmt.Errorf("%q: write an internationalised domain in its ASCII (xn--) form", d)
			default:
				return fmt.Errorf("%q is not a domain name: %q is not allowed", d, r)
			}
		}
	}
	return nil
}

// validEnquiry checks the guest host: a domain of its own, since guests
// must never share a JID space with accounts.
func (c *Config) validEnquiry() error {
	e := &c.Enquiry
	if e.GuestDomain != "" {
		if err := validDomain(e.GuestDomain); err != nil {
			return c.Errorf("enquiry.guest_domain", "%v", err)
		}
		if e.GuestDomain == c.Domain {
			return c.Errorf("enquiry.guest_domain", "%q is the server's domain; guests need a domain of their own, e.g. \"guest.%s\"", e.GuestDomain, c.Domain)
		}
	}
	if e.GuestLoginsPerIP < 1 {
		return c.Errorf("enquiry.guest_logins_per_ip", "must be at least 1, got %d", e.GuestLoginsPerIP)
	}
	if e.GuestLoginWindow.Duration <= 0 {
		return c.Errorf("enquiry.guest_login_window", "must be longer than 0")
	}
	for _, j := range e.Staff {
		local, domain, ok := strings.Cut(j, "@")
		if !ok || local == "" || strings.Contains(domain, "/") || validDomain(domain) != nil {
			return c.Errorf("enquiry.staff", "%q is not a bare JID like \"alice@%s\"", j, c.Domain)
		}
	}
	return nil
}

// validListen checks a host:port listen address with a numeric port; port
// 0 (any free port) is allowed for tests.
func validListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. \"0.0.0.0:5222\", \"[::]:5222\"); use \"\" to disable", addr)
	}
	if strings.ContainsAny(host, " \t") {
		return fmt.Errorf("%q: host contains white space", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// validPublicURL checks that u is an absolute http(s) URL with a host.
func validPublicURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q is not a URL", u)
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("%q is not an absolute http:// or https:// URL", u)
	}
	if p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Errorf("%q must not have a query, fragment or user info", u)
	}
	return nil
}

// validTLS checks that cert and key are both set or both empty, and that
// when set they are readable and form a key pair, so a bad file names its
// key at start-up instead of failing the first TLS handshake.
func (c *Config) validTLS() error {
	cert, key := c.TLS.CertFile, c.TLS.KeyFile
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "":
		return c.Errorf("tls.cert_file", "must be set when tls.key_file is (or leave both empty for a self-signed certificate)")
	case key == "":
		return c.Errorf("tls.key_file", "must be set when tls.cert_file is (or leave both empty for a self-signed certificate)")
	}
	certPEM, err := os.ReadFile(cert)
	if err != nil {
		return c.Errorf("tls.cert_file", "%v", err)
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		return c.Errorf("tls.key_file", "%v", err)
	}
	var block *pem.Block
	for rest := certPEM; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		return c.Errorf("tls.cert_file", "%s: no PEM CERTIFICATE block", cert)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return c.Errorf("tls.cert_file", "%s: %v", cert, err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return c.Errorf("tls.key_file", "%s: %v", key, strings.TrimPrefix(err.Error(), "tls: "))
	}
	return nil
}
