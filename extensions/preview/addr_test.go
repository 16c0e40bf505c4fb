package preview

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		ip      string
		kind    string // "" = public
		private bool   // allowed with allow_private
	}{
		{"93.184.215.14", "", false},
		{"8.8.8.8", "", false},
		{"2606:4700::1111", "", false},
		{"127.0.0.1", "loopback", true},
		{"127.255.0.9", "loopback", true},
		{"::1", "loopback", true},
		{"::ffff:127.0.0.1", "loopback", true},
		{"10.1.2.3", "private", true},
		{"172.16.0.1", "private", true},
		{"172.31.255.255", "private", true},
		{"172.32.0.1", "", false},
		{"192.168.1.1", "private", true},
		{"fd12:3456::1", "private", true},
		{"100.64.0.1", "CGNAT", true},
		{"100.127.255.254", "CGNAT", true},
		{"100.128.0.1", "", false},
		{"169.254.169.254", "link-local", true},
		{"fe80::1", "link-local", true},
		{"0.0.0.0", "unspecified", false},
		{"::", "unspecified", false},
		{"224.0.0.1", "multicast", false},
		{"ff02::1", "multicast", false},
		{"255.255.255.255", "reserved", false},
		{"192.0.2.1", "documentation", false},
		{"2001:db8::1", "documentation", false},
		{"64:ff9b::7f00:1", "loopback", true},      // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", "", false},            // NAT64 of 8.8.8.8
		{"2002:c0a8:101::1", "private", true},      // 6to4 of 192.168.1.1
		{"2001:0:4136:e378::1", "reserved", false}, // Teredo
	} {
		ip := netip.MustParseAddr(tc.ip)
		kind, private := classify(ip)
		if kind != tc.kind || private != tc.private {
			t.Errorf("classify(%s) = %q, %v; want %q, %v", tc.ip, kind, private, tc.kind, tc.private)
		}
		refused := checkAddr(ip, false) != nil
		if refused != (tc.kind != "") {
			t.Errorf("checkAddr(%s, false) refused = %v", tc.ip, refused)
		}
		refused = checkAddr(ip, true) != nil
		if refused != (tc.kind != "" && !tc.private) {
			t.Errorf("checkAddr(%s, true) refused = %v", tc.ip, refused)
		}
	}
}

func TestDialAddr(t *testing.T) {
	ip, err := dialAddr("[fe80::1%eth0]:443")
	if err != nil || ip != netip.MustParseAddr("fe80::1") {
		t.Errorf("dialAddr with zone = %v, %v", ip, err)
	}
	if _, err := dialAddr("example.com:80"); err == nil {
		t.Error("dialAddr accepted a host name")
	}
}
