package upload

import (
	"bytes"
	"context"
	"os"
)

// What xmppd reads from an uploaded file for its metadata (XEP-0446): the
// picture size of images (and a thumbnail, thumbs.go), the duration of
// audio and video (duration.go), and the picture size of MP4 video. The
// file's content decides, not its declared type; nothing here fails an
// upload.

// sniff names a file's format from its first 16 bytes, "" if unknown.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xFF\xD8\xFF")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "ogg"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return "mp4"
	case bytes.HasPrefix(b, []byte("\x1A\x45\xDF\xA3")):
		return "webm"
	case bytes.HasPrefix(b, []byte("ID3")):
		return "mp3"
	}
	if _, ok := parseMP3Header(b); ok {
		return "mp3"
	}
	return ""
}

// analyze fills m's media fields from the uploaded file of id (and
// makes its thumbnail). ctx ends with the upload's request.
func (e *Extension) analyze(ctx context.Context, id string, m *fileMeta) {
	f, err := os.Open(e.path(id))
	if err != nil {
		e.log.Error("reading upload for its metadata failed", "id", id, "err", err)
		return
	}
	defer f.Close()
	switch kind := sniff(readAt(f, 0, 16)); kind {
	case "jpeg", "png", "gif", "webp":
		e.thumbnail(ctx, id, f, m)
	case "ogg":
		m.Length = oggDuration(f, m.Size).Milliseconds()
	case "mp4":
		d, w, h := mp4Info(f, m.Size)
		m.Length, m.Width, m.Height = d.Milliseconds(), w, h
	case "webm":
		m.Length = webmDuration(f).Milliseconds()
	case "mp3":
		m.Length = mp3Duration(f, m.Size).Milliseconds()
	}
}
