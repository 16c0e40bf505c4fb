// Package admin is the local admin socket of a running xmppd: a Unix
// socket in the data directory (mode 0600, so only the server's user can
// use it) speaking one JSON request and one JSON response per connection.
// The CLI uses it to administer a live server; when nothing listens, the
// CLI opens the store directly instead.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Request is one admin command.
type Request struct {
	Cmd  string            `json:"cmd"`
	Args map[string]string `json:"args,omitempty"`
}

// Response answers a Request: Error is set on failure, Result otherwise.
type Response struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler runs a command; its result is sent back as JSON.
type Handler func(ctx context.Context, cmd string, args map[string]string) (any, error)

// ErrNotRunning means no server listens on the socket.
var ErrNotRunning = errors.New("no running server")

// Listener serves the admin socket.
type Listener struct {
	l    net.Listener
	path string
}

// Listen creates the socket at path (removing a stale one left by a
// crashed server) and serves h until Close.
func Listen(path string, h Handler, log *slog.Logger) (*Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s: another server is already running", path)
		}
		_ = os.Remove(path)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	al := &Listener{l: l, path: path}
	go al.serve(h, log)
	return al, nil
}

func (al *Listener) serve(h Handler, log *slog.Logger) {
	for {
		c, err := al.l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
			var req Request
			if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&req); err != nil {
				_ = json.NewEncoder(c).Encode(Response{Error: "bad admin request: " + err.Error()})
				return
			}
			log.Info("admin command", "cmd", req.Cmd)
			res, err := h(context.Background(), req.Cmd, req.Args)
			var resp Response
			if err != nil {
				resp.Error = err.Error()
			} else if resp.Result, err = json.Marshal(res); err != nil {
				resp.Error = err.Error()
			}
			_ = json.NewEncoder(c).Encode(resp)
		}()
	}
}

// Close stops serving and removes the socket.
func (al *Listener) Close() error {
	err := al.l.Close()
	_ = os.Remove(al.path)
	return err
}

// Call sends one command to the server at path and decodes its result
// into out (which may be nil). It returns ErrNotRunning when nothing
// listens there.
func Call(path, cmd string, args map[string]string, out any) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w (admin socket %s: %v)", ErrNotRunning, path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	if err := json.NewEncoder(c).Encode(Request{Cmd: cmd, Args: args}); err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("admin socket %s: no answer from the server: %w", path, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}
