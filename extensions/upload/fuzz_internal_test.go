package upload

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzSlotRequest: any <request/> is refused or becomes a slot whose
// name, size and type are within bounds, whose media type is already
// normal, and whose URL segment (the slug) is one safe path segment that
// survives URL escaping.
func FuzzSlotRequest(f *testing.F) {
	for _, seed := range []string{
		`<request xmlns='urn:xmpp:http:upload:0' filename='photo.jpg' size='23456' content-type='image/jpeg'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='../../etc/passwd' size='1'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='.hidden..' size='1' content-type='text/plain; charset="UTF-8"'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='a\b/c:d?e#f%20g' size='1048576' content-type='application/x-thing;a=1;b=2'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='Résumé 2024 — final.PDF' size='+7' content-type='APPLICATION/PDF'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='` + strings.Repeat("x", 120) + `.tar.gz' size='1048577'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename=' ' size='-1' content-type='text'/>`,
		`<request xmlns='urn:xmpp:http:upload:0' filename='zero' size='0'/>`,
	} {
		f.Add([]byte(seed))
	}
	const maxSize = config.MB
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := wire.Parse(b)
		if err != nil {
			return
		}
		req, err := parseSlotRequest(q, maxSize)
		if err != nil {
			return
		}
		switch {
		case req.name != q.Attr("filename") || strings.TrimSpace(req.name) == "" || len(req.name) > 1024:
			t.Fatalf("filename %q taken as %q", q.Attr("filename"), req.name)
		case req.size <= 0 || req.size > int64(maxSize):
			t.Fatalf("size %d accepted", req.size)
		}
		if req.ctype != "" {
			mt, params, err := mime.ParseMediaType(req.ctype)
			if err != nil || !strings.Contains(mt, "/") || mime.FormatMediaType(mt, params) != req.ctype {
				t.Fatalf("content-type %q kept as %q, which is not a normal media type (%v)", q.Attr("content-type"), req.ctype, err)
			}
		}
		s := slug(req.name)
		if s == "" || len(s) > 100 || s[0] == '.' || slug(s) != s {
			t.Fatalf("slug(%q) = %q", req.name, s)
		}
		for _, r := range s {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("-_.", r) {
				t.Fatalf("slug(%q) = %q holds %q", req.name, s, r)
			}
		}
		if u, err := url.PathUnescape(url.PathEscape(s)); err != nil || u != s {
			t.Fatalf("slug %q does not survive its URL escaping: %q, %v", s, u, err)
		}
	})
}

// httpFuzz is the upload service with two slots: one uploaded (for GETs),
// one open (for PUTs), and the service's own routes.
type httpFuzz struct {
	e                *Extension
	mux              *http.ServeMux
	done, open       string // slot ids
	donePath, put    string // GET path of done, PUT path+query of open
	openGet, sig     string // GET path and PUT signature of open
	openMeta         []byte // open's metadata as first stored
	content, payload []byte // done's file, what open takes
}

func newHTTPFuzz(f *testing.F) *httpFuzz {
	cfg := config.Default()
	cfg.DataDir = f.TempDir()
	db, err := store.Open(cfg.StorePath(), store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	e := New()
	e.Config.MaxFileSize, e.Config.UserQuota = config.MB, 2*config.MB
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Store: db, Extensions: []xmppd.Extension{e},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Stop(context.Background()) })
	h := &httpFuzz{e: e, mux: http.NewServeMux(), content: []byte("the notes, 27 bytes of them"), payload: []byte("hello")}
	for _, rt := range e.routes() {
		h.mux.Handle(rt.pattern, rt.h)
	}
	alice := &xmppd.Packet{From: xmppd.JID{Local: "alice", Domain: srv.Domain(), Resource: "phone"}}
	slot := func(name, ctype string, size int) (id, put, get string) {
		q := wire.NewElement("request", NS, wire.Attr{Name: "filename", Value: name},
			wire.Attr{Name: "size", Value: strconv.Itoa(size)}, wire.Attr{Name: "content-type", Value: ctype})
		res, err := e.requestSlot(alice, q)
		if err != nil {
			f.Fatal(err)
		}
		put = strings.TrimPrefix(res.Child("put", NS).Attr("url"), e.baseURL)
		get = strings.TrimPrefix(res.Child("get", NS).Attr("url"), e.baseURL)
		id, _, _ = strings.Cut(get, "/")
		return id, "/upload/" + put, "/upload/" + get
	}
	var donePut string
	h.done, donePut, h.donePath = slot("my notes.txt", "text/plain", len(h.content))
	if st := h.serve(f, "PUT "+donePut+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n\r\n"+string(h.content)); st != http.StatusCreated {
		f.Fatalf("uploading the first file: %d", st)
	}
	h.open, h.put, h.openGet = slot("Résumé (final).pdf", "application/pdf", len(h.payload))
	u, err := url.Parse(h.put)
	if err != nil {
		f.Fatal(err)
	}
	h.sig = u.Query().Get("sig")
	if h.openMeta, err = e.db.KV(storeFiles).Get(h.open); err != nil {
		f.Fatal(err)
	}
	return h
}

// serve runs one raw HTTP/1.1 request through the service's routes and
// returns the status, or 0 when the request does not parse.
func (h *httpFuzz) serve(tb testing.TB, raw string) int {
	w, _ := h.serveRecorded(raw)
	if w == nil {
		return 0
	}
	return w.Code
}

func (h *httpFuzz) serveRecorded(raw string) (*httptest.ResponseRecorder, *http.Request) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return nil, nil
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, req)
	return w, req
}

// servedParts returns the bytes of a 200 or 206 answer: the body, or each
// part of a multipart/byteranges body.
func servedParts(tb testing.TB, w *httptest.ResponseRecorder) [][]byte {
	mt, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if w.Code != http.StatusPartialContent || mt != "multipart/byteranges" {
		return [][]byte{w.Body.Bytes()}
	}
	var parts [][]byte
	mr := multipart.NewReader(bytes.NewReader(w.Body.Bytes()), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			tb.Fatalf("a multipart answer that does not parse: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			tb.Fatal(err)
		}
		parts = append(parts, b)
	}
}

// FuzzHTTP: any request to the upload endpoints (paths built around the
// real slot URLs: {put}, {get}, {open}, {done}) is answered without a
// server error; only the open slot's signed URL with its exact size and
// type stores a file, only inside the upload directory; a GET serves the
// uploaded file's bytes and nothing else.
func FuzzHTTP(f *testing.F) {
	for _, seed := range []string{
		"PUT {put} HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nContent-Length: 5\r\n\r\nhello",
		"PUT {put} HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"PUT {put} HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf; x=1\r\nContent-Length: 4\r\n\r\nhell",
		"PUT {openget}?expires=1&sig=00 HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nContent-Length: 5\r\n\r\nhello",
		"PUT {put}x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"PUT /upload/{open}/..%2f..%2fescape?expires=1&sig=00 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"PUT /upload/../{open}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET {get} HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET {get} HTTP/1.1\r\nHost: x\r\nRange: bytes=4-8,-3\r\n\r\n",
		"GET {get} HTTP/1.1\r\nHost: x\r\nRange: bytes=99-\r\nIf-None-Match: \"{done}\"\r\n\r\n",
		"GET {get}/thumb HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET {openget} HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /upload/{DONE}/my_notes.txt HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add(seed)
	}
	h := newHTTPFuzz(f)
	dir := h.e.dir
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.NewReplacer("{put}", h.put, "{get}", h.donePath, "{openget}", h.openGet,
			"{open}", h.open, "{done}", h.done, "{DONE}", strings.ToUpper(h.done)).Replace(raw)
		w, req := h.serveRecorded(raw)
		if w == nil {
			return
		}
		st := w.Code
		if st >= 500 {
			t.Fatalf("%d %s for %q", st, w.Body, raw)
		}
		uploaded, _ := os.ReadFile(h.e.path(h.open))
		switch st {
		case http.StatusCreated:
			if req.Method != http.MethodPut || req.URL.Query().Get("sig") != h.sig || len(uploaded) != len(h.payload) {
				t.Fatalf("201 for %q, stored %q", raw, uploaded)
			}
		case http.StatusOK, http.StatusPartialContent:
			if req.Method == http.MethodHead {
				break
			}
			for _, part := range servedParts(t, w) {
				if st == http.StatusOK && !bytes.Equal(part, h.content) || !bytes.Contains(h.content, part) {
					t.Fatalf("%d for %q served %q", st, raw, part)
				}
			}
		}
		if uploaded != nil && st != http.StatusCreated {
			t.Fatalf("%d for %q, yet the open slot holds %q", st, raw, uploaded)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			if n := de.Name(); !strings.HasPrefix(n, h.done) && !strings.HasPrefix(n, h.open) || strings.HasSuffix(n, ".tmp") {
				t.Fatalf("after %q the upload directory holds %s", raw, n)
			}
		}
		if st == http.StatusCreated {
			// Open the slot again for the next input.
			if err := os.Remove(h.e.path(h.open)); err != nil {
				t.Fatal(err)
			}
			if err := h.e.db.KV(storeFiles).Put(h.open, h.openMeta); err != nil {
				t.Fatal(err)
			}
		}
	})
}
