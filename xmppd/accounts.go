package xmppd

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/auth"
)

// Accounts is the user database: one record per local user, holding only
// SCRAM keys (RFC 5802 StoredKey and ServerKey), never a password or a
// password-equivalent.
type Accounts struct {
	kv         *store.KV
	iterations int

	// names caches which accounts exist: routing asks for every message to
	// an account, and a map lookup beats a store transaction by 50×.
	mu    sync.RWMutex
	names map[string]struct{}
}

type accountRecord struct {
	Credentials auth.Credentials `json:"cred"`
	Created     time.Time        `json:"created"`
}

// Errors of account management.
var (
	ErrAccountExists  = errors.New("account already exists")
	ErrNoSuchAccount  = errors.New("no such account")
	ErrInvalidAccount = errors.New("invalid account name")
)

func newAccounts(db *store.DB, iterations int) (*Accounts, error) {
	a := &Accounts{kv: db.KV("accounts"), iterations: iterations, names: make(map[string]struct{})}
	err := a.kv.ForEach("", func(k string, _ []byte) error {
		a.names[k] = struct{}{}
		return nil
	})
	return a, err
}

// Exists reports whether the (normalised) local part names an account.
func (a *Accounts) Exists(local string) bool {
	a.mu.RLock()
	_, ok := a.names[local]
	a.mu.RUnlock()
	return ok
}

// Credentials returns the SCRAM keys of a user, for SASL.
func (a *Accounts) Credentials(local string) (auth.Credentials, bool, error) {
	b, err := a.kv.Get(local)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Credentials{}, false, nil
	}
	if err != nil {
		return auth.Credentials{}, false, err
	}
	var rec accountRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return auth.Credentials{}, false, fmt.Errorf("account %s: corrupt record: %w", local, err)
	}
	return rec.Credentials, true, nil
}

// Create adds an account. local must already be normalised.
func (a *Accounts) Create(local, password string) error {
	if a.Exists(local) {
		return fmt.Errorf("%s: %w", local, ErrAccountExists)
	}
	if err := a.put(local, password); err != nil {
		return err
	}
	a.mu.Lock()
	a.names[local] = struct{}{}
	a.mu.Unlock()
	return nil
}

// SetPassword replaces an account's credentials.
func (a *Accounts) SetPassword(local, password string) error {
	if !a.Exists(local) {
		return fmt.Errorf("%s: %w", local, ErrNoSuchAccount)
	}
	return a.put(local, password)
}

func (a *Accounts) put(local, password string) error {
	cred, err := auth.NewCredentials(password, a.iterations)
	if err != nil {
		return fmt.Errorf("password for %s: %w", local, err)
	}
	b, err := json.Marshal(accountRecord{Credentials: cred, Created: time.Now().UTC()})
	if err != nil {
		return err
	}
	return a.kv.Put(local, b)
}

// delete removes the account record (the Server also runs AccountDeleted).
func (a *Accounts) delete(local string) error {
	if !a.Exists(local) {
		return fmt.Errorf("%s: %w", local, ErrNoSuchAccount)
	}
	if err := a.kv.Delete(local); err != nil {
		return err
	}
	a.mu.Lock()
	delete(a.names, local)
	a.mu.Unlock()
	return nil
}

// List returns all local parts, sorted.
func (a *Accounts) List() ([]string, error) {
	var out []string
	err := a.kv.ForEach("", func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

// Count returns the number of accounts.
func (a *Accounts) Count() (int, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.names), nil
}
