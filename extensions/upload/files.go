package upload

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/store"
)

// fileMeta is a slot and, once uploaded, its file.
type fileMeta struct {
	Owner    string    `json:"owner"`
	Name     string    `json:"name"` // as the client declared it
	Slug     string    `json:"slug"` // the URL's last segment
	Size     int64     `json:"size"`
	Type     string    `json:"type,omitempty"` // declared content type
	Created  time.Time `json:"created"`        // slot request
	Expires  time.Time `json:"expires"`        // end of the PUT URL's validity
	Uploaded time.Time `json:"uploaded,omitzero"`

	// Read from the content once uploaded (media.go).
	SHA256 string     `json:"sha256,omitempty"` // base64
	Width  int        `json:"width,omitempty"`  // pixels, images and video
	Height int        `json:"height,omitempty"`
	Length int64      `json:"length_ms,omitempty"` // audio and video duration
	Thumb  *thumbMeta `json:"thumb,omitempty"`
}

func (m fileMeta) encode() ([]byte, error) { return json.Marshal(m) }

func (e *Extension) load(id string) (fileMeta, error) {
	var m fileMeta
	b, err := e.db.KV(storeFiles).Get(id)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// sign is the PUT URL's signature: it binds the slot's id, name, owner,
// size, type and expiry (in Unix milliseconds).
func (e *Extension) sign(id string, m fileMeta, expires int64) string {
	mac := hmac.New(sha256.New, e.secret)
	for _, s := range []string{"PUT", id, m.Slug, m.Owner, strconv.FormatInt(m.Size, 10), m.Type, strconv.FormatInt(expires, 10)} {
		mac.Write([]byte(s))
		mac.Write([]byte{0})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// path is where the file of id lives; id is always validID.
func (e *Extension) path(id string) string { return filepath.Join(e.dir, id) }

// remove deletes id's file, thumbnail and metadata.
func (e *Extension) remove(id, owner string) error {
	for _, p := range []string{e.path(id), e.thumbPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return e.db.Update(func(tx *store.Tx) error {
		if err := tx.KV(storeFiles).Delete(id); err != nil {
			return err
		}
		return tx.Map(storeOwned).Delete(owner, id)
	})
}

// expired reports whether m's file (or, before its upload, its slot) is
// gone at now.
func (e *Extension) expired(m fileMeta, now time.Time) bool {
	if m.Uploaded.IsZero() {
		return now.After(m.Expires)
	}
	return now.Sub(m.Uploaded) >= e.Config.ExpireAfter.Duration
}

// Sweep deletes the files older than expire_after and the slots never
// uploaded before their PUT URL expired, once.
func (e *Extension) Sweep(ctx context.Context) {
	now := time.Now()
	type victim struct{ id, owner string }
	var victims []victim
	err := e.db.KV(storeFiles).ForEach("", func(id string, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var m fileMeta
		if err := json.Unmarshal(v, &m); err != nil {
			e.log.Error("unreadable upload metadata", "id", id, "err", err)
			return nil
		}
		if e.expired(m, now) {
			victims = append(victims, victim{id, m.Owner})
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		e.log.Error("upload expiry sweep failed", "err", err)
	}
	n := 0
	for _, v := range victims {
		e.mu.Lock()
		busy := e.putting[v.id]
		e.mu.Unlock()
		if busy {
			continue
		}
		if err := e.remove(v.id, v.owner); err != nil {
			e.log.Error("deleting expired upload failed", "id", v.id, "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		e.log.Info("upload expiry sweep", "deleted", n)
	}
}
