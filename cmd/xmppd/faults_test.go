package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/xmppd/xmppd/internal/loadgen"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// The fault tests (SPEC §7: an acknowledged message is never lost) drive
// the built binary with smConn, a raw XEP-0198 client on top of
// internal/loadgen's connection, and judge what the server acknowledged
// against what clients see afterwards: live deliveries, offline
// deliveries and MAM archives.

const (
	faultPassword = "fault-pw"
	nsSM          = loadgen.NSStreamManagement
	nsMAM         = "urn:xmpp:mam:2"
	nsRSM         = "http://jabber.org/protocol/rsm"
)

// smConn is one logged-in connection with XEP-0198 enabled. Its read loop
// records the server's acks (h counts the stanzas the server handled, in
// the order they were sent), message errors, delivered messages and MAM
// results, and answers the server's <r/> and pings.
type smConn struct {
	t    *testing.T
	name string
	c    *loadgen.Conn

	// wmu makes the order of sent the order on the wire.
	wmu     sync.Mutex
	mu      sync.Mutex
	cond    *sync.Cond
	sent    []string          // message id (or "" for other stanzas) of every stanza sent, in order
	acked   int               // the server's latest h
	errs    map[string]string // message id → error type/condition the server bounced it with
	recv    []string          // ids of the messages delivered to this connection, in order
	inbound int               // stanzas received (the h this client reports)
	iqs     map[string]*wire.Element
	mam     map[string][]string // queryid → ids of the archived messages returned
	err     error               // why the read loop ended; nil while it runs
	ended   bool
}

func faultTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// dialSM logs user in on in's c2s port, enables XEP-0198 and starts the
// read loop. With presence, it sends initial presence (and so receives
// offline messages) and waits until the server handled it.
func dialSM(t *testing.T, in *instance, user string, presence bool) *smConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	c, err := loadgen.Login(ctx, in.c2s, "localhost", user, faultPassword, faultTLS(), 15*time.Second)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	if err := c.EnableSM(); err != nil {
		c.Abort()
		t.Fatalf("%s: %v", user, err)
	}
	s := &smConn{t: t, name: c.JID, c: c, errs: map[string]string{}, iqs: map[string]*wire.Element{}, mam: map[string][]string{}}
	s.cond = sync.NewCond(&s.mu)
	go s.readLoop()
	t.Cleanup(c.Abort)
	if presence {
		s.send("", []byte("<presence/>"))
		s.sync(15 * time.Second)
	}
	return s
}

func (s *smConn) readLoop() {
	var st wire.Stanza
	var err error
	for {
		if err = s.c.Next(&st); err != nil {
			break
		}
		if st.NS == nsSM {
			switch st.Name {
			case "a":
				el, perr := st.Element()
				h, aerr := strconv.Atoi(attrOf(el, perr, "h"))
				if aerr != nil {
					err = fmt.Errorf("bad ack %s", st.Raw)
				} else {
					s.mu.Lock()
					s.acked = h
					s.cond.Broadcast()
					s.mu.Unlock()
				}
			case "r":
				s.mu.Lock()
				n := s.inbound
				s.mu.Unlock()
				_ = s.c.Send([]byte("<a xmlns='urn:xmpp:sm:3' h='" + strconv.Itoa(n) + "'/>"))
			}
			if err != nil {
				break
			}
			continue
		}
		el, perr := st.Element()
		if perr != nil {
			err = fmt.Errorf("unparsable stanza %s: %v", st.Raw, perr)
			break
		}
		s.mu.Lock()
		s.inbound++
		switch {
		case st.Name == "message" && st.Type == "error":
			cond := "?"
			if e := el.Child("error", "jabber:client"); e != nil && len(e.Children) > 0 {
				cond = e.Attr("type") + "/" + e.Children[0].Name
			}
			s.errs[st.ID] = cond
		case st.Name == "message":
			if r := el.Child("result", nsMAM); r != nil {
				id := ""
				if fw := r.Child("forwarded", "urn:xmpp:forward:0"); fw != nil {
					if m := fw.Child("message", "jabber:client"); m != nil {
						id = m.Attr("id")
					}
				}
				s.mam[r.Attr("queryid")] = append(s.mam[r.Attr("queryid")], id)
			} else {
				s.recv = append(s.recv, st.ID)
			}
		case st.Name == "iq" && (st.Type == "get" || st.Type == "set"):
			// A ping (idle check) or anything else: answer so h stays exact.
			reply := fmt.Appendf(nil, "<iq type='result' id='%s' to='%s'/>", wire.AppendEscaped(nil, st.ID), wire.AppendEscaped(nil, st.From))
			s.mu.Unlock()
			s.send("", reply)
			s.mu.Lock()
		case st.Name == "iq":
			s.iqs[st.ID] = el
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.err, s.ended = err, true
	s.cond.Broadcast()
	s.mu.Unlock()
}

func attrOf(el *wire.Element, err error, name string) string {
	if err != nil {
		return ""
	}
	return el.Attr(name)
}

// send writes one stanza: a message with the given id, or anything else
// with id "".
func (s *smConn) send(id string, b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.sent = append(s.sent, id)
	s.mu.Unlock()
	_ = s.c.Send(b) // a broken connection shows in the read loop
}

// sendMessages sends one chat message per id to `to` (body: the id, then
// pad) in one write, followed by <r/>.
func (s *smConn) sendMessages(to string, ids []string, pad string) {
	var b []byte
	for _, id := range ids {
		b = fmt.Appendf(b, "<message type='chat' to='%s' id='%s'><body>%s%s</body></message>", to, id, id, pad)
	}
	b = append(b, "<r xmlns='urn:xmpp:sm:3'/>"...)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.sent = append(s.sent, ids...)
	s.mu.Unlock()
	_ = s.c.Send(b)
}

// wait blocks until pred (called with s.mu held) holds, the read loop
// ends, or timeout passes; it reports pred's last value.
func (s *smConn) wait(timeout time.Duration, pred func() bool) bool {
	timedOut := false
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		timedOut = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !pred() && !timedOut && !s.ended {
		s.cond.Wait()
	}
	return pred()
}

// sync asks for an ack and waits until every stanza sent so far is
// acknowledged; it fails the test otherwise.
func (s *smConn) sync(timeout time.Duration) {
	s.t.Helper()
	_ = s.c.Send([]byte("<r xmlns='urn:xmpp:sm:3'/>"))
	if !s.wait(timeout, func() bool { return s.acked >= len(s.sent) }) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.t.Fatalf("%s: %d of %d stanzas acknowledged (read loop: %v)", s.name, s.acked, len(s.sent), s.err)
	}
}

// ackedIDs returns the ids of the messages the server acknowledged and
// those it bounced (with their error).
func (s *smConn) ackedIDs() (acked []string, errs map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.sent[:min(s.acked, len(s.sent))] {
		if id != "" {
			acked = append(acked, id)
		}
	}
	return acked, maps.Clone(s.errs)
}

// received returns the ids of the messages delivered so far.
func (s *smConn) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recv)
}

// iq sends an IQ request with payload (to the own account) and waits for
// the reply.
func (s *smConn) iq(id, payload string, timeout time.Duration) *wire.Element {
	s.t.Helper()
	s.send("", []byte("<iq type='set' id='"+id+"'>"+payload+"</iq>"))
	var reply *wire.Element
	if !s.wait(timeout, func() bool { reply = s.iqs[id]; return reply != nil }) {
		s.t.Fatalf("%s: no reply to IQ %s (read loop: %v)", s.name, id, s.err)
	}
	return reply
}

// archive pages through the account's whole MAM archive (XEP-0313 with
// RSM) and returns the message ids in archive order.
func (s *smConn) archive(timeout time.Duration) []string {
	s.t.Helper()
	var ids []string
	after := ""
	for page := 0; ; page++ {
		qid := fmt.Sprintf("mam-%p-%d", s, page)
		set := "<max>100</max>"
		if after != "" {
			set += "<after>" + after + "</after>"
		}
		reply := s.iq(qid, "<query xmlns='urn:xmpp:mam:2' queryid='"+qid+"'><set xmlns='http://jabber.org/protocol/rsm'>"+set+"</set></query>", timeout)
		if reply.Attr("type") != "result" {
			s.t.Fatalf("%s: MAM query failed: %s", s.name, reply)
		}
		fin := reply.Child("fin", nsMAM)
		if fin == nil {
			s.t.Fatalf("%s: MAM reply without <fin/>: %s", s.name, reply)
		}
		s.mu.Lock()
		ids = append(ids, s.mam[qid]...)
		s.mu.Unlock()
		rsm := fin.Child("set", nsRSM)
		if fin.Attr("complete") == "true" || rsm == nil || rsm.ChildText("last", nsRSM) == "" {
			return ids
		}
		after = rsm.ChildText("last", nsRSM)
		if page > 1000 {
			s.t.Fatalf("%s: MAM paging does not end", s.name)
		}
	}
}

// close ends the stream: it acknowledges everything received, sends
// </stream:stream> and waits for the server's.
func (s *smConn) close() {
	s.mu.Lock()
	n := s.inbound
	s.mu.Unlock()
	_ = s.c.Send([]byte("<a xmlns='urn:xmpp:sm:3' h='" + strconv.Itoa(n) + "'/></stream:stream>"))
	s.wait(15*time.Second, func() bool { return false })
	s.c.Abort()
}

// counts returns how often each id occurs in ids.
func counts(ids []string) map[string]int {
	m := make(map[string]int, len(ids))
	for _, id := range ids {
		m[id]++
	}
	return m
}

// duplicates lists the ids that occur more than once.
func duplicates(ids []string) []string {
	var d []string
	for id, n := range counts(ids) {
		if n > 1 {
			d = append(d, id)
		}
	}
	slices.Sort(d)
	return d
}

// checkStore opens the stopped server's bbolt file and runs bbolt's own
// consistency check (every page reachable once, no page both used and
// free, every bucket's keys in order).
func checkStore(t *testing.T, in *instance) {
	t.Helper()
	db, err := bolt.Open(in.storePath(), 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("store does not open: %v", err)
	}
	defer db.Close()
	var problems []error
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err)
		}
		return nil
	})
	if err != nil || len(problems) > 0 {
		t.Fatalf("store is inconsistent: %v %v", err, problems)
	}
}

func (in *instance) storePath() string { return filepath.Join(in.dir, "data", "xmppd.db") }

// kill ends the server with SIGKILL: no shutdown, no flush, no goodbye.
func (in *instance) kill() {
	in.t.Helper()
	if err := in.proc.Process.Kill(); err != nil {
		in.t.Fatal(err)
	}
	<-in.exited
	in.stopped = true
}
