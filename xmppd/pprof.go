package xmppd

import (
	"net/http"
	"net/http/pprof"
)

// handleProfiling serves Go's runtime profiles (CPU, heap, goroutines,
// mutex) at /debug/pprof/ on the HTTP listener, to loopback clients only
// like /metrics: an operator on the machine can see where a live server
// spends its time (`go tool pprof http://127.0.0.1:5280/debug/pprof/profile`)
// without a restart, and nobody else can.
func (srv *Server) handleProfiling(core *Registrar) error {
	loopbackOnly := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !peerIsLoopback(r) {
				http.Error(w, "profiles are served to loopback clients only", http.StatusForbidden)
				return
			}
			h(w, r)
		})
	}
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /debug/pprof/":        pprof.Index,
		"GET /debug/pprof/cmdline": pprof.Cmdline,
		"GET /debug/pprof/profile": pprof.Profile,
		"GET /debug/pprof/symbol":  pprof.Symbol,
		"GET /debug/pprof/trace":   pprof.Trace,
	} {
		if err := core.HandleHTTP(pattern, loopbackOnly(h)); err != nil {
			return err
		}
	}
	return nil
}
