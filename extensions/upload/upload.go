// Package upload implements XEP-0363 HTTP File Upload
// (urn:xmpp:http:upload:0) on the core's HTTP listener.
//
// The service is a component at [upload] domain (default
// "upload.<domain>"), listed in the server's disco#items. It answers
//
//   - disco#info: identity store/file, the feature urn:xmpp:http:upload:0
//     and the XEP-0128 form with max-file-size (XEP-0363 §3);
//   - disco#items: empty;
//   - <request xmlns='urn:xmpp:http:upload:0' filename size
//     content-type/> (IQ get) from local users: a slot with a PUT and a GET
//     URL under [http] public_url, /upload/<id>/<name>, where id is 128
//     random bits in hex and name the declared file name made URL-safe
//     (only metadata: on disk the file is <data_dir>/uploads/<id>). A file
//     larger than max_file_size gets modify/not-acceptable with
//     <file-too-large><max-file-size/></file-too-large>; one that would
//     take the user beyond user_quota gets wait/resource-constraint with a
//     text. Slots not yet uploaded count towards the quota until they
//     expire.
//
// HTTP (Registrar.HandleHTTP):
//
//   - PUT /upload/{id}/{name}?expires=…&sig=…: the signature is an
//     HMAC-SHA256 (key kept in the store) over the slot's id, name, owner,
//     size, content type and expiry, so a URL cannot be altered or made up.
//     Bad or missing signature, or a PUT after the slot's expiry
//     (Extension.SlotTTL, 5 minutes), is 403; a second PUT to a slot (or
//     one while another runs) 409; a Content-Length other than the declared
//     size 400 (411 without one); a Content-Type other than the declared
//     one 415. The body is streamed to a temporary file in the upload
//     directory, never more than the declared size, and renamed into place
//     when complete: 201.
//   - GET and HEAD /upload/{id}/{name}: the file with its declared
//     Content-Type (application/octet-stream if none), Content-Disposition
//     inline for images, audio and video and attachment for everything
//     else (SVG and HTML always as attachments), X-Content-Type-Options:
//     nosniff, a sandboxing Content-Security-Policy, Cache-Control up to
//     the file's expiry, ETag/Last-Modified and Range requests
//     (http.ServeContent). Anything unknown, not uploaded yet or expired
//     is 404.
//
// After a PUT's body is complete and before its 201, the file's content
// is read (media.go): JPEG, PNG, GIF and WebP images get their size and a
// thumbnail (thumbs.go: at most ThumbSize×ThumbSize, JPEG or PNG, served
// at GET /upload/{id}/{name}/thumb with the same safe headers; an image
// whose header claims more than max_image_pixels is never decoded);
// Ogg Opus/Vorbis, MP4/M4A, WebM and MP3 files get their duration, MP4
// video its picture size (duration.go, small bounded parsers); every file
// its SHA-256.
//
// Clients learn this metadata from their messages (metadata.go): when a
// local user's chat, normal or groupchat message shares the GET URL of a
// file that user uploaded (as XEP-0066 OOB or as the whole body) and
// carries no file metadata of its own, a MessageOut hook at
// PriorityRewrite adds a XEP-0447 <file-sharing xmlns='urn:xmpp:sfs:0'>
// with the XEP-0446 <file xmlns='urn:xmpp:file:metadata:0'> (media-type,
// name, date, size, width, height, length in ms, SHA-256 hash, XEP-0264
// <thumbnail xmlns='urn:xmpp:thumbs:1' uri media-type width height/>) and
// <sources><url-data target='URL'/></sources>, so recipients, carbons and
// the archives get it. A local user may also ask the service (IQ get,
// feature urn:xmpp:sfs:0 in its disco#info) with
// <file-sharing xmlns='urn:xmpp:sfs:0'><sources><url-data target='URL'/>
// </sources></file-sharing>; the result is the same element.
//
// Files are deleted expire_after (default 720h) after their upload by a
// periodic sweep (expire_after/10, between a minute and an hour), which
// also drops slots never uploaded; an account's files go when it is
// deleted; a retracted or moderated message's files go if its author
// uploaded them (MessageRetracted, retract.go); an operator deletes any
// (admin.go). A file always goes with its thumbnail.
//
// Config [upload]: domain, max_file_size (default "100MB"), user_quota
// (default "1GB"), expire_after (default "720h"), max_image_pixels
// (default 40000000; 0: no thumbnails).
//
// Store: KV "upload/files" (id → JSON metadata: owner, name, size, type,
// slot time, PUT expiry, upload time, SHA-256, picture size, duration,
// thumbnail), Map "upload/owned" (owner → id → size, the quota's ledger),
// KV "upload/secret" (the HMAC key). Files: <data_dir>/uploads/<id> and
// <id>.thumb.
//
// Guests (web visitors on [enquiry] guest_domain) may request slots too;
// their files stay when their session ends (the enquiry room's archive
// links to them) and expire like any other.
//
// Hooks: AccountDeleted, MessageOut (PriorityRewrite), MessageRetracted.
// Admin commands: upload.usage (jid: one user, or everyone with uploads),
// upload.delete (file: an id or a URL).
package upload

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// NS is the XEP-0363 namespace.
const NS = "urn:xmpp:http:upload:0"

const (
	nsDiscoInfo  = xmppd.NSDiscoInfo
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

// Store names.
const (
	storeFiles  = "upload/files"
	storeOwned  = "upload/owned"
	storeSecret = "upload/secret"
)

// Defaults of the [upload] table.
const (
	DefaultMaxFileSize = 100 * config.MB
	DefaultUserQuota   = 1 * config.GB
	DefaultExpireAfter = 720 * time.Hour
	DefaultSlotTTL     = 5 * time.Minute
	// DefaultMaxImagePixels: a 40 megapixel image decodes into 160 MB.
	DefaultMaxImagePixels = 40_000_000
	DefaultThumbWorkers   = 2
)

// Config is the [upload] table.
type Config struct {
	// Domain of the service; "" means "upload.<domain>".
	Domain string `toml:"domain"`
	// MaxFileSize bounds one file.
	MaxFileSize config.Size `toml:"max_file_size"`
	// UserQuota bounds the total size of one user's files.
	UserQuota config.Size `toml:"user_quota"`
	// ExpireAfter is how long a file is kept after its upload.
	ExpireAfter config.Duration `toml:"expire_after"`
	// MaxImagePixels bounds the images (width × height) thumbnails are
	// made of; 0 makes none.
	MaxImagePixels int64 `toml:"max_image_pixels"`
}

// Extension is the upload service.
type Extension struct {
	// Config holds the defaults until Register decodes [upload] over it;
	// tests may change it before the server is built.
	Config Config
	// SlotTTL is how long a slot's PUT URL is valid (not a config key;
	// tests shorten it).
	SlotTTL time.Duration
	// ThumbWorkers bounds the images decoded at once (not a config key).
	ThumbWorkers int

	srv *xmppd.Server
	log *slog.Logger
	db  *store.DB
	// uploadedBytes counts the bytes of completed uploads (/metrics).
	uploadedBytes *xmppd.Counter
	domain        string
	baseURL       string // public_url + "/upload/"
	dir           string // <data_dir>/uploads
	secret        []byte

	mu      sync.Mutex
	putting map[string]bool // ids with a PUT in progress

	thumbSem chan struct{} // one token per image being decoded

	sweeper xmppd.Periodic
}

var _ xmppd.Extension = (*Extension)(nil)

// New returns the upload extension.
func New() *Extension {
	return &Extension{
		Config: Config{
			MaxFileSize:    DefaultMaxFileSize,
			UserQuota:      DefaultUserQuota,
			ExpireAfter:    config.Duration{Duration: DefaultExpireAfter},
			MaxImagePixels: DefaultMaxImagePixels,
		},
		SlotTTL:      DefaultSlotTTL,
		ThumbWorkers: DefaultThumbWorkers,
		putting:      make(map[string]bool),
	}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "upload" }

// Domain returns the service's domain (after Register).
func (e *Extension) Domain() string { return e.domain }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	c := &e.Config
	if err := r.Config("upload", c); err != nil {
		return err
	}
	if c.Domain == "" {
		c.Domain = "upload." + r.Domain()
	}
	d, err := xmppd.ParseJID(c.Domain)
	if err != nil || d.Local != "" || d.Resource != "" {
		return fmt.Errorf("upload.domain: %q is not a domain name", c.Domain)
	}
	if c.MaxFileSize <= 0 {
		return fmt.Errorf("upload.max_file_size must be larger than 0, got %s", c.MaxFileSize)
	}
	if c.UserQuota < c.MaxFileSize {
		return fmt.Errorf("upload.user_quota (%s) must be at least upload.max_file_size (%s)", c.UserQuota, c.MaxFileSize)
	}
	if c.ExpireAfter.Duration <= 0 {
		return fmt.Errorf("upload.expire_after must be longer than 0, got %s", c.ExpireAfter.Duration)
	}
	if c.MaxImagePixels < 0 {
		return fmt.Errorf("upload.max_image_pixels must be 0 (no thumbnails) or more, got %d", c.MaxImagePixels)
	}
	if e.SlotTTL <= 0 {
		e.SlotTTL = DefaultSlotTTL
	}
	e.thumbSem = make(chan struct{}, max(e.ThumbWorkers, 1))
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.domain = d.Domain
	e.baseURL = strings.TrimSuffix(e.srv.Config().HTTP.PublicURL, "/") + "/upload/"
	if e.uploadedBytes, err = r.Counter("xmppd_upload_bytes_total", "Bytes of completed HTTP uploads."); err != nil {
		return err
	}
	e.dir = e.srv.DataPath("uploads")
	if err := r.HandleDomain(e.domain, e); err != nil {
		return err
	}
	// Web visitors (guests) share files in their enquiry room.
	r.OpenToGuests(e.domain)
	for _, rt := range e.routes() {
		if err := r.HandleHTTP(rt.pattern, rt.h); err != nil {
			return err
		}
	}
	xmppd.Hook(r, xmppd.AccountDeleted, xmppd.PriorityDeliver, e.accountDeleted)
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityRewrite, e.attachMetadata)
	xmppd.Hook(r, xmppd.MessageRetracted, xmppd.PriorityDeliver, e.retracted)
	return e.registerAdmin(r)
}

// Start implements xmppd.Starter: it prepares the upload directory and
// the signing key, and starts the expiry sweep.
func (e *Extension) Start(context.Context) error {
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return fmt.Errorf("upload directory: %w", err)
	}
	// Temporary files of uploads cut short by a crash.
	if tmps, err := filepath.Glob(filepath.Join(e.dir, "*.tmp")); err == nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	e.dropOrphanThumbs()
	secret, err := e.loadSecret()
	if err != nil {
		return err
	}
	e.secret = secret
	interval := min(max(e.Config.ExpireAfter.Duration/10, time.Minute), time.Hour)
	e.sweeper.Start(interval, e.Sweep)
	return nil
}

// Stop implements xmppd.Stopper: it ends the sweep.
func (e *Extension) Stop(ctx context.Context) error { return e.sweeper.Stop(ctx) }

// loadSecret returns the HMAC key, making one on first start.
func (e *Extension) loadSecret() ([]byte, error) {
	var secret []byte
	err := e.db.Update(func(tx *store.Tx) error {
		kv := tx.KV(storeSecret)
		b, err := kv.Get("hmac")
		if err == nil && len(b) >= 32 {
			secret = b
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		return kv.Put("hmac", secret)
	})
	if err != nil {
		return nil, fmt.Errorf("upload signing key: %w", err)
	}
	return secret, nil
}

// HandleStanza implements xmppd.DomainHandler.
func (e *Extension) HandleStanza(p *xmppd.Packet) {
	if p.Kind() != "iq" {
		return // messages and presence: nothing to do
	}
	e.srv.AnswerIQ(p, func(iq *xmppd.IQ) (*wire.Element, error) {
		q := iq.Payload
		switch {
		case p.To.Local != "" || p.To.Resource != "":
			return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "the upload service has no entities")
		case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoInfo:
			return e.discoInfo(q)
		case p.Type() == "get" && q.Name == "query" && q.NS == nsDiscoItems:
			return wire.NewElement("query", nsDiscoItems), nil
		case p.Type() == "get" && q.Name == "request" && q.NS == NS:
			return e.requestSlot(p, q)
		case p.Type() == "get" && q.Name == "file-sharing" && q.NS == nsSFS:
			return e.describe(p, q)
		}
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ServiceUnavailable, "")
	})
}

func (e *Extension) discoInfo(q *wire.Element) (*wire.Element, error) {
	if q.Attr("node") != "" {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such node")
	}
	res := xmppd.DiscoInfo(xmppd.Identity{Category: "store", Type: "file", Name: "HTTP File Upload"},
		nsDiscoItems, NS, nsSFS)
	res.Append(dataform.New("result", NS).
		Field("max-file-size", "", "", strconv.FormatInt(int64(e.Config.MaxFileSize), 10)).Element())
	return res, nil
}

// requestSlot answers a slot request (XEP-0363 §4, §5).
func (e *Extension) requestSlot(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	if (!e.srv.IsLocal(p.From) && !e.srv.IsGuest(p.From)) || p.From.Local == "" {
		return nil, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only users of "+e.srv.Domain()+" and its web visitors may upload")
	}
	req, err := parseSlotRequest(q, e.Config.MaxFileSize)
	if err != nil {
		return nil, err
	}
	name, size, ctype := req.name, req.size, req.ctype
	now := time.Now()
	m := fileMeta{
		Owner:   p.From.Bare().String(),
		Name:    name,
		Slug:    slug(name),
		Size:    size,
		Type:    ctype,
		Created: now,
		Expires: now.Add(e.SlotTTL),
	}
	id := newID()
	if err := e.reserve(id, m); err != nil {
		return nil, err
	}
	getURL := e.baseURL + id + "/" + url.PathEscape(m.Slug)
	v := url.Values{}
	v.Set("expires", strconv.FormatInt(m.Expires.UnixMilli(), 10))
	v.Set("sig", e.sign(id, m, m.Expires.UnixMilli()))
	return wire.NewElement("slot", NS).Append(
		wire.NewElement("put", NS, wire.Attr{Name: "url", Value: getURL + "?" + v.Encode()}),
		wire.NewElement("get", NS, wire.Attr{Name: "url", Value: getURL}),
	), nil
}

// slotRequest is a checked XEP-0363 <request/>.
type slotRequest struct {
	name  string
	size  int64
	ctype string // normalised media type; "" when none was given
}

// parseSlotRequest checks a slot request's filename, size (at most
// maxFileSize) and content-type (XEP-0363 §4, §5).
func parseSlotRequest(q *wire.Element, maxFileSize config.Size) (slotRequest, error) {
	name := q.Attr("filename")
	if strings.TrimSpace(name) == "" || len(name) > 1024 {
		return slotRequest{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "the filename attribute is missing or too long")
	}
	size, err := strconv.ParseInt(q.Attr("size"), 10, 64)
	if err != nil || size <= 0 {
		return slotRequest{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "the size attribute must be a positive number of bytes")
	}
	if size > int64(maxFileSize) {
		max := strconv.FormatInt(int64(maxFileSize), 10)
		return slotRequest{}, xmppd.AppError{
			Err: xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable,
				"file too large: the largest allowed is "+maxFileSize.String()+" ("+max+" bytes)"),
			App: wire.NewElement("file-too-large", NS).Append(wire.NewElement("max-file-size", NS).SetText(max)),
		}
	}
	ctype := ""
	if ct := q.Attr("content-type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || !strings.Contains(mt, "/") {
			return slotRequest{}, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "content-type "+strconv.Quote(ct)+" is not a media type")
		}
		ctype = mime.FormatMediaType(mt, params)
	}
	return slotRequest{name: name, size: size, ctype: ctype}, nil
}

// reserve stores a new slot if the owner's quota allows it.
func (e *Extension) reserve(id string, m fileMeta) error {
	val, err := m.encode()
	if err != nil {
		return err
	}
	return e.db.Update(func(tx *store.Tx) error {
		used, err := usage(tx.Map(storeOwned), m.Owner)
		if err != nil {
			return err
		}
		if used+m.Size > int64(e.Config.UserQuota) {
			return xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint, fmt.Sprintf(
				"upload quota exceeded: %s of %s in use, this file needs %s more",
				config.Size(used), e.Config.UserQuota, config.Size(m.Size)))
		}
		if err := tx.KV(storeFiles).Put(id, val); err != nil {
			return err
		}
		return tx.Map(storeOwned).Put(m.Owner, id, []byte(strconv.FormatInt(m.Size, 10)))
	})
}

// usage sums the sizes of owner's files and open slots.
func usage(m store.TxMap, owner string) (int64, error) {
	var used int64
	err := m.All(owner, func(_ string, v []byte) error {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		used += n
		return nil
	})
	return used, err
}

// Usage returns the bytes owner's files (and open slots) take.
func (e *Extension) Usage(owner xmppd.JID) (int64, error) {
	var used int64
	err := e.db.View(func(tx *store.Tx) error {
		var err error
		used, err = usage(tx.Map(storeOwned), owner.Bare().String())
		return err
	})
	return used, err
}

// newID is 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b[:])
}

// validID reports whether id can be one newID made: 32 lower-case hex
// digits, so it never names anything outside the upload directory.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// slug makes a file name safe as one URL path segment: letters, digits,
// '.', '-' and '_' stay, everything else becomes '_', no leading dot, at
// most 100 bytes (the extension kept).
func slug(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == '.' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), "._")
	if len(s) > 100 {
		ext := filepath.Ext(s)
		if len(ext) > 20 {
			ext = ""
		}
		cut := 100 - len(ext)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + ext
	}
	if s == "" {
		s = "file"
	}
	return s
}

// accountDeleted drops the account's files. A web visitor's (a guest's,
// whose JID goes when its session ends) stay until they expire: their
// links live on in the enquiry room's archive.
func (e *Extension) accountDeleted(j xmppd.JID) xmppd.Verdict {
	if e.srv.IsGuest(j) {
		return xmppd.Pass
	}
	owner := j.Bare().String()
	var ids []string
	if err := e.db.Map(storeOwned).All(owner, func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		e.log.Error("listing uploads of deleted account failed", "jid", owner, "err", err)
	}
	for _, id := range ids {
		if err := e.remove(id, owner); err != nil {
			e.log.Error("deleting upload of deleted account failed", "jid", owner, "id", id, "err", err)
		}
	}
	return xmppd.Pass
}
