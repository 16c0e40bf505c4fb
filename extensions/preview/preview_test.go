package preview

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const pw = "secret-pw"

// testPage is a page with OpenGraph tags written the ways real pages
// write them: entities, name= instead of property=, a relative image.
const testPage = `<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Plain title</title>
<meta property="og:title" content="Tom &amp; Jerry&#39;s page">
<meta name="og:description" content="Cats &lt;and&gt; mice,
   together">
<meta property="og:image" content="/img/cat.png">
<meta property="og:site_name" content="Cartoons">
</head><body><p>Hello</p></body></html>`

// site is a test web server on a loopback address that counts requests.
type site struct {
	*httptest.Server
	hits atomic.Int64
}

// newSite serves mux on addr ("127.0.0.1:0" unless given).
func newSite(t *testing.T, mux http.Handler, addr ...string) *site {
	t.Helper()
	s := &site{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if ua := r.Header.Get("User-Agent"); ua != UserAgent {
			t.Errorf("User-Agent %q, want %q", ua, UserAgent)
		}
		mux.ServeHTTP(w, r)
	})
	s.Server = httptest.NewUnstartedServer(h)
	if len(addr) > 0 {
		l, err := net.Listen("tcp", addr[0])
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr[0], err)
		}
		s.Listener.Close()
		s.Listener = l
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func htmlPage(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}
}

// pageMux serves testPage at /page and a redirect to it at /hop.
func pageMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/page", htmlPage(testPage))
	mux.Handle("/hop", http.RedirectHandler("/page", http.StatusFound))
	return mux
}

// env is a running server with alice and bob online, and mam archiving.
type env struct {
	srv        *xmppdtest.Server
	alice, bob *xmppdtest.Client
}

func start(t *testing.T, ext *Extension, opts ...xmppdtest.Option) *env {
	t.Helper()
	opts = append(opts, xmppdtest.WithExtensions(mam.New(), ext))
	srv := xmppdtest.Start(t, opts...)
	e := &env{srv: srv}
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(t, u, pw)
	}
	e.alice = online(t, srv, "alice")
	e.bob = online(t, srv, "bob")
	return e
}

func online(t *testing.T, srv *xmppdtest.Server, user string) *xmppdtest.Client {
	t.Helper()
	c, err := srv.Dial(t, user, pw, xmppdtest.DialOptions{Resource: "res"})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c.Available()
	return c
}

// testExt is the extension with test-sized limits; loopback allowed.
func testExt() *Extension {
	e := New()
	e.Config.AllowPrivate = true
	e.Config.MaxWait.Duration = 3 * time.Second // generous: the test machine is busy
	e.Config.Timeout.Duration = 4 * time.Second
	return e
}

var seq atomic.Int64

// send sends a chat message from alice to bob with body (and extra
// payload) and returns what bob received and how long it took.
func (e *env) send(t *testing.T, body, extra string) (*wire.Element, time.Duration) {
	t.Helper()
	id := fmt.Sprintf("m%d", seq.Add(1))
	sent := time.Now()
	e.alice.Sendf("<message to='bob@localhost' type='chat' id='%s'><body>%s</body>%s</message>", id, wire.AppendEscaped(nil, body), extra)
	got := e.bob.Expect("message "+id, func(el *wire.Element) bool {
		return el.Name == "message" && el.Attr("id") == id
	})
	return got, time.Since(sent)
}

// descriptions returns the XEP-0511 descriptions of msg by rdf:about.
func descriptions(msg *wire.Element) map[string]*wire.Element {
	out := make(map[string]*wire.Element)
	for _, d := range msg.ChildrenNamed("Description", NSRDF) {
		out[d.Attr("about")] = d // the test client drops the rdf: prefix
	}
	return out
}

func og(d *wire.Element, name string) string { return d.ChildText(name, NSOG) }

// checkTestPage asserts d describes testPage served at base.
func checkTestPage(t *testing.T, d *wire.Element, base string) {
	t.Helper()
	if d == nil {
		t.Fatal("no preview")
	}
	want := map[string]string{
		"title":       "Tom & Jerry's page",
		"description": "Cats <and> mice, together",
		"image":       base + "/img/cat.png",
		"site_name":   "Cartoons",
	}
	for name, v := range want {
		if got := og(d, name); got != v {
			t.Errorf("og:%s = %q, want %q", name, got, v)
		}
	}
}

// archive returns the messages in c's archive, oldest first.
func archive(t *testing.T, c *xmppdtest.Client) []*wire.Element {
	t.Helper()
	id := fmt.Sprintf("q%d", seq.Add(1))
	c.Sendf("<iq type='set' id='%s'><query xmlns='%s'/></iq>", id, mam.NS)
	var out []*wire.Element
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query failed: %s", el)
			}
			return out
		}
		if res := el.Child("result", mam.NS); el.Name == "message" && res != nil {
			out = append(out, res.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client"))
		}
	}
}

func TestPreviewDeliveredAndArchived(t *testing.T) {
	s := newSite(t, pageMux())
	e := start(t, testExt())
	link := s.URL + "/page"

	got, _ := e.send(t, "look at "+link+", it is good", "")
	checkTestPage(t, descriptions(got)[link], s.URL)

	// Through a redirect: rdf:about is the URL as written, the image
	// resolves against the page it landed on.
	hop := s.URL + "/hop#top"
	got, _ = e.send(t, "also "+hop, "")
	checkTestPage(t, descriptions(got)[hop], s.URL)

	for _, c := range []*xmppdtest.Client{e.alice, e.bob} {
		msgs := archive(t, c)
		if len(msgs) != 2 {
			t.Fatalf("%s: %d archived messages, want 2", c.JID, len(msgs))
		}
		checkTestPage(t, descriptions(msgs[0])[link], s.URL)
		checkTestPage(t, descriptions(msgs[1])[hop], s.URL)
	}
	if n := s.hits.Load(); n != 3 {
		t.Errorf("site saw %d requests, want 3 (/page, /hop, /page)", n)
	}

	// The same page again comes from the cache.
	got, _ = e.send(t, link, "")
	checkTestPage(t, descriptions(got)[link], s.URL)
	if n := s.hits.Load(); n != 3 {
		t.Errorf("site saw %d requests after a cached page, want 3", n)
	}
}

func TestPrivateAddressRefused(t *testing.T) {
	s := newSite(t, pageMux())
	ext := testExt()
	ext.Config.AllowPrivate = false
	e := start(t, ext)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())

	for _, link := range []string{
		s.URL + "/page",                      // the literal loopback address
		"http://localhost:" + port + "/page", // a name resolving to it
		"http://[::ffff:127.0.0.1]:" + port + "/page",
	} {
		got, took := e.send(t, link, "")
		if d := descriptions(got); len(d) != 0 {
			t.Errorf("%s: preview of a loopback page: %s", link, got)
		}
		if took > 2*time.Second {
			t.Errorf("%s: a refused address delayed the message by %v", link, took)
		}
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("loopback site saw %d requests, want none", n)
	}
}

func TestRedirects(t *testing.T) {
	private := newSite(t, htmlPage(testPage), "127.0.0.2:0")
	mux := pageMux()
	mux.Handle("/to-private", http.RedirectHandler(private.URL+"/page", http.StatusFound))
	mux.Handle("/loop", http.RedirectHandler("/loop", http.StatusFound))
	mux.Handle("/to-ftp", http.RedirectHandler("ftp://example.com/", http.StatusFound))
	mux.Handle("/to-creds", http.RedirectHandler("http://user:pw@127.0.0.1/", http.StatusFound))
	public := newSite(t, mux)

	ext := testExt()
	ext.Config.AllowPrivate = false
	// The test's "public" site is the one at 127.0.0.1; everything else
	// gets the real policy.
	ext.addrPolicy = func(ip netip.Addr) error {
		if ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			return nil
		}
		return checkAddr(ip, false)
	}
	e := start(t, ext)

	got, _ := e.send(t, public.URL+"/hop", "")
	checkTestPage(t, descriptions(got)[public.URL+"/hop"], public.URL)

	for _, path := range []string{"/to-private", "/loop", "/to-ftp", "/to-creds"} {
		got, _ := e.send(t, public.URL+path, "")
		if d := descriptions(got); len(d) != 0 {
			t.Errorf("%s: got a preview: %s", path, got)
		}
	}
	if n := private.hits.Load(); n != 0 {
		t.Errorf("private site saw %d requests, want none", n)
	}
}

func TestSlowSiteBounded(t *testing.T) {
	release := make(chan struct{})
	served := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
		htmlPage(testPage)(w, r)
		close(served)
	})
	s := newSite(t, mux)
	ext := testExt()
	ext.Config.MaxWait.Duration = 200 * time.Millisecond
	e := start(t, ext)
	link := s.URL + "/slow"

	got, took := e.send(t, "slow "+link, "")
	if d := descriptions(got); len(d) != 0 {
		t.Errorf("preview of a page that has not answered: %s", got)
	}
	if took > 200*time.Millisecond+time.Second {
		t.Errorf("message took %v, want about max_wait (200ms)", took)
	}
	if took < 200*time.Millisecond {
		t.Errorf("message took %v: it did not wait max_wait for the page", took)
	}

	// The fetch goes on; once the page answers, the next message with it
	// gets the preview without another request.
	close(release)
	<-served
	got, _ = e.send(t, "again "+link, "")
	checkTestPage(t, descriptions(got)[link], s.URL)
	if n := s.hits.Load(); n != 1 {
		t.Errorf("site saw %d requests, want 1", n)
	}
}

func TestHugePageCut(t *testing.T) {
	writeErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><meta property="og:title" content="Early title">`)
		filler := []byte(strings.Repeat(`<meta name="filler" content="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx">`, 400))
		var err error
		for written := 0; written < 64<<20 && err == nil; written += len(filler) {
			_, err = w.Write(filler)
		}
		if err == nil {
			_, err = fmt.Fprint(w, `<meta property="og:description" content="Too late"></head>`)
		}
		writeErr <- err
	})
	s := newSite(t, mux)
	ext := testExt()
	ext.Config.MaxBytes = 16 * config.KiB
	e := start(t, ext)
	link := s.URL + "/huge"

	got, _ := e.send(t, link, "")
	d := descriptions(got)[link]
	if d == nil {
		t.Fatalf("no preview from the page's first bytes: %s", got)
	}
	if og(d, "title") != "Early title" {
		t.Errorf("og:title = %q, want %q", og(d, "title"), "Early title")
	}
	if og(d, "description") != "" {
		t.Errorf("og:description %q was read from beyond max_bytes", og(d, "description"))
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("the whole 64MiB page was read")
		}
	case <-time.After(5 * time.Second):
		t.Error("the page is still being sent after 5s")
	}
}

func TestNotHTMLIgnored(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/cat.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		fmt.Fprint(w, testPage) // would give a preview if it were parsed
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, testPage)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, testPage)
	})
	s := newSite(t, mux)
	e := start(t, testExt())
	for _, path := range []string{"/cat.png", "/text", "/missing"} {
		got, _ := e.send(t, s.URL+path, "")
		if d := descriptions(got); len(d) != 0 {
			t.Errorf("%s: got a preview: %s", path, got)
		}
	}
	if n := s.hits.Load(); n != 3 {
		t.Errorf("site saw %d requests, want 3", n)
	}
	// Failures are cached (negative_ttl): no second request.
	e.send(t, s.URL+"/text", "")
	if n := s.hits.Load(); n != 3 {
		t.Errorf("site saw %d requests after a cached failure, want 3", n)
	}
}

func TestDisabled(t *testing.T) {
	s := newSite(t, pageMux())
	ext := testExt()
	ext.Config.Enabled = false
	e := start(t, ext)
	got, _ := e.send(t, s.URL+"/page", "")
	if d := descriptions(got); len(d) != 0 {
		t.Errorf("preview while disabled: %s", got)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("site saw %d requests while previews are disabled", n)
	}
}

func TestMessagesSkipped(t *testing.T) {
	s := newSite(t, pageMux())
	e := start(t, testExt())
	link := s.URL + "/page"
	for _, tc := range []struct{ name, extra string }{
		{"no-store", "<no-store xmlns='urn:xmpp:hints'/>"},
		{"no-permanent-store", "<no-permanent-store xmlns='urn:xmpp:hints'/>"},
		{"OMEMO", "<encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted>"},
		{"OpenPGP", "<openpgp xmlns='urn:xmpp:openpgp:0'>AAAA</openpgp>"},
		{"OOB file", "<x xmlns='jabber:x:oob'><url>" + link + "</url></x>"},
	} {
		got, _ := e.send(t, link, tc.extra)
		if d := descriptions(got); len(d) != 0 {
			t.Errorf("%s: got a preview: %s", tc.name, got)
		}
	}

	// A sender's own description of the URL is kept and not added to.
	own := "<r:Description xmlns:r='" + NSRDF + "' xmlns:og='" + NSOG + "' r:about='" + link + "'><og:title>Mine</og:title></r:Description>"
	got, _ := e.send(t, link, own)
	if ds := got.ChildrenNamed("Description", NSRDF); len(ds) != 1 || og(ds[0], "title") != "Mine" {
		t.Errorf("want only the sender's description, got %s", got)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("site saw %d requests for skipped messages", n)
	}

	// Headlines and errors get none either.
	e.alice.Sendf("<message to='bob@localhost' type='headline' id='h1'><body>%s</body></message>", link)
	h := e.bob.Expect("headline", xmppdtest.Is("message", "headline"))
	if d := descriptions(h); len(d) != 0 {
		t.Errorf("headline got a preview: %s", h)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("site saw %d requests for a headline", n)
	}
}

func TestMaxURLs(t *testing.T) {
	s := newSite(t, pageMux())
	ext := testExt()
	ext.Config.MaxURLs = 2
	e := start(t, ext)
	links := []string{s.URL + "/page?a", s.URL + "/page?b", s.URL + "/page?c"}
	got, _ := e.send(t, strings.Join(links, " and "), "")
	d := descriptions(got)
	if len(d) != 2 || d[links[0]] == nil || d[links[1]] == nil {
		t.Errorf("want previews of the first two links, got %s", got)
	}
	if n := s.hits.Load(); n != 2 {
		t.Errorf("site saw %d requests, want 2", n)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{`enabled = "yes"`, "preview.enabled"},
		{`max_wait = "soon"`, "preview.max_wait"},
		{`max_wait = "-1s"`, "preview.max_wait"},
		{`max_wait = "10s"`, "preview.max_wait"}, // longer than timeout
		{`timeout = "0s"`, "preview.timeout"},
		{`max_bytes = "lots"`, "preview.max_bytes"},
		{`max_bytes = 10`, "preview.max_bytes"},
		{`max_redirects = -1`, "preview.max_redirects"},
		{`max_urls = 0`, "preview.max_urls"},
		{`max_fetches = 0`, "preview.max_fetches"},
		{`cache_size = 0`, "preview.cache_size"},
		{`cache_ttl = "0s"`, "preview.cache_ttl"},
		{`negative_ttl = "forever"`, "preview.negative_ttl"},
		{`max_wiat = "1s"`, "max_wiat"},
	} {
		path := filepath.Join(t.TempDir(), "xmppd.toml")
		if err := os.WriteFile(path, []byte("[preview]\n"+tc.toml+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("%s: load: %v", tc.toml, err)
		}
		cfg.DataDir = t.TempDir()
		srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{New()}})
		if err == nil {
			srv.Close()
			t.Errorf("%s: accepted", tc.toml)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q does not name %s on one line", tc.toml, msg, tc.want)
		}
	}
}
