package upload_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"github.com/xmppd/xmppd/xmppd/config"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/carbons"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// withBob starts the service (and more) with bob online.
func withBob(t *testing.T, more []xmppd.Extension, configure ...func(*upload.Extension)) (*env, *xmppdtest.Client) {
	t.Helper()
	e := startWith(t, more, configure...)
	e.srv.AddUser(t, "bob", "bob-pw")
	bob := e.srv.Login(t, "bob", "bob-pw")
	bob.Available()
	return e, bob
}

func b64sha256(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// TestThumbnails: a real JPEG, PNG (with transparency), GIF and WebP get
// a thumbnail that decodes and fits 256×256 with the image's aspect
// ratio, advertised in the metadata added to the message sharing them
// and served with the file's safe headers.
func TestThumbnails(t *testing.T) {
	e, bob := withBob(t, nil)
	for _, tc := range []struct {
		name, ctype    string
		data           []byte
		w, h           int
		thumbFormat    string
		thumbW, thumbH int
	}{
		{"photo.jpg", "image/jpeg", jpegFile(t, 640, 480), 640, 480, "jpeg", 256, 192},
		{"logo.png", "image/png", pngFile(t, 300, 600, true), 300, 600, "png", 128, 256},
		{"tiny.gif", "image/gif", gifFile(t, 100, 50), 100, 50, "jpeg", 100, 50},
		{"banner.webp", "image/webp", webpFile(1000, 10), 1000, 10, "jpeg", 256, 2},
	} {
		m, public := e.share(t, bob, tc.name, tc.ctype, tc.data)
		if m.mediaType != tc.ctype || m.name != tc.name || m.size != len(tc.data) || m.width != tc.w || m.height != tc.h ||
			m.hash != b64sha256(tc.data) || m.target != public {
			t.Errorf("%s: metadata %s", tc.name, m.el)
		}
		if m.thumbURI != public+"/thumb" || m.thumbType != "image/"+tc.thumbFormat || m.thumbW != tc.thumbW || m.thumbH != tc.thumbH {
			t.Errorf("%s: thumbnail %s %s %dx%d, want %s/thumb image/%s %dx%d", tc.name, m.thumbURI, m.thumbType, m.thumbW, m.thumbH,
				public, tc.thumbFormat, tc.thumbW, tc.thumbH)
			continue
		}
		img, format, res := e.thumbnail(t, m.thumbURI)
		if b := img.Bounds(); format != tc.thumbFormat || b.Dx() != tc.thumbW || b.Dy() != tc.thumbH || b.Dx() > upload.ThumbSize || b.Dy() > upload.ThumbSize {
			t.Errorf("%s: thumbnail is a %dx%d %s", tc.name, b.Dx(), b.Dy(), format)
		}
		if res.Header.Get("Content-Type") != m.thumbType || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline; filename="+strings.TrimSuffix(tc.name, filepath.Ext(tc.name))+"-thumb."+strings.Replace(tc.thumbFormat, "jpeg", "jpg", 1)) ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s: thumbnail headers %v", tc.name, res.Header)
		}
	}
	if n := len(thumbFiles(t, e)); n != 4 {
		t.Errorf("%d thumbnails on disk, want 4", n)
	}
}

// TestImageBombs: images whose headers claim more than max_image_pixels
// are never decoded: the upload succeeds and is served, the metadata
// tells the claimed size, and there is no thumbnail.
func TestImageBombs(t *testing.T) {
	e, bob := withBob(t, nil)
	before := memAllocated()
	for _, tc := range []struct {
		name, ctype string
		data        []byte
		w, h        int
	}{
		{"bomb.png", "image/png", pngBomb(100000, 100000), 100000, 100000},
		{"bomb.webp", "image/webp", webpFile(16384, 16384), 16384, 16384},
	} {
		m, public := e.share(t, bob, tc.name, tc.ctype, tc.data)
		if m.width != tc.w || m.height != tc.h || m.thumbURI != "" {
			t.Errorf("%s: metadata %s", tc.name, m.el)
		}
		if b := wantStatus(t, do(t, "GET", e.local(public), nil), http.StatusOK); len(b) != len(tc.data) {
			t.Errorf("%s: GET returned %d bytes", tc.name, len(b))
		}
		wantStatus(t, do(t, "GET", e.local(public)+"/thumb", nil), http.StatusNotFound)
	}
	if grew := memAllocated() - before; grew > 64<<20 {
		t.Errorf("uploading two image bombs allocated %d MB", grew>>20)
	}
	if files := thumbFiles(t, e); len(files) != 0 {
		t.Errorf("thumbnails made: %v", files)
	}

	// Broken images: served, described, no thumbnail.
	broken := append(jpegFile(t, 64, 64)[:200], make([]byte, 300)...)
	m, _ := e.share(t, bob, "broken.jpg", "image/jpeg", broken)
	if m.thumbURI != "" || m.size != len(broken) {
		t.Errorf("broken JPEG: %s", m.el)
	}
}

// TestMaxImagePixels: upload.max_image_pixels bounds the images
// thumbnailed (0: none at all).
func TestMaxImagePixels(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		name  string
		data  []byte
		thumb bool
	}{
		{640*480 - 1, "photo.jpg", jpegFile(t, 640, 480), false},
		{0, "photo.jpg", jpegFile(t, 640, 480), false},
		// 16-bit colour counts double.
		{640*480*2 - 1, "deep.png", png16File(t, 640, 480), false},
		{640*480*2 - 1, "flat.png", pngFile(t, 640, 480, false), true},
	} {
		e, bob := withBob(t, nil, func(x *upload.Extension) { x.Config.MaxImagePixels = tc.limit })
		m, _ := e.share(t, bob, tc.name, "image/png", tc.data)
		if (m.thumbURI != "") != tc.thumb || m.width != 640 {
			t.Errorf("limit %d, %s: %s", tc.limit, tc.name, m.el)
		}
	}
	path := filepath.Join(t.TempDir(), "xmppd.toml")
	if err := os.WriteFile(path, []byte("[upload]\nmax_image_pixels = -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{upload.New()}})
	if err == nil {
		srv.Close()
		t.Fatal("max_image_pixels = -1 accepted")
	}
	if !strings.Contains(err.Error(), "upload.max_image_pixels") {
		t.Fatalf("error does not name the key: %v", err)
	}
}

// TestDurations: audio and video upload like any file, and the metadata
// carries their length (and a video's picture size) read from the
// container: Ogg Opus and Vorbis, MP4 and M4A (moov at the end, version 0
// and 1 boxes), WebM, MP3 with an Info frame and plain CBR.
func TestDurations(t *testing.T) {
	e, bob := withBob(t, nil)
	for _, tc := range []struct {
		name, ctype   string
		data          []byte
		min, max      int // length in ms
		width, height int
	}{
		{"voice.ogg", "audio/ogg", opusFile(3500), 3500, 3500, 0, 0},
		{"song.oga", "audio/ogg", vorbisFile(44100, 441000), 10000, 10000, 0, 0},
		{"clip.mp4", "video/mp4", mp4File(1000, 61500, 640, 360, false), 61500, 61500, 640, 360},
		{"voice.m4a", "audio/mp4", mp4File(44100, 441000, 0, 0, true), 10000, 10000, 0, 0},
		{"clip.webm", "video/webm", webmFile(4250), 4250, 4250, 0, 0},
		{"vbr.mp3", "audio/mpeg", mp3File(20, 500), 13061, 13061, 0, 0},
		// CBR: estimated from the size (100 × 1152 samples = 2612 ms).
		{"cbr.mp3", "audio/mpeg", mp3File(100, 0), 2590, 2620, 0, 0},
	} {
		m, _ := e.share(t, bob, tc.name, tc.ctype, tc.data)
		if m.length < tc.min || m.length > tc.max || m.width != tc.width || m.height != tc.height || m.mediaType != tc.ctype || m.thumbURI != "" {
			t.Errorf("%s: length %d ms (want %d..%d), %dx%d: %s", tc.name, m.length, tc.min, tc.max, m.width, m.height, m.el)
		}
	}
	// Truncated or made-up containers upload fine, with no length.
	for name, data := range map[string][]byte{
		"cut.mp4":  mp4File(1000, 61500, 640, 360, false)[:5100],
		"cut.ogg":  opusFile(3500)[:40],
		"junk.mp3": append([]byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f"), make([]byte, 50)...),
		"cut.webm": webmFile(4250)[:30],
	} {
		m, _ := e.share(t, bob, name, "application/octet-stream", data)
		if m.length != 0 || m.size != len(data) {
			t.Errorf("%s: %s", name, m.el)
		}
	}
}

// mamFiles returns the <file-sharing/> of the messages in c's archive.
func mamFiles(t *testing.T, c *xmppdtest.Client) []fileMeta {
	t.Helper()
	c.Send("<iq type='set' id='mamq'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>")
	var out []fileMeta
	for {
		el := c.Next(5 * time.Second)
		if el.Name == "iq" && el.Attr("id") == "mamq" {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query: %s", el)
			}
			return out
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); el.Name == "message" && r != nil {
			out = append(out, parseMeta(t, r.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")))
		}
	}
}

// TestMetadataArchived: the metadata the server adds reaches the
// recipient, the sender's other devices (carbons) and both users'
// archives; it is added only for the uploader's own files shared as the
// whole body or as OOB, and never over metadata the client sent.
func TestMetadataArchived(t *testing.T) {
	e, bob := withBob(t, []xmppd.Extension{mam.New(), carbons.New()})
	phone, err := e.srv.Dial(t, "alice", "alice-pw", xmppdtest.DialOptions{Resource: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	phone.Available()
	if res := phone.IQ("set", "", "<enable xmlns='urn:xmpp:carbons:2'/>"); res.Attr("type") != "result" {
		t.Fatalf("carbons: %s", res)
	}
	m, public := e.share(t, bob, "cat.jpg", "image/jpeg", jpegFile(t, 320, 240))
	if m.width != 320 || m.thumbURI == "" {
		t.Fatalf("metadata %s", m.el)
	}
	// alice's other device gets the same in its carbon copy.
	sent := phone.Expect("sent carbon", xmppdtest.HasChild("sent", "urn:xmpp:carbons:2"))
	copied := sent.Child("sent", "urn:xmpp:carbons:2").Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client")
	if cm := parseMeta(t, copied); cm.el != m.el {
		t.Errorf("carbon copy has %s, want %s", cm.el, m.el)
	}
	for _, c := range []*xmppdtest.Client{bob, e.alice} {
		if got := mamFiles(t, c); len(got) != 1 || got[0].el != m.el {
			t.Errorf("%s's archive has %+v, want %s", c.JID, got, m.el)
		}
	}

	noMeta := func(from, to *xmppdtest.Client, toJID, id, payload string) {
		t.Helper()
		from.Sendf("<message to='%s' type='chat' id='%s'>%s</message>", toJID, id, payload)
		msg := to.Expect("message "+id, func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == id })
		if n := len(msg.ChildrenNamed("file-sharing", "urn:xmpp:sfs:0")); n != 0 {
			t.Errorf("%s: %d <file-sharing/> added: %s", id, n, msg)
		}
	}
	e.alice.Available()
	// Someone else's file.
	noMeta(bob, e.alice, "alice@localhost", "foreign", "<body>"+public+"</body>")
	// A URL inside a sentence, or a made-up one.
	noMeta(e.alice, bob, "bob@localhost", "sentence", "<body>look at "+public+" please</body>")
	noMeta(e.alice, bob, "bob@localhost", "madeup", "<body>"+public+"x</body>")
	noMeta(e.alice, bob, "bob@localhost", "wrongname", "<body>"+public[:strings.LastIndex(public, "/")]+"/dog.jpg</body>")
	// The client's own metadata stays alone.
	e.alice.Send("<message to='bob@localhost' type='chat' id='own'><body>" + public + "</body>" +
		"<file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'><name>mine</name></file></file-sharing></message>")
	msg := bob.Expect("own metadata", func(el *wire.Element) bool { return el.Attr("id") == "own" })
	if fs := msg.ChildrenNamed("file-sharing", "urn:xmpp:sfs:0"); len(fs) != 1 || !strings.Contains(fs[0].String(), "mine") {
		t.Errorf("client metadata changed: %s", msg)
	}
}

// TestRetraction: a retracted message's files are deleted with their
// thumbnails, but only those its author uploaded.
func TestRetraction(t *testing.T) {
	e, bob := withBob(t, nil)
	m, public := e.share(t, bob, "oops.png", "image/png", pngFile(t, 400, 300, false))
	kept := pngFile(t, 40, 30, false)
	_, other := e.share(t, bob, "keep.png", "image/png", kept)
	alice, _ := xmppd.ParseJID("alice@localhost")
	bobJID, _ := xmppd.ParseJID("bob@localhost")

	// bob's retraction cannot take alice's file.
	xmppd.RunHook(e.srv.Server, xmppd.MessageRetracted, &xmppd.RetractedEvent{Sender: bobJID, By: bobJID, URLs: []string{public}})
	wantStatus(t, do(t, "GET", e.local(public), nil), http.StatusOK)

	// A moderator removed alice's message: her file goes, with its thumbnail.
	xmppd.RunHook(e.srv.Server, xmppd.MessageRetracted, &xmppd.RetractedEvent{
		Sender: alice, By: bobJID, URLs: []string{"https://elsewhere.example/x.png", public, public + "/thumb"}})
	wantStatus(t, do(t, "GET", e.local(public), nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", e.local(m.thumbURI), nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", e.local(other), nil), http.StatusOK)
	if files := thumbFiles(t, e); len(files) != 1 {
		t.Errorf("thumbnails left: %v", files)
	}
	if used := e.usage(t); used != int64(len(kept)) {
		t.Errorf("usage after retraction: %d, want %d", used, len(kept))
	}
}

// TestAdminCommands: upload.usage per user and for everyone, and
// upload.delete by URL and by id, with the thumbnail and the ledger.
func TestAdminCommands(t *testing.T) {
	e, bob := withBob(t, nil)
	ctx := context.Background()
	jpg := jpegFile(t, 300, 300)
	m, public := e.share(t, bob, "a.jpg", "image/jpeg", jpg)
	_, second := e.share(t, bob, "b.bin", "application/octet-stream", content(1000))
	e.slot(t, "pending.bin", 500, "")

	usage := func(jid string) []upload.Usage {
		t.Helper()
		res, err := e.srv.AdminCommand(ctx, "upload.usage", map[string]string{"jid": jid})
		if err != nil {
			t.Fatal(err)
		}
		return res.([]upload.Usage)
	}
	want := upload.Usage{JID: "alice@localhost", Files: 2, Pending: 1, Bytes: int64(len(jpg) + 1500), Quota: 2000000}
	if u := usage("alice"); len(u) != 1 || u[0] != want {
		t.Errorf("usage alice: %+v, want %+v", u, want)
	}
	if u := usage(""); len(u) != 1 || u[0] != want {
		t.Errorf("usage of all: %+v", u)
	}
	if u := usage("bob@localhost"); len(u) != 1 || u[0].Files != 0 || u[0].Bytes != 0 {
		t.Errorf("usage bob: %+v", u)
	}
	if _, err := e.srv.AdminCommand(ctx, "upload.usage", map[string]string{"jid": "eve@elsewhere.example"}); err == nil {
		t.Error("usage of a foreign JID accepted")
	}

	res, err := e.srv.AdminCommand(ctx, "upload.delete", map[string]string{"file": public})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.(upload.Deleted); d.Owner != "alice@localhost" || d.Name != "a.jpg" || d.Size != int64(len(jpg)) {
		t.Errorf("deleted %+v", d)
	}
	wantStatus(t, do(t, "GET", e.local(public), nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", e.local(m.thumbURI), nil), http.StatusNotFound)
	if files := thumbFiles(t, e); len(files) != 0 {
		t.Errorf("thumbnail left: %v", files)
	}
	id := strings.Split(strings.TrimPrefix(second, e.srv.Config.HTTP.PublicURL+"/upload/"), "/")[0]
	if _, err := e.srv.AdminCommand(ctx, "upload.delete", map[string]string{"file": id}); err != nil {
		t.Fatal(err)
	}
	if u := usage("alice"); u[0].Files != 0 || u[0].Pending != 1 || u[0].Bytes != 500 {
		t.Errorf("usage after deletes: %+v", u)
	}
	for arg, want := range map[string]string{
		id:                     "no file",
		"../../xmppd.db":       "neither",
		"":                     "neither",
		"http://x/upload/zz/a": "neither",
	} {
		if _, err := e.srv.AdminCommand(ctx, "upload.delete", map[string]string{"file": arg}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("delete %q: %v, want an error with %q", arg, err, want)
		}
	}
}

// TestThumbnailLifecycle: a thumbnail goes with its file when the file
// expires and when its owner's account is deleted.
func TestThumbnailLifecycle(t *testing.T) {
	e, bob := withBob(t, nil)
	m, _ := e.share(t, bob, "old.jpg", "image/jpeg", jpegFile(t, 64, 64))
	if m.thumbURI == "" || len(thumbFiles(t, e)) != 1 {
		t.Fatalf("no thumbnail: %s", m.el)
	}
	e.ext.Config.ExpireAfter.Duration = time.Nanosecond
	wantStatus(t, do(t, "GET", e.local(m.thumbURI), nil), http.StatusNotFound)
	e.ext.Sweep(context.Background())
	if files := thumbFiles(t, e); len(files) != 0 {
		t.Fatalf("thumbnail of an expired file left: %v", files)
	}

	e.ext.Config.ExpireAfter.Duration = time.Hour
	m, _ = e.share(t, bob, "mine.jpg", "image/jpeg", jpegFile(t, 64, 64))
	if len(thumbFiles(t, e)) != 1 {
		t.Fatalf("no thumbnail: %s", m.el)
	}
	if _, err := e.srv.DeleteAccount("alice"); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(e.srv.Dir, "uploads", "*")); len(files) != 0 {
		t.Fatalf("files of a deleted account left: %v", files)
	}
}

// TestOrphanThumbnailDropped: a thumbnail whose file was never recorded
// (a crash in between) is deleted at start.
func TestOrphanThumbnailDropped(t *testing.T) {
	dir := t.TempDir()
	orphan := filepath.Join(dir, "uploads", strings.Repeat("ab", 16)+".thumb")
	if err := os.MkdirAll(filepath.Dir(orphan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	xmppdtest.Start(t, xmppdtest.WithDataDir(dir), xmppdtest.WithExtensions(upload.New()))
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan thumbnail kept: %v", err)
	}
}

// TestDescribeIQ: a user who has a file's URL may ask the service for its
// <file-sharing/>; unknown URLs and bad requests get errors.
func TestDescribeIQ(t *testing.T) {
	e, bob := withBob(t, nil)
	m, public := e.share(t, bob, "cat.jpg", "image/jpeg", jpegFile(t, 320, 240))
	ask := func(target string) *wire.Element {
		return bob.IQ("get", service, "<file-sharing xmlns='urn:xmpp:sfs:0'><sources><url-data xmlns='http://jabber.org/protocol/url-data' target='"+target+"'/></sources></file-sharing>")
	}
	res := ask(public)
	if fs := res.Child("file-sharing", "urn:xmpp:sfs:0"); res.Attr("type") != "result" || fs == nil || fs.String() != m.el {
		t.Fatalf("describe: %s, want %s", res, m.el)
	}
	for _, target := range []string{public + "x", "https://elsewhere.example/a.jpg", e.srv.Config.HTTP.PublicURL + "/upload/" + strings.Repeat("0", 32) + "/cat.jpg"} {
		expectError(t, ask(target), "item-not-found")
	}
	expectError(t, bob.IQ("get", service, "<file-sharing xmlns='urn:xmpp:sfs:0'/>"), "bad-request")
	if res := bob.IQ("get", service, "<query xmlns='http://jabber.org/protocol/disco#info'/>"); !strings.Contains(res.String(), "urn:xmpp:sfs:0") {
		t.Errorf("disco#info lacks urn:xmpp:sfs:0: %s", res)
	}
}
