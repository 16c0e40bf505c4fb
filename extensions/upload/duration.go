package upload

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"time"
)

// Durations of audio and video files, read from their headers (or, for
// Ogg, the last page) by small parsers that read a bounded number of
// bytes whatever the file claims. A file they do not understand has no
// duration; they never fail the upload.

// probeWindow bounds how much of a file's head or tail a parser reads.
const probeWindow = 64 << 10

// maxBoxes bounds the MP4 boxes and Matroska elements a parser visits.
const maxBoxes = 256

// readAt reads up to n bytes at off (fewer at the end of the file).
func readAt(r io.ReaderAt, off int64, n int) []byte {
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil
	}
	return b[:m]
}

// oggDuration reads an Ogg Opus or Vorbis file's length: the granule
// position of the logical stream's last page, in samples at 48 kHz for
// Opus (less the pre-skip) or at the Vorbis identification header's rate.
func oggDuration(r io.ReaderAt, size int64) time.Duration {
	head := readAt(r, 0, 512)
	if len(head) < 27+1 || !bytes.HasPrefix(head, []byte("OggS")) {
		return 0
	}
	serial := binary.LittleEndian.Uint32(head[14:18])
	nseg := int(head[26])
	body := 27 + nseg
	if len(head) < body+19 {
		return 0
	}
	pkt := head[body:]
	var rate, skip uint64
	switch {
	case bytes.HasPrefix(pkt, []byte("OpusHead")):
		rate, skip = 48000, uint64(binary.LittleEndian.Uint16(pkt[10:12]))
	case bytes.HasPrefix(pkt, []byte("\x01vorbis")) && len(pkt) >= 16:
		rate = uint64(binary.LittleEndian.Uint32(pkt[12:16]))
	}
	if rate == 0 {
		return 0
	}
	off := max(size-probeWindow, 0)
	tail := readAt(r, off, int(size-off))
	// The last page of our stream: pages of other streams (a cover image)
	// may follow it.
	for i := bytes.LastIndex(tail, []byte("OggS")); i >= 0; i = bytes.LastIndex(tail[:i], []byte("OggS")) {
		pg := tail[i:]
		if len(pg) < 27 || binary.LittleEndian.Uint32(pg[14:18]) != serial {
			continue
		}
		gran := binary.LittleEndian.Uint64(pg[6:14])
		if gran == math.MaxUint64 || gran <= skip { // -1: no packet ends on this page
			continue
		}
		return samples(gran-skip, rate)
	}
	return 0
}

func samples(n, rate uint64) time.Duration {
	if rate == 0 || n/rate > uint64(100*24*time.Hour/time.Second) {
		return 0
	}
	return time.Duration(n/rate)*time.Second + time.Duration(n%rate*uint64(time.Second)/rate)
}

// mp4Info reads an MP4/M4A/MOV file's length from moov/mvhd (duration
// over timescale) and the first video track's size from moov/trak/tkhd.
func mp4Info(r io.ReaderAt, size int64) (d time.Duration, w, h int) {
	moov, moovSize := findBox(r, 0, size, "moov")
	if moov < 0 {
		return 0, 0, 0
	}
	end := moov + moovSize
	if mvhd, n := findBox(r, moov, end, "mvhd"); mvhd >= 0 {
		b := readAt(r, mvhd, int(min(n, 40)))
		switch {
		case len(b) >= 20 && b[0] == 0:
			scale, dur := binary.BigEndian.Uint32(b[12:16]), binary.BigEndian.Uint32(b[16:20])
			if dur != math.MaxUint32 {
				d = samples(uint64(dur), uint64(scale))
			}
		case len(b) >= 32 && b[0] == 1:
			scale, dur := binary.BigEndian.Uint32(b[20:24]), binary.BigEndian.Uint64(b[24:32])
			if dur != math.MaxUint64 {
				d = samples(dur, uint64(scale))
			}
		}
	}
	// The first track with a picture size is the video.
	pos, boxes := moov, 0
	for boxes < maxBoxes {
		trak, n := findBox(r, pos, end, "trak")
		if trak < 0 {
			break
		}
		boxes++
		if tkhd, m := findBox(r, trak, trak+n, "tkhd"); tkhd >= 0 {
			b := readAt(r, tkhd, int(min(m, 92)))
			at := 76
			if len(b) > 0 && b[0] == 1 {
				at = 88
			}
			if len(b) >= at+8 {
				tw, th := int(binary.BigEndian.Uint32(b[at:])>>16), int(binary.BigEndian.Uint32(b[at+4:])>>16)
				if tw > 0 && th > 0 {
					return d, tw, th
				}
			}
		}
		pos = trak + n
	}
	return d, 0, 0
}

// findBox returns the payload offset and size of the first box of type
// typ among the boxes in [pos, end), or -1.
func findBox(r io.ReaderAt, pos, end int64, typ string) (int64, int64) {
	for i := 0; i < maxBoxes && pos+8 <= end; i++ {
		hd := readAt(r, pos, 16)
		if len(hd) < 8 {
			return -1, 0
		}
		n, hl := int64(binary.BigEndian.Uint32(hd)), int64(8)
		switch n {
		case 0: // to the end of the enclosing box
			n = end - pos
		case 1:
			if len(hd) < 16 {
				return -1, 0
			}
			n, hl = int64(binary.BigEndian.Uint64(hd[8:])), 16
		}
		if n < hl || n > end-pos {
			return -1, 0
		}
		if string(hd[4:8]) == typ {
			return pos + hl, n - hl
		}
		pos += n
	}
	return -1, 0
}

// webmDuration reads a WebM/Matroska file's Segment/Info/Duration (a
// float in TimestampScale units, by default milliseconds).
func webmDuration(r io.ReaderAt) time.Duration {
	b := readAt(r, 0, probeWindow)
	pos := 0
	// element reads an EBML element header at pos: id, payload size
	// (-1: unknown) and the payload's offset.
	element := func() (id uint64, size int64, ok bool) {
		if pos >= len(b) {
			return 0, 0, false
		}
		id, n := vint(b[pos:], true)
		if n == 0 {
			return 0, 0, false
		}
		sz, m := vint(b[pos+n:], false)
		if m == 0 {
			return 0, 0, false
		}
		pos += n + m
		if sz == 1<<(7*m)-1 {
			return id, -1, true
		}
		return id, int64(sz), true
	}
	id, size, ok := element()
	if !ok || id != 0x1A45DFA3 || size < 0 {
		return 0
	}
	pos += int(min(size, int64(len(b))))
	if id, _, ok := element(); !ok || id != 0x18538067 { // Segment
		return 0
	}
	for i := 0; i < maxBoxes && pos < len(b); i++ {
		id, size, ok := element()
		if !ok || size < 0 || size > int64(len(b)-pos) {
			return 0
		}
		if id != 0x1549A966 { // Info
			pos += int(size)
			continue
		}
		end := pos + int(size)
		scale, dur := uint64(1000000), -1.0
		for pos < end {
			id, size, ok := element()
			if !ok || size < 0 || int64(end-pos) < size {
				return 0
			}
			v := b[pos : pos+int(size)]
			switch {
			case id == 0x2AD7B1 && size >= 1 && size <= 8: // TimestampScale
				scale = 0
				for _, c := range v {
					scale = scale<<8 | uint64(c)
				}
			case id == 0x4489 && size == 4:
				dur = float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
			case id == 0x4489 && size == 8:
				dur = math.Float64frombits(binary.BigEndian.Uint64(v))
			}
			pos += int(size)
		}
		ns := dur * float64(scale)
		if dur <= 0 || math.IsNaN(ns) || ns > float64(100*24*time.Hour) {
			return 0
		}
		return time.Duration(ns)
	}
	return 0
}

// vint decodes an EBML variable-length integer; keepMarker keeps the
// length bit (element ids). n is 0 when b holds none.
func vint(b []byte, keepMarker bool) (v uint64, n int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	for n = 1; b[0]&(0x80>>(n-1)) == 0; n++ {
	}
	if n > 8 || len(b) < n {
		return 0, 0
	}
	v = uint64(b[0])
	if !keepMarker {
		v &= 0xFF >> n
	}
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// mp3Duration reads an MP3 file's length from its Xing/Info frame (VBR
// and LAME's CBR files), else estimates it from the first frame's bit rate.
func mp3Duration(r io.ReaderAt, size int64) time.Duration {
	head := readAt(r, 0, probeWindow)
	start := 0
	if len(head) >= 10 && bytes.HasPrefix(head, []byte("ID3")) {
		s := head[6:10]
		start = 10 + (int(s[0]&0x7f)<<21 | int(s[1]&0x7f)<<14 | int(s[2]&0x7f)<<7 | int(s[3]&0x7f))
		if head[5]&0x10 != 0 {
			start += 10 // footer
		}
		if int64(start) >= size {
			return 0
		}
		if start+4 > len(head) {
			head = readAt(r, int64(start), 4096)
		} else {
			head = head[start:]
		}
	}
	// The first frame header, within the window.
	for i := 0; i+4 <= len(head); i++ {
		fh, ok := parseMP3Header(head[i:])
		if !ok {
			continue
		}
		audioStart := int64(start + i)
		frame := head[i:]
		side := 32
		switch {
		case fh.mpeg1 && fh.mono:
			side = 17
		case !fh.mpeg1 && fh.mono:
			side = 9
		case !fh.mpeg1:
			side = 17
		}
		if x := frame[min(4+side, len(frame)):]; len(x) >= 12 && (bytes.HasPrefix(x, []byte("Xing")) || bytes.HasPrefix(x, []byte("Info"))) {
			if binary.BigEndian.Uint32(x[4:8])&1 != 0 {
				return samples(uint64(binary.BigEndian.Uint32(x[8:12]))*uint64(fh.samples), uint64(fh.rate))
			}
		}
		n := size - audioStart
		if t := readAt(r, size-128, 3); string(t) == "TAG" {
			n -= 128 // ID3v1
		}
		if n <= 0 {
			return 0
		}
		return samples(uint64(n)*8, uint64(fh.bitrate))
	}
	return 0
}

type mp3Header struct {
	mpeg1, mono            bool
	bitrate, rate, samples int
}

// MPEG audio layer III bit rates (kbit/s) and sample rates (Hz).
var (
	mp3Rates1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0}
	mp3Rates2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0}
	mp3Freqs  = [4][3]int{{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000}}
)

// parseMP3Header reads a layer III frame header (11 sync bits, then
// version, layer, bit rate and sample rate indexes).
func parseMP3Header(b []byte) (mp3Header, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mp3Header{}, false
	}
	ver, layer := b[1]>>3&3, b[1]>>1&3
	br, sr := b[2]>>4, b[2]>>2&3
	if ver == 1 || layer != 1 || br == 0 || br == 15 || sr == 3 {
		return mp3Header{}, false
	}
	h := mp3Header{mpeg1: ver == 3, mono: b[3]>>6 == 3, rate: mp3Freqs[ver][sr], samples: 576}
	if h.mpeg1 {
		h.bitrate, h.samples = mp3Rates1[br]*1000, 1152
	} else {
		h.bitrate = mp3Rates2[br] * 1000
	}
	return h, true
}
