package loadgen_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/internal/loadgen"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

const password = "bench-pw"

// start runs a server with the MUC service and users bench1..benchN.
func start(t *testing.T, users int) (*xmppdtest.Server, loadgen.Config) {
	t.Helper()
	m := muc.New()
	m.Config.MessageRate = 0 // a load generator floods rooms on purpose
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(m))
	for i := 1; i <= users; i++ {
		srv.AddUser(t, fmt.Sprintf("bench%d", i), password)
	}
	cfg := loadgen.Config{
		Addr:          srv.C2SAddr().String(),
		Domain:        srv.Domain(),
		UserPrefix:    "bench",
		Users:         users,
		Password:      password,
		TLSSkipVerify: true,
		Grace:         3 * time.Second,
	}
	return srv, cfg
}

func run(t *testing.T, scenario string, cfg loadgen.Config) *loadgen.Report {
	t.Helper()
	var progress int
	cfg.Progress = func(r *loadgen.Report) {
		progress++
		t.Log(r.Line())
	}
	rep, err := loadgen.Run(context.Background(), scenario, cfg)
	if err != nil {
		t.Fatalf("%s: %v", scenario, err)
	}
	t.Logf("%s\n%s", scenario, rep.Summary())
	if rep.Errors != 0 {
		t.Errorf("%d errors: %v", rep.Errors, rep.ErrorSample)
	}
	if rep.Type != "result" || rep.Scenario != scenario {
		t.Errorf("report type %q scenario %q", rep.Type, rep.Scenario)
	}
	if progress == 0 && cfg.Duration >= time.Second {
		t.Errorf("no progress report during a %s run", cfg.Duration)
	}
	return rep
}

func TestLogin(t *testing.T) {
	_, cfg := start(t, 20)
	cfg.Connections = 4
	cfg.Duration = 1500 * time.Millisecond
	rep := run(t, "login", cfg)
	if rep.Ops == 0 || rep.Rate <= 0 {
		t.Errorf("logins %d, %.1f/s: want > 0", rep.Ops, rep.Rate)
	}
	if rep.P50ms <= 0 || rep.P99ms < rep.P50ms {
		t.Errorf("latency p50 %.2f ms p99 %.2f ms", rep.P50ms, rep.P99ms)
	}
	if rep.ClientCPU <= 0 {
		t.Errorf("bench cpu %.3f s: want > 0", rep.ClientCPU)
	}
}

func TestLoginWrongPassword(t *testing.T) {
	_, cfg := start(t, 2)
	cfg.Password = "not-the-password"
	cfg.Connections = 1
	cfg.Duration = 300 * time.Millisecond
	rep, err := loadgen.Run(context.Background(), "login", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors == 0 || rep.Ops != 0 || len(rep.ErrorSample) == 0 {
		t.Errorf("wrong password: %d logins, %d errors %v; want 0 logins and errors", rep.Ops, rep.Errors, rep.ErrorSample)
	}
}

func TestChat(t *testing.T) {
	_, cfg := start(t, 10)
	cfg.Pairs = 5
	cfg.Window = 4
	cfg.Duration = time.Second
	rep := run(t, "chat", cfg)
	if rep.Ops == 0 || rep.Sent == 0 {
		t.Errorf("delivered %d of %d sent: want > 0", rep.Ops, rep.Sent)
	}
	if rep.Lost != 0 || rep.Dup != 0 {
		t.Errorf("lost %d dup %d: want 0", rep.Lost, rep.Dup)
	}
	if rep.Ops != rep.Sent {
		t.Errorf("delivered %d, sent %d", rep.Ops, rep.Sent)
	}
}

// TestChatSM: with --sm every message is acknowledged by the end of the
// run and none of the acknowledged ones is missing.
func TestChatSM(t *testing.T) {
	_, cfg := start(t, 4)
	cfg.Pairs = 2
	cfg.Window = 8
	cfg.Duration = time.Second
	cfg.SM = true
	// At a fixed rate: flat out on a busy 2-core machine, a receiver's
	// answer to the server's <r/> can lag behind more than the server's
	// max_unacked stanzas, which ends its session (by design); this test
	// is about counting acks, not about that limit.
	cfg.Rate = 2000
	rep := run(t, "chat", cfg)
	if rep.Sent == 0 || rep.Acked != rep.Sent || rep.AckedLost != 0 || rep.Lost != 0 {
		t.Errorf("sent %d, acked %d, acked but lost %d, lost %d: want all acked, none lost", rep.Sent, rep.Acked, rep.AckedLost, rep.Lost)
	}
	if !strings.Contains(rep.Summary(), "acked ") {
		t.Errorf("summary does not report the acks:\n%s", rep.Summary())
	}
	cfg.SM = true
	if _, err := loadgen.Run(t.Context(), "login", cfg); err == nil || !strings.Contains(err.Error(), "--sm") {
		t.Errorf("--sm with login: %v, want an error naming --sm", err)
	}
}

func TestChatRate(t *testing.T) {
	_, cfg := start(t, 4)
	cfg.Pairs = 2
	cfg.Rate = 200
	cfg.Duration = time.Second
	rep := run(t, "chat", cfg)
	// 200/s for 1 s over 4 senders: about 200 messages (not thousands).
	if rep.Sent < 150 || rep.Sent > 260 || rep.Lost != 0 || rep.Dup != 0 {
		t.Errorf("rate 200/s for 1s: sent %d lost %d dup %d", rep.Sent, rep.Lost, rep.Dup)
	}
}

func TestMUC(t *testing.T) {
	_, cfg := start(t, 6)
	cfg.Rooms = 2
	cfg.Occupants = 3
	cfg.Window = 4
	cfg.Duration = time.Second
	rep := run(t, "muc", cfg)
	if rep.Sent == 0 {
		t.Fatal("no groupchat message sent")
	}
	if rep.Ops != rep.Sent*3 || rep.Expected != rep.Sent*3 {
		t.Errorf("deliveries %d (expected %d) for %d messages × 3 occupants", rep.Ops, rep.Expected, rep.Sent)
	}
	if rep.Lost != 0 || rep.Dup != 0 {
		t.Errorf("lost %d dup %d: want 0", rep.Lost, rep.Dup)
	}
}

func TestIdle(t *testing.T) {
	_, cfg := start(t, 10)
	cfg.Connections = 20 // two resources per user
	cfg.Duration = 500 * time.Millisecond
	cfg.PID = os.Getpid() // the server runs in this process
	rep := run(t, "idle", cfg)
	if rep.Ops != 20 || rep.Connections != 20 {
		t.Errorf("held %d connections (%d at the end), want 20", rep.Ops, rep.Connections)
	}
	if rep.Server == nil || rep.Server.SampledError != "" || rep.Server.RSSKB <= 0 {
		t.Errorf("server stats %+v: want RSS sampled", rep.Server)
	}
}

func TestBadScenario(t *testing.T) {
	_, err := loadgen.Run(context.Background(), "nope", loadgen.Config{Users: 1, Password: "x", Duration: time.Second})
	if err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

// TestEnableSM: after EnableSM the server counts what the client sent and
// answers <r/> with that count (the fault tests in cmd/xmppd build on it).
func TestEnableSM(t *testing.T) {
	_, cfg := start(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := loadgen.Login(ctx, cfg.Addr, cfg.Domain, "bench1", password, &tls.Config{InsecureSkipVerify: true}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if err := c.EnableSM(); err != nil {
		t.Fatal(err)
	}
	if err := c.Send([]byte("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")); err != nil {
		t.Fatal(err)
	}
	var st wire.Stanza
	for {
		if err := c.Next(&st); err != nil {
			t.Fatal(err)
		}
		if st.NS == loadgen.NSStreamManagement && st.Name == "a" {
			break
		}
	}
	if !bytes.Contains(st.Raw, []byte("h='2'")) {
		t.Errorf("ack after two stanzas: %s, want h='2'", st.Raw)
	}
	if err := c.EnableSM(); err == nil {
		t.Errorf("enabling stream management twice succeeded")
	}
}
