package upload_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const service = "upload.localhost"

type env struct {
	srv   *xmppdtest.Server
	ext   *upload.Extension
	alice *xmppdtest.Client
	base  string // http://<listener>
}

func start(t *testing.T, configure ...func(*upload.Extension)) *env {
	t.Helper()
	return startWith(t, nil, configure...)
}

// startWith runs the upload service beside disco and more.
func startWith(t *testing.T, more []xmppd.Extension, configure ...func(*upload.Extension)) *env {
	t.Helper()
	ext := upload.New()
	ext.Config.MaxFileSize = 1 * config.MB
	ext.Config.UserQuota = 2 * config.MB
	for _, fn := range configure {
		fn(ext)
	}
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(append([]xmppd.Extension{disco.New(), ext}, more...)...))
	srv.AddUser(t, "alice", "alice-pw")
	if srv.HTTPAddr() == nil {
		t.Fatal("HTTP listener not running")
	}
	return &env{srv: srv, ext: ext, alice: srv.Login(t, "alice", "alice-pw"), base: "http://" + srv.HTTPAddr().String()}
}

// local points a slot URL (built from public_url) at the test listener.
func (e *env) local(u string) string {
	return e.base + strings.TrimPrefix(u, e.srv.Config.HTTP.PublicURL)
}

func request(name string, size int, ctype string) string {
	s := "<request xmlns='" + upload.NS + "' filename='" + name + "' size='" + strconv.Itoa(size) + "'"
	if ctype != "" {
		s += " content-type='" + ctype + "'"
	}
	return s + "/>"
}

// slot asks for a slot and returns its PUT and GET URLs (on the test
// listener).
func (e *env) slot(t *testing.T, name string, size int, ctype string) (put, get string) {
	t.Helper()
	res := e.alice.IQ("get", service, request(name, size, ctype))
	sl := res.Child("slot", upload.NS)
	if res.Attr("type") != "result" || sl == nil {
		t.Fatalf("want a slot, got %s", res)
	}
	return e.local(sl.Child("put", upload.NS).Attr("url")), e.local(sl.Child("get", upload.NS).Attr("url"))
}

func do(t *testing.T, method, u string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func wantStatus(t *testing.T, res *http.Response, code int) []byte {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != code {
		t.Fatalf("%s %s: want %d, got %d %s", res.Request.Method, res.Request.URL.Path, code, res.StatusCode, b)
	}
	return b
}

func expectError(t *testing.T, res *wire.Element, cond string) *wire.Element {
	t.Helper()
	el := res.Child("error", "")
	if res.Attr("type") != "error" || el == nil || el.Child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want <%s/>, got %s", cond, res)
	}
	return el
}

func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	e := start(t)
	data := content(200000)
	put, get := e.slot(t, "holiday photo.jpg", len(data), "image/jpeg")
	if !strings.HasPrefix(get, e.base+"/upload/") || !strings.HasSuffix(get, "/holiday_photo.jpg") {
		t.Fatalf("GET URL %s", get)
	}
	wantStatus(t, do(t, "PUT", put, data, "Content-Type", "image/jpeg"), http.StatusCreated)

	res := do(t, "GET", get, nil)
	got := wantStatus(t, res, http.StatusOK)
	if !bytes.Equal(got, data) {
		t.Fatalf("GET returned %d bytes, not what was uploaded", len(got))
	}
	for k, want := range map[string]string{
		"Content-Type":           "image/jpeg",
		"Content-Disposition":    `inline; filename="holiday photo.jpg"`,
		"X-Content-Type-Options": "nosniff",
		"Content-Length":         strconv.Itoa(len(data)),
	} {
		if v := res.Header.Get(k); v != want {
			t.Errorf("%s: want %q, got %q", k, want, v)
		}
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || res.Header.Get("ETag") == "" || res.Header.Get("Last-Modified") == "" {
		t.Errorf("caching headers missing: %v", res.Header)
	}

	head := do(t, "HEAD", get, nil)
	if b := wantStatus(t, head, http.StatusOK); len(b) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD: body %d bytes, Content-Length %s", len(b), head.Header.Get("Content-Length"))
	}

	rg := do(t, "GET", get, nil, "Range", "bytes=1000-1999")
	if b := wantStatus(t, rg, http.StatusPartialContent); !bytes.Equal(b, data[1000:2000]) {
		t.Fatalf("Range GET returned the wrong bytes")
	}
	if cr := rg.Header.Get("Content-Range"); cr != "bytes 1000-1999/"+strconv.Itoa(len(data)) {
		t.Fatalf("Content-Range %q", cr)
	}

	// A conditional GET is answered from the client's cache.
	wantStatus(t, do(t, "GET", get, nil, "If-None-Match", res.Header.Get("ETag")), http.StatusNotModified)
}

func TestDispositionAndDefaultType(t *testing.T) {
	e := start(t)
	for _, tc := range []struct{ name, ctype, wantType, wantDisp string }{
		{"page.html", "text/html", "text/html", "attachment"},
		{"logo.svg", "image/svg+xml", "image/svg+xml", "attachment"},
		{"notes.pdf", "application/pdf", "application/pdf", "attachment"},
		{"voice.ogg", "audio/ogg", "audio/ogg", "inline"},
		{"blob", "", "application/octet-stream", "attachment"},
	} {
		data := []byte("<html><script>alert(1)</script></html>")
		put, get := e.slot(t, tc.name, len(data), tc.ctype)
		hdr := []string{}
		if tc.ctype != "" {
			hdr = []string{"Content-Type", tc.ctype}
		}
		wantStatus(t, do(t, "PUT", put, data, hdr...), http.StatusCreated)
		res := do(t, "GET", get, nil)
		wantStatus(t, res, http.StatusOK)
		if res.Header.Get("Content-Type") != tc.wantType || !strings.HasPrefix(res.Header.Get("Content-Disposition"), tc.wantDisp+";") ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Content-Type %q, Content-Disposition %q", tc.name, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
	}
}

func TestTooLarge(t *testing.T) {
	e := start(t)
	res := e.alice.IQ("get", service, request("big.bin", 1000001, ""))
	el := expectError(t, res, "not-acceptable")
	ftl := el.Child("file-too-large", upload.NS)
	if ftl == nil || ftl.ChildText("max-file-size", upload.NS) != "1000000" {
		t.Fatalf("want file-too-large with max-file-size 1000000, got %s", res)
	}
}

func TestQuota(t *testing.T) {
	e := start(t)
	data := content(900000)
	put, _ := e.slot(t, "a.bin", len(data), "")
	wantStatus(t, do(t, "PUT", put, data), http.StatusCreated)
	e.slot(t, "b.bin", 900000, "") // reserved, not uploaded: counts too
	res := e.alice.IQ("get", service, request("c.bin", 900000, ""))
	el := expectError(t, res, "resource-constraint")
	if el.Attr("type") != "wait" || !strings.Contains(el.ChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas"), "quota") {
		t.Fatalf("want a wait error naming the quota, got %s", res)
	}
	if used := e.usage(t); used != 1800000 {
		t.Fatalf("usage %d", used)
	}
}

func TestBadPuts(t *testing.T) {
	e := start(t)
	data := content(1000)

	put, get := e.slot(t, "a.txt", len(data), "text/plain")
	// Wrong size: a Content-Length other than the declared one.
	wantStatus(t, do(t, "PUT", put, data[:999], "Content-Type", "text/plain"), http.StatusBadRequest)
	// Wrong content type.
	wantStatus(t, do(t, "PUT", put, data, "Content-Type", "text/html"), http.StatusUnsupportedMediaType)
	// Forged signature, and a signature moved to another expiry.
	wantStatus(t, do(t, "PUT", strings.Replace(put, "sig=", "sig=00", 1), data, "Content-Type", "text/plain"), http.StatusForbidden)
	wantStatus(t, do(t, "PUT", strings.Replace(put, "expires=", "expires=9", 1), data, "Content-Type", "text/plain"), http.StatusForbidden)
	wantStatus(t, do(t, "PUT", strings.Split(put, "?")[0], data, "Content-Type", "text/plain"), http.StatusForbidden)
	// Nothing is served before the upload.
	wantStatus(t, do(t, "GET", get, nil), http.StatusNotFound)

	wantStatus(t, do(t, "PUT", put, data, "Content-Type", "text/plain; charset=utf-8"), http.StatusCreated)
	// Reuse of the slot.
	wantStatus(t, do(t, "PUT", put, content(1000)[:1000], "Content-Type", "text/plain"), http.StatusConflict)
	if b := wantStatus(t, do(t, "GET", get, nil), http.StatusOK); !bytes.Equal(b, data) {
		t.Fatal("file changed")
	}
	// Another slot's signature does not open this one.
	put2, _ := e.slot(t, "a.txt", len(data), "text/plain")
	other := strings.Split(put, "?")[0] + "?" + strings.Split(put2, "?")[1]
	wantStatus(t, do(t, "PUT", other, data, "Content-Type", "text/plain"), http.StatusForbidden)
}

func TestExpiredSlot(t *testing.T) {
	e := start(t, func(x *upload.Extension) { x.SlotTTL = time.Nanosecond })
	data := content(10)
	put, _ := e.slot(t, "late.bin", len(data), "")
	wantStatus(t, do(t, "PUT", put, data), http.StatusForbidden)
	// The sweep drops the slot, and with it its share of the quota.
	e.ext.Sweep(context.Background())
	if used := e.usage(t); used != 0 {
		t.Fatalf("expired slot still counted: %d", used)
	}
}

func TestFilesExpire(t *testing.T) {
	e := start(t)
	data := content(10)
	put, get := e.slot(t, "old.bin", len(data), "")
	wantStatus(t, do(t, "PUT", put, data), http.StatusCreated)
	e.ext.Config.ExpireAfter.Duration = time.Nanosecond
	wantStatus(t, do(t, "GET", get, nil), http.StatusNotFound)
	e.ext.Sweep(context.Background())
	if files, _ := filepath.Glob(filepath.Join(e.srv.Dir, "uploads", "*")); len(files) != 0 {
		t.Fatalf("expired files left: %v", files)
	}
	if used := e.usage(t); used != 0 {
		t.Fatalf("expired file still counted: %d", used)
	}
}

func TestPathTraversal(t *testing.T) {
	e := start(t)
	data := []byte("secret")
	put, get := e.slot(t, "../../../evil.txt", len(data), "text/plain")
	if strings.Contains(strings.TrimPrefix(get, e.base), "..") {
		t.Fatalf("GET URL %s", get)
	}
	wantStatus(t, do(t, "PUT", put, data, "Content-Type", "text/plain"), http.StatusCreated)
	id := strings.Split(strings.TrimPrefix(get, e.base+"/upload/"), "/")[0]
	q := "?" + strings.Split(put, "?")[1]
	for _, p := range []string{
		"/upload/../xmppd.db",
		"/upload/" + id + "/../../xmppd.db",
		"/upload/..%2f..%2fxmppd.db/x",
		"/upload/%2e%2e/xmppd.db",
		"/upload/" + id + "/..%2f..%2fevil.txt",
		"/upload/" + id + "%2f..%2f..%2fxmppd.db/x",
	} {
		for _, m := range []string{"GET", "PUT"} {
			res := do(t, m, e.base+p+q, data, "Content-Type", "text/plain")
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %q", m, p, res.StatusCode, b)
			}
		}
	}
	// Nothing landed outside the upload directory.
	filepath.WalkDir(filepath.Dir(e.srv.Dir), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "evil") {
			t.Errorf("file written outside the upload directory: %s", p)
		}
		return nil
	})
	files, _ := filepath.Glob(filepath.Join(e.srv.Dir, "uploads", "*"))
	if len(files) != 1 || filepath.Base(files[0]) != id {
		t.Fatalf("upload directory holds %v", files)
	}
}

func TestDiscoInfo(t *testing.T) {
	e := start(t)
	res := e.alice.IQ("get", service, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	q := res.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("no disco#info: %s", res)
	}
	s := res.String()
	for _, want := range []string{"category=\"store\"", "type=\"file\"", upload.NS, "max-file-size", "1000000"} {
		if !strings.Contains(strings.ReplaceAll(s, "'", "\""), want) {
			t.Errorf("disco#info lacks %s: %s", want, s)
		}
	}
	// The service is listed by the server.
	items := e.alice.IQ("get", "localhost", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
	if !strings.Contains(items.String(), service) {
		t.Errorf("server disco#items lacks %s: %s", service, items)
	}
}

func (e *env) usage(t *testing.T) int64 {
	t.Helper()
	j, err := xmppd.ParseJID("alice@localhost")
	if err != nil {
		t.Fatal(err)
	}
	used, err := e.ext.Usage(j)
	if err != nil {
		t.Fatal(err)
	}
	return used
}
