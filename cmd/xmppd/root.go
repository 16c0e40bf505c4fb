package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/xmppd/xmppd/extensions/builtin"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/admin"
	"github.com/xmppd/xmppd/xmppd/config"
	"golang.org/x/term"
)

type app struct {
	configPath string
	out        io.Writer
	in         io.Reader
}

func newRootCmd() *cobra.Command {
	a := &app{out: os.Stdout, in: os.Stdin}
	root := &cobra.Command{
		Use:           "xmppd",
		Short:         "xmppd: an XMPP server for team workspaces",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default ./xmppd.toml if it exists, else built-in defaults)")
	root.AddCommand(a.serveCmd(), a.userCmd(), a.roomCmd(), a.shortcutCmd(), a.uploadCmd(), a.statusCmd(), a.backupCmd(), a.restoreCmd(), a.versionCmd(), a.benchCmd())
	return root
}

func (a *app) loadConfig() (*config.Config, error) {
	if a.configPath != "" {
		return config.Load(a.configPath)
	}
	return config.LoadDefaultPath()
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (a *app) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			log := newLogger(cfg, os.Stderr)
			srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: builtin.All(), Logger: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := srv.Start(ctx); err != nil {
				_ = srv.Close()
				return err
			}
			log.Info("xmppd started", "version", xmppd.Version, "domain", cfg.Domain, "data_dir", cfg.DataDir)
			<-ctx.Done()
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
}

// run executes an admin command on the running server through its admin
// socket, or, when no server runs, on the store opened directly.
func (a *app) run(cmd string, args map[string]string, out any) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	err = admin.Call(cfg.SocketPath(), cmd, args, out)
	if !errors.Is(err, admin.ErrNotRunning) {
		return err
	}
	db, err := store.Open(cfg.StorePath(), store.Options{LockTimeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("the store %s is locked by a running server, but its admin socket %s does not answer: is the server still starting, or run by another user?", cfg.StorePath(), cfg.SocketPath())
	}
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: builtin.All(), Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer srv.Close()
	res, err := srv.AdminCommand(context.Background(), cmd, args)
	if err != nil || out == nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func (a *app) userCmd() *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage accounts"}
	add := a.passwordCmd("add JID", "Create an account", "user.add", "created %s\n")
	passwd := a.passwordCmd("passwd JID", "Change an account's password", "user.passwd", "password changed for %s\n")
	del := &cobra.Command{
		Use:   "del JID",
		Short: "Delete an account and its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var j string
			if err := a.run("user.del", map[string]string{"jid": args[0]}, &j); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "deleted %s\n", j)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var jids []string
			if err := a.run("user.list", nil, &jids); err != nil {
				return err
			}
			for _, j := range jids {
				fmt.Fprintln(a.out, j)
			}
			return nil
		},
	}
	user.AddCommand(add, del, passwd, list)
	return user
}

// passwordCmd builds a user command that takes a JID and a password.
func (a *app) passwordCmd(use, short, adminCmd, done string) *cobra.Command {
	var password string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(password, fromStdin, cmd.Flags().Changed("password"))
			if err != nil {
				return err
			}
			var j string
			if err := a.run(adminCmd, map[string]string{"jid": args[0], "password": pw}, &j); err != nil {
				return err
			}
			fmt.Fprintf(a.out, done, j)
			return nil
		},
	}
	cmd.Flags().StringVar(&password, "password", "", "the password (visible in the process list: prefer --password-stdin)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

// password takes the password from the flag, standard input, or a
// terminal prompt, in that order.
func (a *app) password(flag string, fromStdin, flagSet bool) (string, error) {
	switch {
	case flagSet:
		if flag == "" {
			return "", errors.New("--password is empty")
		}
		return flag, nil
	case fromStdin:
		line, err := bufio.NewReader(a.in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading password from stdin: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", errors.New("no password on standard input")
		}
		return line, nil
	}
	f, ok := a.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no password given: use --password-stdin or --password")
	}
	fmt.Fprint(os.Stderr, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("empty password")
	}
	return string(b), nil
}

func (a *app) roomCmd() *cobra.Command {
	room := &cobra.Command{Use: "room", Short: "Manage group chat rooms (XEP-0045)"}
	var kind, name, desc string
	var private bool
	var members, owners, contextKV []string
	create := &cobra.Command{
		Use:   "create JID",
		Short: "Create a persistent room (JID: room@conference.<domain>, or just the room name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ctx, err := contextArg(contextKV)
			if err != nil {
				return err
			}
			var info muc.RoomInfo
			err = a.run("room.create", map[string]string{
				"jid": args[0], "kind": kind, "name": name, "description": desc,
				"private": fmt.Sprint(private), "members": strings.Join(members, "\n"), "owners": strings.Join(owners, "\n"),
				"context": ctx,
			}, &info)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "created %s (%s, %s)\n", info.JID, info.Kind, access(info))
			return nil
		},
	}
	create.Flags().StringVar(&kind, "kind", muc.KindSpace, "room kind: space, enquiry or conference")
	create.Flags().StringVar(&name, "name", "", "room name")
	create.Flags().StringVar(&desc, "description", "", "room description")
	create.Flags().BoolVar(&private, "private", false, "members-only and hidden (default: listed and open to all)")
	create.Flags().StringSliceVar(&members, "member", nil, "member JID (repeat or comma-separate)")
	create.Flags().StringSliceVar(&owners, "owner", nil, "owner JID, who may configure the room (repeat or comma-separate)")
	create.Flags().StringArrayVar(&contextKV, "context", nil,
		"enquiry context field as key=value, e.g. channel=weblink, visitor_first_name=Jane, utm_source=news (repeat; --kind enquiry)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List rooms",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var rooms []muc.RoomInfo
			if err := a.run("room.list", nil, &rooms); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			for _, r := range rooms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d occupants\t%s\n", r.JID, r.Kind, access(r), len(r.Occupants), r.Name)
			}
			return w.Flush()
		},
	}
	info := &cobra.Command{
		Use:   "info JID",
		Short: "Show a room's kind, settings, members and occupants",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var r muc.RoomInfo
			if err := a.run("room.info", map[string]string{"jid": args[0]}, &r); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "jid\t%s\n", r.JID)
			fmt.Fprintf(w, "kind\t%s\n", r.Kind)
			fmt.Fprintf(w, "name\t%s\n", r.Name)
			fmt.Fprintf(w, "description\t%s\n", r.Description)
			fmt.Fprintf(w, "access\t%s\n", access(r))
			settings := []string{map[bool]string{true: "persistent", false: "temporary"}[r.Persistent]}
			if r.PasswordProtected {
				settings = append(settings, "password-protected")
			}
			if r.NonAnonymous {
				settings = append(settings, "non-anonymous")
			}
			if r.Moderated {
				settings = append(settings, "moderated")
			}
			fmt.Fprintf(w, "settings\t%s\n", strings.Join(settings, ", "))
			fmt.Fprintf(w, "subject\t%s\n", r.Subject)
			fmt.Fprintf(w, "owners\t%s\n", strings.Join(r.Owners, ", "))
			fmt.Fprintf(w, "admins\t%s\n", strings.Join(r.Admins, ", "))
			fmt.Fprintf(w, "members\t%s\n", strings.Join(r.Members, ", "))
			fmt.Fprintf(w, "outcasts\t%s\n", strings.Join(r.Outcasts, ", "))
			fmt.Fprintf(w, "occupants\t%s\n", strings.Join(r.Occupants, ", "))
			fmt.Fprintf(w, "history\t%d messages\n", r.HistoryMessages)
			if r.Enquiry != nil {
				fmt.Fprintf(w, "enquiry context\t\n")
				for _, f := range r.Enquiry.Fields() {
					fmt.Fprintf(w, "  %s\t%s\n", f.Var, f.Value)
				}
			}
			if r.Kind == muc.KindConference || len(r.Calls) > 0 {
				fmt.Fprintf(w, "call log\t%d calls\n", len(r.Calls))
				for i, c := range r.Calls {
					end := "in progress"
					if !c.End.IsZero() {
						end = c.End.UTC().Format(time.RFC3339)
					}
					host := c.Host
					if host == "" {
						host = "none"
					}
					fmt.Fprintf(w, "  call %d\t%s – %s, host %s\n", i+1, c.Start.UTC().Format(time.RFC3339), end, host)
					for _, p := range c.Participants {
						left := "still in the call"
						if !p.Left.IsZero() {
							left = p.Left.UTC().Format(time.RFC3339)
						}
						fmt.Fprintf(w, "    %s (%s)\t%s – %s\n", p.Nick, p.JID, p.Joined.UTC().Format(time.RFC3339), left)
					}
					if c.Dropped > 0 {
						fmt.Fprintf(w, "    …\t%d older entries not kept\n", c.Dropped)
					}
				}
			}
			return w.Flush()
		},
	}
	var reason string
	destroy := &cobra.Command{
		Use:   "destroy JID",
		Short: "Destroy a room (its occupants are told)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var j string
			if err := a.run("room.destroy", map[string]string{"jid": args[0], "reason": reason}, &j); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "destroyed %s\n", j)
			return nil
		},
	}
	destroy.Flags().StringVar(&reason, "reason", "", "reason given to the occupants")
	room.AddCommand(create, list, info, destroy)
	return room
}

// contextArg turns --context key=value flags into the admin protocol's
// context argument (a JSON object); "" when there are none.
func contextArg(kv []string) (string, error) {
	if len(kv) == 0 {
		return "", nil
	}
	m := make(map[string]string, len(kv))
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return "", fmt.Errorf("--context %q: want key=value, e.g. visitor_email=jane@example.com", s)
		}
		m[strings.TrimSpace(k)] = v
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// access says who may find and enter a room (SPEC §1: public = listed and
// open, private = hidden and members-only).
func access(r muc.RoomInfo) string {
	switch {
	case r.Public && !r.MembersOnly:
		return "public"
	case !r.Public && r.MembersOnly:
		return "private"
	}
	l := map[bool]string{true: "listed", false: "hidden"}[r.Public]
	return l + ", " + map[bool]string{true: "members-only", false: "open"}[r.MembersOnly]
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show sessions, accounts and store size",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var st xmppd.Status
			if err := a.run("status", nil, &st); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.out).Encode(st)
			}
			w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			state := "stopped"
			if st.Running {
				state = "running, up " + st.Uptime.String()
			}
			fmt.Fprintf(w, "server\t%s (xmppd %s)\n", state, st.Version)
			fmt.Fprintf(w, "domain\t%s\n", st.Domain)
			if st.Running {
				fmt.Fprintf(w, "listeners\t%s\n", strings.Join(st.Listeners, ", "))
				fmt.Fprintf(w, "sessions\t%d (%d users online, %d connections)\n", st.Sessions, st.OnlineUsers, st.Connections)
				fmt.Fprintf(w, "stanzas\t%d in (%d message, %d presence, %d iq), %d out\n", st.StanzasIn,
					st.StanzasInByKind["message"], st.StanzasInByKind["presence"], st.StanzasInByKind["iq"], st.StanzasOut)
				fmt.Fprintf(w, "latency\trouting p50 ≤ %s, p99 ≤ %s; store commit p50 ≤ %s, p99 ≤ %s\n",
					st.RoutingP50, st.RoutingP99, st.CommitP50, st.CommitP99)
				fmt.Fprintf(w, "store writes\t%d in %d commits\n", st.StoreWrites, st.StoreCommits)
				fmt.Fprintf(w, "logins\t%d ok, %d failed\n", st.Logins, st.AuthFailures)
				for _, name := range slices.Sorted(maps.Keys(st.Counters)) {
					fmt.Fprintf(w, "%s\t%d\n", strings.TrimSuffix(strings.TrimPrefix(name, "xmppd_"), "_total"), st.Counters[name])
				}
			}
			fmt.Fprintf(w, "accounts\t%d\n", st.Accounts)
			fmt.Fprintf(w, "store\t%s (%d bytes)\n", st.StorePath, st.StoreBytes)
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE (works while the server runs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var size int64
			if err := a.run("backup", map[string]string{"file": absPath(args[0])}, &size); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "backup written to %s (%d bytes)\n", args[0], size)
			return nil
		},
	}
}

func (a *app) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the store with a backup (the server must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := admin.Call(cfg.SocketPath(), "status", nil, nil); !errors.Is(err, admin.ErrNotRunning) {
				return fmt.Errorf("the server is running (admin socket %s answers): stop it before restoring", cfg.SocketPath())
			}
			if err := store.Restore(cfg.StorePath(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "restored %s from %s\n", cfg.StorePath(), args[0])
			return nil
		},
	}
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(a.out, "xmppd %s\n", xmppd.Version)
		},
	}
}
