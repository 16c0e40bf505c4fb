package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// testJPEG is a w×h JPEG made here.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func httpDo(t *testing.T, method, url string, body []byte, ctype string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// uploadAs asks the running instance for a slot as c and PUTs data; it
// returns the GET URL.
func uploadAs(t *testing.T, c *xmppdtest.Client, name, ctype string, data []byte) string {
	t.Helper()
	res := c.IQ("get", "upload.localhost", fmt.Sprintf("<request xmlns='%s' filename='%s' size='%d' content-type='%s'/>", upload.NS, name, len(data), ctype))
	slot := res.Child("slot", upload.NS)
	if slot == nil {
		t.Fatalf("no slot: %s", res)
	}
	if code, b := httpDo(t, "PUT", slot.Child("put", upload.NS).Attr("url"), data, ctype); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, b)
	}
	return slot.Child("get", upload.NS).Attr("url")
}

// TestUploadCLI: `xmppd upload usage` and `xmppd upload delete` against
// the running binary (admin socket) and with it stopped (store opened
// directly); a deleted file and its thumbnail are gone from disk and
// from HTTP.
func TestUploadCLI(t *testing.T) {
	in := newInstance(t, "")
	in.mustCLI("", "user", "add", "alice", "--password", "pw-a")
	in.mustCLI("", "user", "add", "bob", "--password", "pw-b")
	if out := in.mustCLI("", "upload", "usage"); strings.Contains(out, "@") {
		t.Fatalf("usage with no uploads: %q", out)
	}
	in.start()
	alice, err := xmppdtest.DialAddr(t, in.c2s, "localhost", "alice", "pw-a", xmppdtest.DialOptions{Resource: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	photo := testJPEG(t, 400, 300)
	first := uploadAs(t, alice, "photo.jpg", "image/jpeg", photo)
	second := uploadAs(t, alice, "notes.txt", "text/plain", []byte("hello"))
	if code, b := httpDo(t, "GET", first, nil, ""); code != http.StatusOK || !bytes.Equal(b, photo) {
		t.Fatalf("GET %s: %d, %d bytes", first, code, len(b))
	}
	uploads := filepath.Join(in.dir, "data", "uploads")
	if thumbs, _ := filepath.Glob(filepath.Join(uploads, "*.thumb")); len(thumbs) != 1 {
		t.Fatalf("thumbnails on disk: %v", thumbs)
	}

	// Live.
	out := in.mustCLI("", "upload", "usage", "alice@localhost")
	if f := usageRow(out, "alice@localhost"); len(f) < 4 || f[1] != "2" || f[2] != "0" || f[3] != fmt.Sprint(len(photo)+5) {
		t.Fatalf("upload usage alice:\n%s", out)
	}
	var us []upload.Usage
	if err := json.Unmarshal([]byte(in.mustCLI("", "upload", "usage", "--json")), &us); err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].JID != "alice@localhost" || us[0].Files != 2 || us[0].Bytes != int64(len(photo)+5) || us[0].Quota != int64(upload.DefaultUserQuota) {
		t.Fatalf("upload usage --json: %+v", us)
	}
	if out := in.mustCLI("", "upload", "delete", first); !strings.Contains(out, "deleted") || !strings.Contains(out, "photo.jpg") || !strings.Contains(out, "alice@localhost") {
		t.Fatalf("upload delete: %q", out)
	}
	if code, _ := httpDo(t, "GET", first, nil, ""); code != http.StatusNotFound {
		t.Fatalf("GET after delete: %d", code)
	}
	if code, _ := httpDo(t, "GET", first+"/thumb", nil, ""); code != http.StatusNotFound {
		t.Fatalf("GET thumbnail after delete: %d", code)
	}
	if out, err := in.cli("", "upload", "delete", first); err == nil || !strings.Contains(out, "no file") {
		t.Fatalf("second delete: err=%v out=%q", err, out)
	}
	if out, err := in.cli("", "upload", "usage", "eve@elsewhere.example"); err == nil || !strings.Contains(out, "eve@elsewhere.example") {
		t.Fatalf("usage of a foreign JID: err=%v out=%q", err, out)
	}

	// Stopped.
	in.stop()
	if out := in.mustCLI("", "upload", "usage", "alice"); strings.Join(usageRow(out, "alice@localhost")[:4], " ") != "alice@localhost 1 0 5" {
		t.Fatalf("offline usage:\n%s", out)
	}
	id := strings.Split(strings.TrimPrefix(second, "http://"+in.http+"/upload/"), "/")[0]
	if out := in.mustCLI("", "upload", "delete", id); !strings.Contains(out, "deleted "+id+" (notes.txt, 5 bytes) of alice@localhost") {
		t.Fatalf("offline delete: %q", out)
	}
	if out, err := in.cli("", "upload", "delete", "not-a-file"); err == nil || !strings.Contains(out, "not-a-file") {
		t.Fatalf("bad argument: err=%v out=%q", err, out)
	}
	files, _ := os.ReadDir(uploads)
	if len(files) != 0 {
		t.Fatalf("files left in %s: %v", uploads, files)
	}
	in.start()
	if code, _ := httpDo(t, "GET", second, nil, ""); code != http.StatusNotFound {
		t.Fatalf("GET after offline delete: %d", code)
	}
}

// usageRow returns the fields of the `upload usage` line of jid.
func usageRow(out, jid string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == jid {
			return f
		}
	}
	return make([]string, 4)
}
