package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid with
// prlimit(2), keeping its hard limit; soft is capped at the hard limit, so
// ^uint64(0) lifts the limit as far as allowed. A process may lower and
// raise (up to the hard limit) the soft limits of its own children without
// privilege, which is what makes this "disk full" work in CI.
//
// With the limit below a file's size, writes that would extend the file
// fail with EFBIG (SIGXFSZ, which a Go program's runtime leaves without
// effect) while writes inside it succeed: for bbolt, which grows its file
// before writing pages past the end, it is a full disk.
func setFileSizeLimit(pid int, soft uint64) error {
	var old syscall.Rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, 0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		return fmt.Errorf("prlimit %d: %w", pid, e)
	}
	lim := syscall.Rlimit{Cur: min(soft, old.Max), Max: old.Max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		return fmt.Errorf("prlimit %d: %w", pid, e)
	}
	return nil
}

// TestDiskFullBouncesAndRecovers (SPEC §7): while the server cannot grow
// its store file (RLIMIT_FSIZE on the running binary, see
// setFileSizeLimit), a message to an online and then to an offline user
// either is stored and delivered (live, or offline at the next login), or
// comes back to its sender as wait/internal-server-error and is neither
// delivered nor archived: never silence, never an acknowledgement of
// something that is not stored. Once the limit is lifted, later messages
// are stored and delivered again without a restart; after a clean stop
// the store passes bbolt's consistency check and, restarted, holds every
// message stored before, during and after, and none of the bounced ones.
func TestDiskFullBouncesAndRecovers(t *testing.T) {
	const (
		before    = 20
		maxFull   = 3000 // bound on messages sent against the full disk
		wantErrs  = 5    // bounced messages to see before lifting the limit
		after     = 40
		batch     = 8
		window    = 32
		timeout   = 20 * time.Second
		bodyBytes = 1000 // fills the file faster
	)
	in := newInstance(t, faultConfig)
	in.start()
	addFaultUsers(t, in, "alice", "bob")
	bobJID := "bob@localhost"
	pad := " " + strings.Repeat("x", bodyBytes)

	bob := dialSM(t, in, "bob", true)
	alice := dialSM(t, in, "alice", false)
	send := func(prefix string, from, n int) []string {
		ids := make([]string, n)
		for k := range ids {
			ids[k] = fmt.Sprintf("%s-%d", prefix, from+k)
		}
		alice.sendMessages(bobJID, ids, pad)
		return ids
	}
	waitBob := func(n int) {
		t.Helper()
		if !bob.wait(timeout, func() bool { return len(bob.recv) >= n }) {
			t.Fatalf("bob received %d messages, want %d (read loop: %v)", len(bob.received()), n, bob.err)
		}
	}

	// Earlier data, stored while there is room.
	wantStored := send("before", 0, before)
	alice.sync(timeout)
	waitBob(before)

	// The disk is full: the file may not grow past its current size.
	fi, err := os.Stat(in.storePath())
	if err != nil {
		t.Fatal(err)
	}
	if err := setFileSizeLimit(in.proc.Process.Pid, uint64(fi.Size())); err != nil {
		t.Fatal(err)
	}
	// fill sends messages with the disk full until the server bounced
	// wantErrs more of them (or maxFull were sent) and every one was
	// acknowledged.
	fill := func(prefix string) []string {
		t.Helper()
		var ids []string
		base := len(alice.errs)
		for n := 0; n < maxFull; n += batch {
			if !alice.wait(timeout, func() bool { return alice.ended || len(alice.sent)-alice.acked <= window-batch }) || alice.wait(0, func() bool { return alice.ended }) {
				t.Fatalf("alice's stream broke with the disk full (read loop: %v)\n%s", alice.err, in.logs)
			}
			ids = append(ids, send(prefix, n, batch)...)
			if alice.wait(0, func() bool { return len(alice.errs) >= base+wantErrs }) {
				break
			}
		}
		alice.sync(timeout)
		return ids
	}
	// split sorts ids into stored (no error came back) and bounced ones,
	// checking the error.
	split := func(ids []string) (stored, bounced []string) {
		t.Helper()
		_, errs := alice.ackedIDs()
		for _, id := range ids {
			e, ok := errs[id]
			if !ok {
				stored = append(stored, id)
				continue
			}
			bounced = append(bounced, id)
			if e != "wait/internal-server-error" && e != "wait/resource-constraint" {
				t.Errorf("message %s bounced with %s, want wait/internal-server-error or wait/resource-constraint", id, e)
			}
		}
		return stored, bounced
	}

	// Bob online: a message is delivered to him or bounced to alice.
	fullIDs := fill("full")
	storedOn, bouncedOn := split(fullIDs)
	if len(bouncedOn) == 0 {
		t.Fatalf("%d messages sent with the store file limited to %d bytes, none bounced", len(fullIDs), fi.Size())
	}
	wantStored = append(wantStored, storedOn...)
	waitBob(len(wantStored))
	checkOnce(t, "bob's live deliveries", bob.received(), wantStored, bouncedOn)

	// Bob offline: a message is kept for him or bounced to alice.
	bob.close()
	offIDs := fill("offline")
	storedOff, bouncedOff := split(offIDs)
	if len(bouncedOff) == 0 {
		t.Fatalf("%d messages sent to offline bob with the disk full, none bounced", len(offIDs))
	}

	// Space returns: no restart needed.
	if err := setFileSizeLimit(in.proc.Process.Pid, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	_, errs := alice.ackedIDs()
	errsBefore := len(errs)
	afterIDs := send("after", 0, after)
	alice.sync(timeout)
	if _, errs := alice.ackedIDs(); len(errs) != errsBefore {
		t.Errorf("messages bounced after the limit was lifted: %d errors, %d before", len(errs), errsBefore)
	}
	wantOffline := append(slices.Clone(storedOff), afterIDs...)
	bob = dialSM(t, in, "bob", true)
	checkOnce(t, "bob's offline deliveries", bob.received(), wantOffline, bouncedOff)
	wantStored = append(wantStored, wantOffline...)
	bounced := append(bouncedOn, bouncedOff...)
	_, allErrs := alice.ackedIDs()

	// Clean stop, consistent file, and everything stored is still there.
	in.stop()
	checkStore(t, in)
	in.start()
	bob = dialSM(t, in, "bob", false)
	alice = dialSM(t, in, "alice", false)
	checkOnce(t, "bob's archive", bob.archive(timeout), wantStored, bounced)
	checkOnce(t, "alice's archive", alice.archive(timeout), wantStored, bounced)
	t.Logf("store file limited to %d bytes: bob online: %d sent, %d stored, %d bounced; bob offline: %d sent, %d stored, %d bounced (%s); %d stored after the limit was lifted",
		fi.Size(), len(fullIDs), len(storedOn), len(bouncedOn), len(offIDs), len(storedOff), len(bouncedOff), firstErr(allErrs), after)
}

// checkOnce reports every id of want that got does not hold exactly once,
// every id of absent it holds, and anything else in it.
func checkOnce(t *testing.T, what string, got, want, absent []string) {
	t.Helper()
	n := counts(got)
	for _, id := range want {
		if n[id] != 1 {
			t.Errorf("%s: stored message %s there %d times, want once", what, id, n[id])
		}
	}
	for _, id := range absent {
		if n[id] != 0 {
			t.Errorf("%s: bounced message %s there %d times", what, id, n[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
	}
}

func firstErr(errs map[string]string) string {
	for _, e := range errs {
		return e
	}
	return ""
}
