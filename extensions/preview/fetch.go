package preview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/net/html/charset"
)

// fetcher gets pages over HTTP within the [preview] limits.
type fetcher struct {
	client   *http.Client
	maxBytes int64
}

func newFetcher(c Config, check func(netip.Addr) error) *fetcher {
	timeout := c.Timeout.Duration
	dialer := &net.Dialer{
		Timeout: timeout,
		// Runs for every address a connection is attempted to, after
		// DNS: the one place the address policy cannot be bypassed.
		Control: func(network, address string, _ syscall.RawConn) error {
			ip, err := dialAddr(address)
			if err != nil {
				return err
			}
			return check(ip)
		},
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would connect for us, past Control
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           c.MaxFetches,
		IdleConnTimeout:        30 * time.Second,
	}
	return &fetcher{
		client: &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: checkRedirect(c.MaxRedirects),
		},
		maxBytes: int64(c.MaxBytes),
	}
}

// checkURL accepts what a preview may fetch: an absolute http(s) URL with
// a host, no credentials, of a sane length.
func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("credentials in the URL")
	case len(u.String()) > maxURL:
		return fmt.Errorf("URL longer than %d bytes", maxURL)
	}
	return nil
}

// checkRedirect follows at most max redirects, each to a URL checkURL
// accepts; the address of each is checked when it is dialled.
func checkRedirect(max int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > max {
			return fmt.Errorf("more than %d redirects", max)
		}
		if err := checkURL(req.URL); err != nil {
			return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), err)
		}
		return nil
	}
}

// errNotHTML: the URL is an image, a PDF, a video…; there is no head to
// read.
var errNotHTML = errors.New("not an HTML page")

// fetch GETs pageURL and parses the head of the HTML it returns.
func (f *fetcher) fetch(ctx context.Context, pageURL string) (*Meta, error) {
	u, err := url.Parse(pageURL)
	if err != nil {
		return nil, err
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	// Closing an unread body drops the connection instead of draining it.
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "text/html" && mt != "application/xhtml+xml" {
		return nil, fmt.Errorf("%w: Content-Type %q", errNotHTML, ct)
	}
	body, err := charset.NewReader(io.LimitReader(resp.Body, f.maxBytes), ct)
	if err != nil {
		return nil, err
	}
	return parseHead(body, resp.Request.URL), nil
}

// dialAddr is the IP address of a dial's "host:port" (the dialer resolved
// it already), without an IPv6 zone.
func dialAddr(address string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return netip.Addr{}, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dialling %s: not an IP address", address)
	}
	return ip.WithZone(""), nil
}
