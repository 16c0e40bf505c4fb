package xmppd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The HTTP listener ([http] listen) serves the core's WebSocket endpoint
// and XEP-0156 discovery (websocket.go, hostmeta.go) and what extensions
// register with Registrar.HandleHTTP (file upload, the web chat). It runs
// unless http.listen is empty.
// It speaks plain HTTP: TLS is expected from a reverse proxy in front of
// it, whose address is [http] public_url.

// HTTP server timeouts. There is no overall read or write timeout, since
// uploads and downloads may be large; a handler that reads a body bounds
// each read itself (see http.ResponseController).
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
)

// HandleHTTP registers h on the HTTP listener for pattern, a net/http
// ServeMux pattern such as "PUT /upload/{id}/{name}". A pattern another
// extension (or this one) already registered, or one that conflicts with
// it, is a start-up error.
func (r *Registrar) HandleHTTP(pattern string, h http.Handler) (err error) {
	if owner, dup := r.srv.httpOwners[pattern]; dup {
		return fmt.Errorf("extension %s: HTTP pattern %q already handled by %s", r.name, pattern, owner)
	}
	defer func() {
		// ServeMux panics on an invalid or conflicting pattern.
		if p := recover(); p != nil {
			err = fmt.Errorf("extension %s: HTTP pattern %q: %v", r.name, pattern, p)
		}
	}()
	r.srv.httpMux.Handle(pattern, h)
	r.srv.httpOwners[pattern] = r.name
	return nil
}

// listenHTTP opens the HTTP listener if anything is registered for it.
func (srv *Server) listenHTTP() error {
	addr := srv.cfg.HTTP.Listen
	if addr == "" || len(srv.httpOwners) == 0 {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", addr, err)
	}
	srv.httpLn = l
	srv.log.Info("listening", "key", "http.listen", "addr", l.Addr().String())
	return nil
}

// serveHTTP starts serving on the listener listenHTTP opened.
func (srv *Server) serveHTTP() {
	if srv.httpLn == nil {
		return
	}
	log := srv.log.With("component", "http")
	srv.http = &http.Server{
		Handler:           srv.httpMux,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return srv.ctx },
	}
	hs, l := srv.http, srv.httpLn
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP listener failed", "err", err)
		}
	}()
}

// shutdownHTTP stops accepting HTTP requests and waits for those in
// flight, until ctx ends; then it cuts what is left.
func (srv *Server) shutdownHTTP(ctx context.Context) {
	if srv.http == nil {
		return
	}
	if err := srv.http.Shutdown(ctx); err != nil {
		srv.log.Warn("HTTP shutdown timed out; closing open requests", "err", err)
		_ = srv.http.Close()
	}
}

// HTTPAddr returns the address of the HTTP listener (nil when it does not
// run).
func (srv *Server) HTTPAddr() net.Addr {
	if srv.httpLn == nil {
		return nil
	}
	return srv.httpLn.Addr()
}
