package xmppd_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/builtin"
	"github.com/xmppd/xmppd/internal/loadgen"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const (
	idleHelperEnv   = "XMPPD_IDLE_CLIENTS" // addr,users,connections: run as the client process
	idleUsers       = 20
	idleSessions    = 300
	idlePassword    = "idle-pw"
	idleMaxStackPer = 8 << 10
	idleMaxHeapPer  = 12 << 10
)

// TestIdleSessionMemory: idle authenticated TLS sessions of a server with
// every built-in extension cost little memory each. The clients run in a
// child process, so this process's memory statistics are the server's.
// Garbage collection is off while they log in: nothing shrinks the
// goroutine stacks negotiation left behind (an idle server rarely
// collects), and the read loop must not run on such a stack.
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("logs in hundreds of sessions")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(builtin.All()...), xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.ConnectionsPerIP = 10 * idleSessions
		c.Limits.MaxResourcesPerUser = idleSessions
	}))
	for i := range idleUsers {
		srv.AddUser(t, fmt.Sprintf("idle%d", i), idlePassword)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, held, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", idleHelperEnv, srv.C2SAddr(), idleUsers, idleSessions))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close() // the helper exits when its stdin closes
		_ = cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "idle-clients:") {
				ready <- line
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok || line != "idle-clients: ready" {
			t.Fatalf("client process: %q", line)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("client process did not log in its sessions in time")
	}
	waitSessions(t, srv.Server, idleSessions)
	time.Sleep(200 * time.Millisecond) // writer goroutines of the bind results exit
	runtime.ReadMemStats(&held)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)

	stack := (int64(held.StackInuse) - int64(before.StackInuse)) / idleSessions
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / idleSessions
	t.Logf("per idle session: %d bytes of goroutine stack, %d bytes of live heap", stack, heap)
	if stack > idleMaxStackPer {
		t.Errorf("idle sessions hold %d bytes of stack each, want at most %d", stack, idleMaxStackPer)
	}
	if heap > idleMaxHeapPer {
		t.Errorf("idle sessions hold %d bytes of heap each, want at most %d", heap, idleMaxHeapPer)
	}
}

func waitSessions(t *testing.T, srv *xmppd.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := 0
		for i := range idleUsers {
			got += len(srv.Sessions(xmppd.JID{Local: fmt.Sprintf("idle%d", i), Domain: srv.Domain()}))
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions bound, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleClientsHelper is the client process of TestIdleSessionMemory:
// it logs in the sessions, says so, and holds them until stdin closes.
func TestIdleClientsHelper(t *testing.T) {
	spec := os.Getenv(idleHelperEnv)
	if spec == "" {
		t.Skip("only runs as TestIdleSessionMemory's client process")
	}
	parts := strings.Split(spec, ",")
	users, _ := strconv.Atoi(parts[1])
	n, _ := strconv.Atoi(parts[2])
	conns := make([]*loadgen.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c, err := loadgen.Login(context.Background(), parts[0], "localhost", fmt.Sprintf("idle%d", i%users), idlePassword,
					&tls.Config{InsecureSkipVerify: true}, 20*time.Second)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Printf("idle-clients: %v\n", err)
		return
	}
	fmt.Println("idle-clients: ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Abort()
	}
}
