package upload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The formats a thumbnail is made of.
	_ "image/gif"

	"github.com/xmppd/xmppd/store"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// Thumbnails (XEP-0264) of uploaded JPEG, PNG, GIF and WebP images, made
// when the PUT completes, before its 201: the message that shares the
// file can then carry the thumbnail's metadata. The image's header is
// read first (image.DecodeConfig); one of more than max_image_pixels
// (16-bit colour counting double) is never decoded, so a small file
// claiming a huge picture (a decompression bomb) costs nothing. At most
// ThumbWorkers images are decoded at once. The thumbnail fits
// ThumbSize×ThumbSize, keeps the aspect ratio, is JPEG for opaque images
// and PNG otherwise, lives at <data_dir>/uploads/<id>.thumb and is served
// at the file's URL plus "/thumb".

// ThumbSize bounds a thumbnail's width and height.
const ThumbSize = 256

// thumbFormats are the image.RegisterFormat names thumbnails are made of.
var thumbFormats = map[string]bool{"jpeg": true, "png": true, "gif": true, "webp": true}

// thumbMeta describes a file's thumbnail.
type thumbMeta struct {
	Type   string `json:"type"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

func (e *Extension) thumbPath(id string) string { return filepath.Join(e.dir, id+".thumb") }

// thumbnail records the image's size in m and makes its thumbnail.
func (e *Extension) thumbnail(ctx context.Context, id string, f *os.File, m *fileMeta) {
	cfg, format, err := image.DecodeConfig(bufio.NewReader(io.NewSectionReader(f, 0, m.Size)))
	if err != nil || !thumbFormats[format] || cfg.Width <= 0 || cfg.Height <= 0 {
		e.log.Debug("no thumbnail: unreadable image header", "id", id, "format", format, "err", err)
		return
	}
	m.Width, m.Height = cfg.Width, cfg.Height
	px := int64(cfg.Width) * int64(cfg.Height)
	if cfg.ColorModel == color.RGBA64Model || cfg.ColorModel == color.NRGBA64Model {
		px *= 2 // 16-bit colour decodes into 8 bytes a pixel, not 4
	}
	if px > e.Config.MaxImagePixels {
		e.log.Info("no thumbnail: image larger than upload.max_image_pixels", "id", id,
			"width", cfg.Width, "height", cfg.Height, "max_image_pixels", e.Config.MaxImagePixels)
		return
	}
	select {
	case e.thumbSem <- struct{}{}:
		defer func() { <-e.thumbSem }()
	case <-ctx.Done():
		return
	}
	start := time.Now()
	th, err := makeThumb(io.NewSectionReader(f, 0, m.Size))
	if err == nil {
		err = writeFile(e.thumbPath(id), th.data)
	}
	if err != nil {
		e.log.Info("no thumbnail", "id", id, "format", format, "err", err)
		return
	}
	m.Thumb = &th.thumbMeta
	e.log.Debug("thumbnail made", "id", id, "format", format, "width", cfg.Width, "height", cfg.Height,
		"took", time.Since(start).Round(time.Millisecond))
}

// dropOrphanThumbs deletes thumbnails whose file was never recorded (a
// crash between the two).
func (e *Extension) dropOrphanThumbs() {
	thumbs, _ := filepath.Glob(filepath.Join(e.dir, "*.thumb"))
	for _, p := range thumbs {
		id := strings.TrimSuffix(filepath.Base(p), ".thumb")
		if _, err := e.load(id); errors.Is(err, store.ErrNotFound) {
			_ = os.Remove(p)
		}
	}
}

type thumb struct {
	thumbMeta
	data []byte
}

// makeThumb decodes an image whose size was checked and scales it down.
func makeThumb(r io.Reader) (th thumb, err error) {
	defer func() {
		// A decoder's bug on hostile input must not take the upload down.
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	img, _, err := image.Decode(bufio.NewReader(r))
	if err != nil {
		return th, err
	}
	b := img.Bounds()
	w, h := fit(b.Dx(), b.Dy(), ThumbSize)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var buf bytes.Buffer
	th.Width, th.Height = w, h
	if opaque(img) {
		th.Type = "image/jpeg"
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80})
	} else {
		th.Type = "image/png"
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, dst)
	}
	th.data = buf.Bytes()
	return th, err
}

// fit scales w×h to fit n×n, keeping the aspect ratio, never up.
func fit(w, h, n int) (int, int) {
	if w <= n && h <= n {
		return w, h
	}
	if w >= h {
		return n, max(1, int(int64(h)*int64(n)/int64(w)))
	}
	return max(1, int(int64(w)*int64(n)/int64(h))), n
}

// opaque reports whether img has no transparency (so JPEG loses nothing).
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return img.ColorModel() == color.YCbCrModel || img.ColorModel() == color.GrayModel
}

// writeFile writes data to path through a temporary file, so a reader
// never sees half of it.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

type thumbHandler struct{ e *Extension }

// ServeHTTP serves GET/HEAD /upload/{id}/{name}/thumb with the file's
// safe headers.
func (h thumbHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	id, m, ok := e.lookup(w, r)
	if !ok {
		return
	}
	now := time.Now()
	if m.Uploaded.IsZero() || e.expired(m, now) || m.Thumb == nil {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(e.thumbPath(id))
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		e.log.Error("opening thumbnail failed", "id", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	// Named after the file, with the thumbnail's own extension.
	ext := ".png"
	if m.Thumb.Type == "image/jpeg" {
		ext = ".jpg"
	}
	m.Name = strings.TrimSuffix(m.Name, filepath.Ext(m.Name)) + "-thumb" + ext
	e.safeHeaders(w, m, now, m.Thumb.Type, "inline", `"`+id+`-thumb"`)
	http.ServeContent(w, r, "", m.Uploaded, f)
}
