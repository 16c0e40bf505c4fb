package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// login: Connections workers log in (TCP, STARTTLS, SCRAM, bind) and close
// the stream again, round-robin over the users, for Duration.
func (r *run) login(ctx context.Context) (*Report, error) {
	return r.withProgress(func(set func(*measure)) (*Report, error) {
		m := r.beginMeasure("run")
		set(m)
		// Logins in flight at the end finish (and count in the total, not
		// in the rate): cutting them off would show up as errors.
		stop, cancel := context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
		var next atomic.Int64
		var wg, closing sync.WaitGroup
		for range r.cfg.Connections {
			h := r.newHist()
			wg.Go(func() {
				for stop.Err() == nil {
					c, d, err := r.login1(ctx, int(next.Add(1)-1))
					if err != nil {
						if ctx.Err() == nil {
							r.fail(err)
							sleepCtx(stop, 50*time.Millisecond) // do not spin on a refusing server
						}
						continue
					}
					h.Record(d)
					r.conns.Add(1)
					// The stream close runs beside the next login: a
					// client does not wait for the server's
					// </stream:stream> before it connects again, and a
					// server that answers it late (ejabberd: ~100 ms)
					// would otherwise cap logins/s by that latency, not
					// by its work. The close still counts in the CPU:
					// the result waits for it.
					closing.Go(func() {
						_ = c.Close(2 * time.Second)
						r.conns.Add(-1)
					})
				}
			})
		}
		<-stop.Done()
		m.stopLoad()
		wg.Wait()
		closing.Wait()
		return m.result(0), nil
	})
}

// idle: Connections authenticated connections held for Duration. The
// server's RSS is sampled before the first login and after the hold.
func (r *run) idle(ctx context.Context) (*Report, error) {
	return r.withProgress(func(set func(*measure)) (*Report, error) {
		// The measured phase starts before the connections are made: the
		// memory they cost is the point.
		m := r.beginMeasure("setup")
		conns, err := r.connectAll(ctx, r.cfg.Connections, true)
		if err != nil {
			return nil, err
		}
		var wg sync.WaitGroup
		for _, c := range conns {
			if c != nil {
				wg.Go(func() {
					if err := c.ReadLoop(func(*wire.Stanza) {}); err != nil && !r.closing() {
						r.fail(err)
					}
					r.conns.Add(-1)
				})
			}
		}
		r.phase.Store("hold")
		set(m)
		sleepCtx(ctx, r.cfg.Duration)
		m.stopLoad()
		rep := m.result(r.conns.Load())
		r.phase.Store("close")
		closeAll(conns)
		wg.Wait()
		return rep, nil
	})
}

// stream is one sender's messages: sequence numbers from 0, each body
// "<run> <seq> <send time>", at most Window in flight.
type stream struct {
	conn    *Conn
	head    []byte // "<message to='...' type='...'><body>run "
	credits chan struct{}
	sent    atomic.Int64
	// sm: the connection has XEP-0198 on; every batch ends with <r/>, and
	// pre stanzas (initial presence) went out before the first message.
	sm  bool
	pre int64
}

var smRequest = []byte("<r xmlns='urn:xmpp:sm:3'/>")

// acked is how many of the stream's messages the server acknowledged
// (XEP-0198): its h less the stanzas sent before them and the IQ answers
// the reader sent (all of them, even those after the ack: the count errs
// low, never high). Messages go out in sequence order, so these are
// sequence numbers 0 … acked-1.
func (s *stream) acked() int64 {
	n := s.conn.smH.Load() - s.pre - s.conn.smExtra.Load()
	return min(max(n, 0), s.sent.Load())
}

// endBatch closes a batch in buf: with SM, it asks for an ack.
func (s *stream) endBatch(buf []byte) []byte {
	if s.sm {
		buf = append(buf, smRequest...)
	}
	return buf
}

func newStream(c *Conn, to, typ, runID string, window int) *stream {
	s := &stream{conn: c, credits: make(chan struct{}, window)}
	s.head = append(s.head, "<message to='"...)
	s.head = wire.AppendEscaped(s.head, to)
	s.head = append(s.head, "' type='"+typ+"'><body>"+runID+" "...)
	for range window {
		s.credits <- struct{}{}
	}
	return s
}

func (s *stream) appendMsg(b []byte, seq, ts int64) []byte {
	b = append(b, s.head...)
	b = appendInt(b, seq)
	b = append(b, ' ')
	b = appendInt(b, ts)
	return append(b, "</body></message>"...)
}

func appendInt(b []byte, v int64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// take blocks for one credit, then takes up to limit-1 more without
// blocking; 0 when stopped.
func (s *stream) take(stop <-chan struct{}, limit int) int {
	select {
	case <-stop:
		return 0
	default:
	}
	select {
	case <-stop:
		return 0
	case <-s.credits:
	}
	n := 1
	for n < limit {
		select {
		case <-s.credits:
			n++
			continue
		default:
		}
		break
	}
	return n
}

// window sends as fast as credits come back, every batch in one write.
func (s *stream) window(r *run, stop <-chan struct{}) {
	buf := make([]byte, 0, 4096)
	var seq int64
	for {
		n := s.take(stop, cap(s.credits))
		if n == 0 {
			return
		}
		buf = buf[:0]
		ts := r.now()
		for range n {
			buf = s.appendMsg(buf, seq, ts)
			seq++
		}
		buf = s.endBatch(buf)
		if err := s.conn.Send(buf); err != nil {
			r.fail(err)
			return
		}
		s.sent.Add(int64(n))
	}
}

// paced sends one message every interval starting at phase (offset from
// the run epoch), still within the window. A message's timestamp is when
// it was due, not when it went out, so a generator or server that falls
// behind shows as latency instead of silently sending less.
func (s *stream) paced(r *run, stop <-chan struct{}, start, interval time.Duration) {
	buf := make([]byte, 0, 4096)
	var seq int64
	for {
		now := time.Duration(r.now())
		due := int64((now-start)/interval) + 1 - seq
		if due <= 0 {
			t := time.NewTimer(start + time.Duration(seq)*interval - now)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		n := s.take(stop, int(min(due, int64(cap(s.credits)))))
		if n == 0 {
			return
		}
		buf = buf[:0]
		for range n {
			buf = s.appendMsg(buf, seq, int64(start+time.Duration(seq)*interval))
			seq++
		}
		buf = s.endBatch(buf)
		if err := s.conn.Send(buf); err != nil {
			r.fail(err)
			return
		}
		s.sent.Add(int64(n))
	}
}

// receiver counts one connection's messages of this run: latency of
// each first receipt, duplicates by sequence number (one sender per
// receiver), and returns a credit to the stream the receipt completes.
type receiver struct {
	r       *run
	hist    *Hist
	seen    []uint64
	got     atomic.Int64
	dup     atomic.Int64
	release *stream
	typ     string
}

func (rc *receiver) handle(st *wire.Stanza) {
	if st.Name != "message" {
		return
	}
	if st.Type == "error" {
		rc.r.fail(fmt.Errorf("message error from %s: %s", st.From, truncate(st.Raw)))
		return
	}
	if st.Type != rc.typ {
		return
	}
	body := elementText(st.Raw, "body")
	rest, ok := bytes.CutPrefix(body, []byte(rc.r.runID+" "))
	if !ok {
		return // subject, history or an older run's message
	}
	seq, rest := parseInt(rest)
	ts, _ := parseInt(bytes.TrimPrefix(rest, []byte(" ")))
	if seq < 0 || ts < 0 {
		rc.r.fail(fmt.Errorf("unparsable bench message body %q", body))
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	for int64(len(rc.seen)) <= w {
		rc.seen = append(rc.seen, 0)
	}
	if rc.seen[w]&bit != 0 {
		rc.dup.Add(1)
		return
	}
	rc.seen[w] |= bit
	rc.hist.Record(time.Duration(rc.r.now() - ts))
	rc.got.Add(1)
	if rc.release != nil {
		select {
		case rc.release.credits <- struct{}{}:
		default:
		}
	}
}

// parseInt reads a decimal prefix of b: -1 if there is none.
func parseInt(b []byte) (int64, []byte) {
	var v int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return -1, b
	}
	return v, b[i:]
}

// traffic runs senders against receivers for Duration, then waits up to
// Grace for messages in flight, and reports. fanout is the deliveries one
// sent message owes (muc: occupants).
func (r *run) traffic(ctx context.Context, set func(*measure), conns []*Conn, streams []*stream, recvs []*receiver, fanout int64) (*Report, error) {
	r.stats.Store(&trafficStats{streams: streams, recvs: recvs, fanout: fanout})
	ts := r.stats.Load()
	var readers sync.WaitGroup
	for i, c := range conns {
		readers.Go(func() {
			if err := c.ReadLoop(recvs[i].handle); err != nil && !r.closing() {
				r.fail(err)
			}
			r.conns.Add(-1)
		})
	}
	stop := make(chan struct{})
	m := r.beginMeasure("run")
	set(m)
	var senders sync.WaitGroup
	for i, s := range streams {
		if r.cfg.Rate > 0 {
			interval := time.Duration(float64(time.Second) * float64(len(streams)) / r.cfg.Rate)
			start := time.Duration(r.now()) + interval*time.Duration(i)/time.Duration(len(streams))
			senders.Go(func() { s.paced(r, stop, start, interval) })
		} else {
			senders.Go(func() { s.window(r, stop) })
		}
	}
	sleepCtx(ctx, r.cfg.Duration)
	close(stop)
	senders.Wait()
	m.stopLoad()
	r.phase.Store("drain")
	grace := time.Now().Add(r.cfg.Grace)
	for ctx.Err() == nil && time.Now().Before(grace) {
		if got, dup := ts.received(); got+dup >= ts.expected() && ts.allAcked() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	rep := m.result(0)
	r.phase.Store("close")
	closeAll(conns)
	readers.Wait()
	if r.cfg.SM {
		rep.Acked, rep.AckedLost = ts.ackedLost()
	}
	return rep, nil
}

// trafficStats sums the counters of a chat or muc run.
type trafficStats struct {
	streams []*stream
	recvs   []*receiver
	fanout  int64
}

func (t *trafficStats) sent() int64 {
	var n int64
	for _, s := range t.streams {
		n += s.sent.Load()
	}
	return n
}

func (t *trafficStats) expected() int64 { return t.sent() * t.fanout }

// allAcked reports whether the server acknowledged every message sent
// (true without XEP-0198).
func (t *trafficStats) allAcked() bool {
	for _, s := range t.streams {
		if s.sm && s.acked() < s.sent.Load() {
			return false
		}
	}
	return true
}

// ackedLost counts the messages the server acknowledged (XEP-0198) and
// those of them their receiver never got. Call it once the readers
// stopped: it reads the receivers' bitmaps.
func (t *trafficStats) ackedLost() (acked, lost int64) {
	for _, rc := range t.recvs {
		s := rc.release // the stream whose messages rc receives
		if s == nil || !s.sm {
			continue
		}
		n := s.acked()
		acked += n
		for seq := range n {
			if w := seq / 64; w >= int64(len(rc.seen)) || rc.seen[w]&(1<<(seq%64)) == 0 {
				lost++
			}
		}
	}
	return acked, lost
}

// received sums the receivers' first receipts and duplicates.
func (t *trafficStats) received() (got, dup int64) {
	for _, rc := range t.recvs {
		got += rc.got.Load()
		dup += rc.dup.Load()
	}
	return got, dup
}

// chat: Pairs pairs of users (1↔2, 3↔4, ...), each user sending chat
// messages to the other's full JID.
func (r *run) chat(ctx context.Context) (*Report, error) {
	return r.withProgress(func(set func(*measure)) (*Report, error) {
		conns, err := r.connectAll(ctx, 2*r.cfg.Pairs, false)
		if err != nil {
			return nil, err
		}
		// Initial presence, as a client would send (it also flushes any
		// offline messages of earlier runs, which the run id filters out).
		for _, c := range conns {
			if r.cfg.SM {
				if err := c.EnableSM(); err != nil {
					closeAll(conns)
					return nil, err
				}
			}
			if err := c.Send([]byte("<presence/>")); err != nil {
				closeAll(conns)
				return nil, err
			}
		}
		streams := make([]*stream, len(conns))
		recvs := make([]*receiver, len(conns))
		for i, c := range conns {
			streams[i] = newStream(c, conns[i^1].JID, "chat", r.runID, r.cfg.Window)
			streams[i].sm, streams[i].pre = r.cfg.SM, 1 // the presence
		}
		for i := range conns {
			// Connection i receives what its peer sends and returns the
			// peer's credits.
			recvs[i] = &receiver{r: r, hist: r.newHist(), release: streams[i^1], typ: "chat"}
		}
		return r.traffic(ctx, set, conns, streams, recvs, 1)
	})
}

// muc: Rooms rooms of Occupants occupants each (user k*Occupants+j, nick
// o<j>); occupant 0 creates the room (accepting the default
// configuration if the service made it new and locked) and is the room's
// only sender. Its own copy of each message returns the credit.
func (r *run) muc(ctx context.Context) (*Report, error) {
	return r.withProgress(func(set func(*measure)) (*Report, error) {
		k, mo := r.cfg.Rooms, r.cfg.Occupants
		conns, err := r.connectAll(ctx, k*mo, false)
		if err != nil {
			return nil, err
		}
		r.phase.Store("join")
		errs := make([]error, k)
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(1, r.cfg.SetupParallel/mo))
		for room := range k {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[room] = r.joinRoom(r.roomJID(room), conns[room*mo:(room+1)*mo])
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				closeAll(conns)
				return nil, err
			}
		}
		streams := make([]*stream, k)
		recvs := make([]*receiver, len(conns))
		for room := range k {
			streams[room] = newStream(conns[room*mo], r.roomJID(room), "groupchat", r.runID, r.cfg.Window)
			for j := range mo {
				rc := &receiver{r: r, hist: r.newHist(), typ: "groupchat"}
				if j == 0 {
					rc.release = streams[room]
				}
				recvs[room*mo+j] = rc
			}
		}
		return r.traffic(ctx, set, conns, streams, recvs, int64(mo))
	})
}

func (r *run) roomJID(room int) string {
	return fmt.Sprintf("%sroom%d@%s", r.cfg.UserPrefix, room+1, r.cfg.MUCDomain)
}

// joinRoom enters occupants into room in order, each waiting for its
// self-presence (status 110). A room the service reports as new (201) is
// unlocked with an empty submitted configuration form ("instant room").
func (r *run) joinRoom(room string, occupants []*Conn) error {
	for j, c := range occupants {
		_ = c.nc.SetDeadline(time.Now().Add(r.cfg.Timeout))
		nick := fmt.Sprintf("o%d", j)
		join := fmt.Sprintf(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`, room, nick)
		if err := c.Send([]byte(join)); err != nil {
			return err
		}
		var st wire.Stanza
		for {
			if err := c.Next(&st); err != nil {
				return fmt.Errorf("joining %s as %s: %w", room, c.JID, err)
			}
			if st.Name != "presence" || st.From != room+"/"+nick {
				continue
			}
			if st.Type == "error" {
				return fmt.Errorf("joining %s as %s: %s", room, c.JID, truncate(st.Raw))
			}
			if hasStatus(st.Raw, "110") {
				break
			}
		}
		if hasStatus(st.Raw, "201") {
			cfg := fmt.Sprintf(`<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, room)
			if err := c.Send([]byte(cfg)); err != nil {
				return err
			}
			for {
				if err := c.Next(&st); err != nil {
					return fmt.Errorf("configuring %s: %w", room, err)
				}
				if st.Name == "iq" && st.ID == "cfg" {
					break
				}
			}
			if st.Type != "result" {
				return fmt.Errorf("configuring %s: %s", room, truncate(st.Raw))
			}
		}
		_ = c.nc.SetDeadline(time.Time{})
	}
	return nil
}

func hasStatus(raw []byte, code string) bool {
	return bytes.Contains(raw, []byte("code='"+code+"'")) || bytes.Contains(raw, []byte(`code="`+code+`"`))
}
