package shortcuts

import (
	"context"
	"fmt"
	"strconv"

	"github.com/xmppd/xmppd/xmppd"
)

// AddResult is what shortcut.add reports.
type AddResult struct {
	Shortcut Shortcut `json:"shortcut"`
	Replaced bool     `json:"replaced"`
}

// registerAdmin adds the operator commands; args "user" (optional, a
// user's JID or local part) picks a user's shortcuts instead of the
// domain's.
func (e *Extension) registerAdmin(r *xmppd.Registrar) error {
	srv := r.Server()
	owner := func(args map[string]string) (string, error) {
		u := args["user"]
		if u == "" {
			return e.domain, nil
		}
		local, err := srv.ParseAccount(u)
		if err != nil {
			return "", err
		}
		if !srv.Accounts().Exists(local) {
			return "", fmt.Errorf("%s@%s: no such account", local, e.domain)
		}
		return local + "@" + e.domain, nil
	}
	for name, fn := range map[string]xmppd.AdminFunc{
		"shortcut.add": func(_ context.Context, args map[string]string) (any, error) {
			o, err := owner(args)
			if err != nil {
				return nil, err
			}
			sc, replaced, err := e.put(o, args["name"], args["text"])
			if err != nil {
				return nil, err
			}
			e.log.Info("shortcut set by operator", "owner", o, "name", sc.Name, "replaced", replaced)
			return AddResult{sc, replaced}, nil
		},
		"shortcut.del": func(_ context.Context, args map[string]string) (any, error) {
			o, err := owner(args)
			if err != nil {
				return nil, err
			}
			sc, err := e.del(o, args["name"])
			if err == nil {
				e.log.Info("shortcut deleted by operator", "owner", o, "name", sc.Name)
			}
			return sc, err
		},
		"shortcut.list": func(_ context.Context, args map[string]string) (any, error) {
			o, err := owner(args)
			if err != nil {
				return nil, err
			}
			l, err := e.list(o)
			if l == nil {
				l = []Shortcut{}
			}
			return l, err
		},
	} {
		if err := r.AdminCommand(name, fn); err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
