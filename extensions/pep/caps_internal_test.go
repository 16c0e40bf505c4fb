package pep

import (
	"crypto/sha1"
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// The examples of XEP-0115 §5.2 and §5.3, shuffled: order must not matter.
func TestVerStringXEP0115Examples(t *testing.T) {
	for _, tc := range []struct{ name, xml, want string }{
		{"simple", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<feature var='http://jabber.org/protocol/muc'/>
			<identity category='client' name='Exodus 0.9.1' type='pc'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/caps'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
		</query>`, "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
			<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
			<feature var='http://jabber.org/protocol/muc'/>
			<feature var='http://jabber.org/protocol/caps'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
			<x xmlns='jabber:x:data' type='result'>
				<field var='ip_version'><value>ipv6</value><value>ipv4</value></field>
				<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
				<field var='os'><value>Mac</value></field>
				<field var='software_version'><value>0.11</value></field>
				<field var='os_version'><value>10.5.1</value></field>
				<field var='software'><value>Psi</value></field>
			</x>
		</query>`, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := wire.Parse([]byte(tc.xml))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := verString(q, sha1.New())
			if !ok || got != tc.want {
				t.Fatalf("ver = %q (ok=%v), want %q", got, ok, tc.want)
			}
		})
	}
}

func TestVerStringRejectsDuplicates(t *testing.T) {
	q, err := wire.Parse([]byte(`<query xmlns='http://jabber.org/protocol/disco#info'>
		<feature var='a'/><feature var='a'/></query>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := verString(q, sha1.New()); ok {
		t.Fatal("duplicate features accepted")
	}
}
