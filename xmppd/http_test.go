package xmppd_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// httpExt registers its patterns on the HTTP listener.
type httpExt struct {
	name     string
	patterns []string
}

func (e httpExt) Name() string { return e.name }

func (e httpExt) Register(r *xmppd.Registrar) error {
	for _, p := range e.patterns {
		if err := r.HandleHTTP(p, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, e.name)
		})); err != nil {
			return err
		}
	}
	return nil
}

func TestHTTPListener(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(httpExt{"hello", []string{"GET /hello"}}))
	res, err := http.Get("http://" + srv.HTTPAddr().String() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "hello" {
		t.Fatalf("GET /hello: %d %q", res.StatusCode, b)
	}
}

func TestHTTPListenerOff(t *testing.T) {
	// The core alone serves WebSocket (RFC 7395), so the listener runs.
	if srv := xmppdtest.Start(t); srv.HTTPAddr() == nil {
		t.Fatal("HTTP listener does not run for WebSocket")
	}
	// http.listen = "": none.
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(httpExt{"hello", []string{"GET /hello"}}),
		xmppdtest.WithConfig(func(c *config.Config) { c.HTTP.Listen = "" }))
	if srv.HTTPAddr() != nil {
		t.Fatalf("HTTP listener runs with http.listen empty: %v", srv.HTTPAddr())
	}
}

func TestHTTPDuplicatePattern(t *testing.T) {
	for _, pats := range [][2]string{{"GET /x", "GET /x"}, {"/y/{id}", "/y/{name}"}} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		_, err := xmppd.New(xmppd.Options{Config: cfg, Extensions: []xmppd.Extension{
			httpExt{"one", []string{pats[0]}}, httpExt{"two", []string{pats[1]}},
		}})
		if err == nil || !strings.Contains(err.Error(), "extension two") || !strings.Contains(err.Error(), pats[1]) {
			t.Fatalf("%v: want a start-up error naming extension two, got %v", pats, err)
		}
	}
}
