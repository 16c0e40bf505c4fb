package xmppd

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/config"
)

// /metrics is for loopback clients only: the HTTP listener is public.
func TestMetricsRefusedToRemoteClients(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for addr, want := range map[string]int{"192.0.2.7:4000": http.StatusForbidden, "127.0.0.1:4000": http.StatusOK, "[::1]:4000": http.StatusOK} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		srv.serveMetrics(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d, want %d", addr, rec.Code, want)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for range 90 {
		h.Observe(80 * time.Microsecond) // bucket ≤ 100µs
	}
	for range 10 {
		h.Observe(3 * time.Millisecond) // bucket ≤ 5ms
	}
	h.Observe(time.Minute) // above every bucket
	if got := h.Quantile(0.5); got != 100*time.Microsecond {
		t.Errorf("p50 = %v, want 100µs", got)
	}
	if got := h.Quantile(0.95); got != 5*time.Millisecond {
		t.Errorf("p95 = %v, want 5ms", got)
	}
	if got := h.Quantile(1); got != 5*time.Second {
		t.Errorf("p100 = %v, want the largest bound, 5s", got)
	}
}

// TestProfilesForLoopbackOnly: /debug/pprof/ answers a loopback client
// with the profile index and refuses anyone else.
func TestProfilesForLoopbackOnly(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for addr, want := range map[string]int{"192.0.2.7:4000": http.StatusForbidden, "127.0.0.1:4000": http.StatusOK} {
		req := httptest.NewRequest("GET", "/debug/pprof/", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		srv.httpMux.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d, want %d", addr, rec.Code, want)
		}
		if want == http.StatusOK && !strings.Contains(rec.Body.String(), "goroutine") {
			t.Errorf("from %s: no profile index: %.200s", addr, rec.Body.String())
		}
	}
}
