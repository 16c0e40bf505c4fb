package xmppd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// persistExt queues, for every chat message, a KV write of its body
// (Packet.Persist) at MessageOut and, for a body "fail", a change that
// fails, as a full disk would.
type persistExt struct{}

func (persistExt) Name() string { return "persisttest" }

func (persistExt) Register(r *xmppd.Registrar) error {
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityArchive, func(p *xmppd.Packet) xmppd.Verdict {
		c, ok := p.Stanza.Child("body", "jabber:client")
		if !ok {
			return xmppd.Pass
		}
		el, err := wire.Parse(p.Stanza.ChildBytes(c))
		if err != nil {
			return xmppd.Pass
		}
		body := el.Text
		p.Persist(func(tx *store.Tx) error { return tx.KV("persisttest.bodies").Put(body, []byte(p.Stanza.ID)) })
		if body == "fail" {
			p.Persist(func(*store.Tx) error { return errors.New("no space left on device") })
		}
		return xmppd.Pass
	})
	return nil
}

// A message whose store changes cannot be committed is not delivered, none
// of its changes is stored, and its sender gets a wait error; a message
// whose changes commit is stored (in one write transaction) before it is
// delivered.
func TestPersistFailureIsNotDelivered(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(persistExt{}))
	srv.AddUser(t, "alice", "alice-pw")
	srv.AddUser(t, "bob", "bob-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	bob := srv.Login(t, "bob", "bob-pw")
	bob.Available()
	kv := srv.Store().KV("persisttest.bodies")

	before := srv.Store().WriteTransactions()
	alice.Send("<message to='bob@localhost' type='chat' id='ok1'><body>hello</body></message>")
	bob.Expect("the stored message", func(el *wire.Element) bool { return el.ChildText("body", "") == "hello" })
	if v, err := kv.Get("hello"); err != nil || string(v) != "ok1" {
		t.Fatalf("delivered before stored: %q, %v", v, err)
	}
	alice.Sync()
	if n := srv.Store().WriteTransactions() - before; n != 1 {
		t.Fatalf("a delivered message cost %d write transactions, want 1", n)
	}

	alice.Send("<message to='bob@localhost' type='chat' id='bad1'><body>fail</body></message>")
	got := alice.Expect("the error", xmppdtest.Is("message", "error"))
	e := got.Child("error", "")
	if got.Attr("id") != "bad1" || e == nil || e.Attr("type") != "wait" || e.Child("internal-server-error", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want a wait/internal-server-error for bad1, got %s", got)
	}
	bob.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.ChildText("body", "") == "fail" })
	if _, err := kv.Get("fail"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a change of the failed commit was stored: %v", err)
	}

	// To a full JID (MessageToFull) and to an account without an available
	// resource (before the fallback): the same.
	alice.Sendf("<message to='%s' type='chat' id='bad2'><body>fail</body></message>", bob.JID.String())
	alice.Expect("the error for bad2", func(el *wire.Element) bool { return el.Attr("id") == "bad2" && el.Attr("type") == "error" })
	bob.ExpectNothing(200*time.Millisecond, func(el *wire.Element) bool { return el.ChildText("body", "") == "fail" })
	srv.AddUser(t, "carol", "carol-pw")
	alice.Send("<message to='carol@localhost' type='chat' id='bad3'><body>fail</body></message>")
	got = alice.Expect("the error for bad3", func(el *wire.Element) bool { return el.Attr("id") == "bad3" && el.Attr("type") == "error" })
	if got.Child("error", "").Child("internal-server-error", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("want internal-server-error (not the fallback's service-unavailable) for bad3, got %s", got)
	}
	// The session goes on.
	alice.Send("<message to='bob@localhost' type='chat' id='ok2'><body>still here</body></message>")
	bob.Expect("the next message", func(el *wire.Element) bool { return el.ChildText("body", "") == "still here" })
}
