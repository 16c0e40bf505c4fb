package preview

import (
	"fmt"
	"net/netip"
)

// A special-purpose address block (RFC 6890 and the IANA registries) and
// whether allow_private opens it: private networks, loopback, link-local
// and CGNAT are real hosts an intranet may want previewed; the rest can
// never be a web server worth asking.
type block struct {
	prefix  netip.Prefix
	kind    string
	private bool // allowed with allow_private
}

var blocks = []block{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified", false},
	{netip.MustParsePrefix("10.0.0.0/8"), "private", true},
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT", true},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", true},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local", true},
	{netip.MustParsePrefix("172.16.0.0/12"), "private", true},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved", false},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation", false},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved", false},
	{netip.MustParsePrefix("192.168.0.0/16"), "private", true},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking", false},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation", false},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation", false},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", false},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", false}, // and 255.255.255.255

	{netip.MustParsePrefix("::/128"), "unspecified", false},
	{netip.MustParsePrefix("::1/128"), "loopback", true},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private", true}, // local-use NAT64
	{netip.MustParsePrefix("100::/64"), "reserved", false},
	{netip.MustParsePrefix("2001::/23"), "reserved", false}, // Teredo, ORCHID, benchmarking
	{netip.MustParsePrefix("2001:db8::/32"), "documentation", false},
	{netip.MustParsePrefix("fc00::/7"), "private", true},
	{netip.MustParsePrefix("fe80::/10"), "link-local", true},
	{netip.MustParsePrefix("fec0::/10"), "link-local", true}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), "multicast", false},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// classify names the special-purpose block ip is in ("" for a public
// address) and says whether allow_private lets it through. IPv6 forms that
// carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address,
// so ::ffff:127.0.0.1 is loopback.
func classify(ip netip.Addr) (kind string, private bool) {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return classify(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(ip):
			return classify(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, bl := range blocks {
		if bl.prefix.Contains(ip) {
			return bl.kind, bl.private
		}
	}
	return "", false
}

// addrError is a refused destination; the fetcher caches it like any
// other failure.
type addrError struct {
	ip   netip.Addr
	kind string
}

func (e *addrError) Error() string {
	return fmt.Sprintf("refusing to connect to %s address %s", e.kind, e.ip)
}

// checkAddr refuses an address link previews must not reach.
func checkAddr(ip netip.Addr, allowPrivate bool) error {
	kind, private := classify(ip)
	if kind == "" || private && allowPrivate {
		return nil
	}
	return &addrError{ip: ip.Unmap(), kind: kind}
}
