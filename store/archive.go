package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// --- Archive ---
//
// Archive is the store kind behind message archives (XEP-0313 MAM): per
// owner (a user's or a room's bare JID), entries ordered by id, each with a
// time, a counterpart JID ('with') and an opaque value (the stanza).
//
// Ids are the caller's: any non-empty string, unique within the owner's
// archive, whose byte order is the archive order. The caller also promises
// that this order agrees with the entries' times (a later id never has an
// earlier time, give or take the odd microsecond between assigning an id
// and appending it). xmppd's stanza-ids (base32hex of microsecond time +
// counter + random, xmppd/ids.go) have exactly this property, so the same
// id is the XEP-0359 stanza-id, the MAM archive id and the RSM paging
// cursor.
//
// Layout, inside the top-level bucket "archive:<name>", one nested bucket
// per owner holding every index as keys of that one bucket, so an append
// writes few leaf pages (schema version 2; version 1 had a sub-bucket per
// index, each with pages of its own):
//
//	i id            -> at (8 bytes, µs since the epoch, big-endian) | uvarint len(with) | with | value
//	j               -> count of all entries (8 bytes)
//	t at (8 bytes) id -> empty   (only in archives without TimeOrderedIDs)
//	w bare 0x00 id  -> with      (a 'with' query never reads others' messages)
//	w bare 0x01     -> count of entries with bare (8 bytes)
//
// Appends go to the end of the 'i' range and of one 'w' range, and each
// counter sorts right after the range it counts, so it lives in the very
// leaf page the append writes anyway: an append dirties two leaves (plus
// their branch path), where version 1 dirtied five pages or more.
//
// Time filters (start/end) become id bounds: an archive declared with
// TimeOrderedIDs (ids that encode their time, as xmppd's do) maps a time
// to the smallest id of that time; any other keeps the time index 't' and
// seeks it. Either way it is one seek, and the exact times are checked on
// the entries themselves.
//
// bare(with) is the part of 'with' before the first '/', so a bare 'with'
// in a query matches every resource and a full one matches exactly
// (XEP-0313 §4.1.1). Every query walks one key range with a cursor between
// two bounds, forwards or (Reverse) backwards, so the last page of a huge
// archive costs O(page size), not O(archive size).

// ErrExists is returned by Append when the id is already in the archive.
var ErrExists = errors.New("store: already exists")

// Key prefixes inside an owner's bucket (see the layout above).
const (
	keyRecord  = 'i'
	keyTime    = 't'
	keyWith    = 'w'
	withSep    = 0x00 // bare | withSep | id: an entry in the 'with' index
	withCounts = 0x01 // bare | withCounts: its counter, after its entries
)

// keyTotal is the counter of all entries: "j" sorts after every "i" key,
// next to the newest entries.
var keyTotal = []byte("j")

// idSlack bounds how far an entry's time may lie from the time its id
// encodes (TimeOrderedIDs): an id is made a moment before or after the
// time given to Append. Time bounds are widened by it and the entries'
// own times decide.
const idSlack = time.Second

// Archive is a per-owner, id-ordered message archive (see above).
type Archive struct {
	db     *DB
	name   string
	bucket []byte
}

// Archive returns the archive store called name ("<package>/<store>").
func (db *DB) Archive(name string) *Archive { return &Archive{db, name, bucketName("archive", name)} }

// Archive returns the archive store called name inside the transaction.
func (tx *Tx) Archive(name string) TxArchive {
	return TxArchive{tx.btx, bucketName("archive", name), tx.db.idAt(name)}
}

// TimeOrderedIDs declares that the ids of the archive called name encode
// their time: idAt(t) is the smallest id that can be made at time t, and
// every entry's time lies within a second of its id's time. Such an
// archive keeps no time index (one leaf page less per append); start/end
// filters become id bounds through idAt. Declare it before the archive is
// first used (when an extension registers) and never withdraw it: entries
// appended meanwhile would be missing from the time index. Any program
// that opens the file and filters the archive by time must declare it
// too.
func (db *DB) TimeOrderedIDs(name string, idAt func(time.Time) string) {
	db.idAts.Store(name, idAt)
}

func (db *DB) idAt(name string) func(time.Time) string {
	if db == nil {
		return nil
	}
	if f, ok := db.idAts.Load(name); ok {
		return f.(func(time.Time) string)
	}
	return nil
}

// TxArchive is an Archive inside a transaction.
type TxArchive struct {
	btx    *bolt.Tx
	bucket []byte
	idAt   func(time.Time) string // nil: the archive keeps a time index
}

func (a *Archive) tx(btx *bolt.Tx) TxArchive {
	return TxArchive{btx, a.bucket, a.db.idAt(a.name)}
}

// ArchiveItem is one archived entry.
type ArchiveItem struct {
	ID    string
	At    time.Time // as given to Append, at microsecond precision, UTC
	With  string    // the counterpart JID as given to Append
	Value []byte
}

// ArchiveQuery selects entries of one owner. Zero fields do not filter.
type ArchiveQuery struct {
	// With keeps entries whose counterpart is this JID: a bare JID matches
	// every resource of it, a full JID only itself.
	With string
	// Start and End keep entries with Start <= At <= End.
	Start, End time.Time
	// AfterID and BeforeID keep entries strictly after / before these ids
	// (MAM after-id/before-id, RSM after/before). Each must exist in the
	// archive, else Query returns an error wrapping ErrNotFound.
	AfterID, BeforeID string
	// IDs keeps only these entries; every one must exist (ErrNotFound).
	IDs []string
	// Limit is the largest number of items returned; 0 means no limit.
	Limit int
	// Reverse takes the Limit items from the end of the matching range
	// instead of its start (RSM <before/>: the last page), walking the
	// index backwards. Items are still returned oldest first.
	Reverse bool
}

// ArchiveResult is one page of a query.
type ArchiveResult struct {
	// Items in archive order (oldest first), whatever the direction.
	Items []ArchiveItem
	// Complete is true when no matching entry lies beyond this page in the
	// walking direction: after it for a forward query, before it for a
	// Reverse one (MAM <fin complete='true'/>).
	Complete bool
	// First and Last are the ids of the first and last item ("" if none).
	First, Last string
	// Count is the number of entries matching the query without Limit,
	// AfterID and BeforeID (RSM <count/>), or -1 when that is not known
	// without a scan (time filters, a full-JID With).
	Count int
	// Scanned is the number of index entries the query touched; it shows
	// (and tests assert) that queries do not scan the archive.
	Scanned int
}

func (t TxArchive) owner(owner string) *bolt.Bucket {
	if top := t.btx.Bucket(t.bucket); top != nil {
		return top.Bucket([]byte(owner))
	}
	return nil
}

// bareOf is the part of a JID before the resource.
func bareOf(with string) string {
	if i := strings.IndexByte(with, '/'); i >= 0 {
		return with[:i]
	}
	return with
}

// micros is t in µs since the epoch; times before 1970 count as 1970.
func micros(t time.Time) uint64 { return uint64(max(t.UnixMicro(), 0)) }

func recordKey(id string) []byte {
	return append(append(make([]byte, 0, 1+len(id)), keyRecord), id...)
}

func timeKey(at time.Time, id string) []byte {
	k := append(make([]byte, 0, 9+len(id)), keyTime)
	k = binary.BigEndian.AppendUint64(k, micros(at))
	return append(k, id...)
}

// withKey is the 'with' index key of id; with id "" it is the prefix of
// all of bare's entries.
func withKey(bare, id string) []byte {
	k := make([]byte, 0, 2+len(bare)+len(id))
	k = append(append(append(k, keyWith), bare...), withSep)
	return append(k, id...)
}

func withCountKey(bare string) []byte {
	return append(append(append(make([]byte, 0, 2+len(bare)), keyWith), bare...), withCounts)
}

func encodeRecord(at time.Time, with string, value []byte) []byte {
	b := make([]byte, 0, 8+binary.MaxVarintLen64+len(with)+len(value))
	b = binary.BigEndian.AppendUint64(b, micros(at))
	b = binary.AppendUvarint(b, uint64(len(with)))
	b = append(b, with...)
	return append(b, value...)
}

// decodeRecord splits a primary value; value aliases rec.
func decodeRecord(rec []byte) (at time.Time, with string, value []byte, err error) {
	if len(rec) < 9 {
		return time.Time{}, "", nil, errors.New("store: corrupt archive record")
	}
	at = time.UnixMicro(int64(binary.BigEndian.Uint64(rec))).UTC()
	n, w := binary.Uvarint(rec[8:])
	if w <= 0 || uint64(len(rec)-8-w) < n {
		return time.Time{}, "", nil, errors.New("store: corrupt archive record")
	}
	start := 8 + w
	return at, string(rec[start : start+int(n)]), rec[start+int(n):], nil
}

func getCount(b *bolt.Bucket, key []byte) int {
	if b == nil {
		return 0
	}
	if v := b.Get(key); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	return 0
}

func addCount(b *bolt.Bucket, key []byte, delta int) error {
	n := getCount(b, key) + delta
	if n <= 0 {
		return b.Delete(key)
	}
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// Append adds an entry. The id must be new to the owner's archive
// (ErrExists otherwise) and, for ordering, not smaller than the ids of
// entries with earlier times (see the Archive comment).
func (t TxArchive) Append(owner, id string, at time.Time, with string, value []byte) error {
	if id == "" || owner == "" {
		return opErr("append", t.bucket, owner, errors.New("empty owner or id"))
	}
	top, err := t.btx.CreateBucketIfNotExists(t.bucket)
	if err != nil {
		return opErr("append", t.bucket, owner, err)
	}
	ob, err := top.CreateBucketIfNotExists([]byte(owner))
	if err != nil {
		return opErr("append", t.bucket, owner, err)
	}
	// Every range only grows at its end: pack pages full instead of
	// splitting them in half on every append.
	ob.FillPercent = 0.95
	rk := recordKey(id)
	if ob.Get(rk) != nil {
		return opErr("append", t.bucket, owner+"/"+id, ErrExists)
	}
	bare := bareOf(with)
	at = at.UTC()
	for _, op := range []func() error{
		func() error { return ob.Put(rk, encodeRecord(at, with, value)) },
		func() error { return addCount(ob, keyTotal, 1) },
		func() error { return ob.Put(withKey(bare, id), []byte(with)) },
		func() error {
			if bare == "" {
				return nil
			}
			return addCount(ob, withCountKey(bare), 1)
		},
		func() error {
			if t.idAt != nil {
				return nil
			}
			return ob.Put(timeKey(at, id), nil)
		},
	} {
		if err := op(); err != nil {
			return opErr("append", t.bucket, owner+"/"+id, err)
		}
	}
	return nil
}

// Get returns one entry, or an error wrapping ErrNotFound.
func (t TxArchive) Get(owner, id string) (ArchiveItem, error) {
	if ob := t.owner(owner); ob != nil {
		if rec := ob.Get(recordKey(id)); rec != nil {
			return itemOf(id, rec)
		}
	}
	return ArchiveItem{}, fmt.Errorf("%w: %s owner %q id %q", ErrNotFound, t.bucket, owner, id)
}

func itemOf(id string, rec []byte) (ArchiveItem, error) {
	at, with, val, err := decodeRecord(rec)
	if err != nil {
		return ArchiveItem{}, fmt.Errorf("%w (id %q)", err, id)
	}
	return ArchiveItem{ID: id, At: at, With: with, Value: clone(val)}, nil
}

// Replace changes an entry's value, keeping its id, time and 'with' (a
// retraction tombstone, a correction). A missing id is ErrNotFound.
func (t TxArchive) Replace(owner, id string, value []byte) error {
	item, err := t.Get(owner, id)
	if err != nil {
		return err
	}
	if !t.btx.Writable() {
		return opErr("replace", t.bucket, owner+"/"+id, berrors.ErrTxNotWritable)
	}
	ob := t.owner(owner)
	return opErr("replace", t.bucket, owner+"/"+id, ob.Put(recordKey(id), encodeRecord(item.At, item.With, value)))
}

// Len returns the number of entries owner has (a counter, O(1)).
func (t TxArchive) Len(owner string) (int, error) { return getCount(t.owner(owner), keyTotal), nil }

// DeleteOwner removes owner's whole archive; a missing owner is not an error.
func (t TxArchive) DeleteOwner(owner string) error {
	if !t.btx.Writable() {
		return opErr("delete owner", t.bucket, owner, berrors.ErrTxNotWritable)
	}
	return opErr("delete owner", t.bucket, owner, deleteOwner(t.btx, t.btx.Bucket(t.bucket), owner))
}

// DeleteBefore removes owner's entries with At < before (retention) and
// returns how many it removed.
func (t TxArchive) DeleteBefore(owner string, before time.Time) (int, error) {
	return t.deleteBefore(owner, before, 0)
}

// deleteBefore is DeleteBefore removing at most max entries (0: all).
func (t TxArchive) deleteBefore(owner string, before time.Time, chunk int) (int, error) {
	ob, err := t.writableOwner("delete before", owner)
	if ob == nil || err != nil {
		return 0, err
	}
	full := func(doomed []string) bool { return chunk > 0 && len(doomed) == chunk }
	var doomed []string
	if t.idAt != nil {
		// Entries in id order; ids up to idSlack past before may still
		// hold older entries.
		hi := bound{[]byte(t.idAt(before.Add(idSlack))), false}
		_, err := walkRange(ob, []byte{keyRecord}, bound{}, hi, false, func(id, rec []byte) (bool, error) {
			at, _, _, err := decodeRecord(rec)
			if err != nil {
				return false, opErr("delete before", t.bucket, owner+"/"+string(id), err)
			}
			if at.Before(before) {
				doomed = append(doomed, string(id))
			}
			return !full(doomed), nil
		})
		if err != nil {
			return 0, err
		}
	} else {
		limit := micros(before)
		prefix := []byte{keyTime}
		c := ob.Cursor()
		for k, _ := c.Seek(prefix); k != nil && k[0] == keyTime && len(k) >= 9 && binary.BigEndian.Uint64(k[1:]) < limit; k, _ = c.Next() {
			doomed = append(doomed, string(k[9:]))
			if full(doomed) {
				break
			}
		}
	}
	return len(doomed), t.remove(owner, ob, doomed)
}

// Trim removes owner's oldest entries until at most maxItems remain and
// returns how many it removed.
func (t TxArchive) Trim(owner string, maxItems int) (int, error) {
	return t.trim(owner, maxItems, 0)
}

func (t TxArchive) trim(owner string, maxItems, chunk int) (int, error) {
	ob, err := t.writableOwner("trim", owner)
	if ob == nil || err != nil {
		return 0, err
	}
	excess := getCount(ob, keyTotal) - max(maxItems, 0)
	if excess <= 0 {
		return 0, nil
	}
	if chunk > 0 && excess > chunk {
		excess = chunk
	}
	doomed := make([]string, 0, excess)
	c := ob.Cursor()
	for k, _ := c.Seek([]byte{keyRecord}); k != nil && k[0] == keyRecord && len(doomed) < excess; k, _ = c.Next() {
		doomed = append(doomed, string(k[1:]))
	}
	return len(doomed), t.remove(owner, ob, doomed)
}

func (t TxArchive) writableOwner(op, owner string) (*bolt.Bucket, error) {
	if !t.btx.Writable() {
		return nil, opErr(op, t.bucket, owner, berrors.ErrTxNotWritable)
	}
	return t.owner(owner), nil
}

// remove deletes entries from every index and fixes the counters; an
// owner left empty disappears.
func (t TxArchive) remove(owner string, ob *bolt.Bucket, doomed []string) error {
	if len(doomed) == 0 {
		return nil
	}
	perWith := map[string]int{}
	removed := 0
	for _, id := range doomed {
		rk := recordKey(id)
		rec := ob.Get(rk)
		if rec == nil {
			continue
		}
		at, with, _, err := decodeRecord(rec)
		if err != nil {
			return opErr("delete", t.bucket, owner+"/"+id, err)
		}
		bare := bareOf(with)
		// The time key goes too when there is none (TimeOrderedIDs): an
		// archive migrated from version 1 still has them, and deleting a
		// missing key writes nothing.
		for _, k := range [][]byte{rk, withKey(bare, id), timeKey(at, id)} {
			if err := ob.Delete(k); err != nil {
				return opErr("delete", t.bucket, owner+"/"+id, err)
			}
		}
		if bare != "" {
			perWith[bare]--
		}
		removed++
	}
	if err := addCount(ob, keyTotal, -removed); err != nil {
		return opErr("delete", t.bucket, owner, err)
	}
	for bare, d := range perWith {
		if err := addCount(ob, withCountKey(bare), d); err != nil {
			return opErr("delete", t.bucket, owner, err)
		}
	}
	if getCount(ob, keyTotal) == 0 {
		return opErr("delete", t.bucket, owner, deleteOwner(t.btx, t.btx.Bucket(t.bucket), owner))
	}
	return nil
}

// Owners calls fn for each owner with an archive, in order, stopping at
// the first error fn returns (which Owners returns).
func (t TxArchive) Owners(fn func(owner string) error) error {
	return walk(t.btx.Bucket(t.bucket), nil, nil, func(k, _ []byte) error { return fn(string(k)) })
}

// bound is one end of an id range: the id and whether it is included.
type bound struct {
	id   []byte // nil: open
	incl bool
}

// tighterLo returns the more restrictive of two lower bounds.
func tighterLo(a, b bound) bound {
	switch {
	case a.id == nil:
		return b
	case b.id == nil:
		return a
	}
	switch c := bytes.Compare(a.id, b.id); {
	case c > 0:
		return a
	case c < 0:
		return b
	}
	return bound{a.id, a.incl && b.incl}
}

// tighterHi returns the more restrictive of two upper bounds.
func tighterHi(a, b bound) bound {
	switch {
	case a.id == nil:
		return b
	case b.id == nil:
		return a
	}
	switch c := bytes.Compare(a.id, b.id); {
	case c < 0:
		return a
	case c > 0:
		return b
	}
	return bound{a.id, a.incl && b.incl}
}

func (lo bound) admits(id []byte) bool {
	if lo.id == nil {
		return true
	}
	c := bytes.Compare(id, lo.id)
	return c > 0 || c == 0 && lo.incl
}

func (hi bound) admitsBelow(id []byte) bool {
	if hi.id == nil {
		return true
	}
	c := bytes.Compare(id, hi.id)
	return c < 0 || c == 0 && hi.incl
}

// Query returns one page of owner's entries matching q (see ArchiveQuery).
func (t TxArchive) Query(owner string, q ArchiveQuery) (ArchiveResult, error) {
	res := ArchiveResult{Count: -1}
	ob := t.owner(owner)
	notFound := func(id string) error {
		return fmt.Errorf("%w: %s owner %q id %q", ErrNotFound, t.bucket, owner, id)
	}
	for _, id := range append([]string{q.AfterID, q.BeforeID}, q.IDs...) {
		if id != "" && (ob == nil || ob.Get(recordKey(id)) == nil) {
			return res, notFound(id)
		}
	}
	if q.IDs != nil && len(q.IDs) == 0 {
		res.Complete, res.Count = true, 0
		return res, nil
	}
	if ob == nil {
		res.Complete, res.Count = true, 0
		return res, nil
	}

	// The id range: after/before ids and the time range turned into ids.
	lo, hi := bound{}, bound{}
	if q.AfterID != "" {
		lo = bound{[]byte(q.AfterID), false}
	}
	if q.BeforeID != "" {
		hi = bound{[]byte(q.BeforeID), false}
	}
	bare, full := bareOf(q.With), strings.Contains(q.With, "/")
	empty := false
	switch {
	case q.Start.IsZero() && q.End.IsZero():
	case t.idAt != nil:
		// Widened by idSlack; match checks the entries' own times.
		if !q.Start.IsZero() {
			lo = tighterLo(lo, bound{[]byte(t.idAt(q.Start.Add(-idSlack))), true})
		}
		if !q.End.IsZero() {
			hi = tighterHi(hi, bound{[]byte(t.idAt(q.End.Add(idSlack + time.Microsecond))), false})
		}
	default:
		c := ob.Cursor()
		tkey := func(at uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyTime}, at) }
		isTime := func(k []byte) bool { return len(k) >= 9 && k[0] == keyTime }
		if !q.Start.IsZero() {
			k, _ := c.Seek(tkey(micros(q.Start)))
			res.Scanned++
			if !isTime(k) {
				empty = true
			} else {
				lo = tighterLo(lo, bound{slices.Clone(k[9:]), true})
			}
		}
		if !q.End.IsZero() && !empty {
			// The last time key at or before End: one back from the first
			// key after it (or from the end of the bucket).
			k, _ := c.Seek(tkey(micros(q.End) + 1))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			res.Scanned++
			if !isTime(k) {
				empty = true
			} else {
				hi = tighterHi(hi, bound{slices.Clone(k[9:]), true})
			}
		}
	}
	if lo.id != nil && hi.id != nil {
		if c := bytes.Compare(lo.id, hi.id); c > 0 || c == 0 && !(lo.incl && hi.incl) {
			empty = true
		}
	}

	// match applies the filters an index walk cannot (time precision, a
	// full JID, the ids list's bounds).
	match := func(id []byte, it ArchiveItem) bool {
		if !lo.admits(id) || !hi.admitsBelow(id) {
			return false
		}
		if !q.Start.IsZero() && it.At.Before(q.Start.Truncate(time.Microsecond)) {
			return false
		}
		if !q.End.IsZero() && it.At.After(q.End) {
			return false
		}
		if q.With != "" {
			if full && it.With != q.With || !full && bareOf(it.With) != bare {
				return false
			}
		}
		return true
	}

	// Counts that cost nothing.
	timeFiltered := !q.Start.IsZero() || !q.End.IsZero()
	switch {
	case q.IDs != nil:
	case timeFiltered || full:
	case q.With != "":
		res.Count = getCount(ob, withCountKey(bare))
	default:
		res.Count = getCount(ob, keyTotal)
	}

	collect := func(id []byte, rec []byte) (bool, error) {
		it, err := itemOf(string(id), rec)
		if err != nil {
			return false, err
		}
		if !match(id, it) {
			return false, nil
		}
		res.Items = append(res.Items, it)
		return true, nil
	}
	full1 := func() bool { return q.Limit > 0 && len(res.Items) >= q.Limit }

	switch {
	case empty:
		res.Complete = true
	case q.IDs != nil:
		want := slices.Clone(q.IDs)
		slices.Sort(want)
		want = slices.Compact(want)
		var all []ArchiveItem
		for _, id := range want {
			res.Scanned++
			it, err := itemOf(id, ob.Get(recordKey(id)))
			if err != nil {
				return res, err
			}
			if match([]byte(id), it) {
				all = append(all, it)
			}
		}
		res.Count = len(all)
		res.Complete = true
		if q.Limit > 0 && len(all) > q.Limit {
			res.Complete = false
			if q.Reverse {
				all = all[len(all)-q.Limit:]
			} else {
				all = all[:q.Limit]
			}
		}
		res.Items = all
	default:
		// Walk the 'with' index for a 'with' query, else the primary one.
		prefix := []byte{keyRecord}
		if q.With != "" {
			prefix = withKey(bare, "")
		}
		done := true
		{
			var err error
			done, err = walkRange(ob, prefix, lo, hi, q.Reverse, func(id, v []byte) (bool, error) {
				res.Scanned++
				rec := v
				if q.With != "" {
					if full && string(v) != q.With {
						return true, nil
					}
					rec = ob.Get(recordKey(string(id)))
					if rec == nil {
						return true, nil // index without entry: skip
					}
				}
				if full1() {
					// One matching entry beyond the page: not complete.
					it, err := itemOf(string(id), rec)
					if err != nil {
						return false, err
					}
					return !match(id, it), nil
				}
				_, err := collect(id, rec)
				return true, err
			})
			if err != nil {
				return res, err
			}
		}
		res.Complete = done
		if q.Reverse {
			slices.Reverse(res.Items)
		}
	}
	if n := len(res.Items); n > 0 {
		res.First, res.Last = res.Items[0].ID, res.Items[n-1].ID
	}
	return res, nil
}

// walkRange visits the keys prefix+id of b with id between lo and hi,
// ascending or (reverse) descending, passing id (without the prefix) and
// the value. fn returns false to stop. walkRange reports whether it ran
// out of keys (true) rather than being stopped.
func walkRange(b *bolt.Bucket, prefix []byte, lo, hi bound, reverse bool, fn func(id, v []byte) (bool, error)) (bool, error) {
	c := b.Cursor()
	key := func(id []byte) []byte { return append(slices.Clip(prefix), id...) }
	var k, v []byte
	if !reverse {
		if lo.id != nil {
			k, v = c.Seek(key(lo.id))
		} else {
			k, v = c.Seek(prefix)
		}
	} else {
		var start []byte
		if hi.id != nil {
			start = key(hi.id)
		} else {
			// Just past the prefix: the prefix ends in 0x00 or is empty.
			start = nextPrefix(prefix)
		}
		if start == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(start); k == nil {
			k, v = c.Last()
		} else if !bytes.Equal(k, start) || !hi.incl || hi.id == nil {
			k, v = c.Prev()
		}
	}
	for k != nil && bytes.HasPrefix(k, prefix) {
		id := k[len(prefix):]
		if reverse && !lo.admits(id) || !reverse && !hi.admitsBelow(id) {
			return true, nil
		}
		if lo.admits(id) && hi.admitsBelow(id) {
			more, err := fn(id, v)
			if err != nil || !more {
				return false, err
			}
		}
		if reverse {
			k, v = c.Prev()
		} else {
			k, v = c.Next()
		}
	}
	return true, nil
}

// nextPrefix is the smallest key greater than every key starting with p,
// or nil if there is none (p empty or all 0xff).
func nextPrefix(p []byte) []byte {
	out := slices.Clone(p)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] < 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}

// --- Archive, one transaction per call ---

// Append adds an entry and returns once it is on disk. Concurrent Appends
// (and Puts) share one commit and one fsync (group commit). A duplicate id
// is ErrExists.
func (a *Archive) Append(owner, id string, at time.Time, with string, value []byte) error {
	return a.db.batch(func(tx *bolt.Tx) error { return a.tx(tx).Append(owner, id, at, with, value) })
}

// Get returns one entry, or an error wrapping ErrNotFound.
func (a *Archive) Get(owner, id string) (ArchiveItem, error) {
	return view(a.db, func(tx *bolt.Tx) (ArchiveItem, error) { return a.tx(tx).Get(owner, id) })
}

// Query returns one page of owner's entries matching q, read from one
// consistent snapshot.
func (a *Archive) Query(owner string, q ArchiveQuery) (ArchiveResult, error) {
	return view(a.db, func(tx *bolt.Tx) (ArchiveResult, error) { return a.tx(tx).Query(owner, q) })
}

// Replace changes an entry's value, keeping id, time and 'with'.
func (a *Archive) Replace(owner, id string, value []byte) error {
	return a.db.batch(func(tx *bolt.Tx) error { return a.tx(tx).Replace(owner, id, value) })
}

// Len returns the number of entries owner has.
func (a *Archive) Len(owner string) (int, error) {
	return view(a.db, func(tx *bolt.Tx) (int, error) { return a.tx(tx).Len(owner) })
}

// DeleteOwner removes owner's whole archive in one transaction.
func (a *Archive) DeleteOwner(owner string) error {
	return a.db.update(func(tx *bolt.Tx) error { return a.tx(tx).DeleteOwner(owner) })
}

// deleteChunk bounds one retention transaction, so removing a million old
// entries neither builds one huge transaction nor stalls other writers.
const deleteChunk = 5000

// DeleteBefore removes owner's entries older than before, in transactions
// of a few thousand entries, and returns how many it removed.
func (a *Archive) DeleteBefore(owner string, before time.Time) (int, error) {
	return a.chunked(func(tx TxArchive) (int, error) { return tx.deleteBefore(owner, before, deleteChunk) })
}

// Trim removes owner's oldest entries until at most maxItems remain, in
// transactions of a few thousand entries, and returns how many it removed.
func (a *Archive) Trim(owner string, maxItems int) (int, error) {
	return a.chunked(func(tx TxArchive) (int, error) { return tx.trim(owner, maxItems, deleteChunk) })
}

func (a *Archive) chunked(step func(TxArchive) (int, error)) (int, error) {
	total := 0
	for {
		var n int
		err := a.db.batch(func(tx *bolt.Tx) error {
			var err error
			n, err = step(a.tx(tx))
			return err
		})
		total += n
		if err != nil || n < deleteChunk {
			return total, err
		}
	}
}

// Owners calls fn for each owner with an archive, in order; fn runs outside
// any transaction, as for KV.ForEach.
func (a *Archive) Owners(fn func(owner string) error) error {
	return a.db.scan(func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(a.bucket) }, nil,
		func(k, _ []byte) error { return fn(string(k)) })
}

// migrateArchivesV2 converts every archive from the schema version 1
// layout (per owner, sub-buckets i, w, t and c and the key n) to keys of
// the owner's bucket (see the layout above). The time index is kept: an
// archive without TimeOrderedIDs needs it, and one with them deletes its
// time keys as entries expire.
func migrateArchivesV2(tx *bolt.Tx) error {
	var tops [][]byte
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if bytes.HasPrefix(name, []byte("archive:")) {
			tops = append(tops, slices.Clone(name))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range tops {
		top := tx.Bucket(name)
		var owners [][]byte
		if err := top.ForEachBucket(func(k []byte) error {
			owners = append(owners, slices.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, owner := range owners {
			if err := migrateOwnerV2(top.Bucket(owner)); err != nil {
				return fmt.Errorf("%s owner %q: %w", name, owner, err)
			}
		}
	}
	return nil
}

func migrateOwnerV2(ob *bolt.Bucket) error {
	ob.FillPercent = 0.95
	for _, sub := range []struct {
		name   string
		newKey func(k []byte) []byte
	}{
		{"i", func(k []byte) []byte { return recordKey(string(k)) }},
		{"w", func(k []byte) []byte { return append([]byte{keyWith}, k...) }},
		{"t", func(k []byte) []byte { return append([]byte{keyTime}, k...) }},
		{"c", func(k []byte) []byte { return withCountKey(string(k)) }},
	} {
		b := ob.Bucket([]byte(sub.name))
		if b == nil {
			continue
		}
		if err := b.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("unexpected bucket %q in index %s", k, sub.name)
			}
			return ob.Put(sub.newKey(k), slices.Clone(v))
		}); err != nil {
			return err
		}
		if err := ob.DeleteBucket([]byte(sub.name)); err != nil {
			return err
		}
	}
	if n := ob.Get([]byte("n")); n != nil {
		if err := ob.Put(keyTotal, slices.Clone(n)); err != nil {
			return err
		}
		return ob.Delete([]byte("n"))
	}
	return nil
}
