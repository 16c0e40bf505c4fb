package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// faultConfig keeps every offline message (the tests count them) and the
// log quiet (every stored message is not news).
const faultConfig = `
[limits]
offline_messages = 100000

[log]
level = "warn"
`

func addFaultUsers(t *testing.T, in *instance, users ...string) {
	t.Helper()
	for _, u := range users {
		in.mustCLI(faultPassword+"\n", "user", "add", u, "--password-stdin")
	}
}

// TestKill9LosesNoAcknowledgedMessage (SPEC §7): alice sends chat messages
// to bob from several XEP-0198 streams at once, asking for acks as she
// goes; bob is online for the first part and offline for the rest, and
// mid-run the server is killed with SIGKILL. After a restart on the same
// data directory, every message the server acknowledged to alice is in
// bob's and alice's MAM archives exactly once, the ones sent while bob was
// offline are delivered to him exactly once when he logs in, nothing in
// any archive or delivery is duplicated, and the store passes bbolt's
// consistency check.
func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	const (
		senders   = 4   // alice's streams: concurrent writers share group commits
		online    = 40  // messages per stream while bob is online
		maxOff    = 600 // bound on messages per stream while bob is offline
		killAfter = 120 // per stream: acknowledged offline-phase messages before the kill
		batch     = 8   // messages per write, each write followed by <r/>
		window    = 64  // unacknowledged messages per stream at most
		timeout   = 20 * time.Second
	)
	start := time.Now()
	in := newInstance(t, faultConfig)
	in.start()
	addFaultUsers(t, in, "alice", "bob")
	bobJID := "bob@localhost"

	bob := dialSM(t, in, "bob", true)
	alices := make([]*smConn, senders)
	for i := range alices {
		alices[i] = dialSM(t, in, "alice", false)
	}

	// Bob online: every message is delivered live, exactly once.
	var wantLive []string
	for i, a := range alices {
		var ids []string
		for n := range online {
			ids = append(ids, fmt.Sprintf("on-%d-%d", i, n))
		}
		a.sendMessages(bobJID, ids, "")
		wantLive = append(wantLive, ids...)
	}
	for _, a := range alices {
		a.sync(timeout)
	}
	if !bob.wait(timeout, func() bool { return len(bob.recv) >= len(wantLive) }) {
		t.Fatalf("bob received %d of %d messages while online", len(bob.received()), len(wantLive))
	}
	live := counts(bob.received())
	for _, id := range wantLive {
		if live[id] != 1 {
			t.Errorf("bob received %s %d times while online, want once", id, live[id])
		}
	}
	// He acknowledges everything and leaves, so nothing was in flight to him.
	bob.close()

	// Bob offline: alice's streams send in batches with a bounded window
	// until the server dies under them.
	var wg sync.WaitGroup
	for i, a := range alices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < maxOff; n += batch {
				ok := a.wait(timeout, func() bool { return a.ended || len(a.sent)-a.acked <= window-batch })
				if !ok || a.wait(0, func() bool { return a.ended }) {
					return
				}
				ids := make([]string, batch)
				for k := range ids {
					ids[k] = fmt.Sprintf("off-%d-%d", i, n+k)
				}
				a.sendMessages(bobJID, ids, "")
			}
		}()
	}
	for _, a := range alices {
		if !a.wait(timeout, func() bool { return a.acked >= online+killAfter }) {
			t.Fatalf("%s: only %d stanzas acknowledged before the kill (read loop: %v)", a.name, a.acked, a.err)
		}
	}
	in.kill()
	killedAt := time.Since(start)
	wg.Wait()

	var acked, sentOff, unacked []string
	finished := 0
	for _, a := range alices {
		if !a.wait(timeout, func() bool { return a.ended }) {
			t.Fatalf("%s: the connection survived the kill", a.name)
		}
		ids, errs := a.ackedIDs()
		if len(errs) > 0 {
			t.Errorf("%s: messages bounced: %v", a.name, errs)
		}
		acked = append(acked, ids...)
		a.mu.Lock()
		for _, id := range a.sent[online:] {
			sentOff = append(sentOff, id)
		}
		unacked = append(unacked, a.sent[a.acked:]...)
		if len(a.sent) >= online+maxOff {
			finished++
		}
		a.mu.Unlock()
	}
	if finished == senders {
		t.Fatalf("every stream sent all its messages before the kill; the kill was not mid-run")
	}

	// Restart on the same data directory; bob logs in and gets what was
	// stored for him, then everybody reads their archive.
	in.start()
	bob = dialSM(t, in, "bob", true)
	offline := bob.received()
	bobArchive := bob.archive(timeout)
	alice := dialSM(t, in, "alice", false)
	aliceArchive := alice.archive(timeout)

	inBob, inAlice, delivered := counts(bobArchive), counts(aliceArchive), counts(offline)
	isOff := make(map[string]bool, len(sentOff))
	for _, id := range sentOff {
		isOff[id] = true
	}
	lost := 0
	for _, id := range acked {
		bad := inBob[id] != 1 || inAlice[id] != 1 || isOff[id] && delivered[id] != 1
		if bad {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged message %s: in bob's archive %d times, in alice's %d times, delivered offline %d times; want once each",
					id, inBob[id], inAlice[id], delivered[id])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged messages not kept exactly once", lost, len(acked))
	}
	for name, ids := range map[string][]string{"bob's archive": bobArchive, "alice's archive": aliceArchive, "bob's offline delivery": offline} {
		if d := duplicates(ids); len(d) > 0 {
			t.Errorf("%s holds duplicates: %v", name, d[:min(len(d), 10)])
		}
	}
	for _, id := range offline {
		if !isOff[id] {
			t.Errorf("bob got %q offline, which alice never sent while he was offline", id)
		}
	}
	// Unacknowledged messages may or may not have made it; count them.
	keptUnacked := 0
	for _, id := range unacked {
		if inBob[id] > 0 {
			keptUnacked++
		}
	}
	t.Logf("killed after %v: %d messages acknowledged (%d while bob was offline), %d in flight unacknowledged (%d of them stored anyway); bob's archive %d, alice's %d, offline deliveries %d",
		killedAt.Round(time.Millisecond), len(acked), len(acked)-len(wantLive), len(unacked), keptUnacked, len(bobArchive), len(aliceArchive), len(offline))

	in.stop()
	checkStore(t, in)
}
