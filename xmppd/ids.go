package xmppd

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// idGen makes XEP-0359 stanza-ids: 8 bytes of microsecond time and a
// counter, then 4 random bytes, base32hex without padding, so ids sort by
// the time they were assigned (handy for archives) and cannot be guessed.
type idGen struct {
	last atomic.Uint64
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// Next returns a new id.
func (g *idGen) Next() string {
	now := uint64(time.Now().UnixMicro())
	for {
		last := g.last.Load()
		if now <= last {
			now = last + 1
		}
		if g.last.CompareAndSwap(last, now) {
			break
		}
	}
	var raw [12]byte
	binary.BigEndian.PutUint64(raw[:8], now)
	r := idRand.Get().(*mrand.ChaCha8)
	binary.BigEndian.PutUint32(raw[8:], uint32(r.Uint64()))
	idRand.Put(r)
	return idEncoding.EncodeToString(raw[:])
}

// idRand hands out ChaCha8 generators seeded from crypto/rand: as
// unpredictable as reading crypto/rand for every id (ChaCha8 is a
// cryptographic stream), without a getrandom system call per message.
var idRand = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}}

// FirstIDAt returns the smallest stanza-id the server can make at time t
// (the time part set, the rest zero). Ids sort by the time they were made,
// so it turns a time bound into an id bound: archives whose ids are
// stanza-ids declare it (store.DB.TimeOrderedIDs) and need no time index.
func FirstIDAt(t time.Time) string {
	var raw [12]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(max(t.UnixMicro(), 0)))
	return idEncoding.EncodeToString(raw[:])
}

// pendingIQs tracks IQs the server itself sent to clients, so their
// results reach the code that asked (mellium's tracker only works inside
// its own Serve loop, which a server cannot use).
type pendingIQs struct {
	mu sync.Mutex
	m  map[string]chan *wire.Stanza
}

func (p *pendingIQs) add(id string) chan *wire.Stanza {
	ch := make(chan *wire.Stanza, 1)
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]chan *wire.Stanza)
	}
	p.m[id] = ch
	p.mu.Unlock()
	return ch
}

func (p *pendingIQs) drop(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *pendingIQs) resolve(pk *Packet) { p.resolveID(pk.Stanza) }

// resolveID hands st to the code waiting for the answer to the IQ with
// st's id; it reports whether anyone was.
func (p *pendingIQs) resolveID(st *wire.Stanza) bool {
	p.mu.Lock()
	ch, ok := p.m[st.ID]
	delete(p.m, st.ID)
	p.mu.Unlock()
	if ok {
		ch <- st
	}
	return ok
}
