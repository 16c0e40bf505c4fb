package disco_test

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/ping"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
)

const (
	testFeature        = "urn:example:test-feature"
	testAccountFeature = "urn:example:test-account-feature"
	testDomain         = "component.localhost"
)

// testExt is another extension announcing what disco must report.
type testExt struct{}

func (testExt) Name() string { return "test" }

func (testExt) Register(r *xmppd.Registrar) error {
	r.Feature(testFeature)
	r.AccountFeature(testAccountFeature)
	r.Identity(xmppd.Identity{Category: "store", Type: "file", Name: "Test store"})
	r.AccountIdentity(xmppd.Identity{Category: "pubsub", Type: "pep"})
	return r.HandleDomain(testDomain, dropAll{})
}

type dropAll struct{}

func (dropAll) HandleStanza(*xmppd.Packet) {}

func start(t *testing.T) *xmppdtest.Server {
	t.Helper()
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(testExt{}, ping.New(), disco.New()))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	return srv
}

func infoQuery(node string) string {
	if node == "" {
		return "<query xmlns='" + disco.NSInfo + "'/>"
	}
	return "<query xmlns='" + disco.NSInfo + "' node='" + node + "'/>"
}

// result checks for a result from 'from' and returns its disco query.
func result(t *testing.T, res *wire.Element, from, ns string) *wire.Element {
	t.Helper()
	if res.Attr("type") != "result" || res.Attr("from") != from {
		t.Fatalf("want result from %q, got %s", from, res)
	}
	q := res.Child("query", ns)
	if q == nil {
		t.Fatalf("no <query xmlns='%s'/> in %s", ns, res)
	}
	return q
}

func features(q *wire.Element) []string {
	var l []string
	for _, f := range q.ChildrenNamed("feature", disco.NSInfo) {
		l = append(l, f.Attr("var"))
	}
	return l
}

func hasIdentity(q *wire.Element, category, typ string) bool {
	for _, id := range q.ChildrenNamed("identity", disco.NSInfo) {
		if id.Attr("category") == category && id.Attr("type") == typ {
			return true
		}
	}
	return false
}

func wantFeatures(t *testing.T, q *wire.Element, want ...string) {
	t.Helper()
	got := features(q)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("feature %s missing from %v", w, got)
		}
	}
}

func wantError(t *testing.T, res *wire.Element, cond string) {
	t.Helper()
	if res.Attr("type") != "error" || res.Child("error", "").Child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want %s error, got %s", cond, res)
	}
}

// capsVer is XEP-0115 §5.1, written out independently of the server's
// implementation: identities "category/type/lang/name<" sorted, then
// features "var<" sorted, SHA-1, base64.
func capsVer(q *wire.Element) string {
	var ids []string
	for _, id := range q.ChildrenNamed("identity", disco.NSInfo) {
		ids = append(ids, id.Attr("category")+"/"+id.Attr("type")+"/"+id.Attr("xml:lang")+"/"+id.Attr("name")+"<")
	}
	sort.Strings(ids)
	fs := features(q)
	sort.Strings(fs)
	s := strings.Join(ids, "")
	for _, f := range fs {
		s += f + "<"
	}
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestAliceDiscoversServerInfo(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")

	q := result(t, alice.IQ("get", "localhost", infoQuery("")), "localhost", disco.NSInfo)
	if q.Attr("node") != "" {
		t.Errorf("node attribute on a node-less query: %s", q)
	}
	if !hasIdentity(q, "server", "im") {
		t.Errorf("no server/im identity: %s", q)
	}
	if !hasIdentity(q, "store", "file") {
		t.Errorf("identity of the test extension missing: %s", q)
	}
	wantFeatures(t, q, testFeature, ping.NS, disco.NSInfo, disco.NSItems)
	if slices.Contains(features(q), testAccountFeature) {
		t.Errorf("account feature listed for the server: %v", features(q))
	}
	if got := features(q); len(got) != len(srv.ServerFeatures()) {
		t.Errorf("features %v, registry has %v", got, srv.ServerFeatures())
	}
}

// dialWithCaps logs in with a mellium client that parses the caps stream
// feature, as a caching client would.
func dialWithCaps(t *testing.T, srv *xmppdtest.Server, user, password string) *xmpp.Session {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.C2SAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	origin := jid.MustParse(user + "@" + srv.Domain())
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: srv.Domain(), MinVersion: tls.VersionTLS12}
	sess, err := xmpp.NewClientSession(ctx, origin, conn,
		xmpp.StartTLS(tlsCfg),
		xmpp.SASL("", password, sasl.ScramSha256),
		xmpp.BindResource(),
		mdisco.StreamFeature(),
	)
	if err != nil {
		t.Fatalf("login with caps feature: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func TestCapsInStreamFeaturesMatchDiscoInfo(t *testing.T) {
	srv := start(t)
	sess := dialWithCaps(t, srv, "bob", "bob-pw")
	caps, ok := mdisco.ServerCaps(sess)
	if !ok {
		t.Fatal("server advertised no caps stream feature")
	}
	if caps.Node != disco.CapsNode || caps.Hash.String() != "sha-1" || caps.Ver == "" {
		t.Fatalf("caps = %+v", caps)
	}

	alice := srv.Login(t, "alice", "alice-pw")
	q := result(t, alice.IQ("get", "localhost", infoQuery("")), "localhost", disco.NSInfo)
	if want := capsVer(q); caps.Ver != want {
		t.Fatalf("caps ver %q, but disco#info hashes to %q", caps.Ver, want)
	}

	// XEP-0115 §6.2: node#ver answers the same, echoing the node.
	node := caps.Node + "#" + caps.Ver
	nq := result(t, alice.IQ("get", "localhost", infoQuery(node)), "localhost", disco.NSInfo)
	if nq.Attr("node") != node {
		t.Errorf("node not echoed: %s", nq)
	}
	if capsVer(nq) != caps.Ver || !slices.Equal(features(nq), features(q)) {
		t.Errorf("node#ver answer differs:\n%s\n%s", nq, q)
	}
}

func TestUnknownNodeIsItemNotFound(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	for _, node := range []string{"urn:example:nope", disco.CapsNode + "#stale-ver", disco.CapsNode} {
		wantError(t, alice.IQ("get", "localhost", infoQuery(node)), "item-not-found")
	}
	wantError(t, alice.IQ("get", "localhost", "<query xmlns='"+disco.NSItems+"' node='x'/>"), "item-not-found")
	wantError(t, alice.IQ("get", "bob@localhost", infoQuery("x")), "item-not-found")
}

func TestDiscoSetIsRejected(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	if res := alice.IQ("set", "localhost", infoQuery("")); res.Attr("type") != "error" {
		t.Fatalf("disco#info set answered: %s", res)
	}
}

func TestAliceDiscoversComponentItems(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	q := result(t, alice.IQ("get", "localhost", "<query xmlns='"+disco.NSItems+"'/>"), "localhost", disco.NSItems)
	items := q.ChildrenNamed("item", disco.NSItems)
	if len(items) != 1 || items[0].Attr("jid") != testDomain {
		t.Fatalf("items = %s, want exactly %s", q, testDomain)
	}
}

func TestAliceDiscoversBobsAccount(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	q := result(t, alice.IQ("get", "bob@localhost", infoQuery("")), "bob@localhost", disco.NSInfo)
	if !hasIdentity(q, "account", "registered") {
		t.Errorf("no account/registered identity: %s", q)
	}
	if !hasIdentity(q, "pubsub", "pep") {
		t.Errorf("account identity of the test extension missing: %s", q)
	}
	if hasIdentity(q, "server", "im") || hasIdentity(q, "store", "file") {
		t.Errorf("server identity on an account: %s", q)
	}
	wantFeatures(t, q, testAccountFeature, disco.NSInfo, "urn:xmpp:sid:0")
	if slices.Contains(features(q), testFeature) {
		t.Errorf("server feature listed for an account: %v", features(q))
	}

	// Her own account, without 'to': the reply carries no 'from'.
	own := alice.IQ("get", "", infoQuery(""))
	if own.Attr("type") != "result" || !hasIdentity(own.Child("query", disco.NSInfo), "account", "registered") {
		t.Fatalf("own account info: %s", own)
	}
}

func TestDiscoUnknownAccount(t *testing.T) {
	srv := start(t)
	alice := srv.Login(t, "alice", "alice-pw")
	wantError(t, alice.IQ("get", "nobody@localhost", infoQuery("")), "service-unavailable")
}
