package upload_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
	_ "golang.org/x/image/webp"
)

// Files made in the tests: real images and small valid audio and video
// containers, built byte by byte.

func gradient(w, h int, alpha bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x + y), a})
		}
	}
	return img
}

func jpegFile(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h, false), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngFile(t *testing.T, w, h int, alpha bool) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h, alpha)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func png16File(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifFile(t *testing.T, w, h int) []byte {
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 2)
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bits writes a little-endian bit stream (WebP lossless order).
type bits struct {
	b []byte
	n uint
}

func (w *bits) put(v uint32, n uint) {
	for i := range n {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (w.n % 8)
		w.n++
	}
}

// webpFile is a lossless WebP of one colour: every prefix code has a
// single symbol, so the pixels take no bits at all; a w×h of any size is
// a few dozen bytes.
func webpFile(w, h int) []byte {
	var bs bits
	bs.put(0x2f, 8)
	bs.put(uint32(w-1), 14)
	bs.put(uint32(h-1), 14)
	bs.put(0, 1)                                              // no alpha
	bs.put(0, 3)                                              // version
	bs.put(0, 1)                                              // no transform
	bs.put(0, 1)                                              // no colour cache
	bs.put(0, 1)                                              // no meta prefix codes
	for _, sym := range []uint32{0x80, 0x40, 0x20, 0xff, 0} { // green, red, blue, alpha, distance
		bs.put(1, 1) // simple code
		bs.put(0, 1) // one symbol
		bs.put(1, 1) // of 8 bits
		bs.put(sym, 8)
	}
	data := bs.b
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(data)))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(bs.b)))
	return append(out, data...)
}

// pngBomb is a PNG whose header claims w×h pixels.
func pngBomb(w, h uint32) []byte {
	chunk := func(out []byte, typ string, data []byte) []byte {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		out = append(out, body...)
		return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	out := chunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
	out = chunk(out, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return chunk(out, "IEND", nil)
}

// oggCRC is Ogg's CRC-32 (polynomial 0x04c11db7, not reflected).
func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func oggPage(flags byte, granule uint64, serial, seq uint32, packet []byte) []byte {
	p := []byte("OggS\x00")
	p = append(p, flags)
	p = binary.LittleEndian.AppendUint64(p, granule)
	p = binary.LittleEndian.AppendUint32(p, serial)
	p = binary.LittleEndian.AppendUint32(p, seq)
	p = append(p, 0, 0, 0, 0) // CRC
	var segs []byte
	for n := len(packet); ; n -= 255 {
		if n < 255 {
			segs = append(segs, byte(n))
			break
		}
		segs = append(segs, 255)
	}
	p = append(p, byte(len(segs)))
	p = append(p, segs...)
	p = append(p, packet...)
	binary.LittleEndian.PutUint32(p[22:], oggCRC(p))
	return p
}

// opusFile is an Ogg Opus stream of ms milliseconds (pre-skip 312).
func opusFile(ms int) []byte {
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, 312)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0)
	out := oggPage(2, 0, 7, 0, head)
	out = append(out, oggPage(0, 0, 7, 1, []byte("OpusTags\x05\x00\x00\x00xmppd\x00\x00\x00\x00"))...)
	frame := bytes.Repeat([]byte{0xfc, 0xff, 0xfe}, 20)
	end := uint64(312 + ms*48)
	for g, seq := uint64(312+48000), uint32(2); ; g, seq = g+48000, seq+1 {
		if g >= end {
			return append(out, oggPage(4, end, 7, seq, frame)...)
		}
		out = append(out, oggPage(0, g, 7, seq, frame)...)
	}
}

// vorbisFile is an Ogg Vorbis stream of samples at rate.
func vorbisFile(rate uint32, samples uint64) []byte {
	id := []byte("\x01vorbis\x00\x00\x00\x00\x02")
	id = binary.LittleEndian.AppendUint32(id, rate)
	id = append(id, make([]byte, 13)...)
	out := oggPage(2, 0, 9, 0, id)
	out = append(out, oggPage(4, samples, 9, 1, bytes.Repeat([]byte{1}, 100))...)
	// A second logical stream after ours must not be taken for it.
	return append(out, oggPage(6, 1<<40, 10, 0, []byte("other"))...)
}

func box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// mp4File is an MP4 with its moov after the media data: a video track of
// w×h (w = 0: audio only), duration in timescale units; version 1 boxes
// when v1.
func mp4File(timescale uint32, duration uint64, w, h uint32, v1 bool) []byte {
	var mvhd, tkhd []byte
	if v1 {
		mvhd = append([]byte{1, 0, 0, 0}, make([]byte, 16)...)
		mvhd = binary.BigEndian.AppendUint32(mvhd, timescale)
		mvhd = binary.BigEndian.AppendUint64(mvhd, duration)
		tkhd = append([]byte{1, 0, 0, 0}, make([]byte, 84)...)
	} else {
		mvhd = append([]byte{0, 0, 0, 0}, make([]byte, 8)...)
		mvhd = binary.BigEndian.AppendUint32(mvhd, timescale)
		mvhd = binary.BigEndian.AppendUint32(mvhd, uint32(duration))
		tkhd = append([]byte{0, 0, 0, 0}, make([]byte, 72)...)
	}
	mvhd = append(mvhd, make([]byte, 80)...)
	tkhd = binary.BigEndian.AppendUint32(tkhd, w<<16)
	tkhd = binary.BigEndian.AppendUint32(tkhd, h<<16)
	return bytes.Join([][]byte{
		box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41")),
		box("free"),
		box("mdat", bytes.Repeat([]byte{0xAB}, 5000)),
		box("moov", box("mvhd", mvhd), box("trak", box("tkhd", tkhd), box("mdia"))),
	}, nil)
}

// ebml is a Matroska element with a one-byte size (payload < 127 bytes)
// or, with size -1, of unknown size.
func ebml(id []byte, size int, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	out := append([]byte{}, id...)
	if size < 0 {
		out = append(out, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	} else {
		out = append(out, 0x80|byte(len(body)))
	}
	return append(out, body...)
}

func webmFile(ms float64) []byte {
	dur := binary.BigEndian.AppendUint64(nil, math.Float64bits(ms))
	return bytes.Join([][]byte{
		ebml([]byte{0x1A, 0x45, 0xDF, 0xA3}, 0, ebml([]byte{0x42, 0x82}, 0, []byte("webm"))),
		ebml([]byte{0x18, 0x53, 0x80, 0x67}, -1,
			ebml([]byte{0x11, 0x4D, 0x9B, 0x74}, 0, []byte{0xEC, 0x81, 0x00}), // SeekHead with a Void
			ebml([]byte{0x15, 0x49, 0xA9, 0x66}, 0,
				ebml([]byte{0x2A, 0xD7, 0xB1}, 0, []byte{0x0F, 0x42, 0x40}), // TimestampScale 1000000
				ebml([]byte{0x44, 0x89}, 0, dur)),
			ebml([]byte{0x1F, 0x43, 0xB6, 0x75}, -1, bytes.Repeat([]byte{0}, 100))),
	}, nil)
}

// mp3File is frames MPEG-1 layer III frames at 128 kbit/s, 44.1 kHz
// after an ID3v2 tag; xing > 0 makes the first an Info frame counting
// xing frames.
func mp3File(frames, xing int) []byte {
	const frameLen = 144 * 128000 / 44100
	out := []byte("ID3\x04\x00\x00\x00\x00\x00\x14")
	out = append(out, make([]byte, 20)...)
	for i := range frames {
		f := make([]byte, frameLen)
		copy(f, []byte{0xFF, 0xFB, 0x90, 0x00})
		if i == 0 && xing > 0 {
			copy(f[36:], "Info\x00\x00\x00\x01")
			binary.BigEndian.PutUint32(f[44:], uint32(xing))
		}
		out = append(out, f...)
	}
	return out
}

// fileMeta is what the server said about a shared file.
type fileMeta struct {
	el                          string // the <file-sharing/> as received
	mediaType, name, hash       string
	size, width, height, length int
	thumbURI, thumbType         string
	thumbW, thumbH              int
	target                      string
}

// share uploads data, sends its URL from alice to bob and returns what
// bob received about it.
func (e *env) share(t *testing.T, bob *xmppdtest.Client, name, ctype string, data []byte) (fileMeta, string) {
	t.Helper()
	put, get := e.slot(t, name, len(data), ctype)
	wantStatus(t, do(t, "PUT", put, data, "Content-Type", ctype), http.StatusCreated)
	public := e.srv.Config.HTTP.PublicURL + strings.TrimPrefix(get, e.base)
	e.alice.Sendf("<message to='bob@localhost' type='chat' id='%s'><body>%s</body><x xmlns='jabber:x:oob'><url>%s</url></x></message>", name, public, public)
	msg := bob.Expect("message "+name, func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == name })
	return parseMeta(t, msg), public
}

func parseMeta(t *testing.T, msg *wire.Element) fileMeta {
	t.Helper()
	fs := msg.ChildrenNamed("file-sharing", "urn:xmpp:sfs:0")
	if len(fs) != 1 {
		t.Fatalf("want one <file-sharing/>, got %s", msg)
	}
	f := fs[0].Child("file", "urn:xmpp:file:metadata:0")
	if f == nil {
		t.Fatalf("no <file/> in %s", msg)
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	const ns = "urn:xmpp:file:metadata:0"
	m := fileMeta{
		el: fs[0].String(), mediaType: f.ChildText("media-type", ns), name: f.ChildText("name", ns),
		hash: f.ChildText("hash", "urn:xmpp:hashes:2"), size: num(f.ChildText("size", ns)),
		width: num(f.ChildText("width", ns)), height: num(f.ChildText("height", ns)), length: num(f.ChildText("length", ns)),
	}
	if th := f.Child("thumbnail", "urn:xmpp:thumbs:1"); th != nil {
		m.thumbURI, m.thumbType, m.thumbW, m.thumbH = th.Attr("uri"), th.Attr("media-type"), num(th.Attr("width")), num(th.Attr("height"))
	}
	if src := fs[0].Child("sources", "urn:xmpp:sfs:0"); src != nil {
		m.target = src.Child("url-data", "http://jabber.org/protocol/url-data").Attr("target")
	}
	return m
}

// thumbnail fetches and decodes the thumbnail at uri.
func (e *env) thumbnail(t *testing.T, uri string) (image.Image, string, *http.Response) {
	t.Helper()
	res := do(t, "GET", e.local(uri), nil)
	b := wantStatus(t, res, http.StatusOK)
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail %s does not decode: %v", uri, err)
	}
	return img, format, res
}

func memAllocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func thumbFiles(t *testing.T, e *env) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.srv.Dir, "uploads", "*.thumb"))
	return files
}
