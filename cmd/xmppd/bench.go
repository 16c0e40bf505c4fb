package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/xmppd/xmppd/internal/loadgen"
	"github.com/xmppd/xmppd/xmppd/admin"
)

func (a *app) benchCmd() *cobra.Command {
	var cfg loadgen.Config
	var asJSON, create bool
	var adminSocket string
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Load-test an XMPP server: login, chat, muc or idle",
		Long: `Load-test any XMPP server over real client connections (STARTTLS,
SCRAM-SHA-256 or else SCRAM-SHA-1, resource binding) on --addr.

Scenarios:
  login  --connections workers log in and out repeatedly: logins/s, latency
  chat   --pairs pairs of users (bench1<->bench2, ...), each sending to the
         other with at most --window messages in flight (or --rate msgs/s in
         total): delivered msgs/s, end-to-end latency, lost and duplicated
  muc    --rooms rooms x --occupants occupants at conference.<domain>, one
         sender per room: deliveries/s (messages x occupants), latency
  idle   --connections authenticated idle connections held for --duration;
         with --pid, the server's memory per connection

Users <user-prefix>1..<user-prefix>N@<domain> must exist with --password:
create them with --create (through the admin socket of a running xmppd) or
bench/create-users.sh. With --pid the server's CPU time and RSS are read
from /proc before and after the run; compare server CPU per operation, and
check that the generator's own CPU (reported next to it) was not the limit.

A progress line goes to stderr every second and a summary to stdout at the
end; --json prints JSON lines instead (one per second, then the result).`,
		Example: `  xmppd bench login --users 100 --connections 8 --duration 10s --pid $(pidof xmppd)
  xmppd bench chat --users 100 --pairs 50 --window 16 --duration 10s
  xmppd bench chat --users 100 --pairs 50 --rate 1000 --duration 10s
  xmppd bench muc --users 50 --rooms 5 --occupants 10 --duration 10s
  xmppd bench idle --users 100 --connections 400 --duration 10s --pid $(pidof xmppd)`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: loadgen.Scenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			scenario := args[0]
			if !strings.Contains(" "+strings.Join(loadgen.Scenarios, " ")+" ", " "+scenario+" ") {
				return fmt.Errorf("unknown scenario %q: want one of %s", scenario, strings.Join(loadgen.Scenarios, ", "))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if create {
				sock := adminSocket
				if sock == "" {
					c, err := a.loadConfig()
					if err != nil {
						return err
					}
					sock = c.SocketPath()
				}
				if err := createUsers(ctx, sock, cfg); err != nil {
					return err
				}
			}
			enc := json.NewEncoder(a.out)
			cfg.Progress = func(r *loadgen.Report) {
				if asJSON {
					_ = enc.Encode(r)
					return
				}
				fmt.Fprintln(os.Stderr, r.Line())
			}
			rep, err := loadgen.Run(ctx, scenario, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return enc.Encode(rep)
			}
			_, err = fmt.Fprint(a.out, rep.Summary())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:5222", "the server's c2s (STARTTLS) address")
	f.StringVar(&cfg.Domain, "domain", "localhost", "the XMPP domain")
	f.StringVar(&cfg.UserPrefix, "user-prefix", "bench", "users are <prefix>1..<prefix>N@<domain>")
	f.IntVar(&cfg.Users, "users", 100, "number of users (N)")
	f.StringVar(&cfg.Password, "password", "bench-password", "the users' password")
	f.IntVar(&cfg.Connections, "connections", 0, "login: concurrent workers (default min(users, 10)); idle: connections held (default --users)")
	f.IntVar(&cfg.Pairs, "pairs", 0, "chat: user pairs (default users/2)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long the load runs (idle: how long connections are held)")
	f.IntVar(&cfg.Window, "window", 16, "chat, muc: messages in flight per sender")
	f.Float64Var(&cfg.Rate, "rate", 0, "chat, muc: send this many messages/s in total at a fixed pace (latency at fixed load); 0 = as fast as the window allows")
	f.BoolVar(&cfg.SM, "sm", false, "chat: enable XEP-0198 stream management, ask for an ack with every batch and report acknowledged messages that were never delivered")
	f.IntVar(&cfg.Rooms, "rooms", 5, "muc: rooms (K)")
	f.IntVar(&cfg.Occupants, "occupants", 10, "muc: occupants per room (M); needs K*M users, or fewer users with several resources each")
	f.StringVar(&cfg.MUCDomain, "muc-domain", "", "muc: the rooms' service (default conference.<domain>)")
	f.IntVar(&cfg.PID, "pid", 0, "server process: report its CPU time and RSS from /proc")
	f.BoolVar(&asJSON, "json", false, "print JSON lines (one per second and the result) instead of text")
	f.BoolVar(&cfg.TLSSkipVerify, "tls-skip-verify", true, "accept the server's certificate without checking it (self-signed test servers)")
	f.DurationVar(&cfg.Grace, "grace", 5*time.Second, "chat, muc: how long to wait for messages in flight at the end before counting them lost")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "limit for one login (connect to bound resource)")
	f.IntVar(&cfg.SetupParallel, "setup-parallel", 32, "chat, muc, idle: concurrent logins while connecting")
	f.BoolVar(&create, "create", false, "first create the users (existing ones are kept) through the admin socket of a running xmppd")
	f.StringVar(&adminSocket, "admin-socket", "", "admin socket for --create (default: the one of --config)")
	return cmd
}

// createUsers adds <prefix>1..<prefix>N through a running server's admin
// socket, keeping accounts that already exist (their password must be
// --password).
func createUsers(ctx context.Context, sock string, cfg loadgen.Config) error {
	var next, created, existed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 4 { // each account costs the server a PBKDF2: a few at a time
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(cfg.Users) {
					return
				}
				j := cfg.UserPrefix + strconv.FormatInt(i, 10) + "@" + cfg.Domain
				err := admin.Call(sock, "user.add", map[string]string{"jid": j, "password": cfg.Password}, nil)
				switch {
				case err == nil:
					created.Add(1)
				case strings.Contains(err.Error(), "exists"):
					existed.Add(1)
				default:
					once.Do(func() { firstErr = fmt.Errorf("--create: adding %s: %w", j, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "users: %d created, %d existed already (%s)\n", created.Load(), existed.Load(), time.Since(t0).Round(time.Millisecond))
	return nil
}
