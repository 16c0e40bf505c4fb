package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
)

// bodyReadTimeout bounds each read of a PUT body, so a stalled client does
// not hold a slot and a connection for ever.
const bodyReadTimeout = time.Minute

// route is one HTTP endpoint of the service.
type route struct {
	pattern string
	h       http.Handler
}

// routes are the service's HTTP endpoints: PUT and GET of a slot's URL,
// GET of its thumbnail.
func (e *Extension) routes() []route {
	return []route{
		{"PUT /upload/{id}/{name}", putHandler{e}},
		{"GET /upload/{id}/{name}", getHandler{e}},
		{"GET /upload/{id}/{name}/thumb", thumbHandler{e}},
	}
}

type putHandler struct{ e *Extension }

type getHandler struct{ e *Extension }

// lookup finds the file a request names; ok is false when it answered.
func (e *Extension) lookup(w http.ResponseWriter, r *http.Request) (string, fileMeta, bool) {
	id := r.PathValue("id")
	if !validID(id) {
		http.NotFound(w, r)
		return "", fileMeta{}, false
	}
	m, err := e.load(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.Slug != r.PathValue("name") {
		http.NotFound(w, r)
		return "", fileMeta{}, false
	}
	if err != nil {
		e.log.Error("reading upload metadata failed", "id", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return "", fileMeta{}, false
	}
	return id, m, true
}

func (h putHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	id, m, ok := e.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(e.sign(id, m, exp))) || exp != m.Expires.UnixMilli() {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if !m.Uploaded.IsZero() {
		http.Error(w, "this slot was already used", http.StatusConflict)
		return
	}
	if time.Now().After(m.Expires) {
		http.Error(w, "this upload slot has expired", http.StatusForbidden)
		return
	}
	switch {
	case r.ContentLength < 0:
		http.Error(w, "Content-Length required", http.StatusLengthRequired)
		return
	case r.ContentLength != m.Size:
		http.Error(w, fmt.Sprintf("Content-Length must be %d, the size requested for this slot", m.Size), http.StatusBadRequest)
		return
	}
	if m.Type != "" && !sameMediaType(r.Header.Get("Content-Type"), m.Type) {
		http.Error(w, "Content-Type must be "+m.Type+", the type requested for this slot", http.StatusUnsupportedMediaType)
		return
	}
	e.mu.Lock()
	if e.putting[id] {
		e.mu.Unlock()
		http.Error(w, "an upload to this slot is in progress", http.StatusConflict)
		return
	}
	e.putting[id] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.putting, id)
		e.mu.Unlock()
	}()

	status, msg := e.receive(w, r, id, m)
	if status != http.StatusCreated {
		http.Error(w, msg, status)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// receive streams the body into a temporary file, at most the declared
// size, and moves it into place.
func (e *Extension) receive(w http.ResponseWriter, r *http.Request, id string, m fileMeta) (int, string) {
	f, err := os.CreateTemp(e.dir, id+"-*.tmp")
	if err != nil {
		e.log.Error("creating upload file failed", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	body := &deadlineReader{r: io.LimitReader(r.Body, m.Size+1), rc: http.NewResponseController(w)}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), body)
	if err != nil {
		e.log.Info("upload cut short", "id", id, "owner", m.Owner, "received", n, "err", err)
		return http.StatusBadRequest, "upload incomplete"
	}
	if n != m.Size {
		return http.StatusBadRequest, fmt.Sprintf("body must be %d bytes", m.Size)
	}
	if err := f.Sync(); err != nil {
		e.log.Error("writing upload file failed", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	if err := f.Close(); err != nil {
		e.log.Error("writing upload file failed", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	if err := os.Rename(tmp, e.path(id)); err != nil {
		e.log.Error("storing upload file failed", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	tmp = ""
	e.uploadedBytes.Add(uint64(n))
	m.SHA256 = base64.StdEncoding.EncodeToString(sum.Sum(nil))
	e.analyze(r.Context(), id, &m)
	m.Uploaded = time.Now()
	val, err := m.encode()
	if err == nil {
		err = e.db.KV(storeFiles).Put(id, val)
	}
	if err != nil {
		_ = os.Remove(e.path(id))
		_ = os.Remove(e.thumbPath(id))
		e.log.Error("recording upload failed", "id", id, "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	e.log.Info("file uploaded", "id", id, "owner", m.Owner, "size", m.Size, "type", m.Type,
		"width", m.Width, "height", m.Height, "length_ms", m.Length, "thumbnail", m.Thumb != nil)
	return http.StatusCreated, ""
}

// deadlineReader gives each read of a request body bodyReadTimeout.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	return d.r.Read(p)
}

func sameMediaType(got, want string) bool {
	g, _, err1 := mime.ParseMediaType(got)
	w, _, err2 := mime.ParseMediaType(want)
	return err1 == nil && err2 == nil && g == w
}

// inline reports whether a browser may show a file of media type mt in
// place: images (but not SVG, which runs scripts), audio and video.
func inline(mt string) bool {
	switch {
	case mt == "image/svg+xml":
		return false
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"):
		return true
	}
	return false
}

func (h getHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	id, m, ok := e.lookup(w, r)
	if !ok {
		return
	}
	now := time.Now()
	if m.Uploaded.IsZero() || e.expired(m, now) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(e.path(id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		e.log.Error("opening upload failed", "id", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	ctype := m.Type
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	disp := "attachment"
	if inline(mt) {
		disp = "inline"
	}
	e.safeHeaders(w, m, now, ctype, disp, `"`+id+`"`)
	http.ServeContent(w, r, "", m.Uploaded, f)
}

// safeHeaders sets the headers of a file (or its thumbnail) served as
// ctype: the disposition with the file's name, no sniffing, a sandbox,
// caching up to the file's expiry.
func (e *Extension) safeHeaders(w http.ResponseWriter, m fileMeta, now time.Time, ctype, disp, etag string) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	if cd := mime.FormatMediaType(disp, map[string]string{"filename": m.Name}); cd != "" {
		disp = cd
	}
	hd.Set("Content-Disposition", disp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	left := m.Uploaded.Add(e.Config.ExpireAfter.Duration).Sub(now)
	hd.Set("Cache-Control", fmt.Sprintf("private, max-age=%d, immutable", int64(left/time.Second)))
	hd.Set("ETag", etag)
}
