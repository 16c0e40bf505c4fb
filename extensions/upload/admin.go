package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// Operator commands (xmppd upload usage / delete), through the admin
// socket or, with the server stopped, on the store opened directly.

// Usage is one user's share of the upload service.
type Usage struct {
	JID     string `json:"jid"`
	Files   int    `json:"files"`   // uploaded files
	Pending int    `json:"pending"` // slots not uploaded yet
	Bytes   int64  `json:"bytes"`   // what counts towards the quota: files and slots
	Quota   int64  `json:"quota"`
}

// Deleted describes a file an operator deleted.
type Deleted struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
}

func (e *Extension) registerAdmin(r *xmppd.Registrar) error {
	if err := r.AdminCommand("upload.usage", e.adminUsage); err != nil {
		return err
	}
	return r.AdminCommand("upload.delete", e.adminDelete)
}

// adminUsage reports args["jid"]'s usage, or every user's with files or
// slots when it is empty.
func (e *Extension) adminUsage(_ context.Context, args map[string]string) (any, error) {
	var owners []string
	if j := args["jid"]; j != "" {
		local, err := e.srv.ParseAccount(j)
		if err != nil {
			return nil, err
		}
		owners = []string{local + "@" + e.srv.Domain()}
	}
	res := []Usage{}
	err := e.db.View(func(tx *store.Tx) error {
		owned := tx.Map(storeOwned)
		if owners == nil {
			if err := owned.Owners(func(o string) error { owners = append(owners, o); return nil }); err != nil {
				return err
			}
		}
		files := tx.KV(storeFiles)
		for _, o := range owners {
			u := Usage{JID: o, Quota: int64(e.Config.UserQuota)}
			err := owned.All(o, func(id string, v []byte) error {
				n, _ := strconv.ParseInt(string(v), 10, 64)
				u.Bytes += n
				var m fileMeta
				b, err := files.Get(id)
				if err == nil {
					err = json.Unmarshal(b, &m)
				}
				switch {
				case err != nil:
					return fmt.Errorf("upload %s of %s: %w", id, o, err)
				case m.Uploaded.IsZero():
					u.Pending++
				default:
					u.Files++
				}
				return nil
			})
			if err != nil {
				return err
			}
			res = append(res, u)
		}
		return nil
	})
	return res, err
}

// adminDelete deletes the file args["file"] names: its id or its URL
// (the file's or the thumbnail's).
func (e *Extension) adminDelete(_ context.Context, args map[string]string) (any, error) {
	arg := strings.TrimSpace(args["file"])
	id := arg
	if !validID(id) {
		id = ""
		if u, err := url.Parse(arg); err == nil {
			// /…/upload/<id>/<name>[/thumb], whatever public_url was.
			parts := strings.Split(u.Path, "/")
			for i := len(parts) - 2; i >= 0; i-- {
				if parts[i] == "upload" && validID(parts[i+1]) {
					id = parts[i+1]
					break
				}
			}
		}
	}
	if id == "" {
		return nil, fmt.Errorf("upload delete: %q is neither a file id nor an upload URL", arg)
	}
	m, err := e.load(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("upload delete: no file %s", id)
	}
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	busy := e.putting[id]
	e.mu.Unlock()
	if busy {
		return nil, fmt.Errorf("upload delete: file %s is being uploaded, try again", id)
	}
	if err := e.remove(id, m.Owner); err != nil {
		return nil, fmt.Errorf("upload delete %s: %w", id, err)
	}
	e.log.Info("upload deleted by the operator", "id", id, "owner", m.Owner, "name", m.Name)
	return Deleted{ID: id, Owner: m.Owner, Name: m.Name, Size: m.Size}, nil
}
