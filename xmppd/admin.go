package xmppd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/auth"
)

// Operator actions. They work the same on a running server (reached over
// the admin socket) and on one that was built but never started (the CLI
// opening the store directly), so the two paths cannot drift apart.

// ParseAccount turns "alice" or "alice@domain" into a normalised local
// part, refusing JIDs of other domains.
func (srv *Server) ParseAccount(s string) (string, error) {
	local := s
	if j, err := ParseJID(s); err == nil && j.Local != "" {
		if j.Domain != srv.domain || j.Resource != "" {
			return "", fmt.Errorf("%s: not an account of %s", s, srv.domain)
		}
		local = j.Local
	}
	n, err := auth.NormalizeUsername(local)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", s, ErrInvalidAccount, err)
	}
	return n, nil
}

// CreateAccount adds a user.
func (srv *Server) CreateAccount(user, password string) (JID, error) {
	local, err := srv.ParseAccount(user)
	if err != nil {
		return JID{}, err
	}
	if err := srv.accounts.Create(local, password); err != nil {
		return JID{}, err
	}
	return JID{Local: local, Domain: srv.domain}, nil
}

// SetPassword changes a user's password; the user's sessions stay.
func (srv *Server) SetPassword(user, password string) (JID, error) {
	local, err := srv.ParseAccount(user)
	if err != nil {
		return JID{}, err
	}
	return JID{Local: local, Domain: srv.domain}, srv.accounts.SetPassword(local, password)
}

// DeleteAccount removes a user, closes their sessions and lets every
// extension drop the user's data.
func (srv *Server) DeleteAccount(user string) (JID, error) {
	local, err := srv.ParseAccount(user)
	if err != nil {
		return JID{}, err
	}
	j := JID{Local: local, Domain: srv.domain}
	if err := srv.accounts.delete(local); err != nil {
		return j, err
	}
	for _, s := range srv.sessions.sessions(j) {
		s.CloseWithError("not-authorized", "account deleted")
	}
	RunHook(srv, AccountDeleted, j)
	return j, nil
}

// Status is a snapshot for `xmppd status`.
type Status struct {
	Running      bool          `json:"running"`
	Version      string        `json:"version"`
	Domain       string        `json:"domain"`
	Uptime       time.Duration `json:"uptime_ns,omitempty"`
	Sessions     int           `json:"sessions"`
	OnlineUsers  int           `json:"online_users"`
	Connections  int64         `json:"connections"`
	Accounts     int           `json:"accounts"`
	StoreBytes   int64         `json:"store_bytes"`
	StorePath    string        `json:"store_path"`
	StanzasIn    uint64        `json:"stanzas_in"`
	StanzasOut   uint64        `json:"stanzas_out"`
	Logins       uint64        `json:"logins"`
	AuthFailures uint64        `json:"auth_failures"`
	Listeners    []string      `json:"listeners,omitempty"`
	// StanzasInByKind splits StanzasIn by message, presence, iq, other.
	StanzasInByKind map[string]uint64 `json:"stanzas_in_by_kind,omitempty"`
	// Routing and Commit are latency estimates (bucket upper bounds) of
	// handling a client stanza and of a stanza's store commit.
	RoutingP50 time.Duration `json:"routing_p50_ns,omitempty"`
	RoutingP99 time.Duration `json:"routing_p99_ns,omitempty"`
	CommitP50  time.Duration `json:"commit_p50_ns,omitempty"`
	CommitP99  time.Duration `json:"commit_p99_ns,omitempty"`
	// StoreWrites are the store writes requested (a message's changes
	// count once), StoreCommits the group commits (one fsync each) that
	// carried them: their ratio is how well commits are shared.
	StoreWrites  uint64 `json:"store_writes"`
	StoreCommits uint64 `json:"store_commits"`
	// Counters are the extensions' counters (Registrar.Counter) by name.
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Status reports sessions, store size and counters.
func (srv *Server) Status() (Status, error) {
	st := Status{Running: srv.running.Load(), Version: Version, Domain: srv.domain, StorePath: srv.store.Path()}
	if st.Running {
		st.Uptime = time.Since(srv.started).Round(time.Second)
	}
	st.Sessions, st.OnlineUsers = srv.sessions.count()
	st.Connections = srv.metrics.connections.Load()
	st.StanzasIn = srv.metrics.stanzasIn.Load()
	st.StanzasOut = srv.metrics.stanzasOut.Load()
	st.Logins = srv.metrics.logins.Load()
	st.AuthFailures = srv.metrics.authFailures.Load()
	st.StanzasInByKind = make(map[string]uint64, len(stanzaKinds))
	for i, k := range stanzaKinds {
		st.StanzasInByKind[k] = srv.metrics.stanzasByKind[i].Load()
	}
	st.RoutingP50, st.RoutingP99 = srv.metrics.routing.Quantile(0.5), srv.metrics.routing.Quantile(0.99)
	st.CommitP50, st.CommitP99 = srv.metrics.commit.Quantile(0.5), srv.metrics.commit.Quantile(0.99)
	st.StoreWrites, st.StoreCommits = srv.store.WriteTransactions(), srv.store.GroupCommits()
	st.Counters = srv.extensionCounters()
	for _, l := range srv.listeners {
		st.Listeners = append(st.Listeners, l.Addr().String())
	}
	var err error
	if st.Accounts, err = srv.accounts.Count(); err != nil {
		return st, err
	}
	st.StoreBytes, err = srv.store.Size()
	return st, err
}

// AdminCommand runs one operator command by name; the admin socket and
// the CLI's offline path both call it, so a command behaves the same
// whether the server runs or not.
func (srv *Server) AdminCommand(ctx context.Context, cmd string, args map[string]string) (any, error) {
	switch cmd {
	case "user.add":
		j, err := srv.CreateAccount(args["jid"], args["password"])
		return j.String(), err
	case "user.del":
		j, err := srv.DeleteAccount(args["jid"])
		return j.String(), err
	case "user.passwd":
		j, err := srv.SetPassword(args["jid"], args["password"])
		return j.String(), err
	case "user.list":
		locals, err := srv.accounts.List()
		jids := make([]string, len(locals))
		for i, l := range locals {
			jids[i] = l + "@" + srv.domain
		}
		return jids, err
	case "status":
		return srv.Status()
	case "backup":
		path := args["file"]
		if path == "" {
			return nil, errors.New("backup: no file given")
		}
		if err := store.BackupFile(srv.store, path); err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		return fi.Size(), nil
	}
	if fn, ok := srv.adminCmds[cmd]; ok {
		return fn(ctx, args)
	}
	return nil, fmt.Errorf("unknown admin command %q", cmd)
}

// coreAdminCommands are the names AdminCommand handles itself.
var coreAdminCommands = map[string]bool{
	"user.add": true, "user.del": true, "user.passwd": true, "user.list": true, "status": true, "backup": true,
}
