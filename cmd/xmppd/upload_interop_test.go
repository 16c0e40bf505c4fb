package main

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/jpeg"
	"net/http"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/upload"
)

// TestSlixmppUploadAgainstBinary: slixmpp finds the upload service with
// disco and its XEP-0363 plugin uploads a PNG to the built binary; the URL reaches bob (another slixmpp client) with
// the metadata the server added, and a plain HTTP client downloads the
// very bytes uploaded and the thumbnail.
func TestSlixmppUploadAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob")
	var res struct {
		Discover struct {
			Service     string `json:"service"`
			MaxFileSize int64  `json:"max_file_size"`
		} `json:"discover"`
		Upload struct {
			URL     string `json:"url"`
			Content string `json:"content"`
		} `json:"upload"`
		Share struct {
			Body      string `json:"body"`
			OOB       string `json:"oob"`
			MediaType string `json:"media-type"`
			Name      string `json:"name"`
			Size      string `json:"size"`
			Width     string `json:"width"`
			Height    string `json:"height"`
			Thumbnail string `json:"thumbnail"`
		} `json:"share"`
	}
	runSlixmpp(t, in, "slixmpp_upload.py", &res)
	if res.Discover.Service != "upload.localhost" || res.Discover.MaxFileSize != int64(upload.DefaultMaxFileSize) {
		t.Errorf("discovered %+v", res.Discover)
	}
	want, err := base64.StdEncoding.DecodeString(res.Upload.Content)
	if err != nil || len(want) == 0 {
		t.Fatalf("uploaded content %q: %v", res.Upload.Content, err)
	}
	if !strings.HasPrefix(res.Upload.URL, "http://"+in.http+"/upload/") || !strings.HasSuffix(res.Upload.URL, "/cat.png") {
		t.Fatalf("GET URL %s", res.Upload.URL)
	}
	sh := res.Share
	if sh.Body != res.Upload.URL || sh.OOB != res.Upload.URL {
		t.Errorf("bob got body %q, OOB %q", sh.Body, sh.OOB)
	}
	if sh.MediaType != "image/png" || sh.Name != "cat.png" || sh.Width != "320" || sh.Height != "200" || sh.Thumbnail != res.Upload.URL+"/thumb" {
		t.Errorf("metadata bob got: %+v", sh)
	}
	code, got := httpDo(t, "GET", sh.OOB, nil, "")
	if code != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET %s: %d, %d bytes, want the %d bytes uploaded", sh.OOB, code, len(got), len(want))
	}
	code, th := httpDo(t, "GET", sh.Thumbnail, nil, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", sh.Thumbnail, code)
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(th)); err != nil || cfg.Width != 256 || cfg.Height != 160 {
		t.Fatalf("thumbnail: %+v %v", cfg, err)
	}
}
