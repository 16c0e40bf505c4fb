package push

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// registered keeps exactly the users with a registration.
func TestRegistered(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := New()
	e.db, e.regs = db, db.Map(storeRegs)
	for _, owner := range []string{"bob@localhost", "dave@localhost"} {
		if err := e.regs.Put(owner, "push.example/node", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	var users []xmppd.JID
	for _, l := range []string{"alice", "bob", "carol", "dave"} {
		users = append(users, xmppd.JID{Local: l, Domain: "localhost"})
	}
	got := e.registered(users)
	if want := []xmppd.JID{users[1], users[3]}; !slices.Equal(got, want) {
		t.Fatalf("registered = %v, want %v", got, want)
	}
}
