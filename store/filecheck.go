package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// Offsets in a bbolt meta page (go.etcd.io/bbolt/internal/common): a
// 16-byte page header, then magic, version, pageSize, flags, root bucket,
// freelist, pgid (the high-water mark), txid, checksum. bbolt writes them
// in native byte order.
const (
	metaOff       = 16
	metaMagic     = 0xED0CDAED
	metaVersion   = 2
	metaSumLen    = 56 // bytes of meta covered by the checksum
	metaOffPgSize = metaOff + 8
	metaOffPgid   = metaOff + 40
	metaOffTxid   = metaOff + 48
	metaOffSum    = metaOff + metaSumLen
)

// checkTruncated refuses a bbolt file shorter than its own meta page says.
// bbolt maps the file and (with NoFreelistSync) reads every page at open;
// touching a page beyond the end of the file is a SIGBUS that kills the
// whole process, so a half-copied backup or a damaged data file must be
// caught before bbolt sees it. A missing or empty file, or one without a
// valid meta page, is left to bbolt to judge.
func checkTruncated(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var best struct{ txid, end uint64 }
	found := false
	pageSize := int64(os.Getpagesize())
	for i := range 2 {
		var page [metaOffSum + 8]byte
		off := int64(0)
		if i == 1 {
			off = pageSize // bbolt's second meta page
		}
		if _, err := f.ReadAt(page[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			return err
		}
		ne := binary.NativeEndian
		if ne.Uint32(page[metaOff:]) != metaMagic || ne.Uint32(page[metaOff+4:]) != metaVersion {
			continue
		}
		h := fnv.New64a()
		h.Write(page[metaOff : metaOff+metaSumLen])
		if h.Sum64() != ne.Uint64(page[metaOffSum:]) {
			continue
		}
		ps := int64(ne.Uint32(page[metaOffPgSize:]))
		if i == 0 && ps > 0 {
			pageSize = ps
		}
		txid := ne.Uint64(page[metaOffTxid:])
		if !found || txid > best.txid {
			found = true
			best.txid, best.end = txid, ne.Uint64(page[metaOffPgid:])*uint64(ps)
		}
	}
	if found && uint64(fi.Size()) < best.end {
		return fmt.Errorf("truncated: %d bytes, but its header says %d", fi.Size(), best.end)
	}
	return nil
}
