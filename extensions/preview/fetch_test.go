package preview

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func testFetcher(maxRedirects int) *fetcher {
	c := DefaultConfig()
	c.MaxRedirects = maxRedirects
	return newFetcher(c, func(netip.Addr) error { return nil })
}

func TestFetchCharset(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
		w.Write([]byte("<title>Caf\xe9</title>"))
	})
	mux.HandleFunc("/meta", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<meta charset="windows-1252"><meta property="og:title" content="&#8364;5 or ` + "\x80" + `5">`))
	})
	s := newSite(t, mux)
	f := testFetcher(3)
	for path, want := range map[string]string{"/header": "Café", "/meta": "€5 or €5"} {
		m, err := f.fetch(context.Background(), s.URL+path)
		if err != nil || m == nil || m.Title != want {
			t.Errorf("%s: %+v, %v; want title %q", path, m, err, want)
		}
	}
}

func TestFetchRedirectLimit(t *testing.T) {
	s := newSite(t, pageMux())
	if _, err := testFetcher(0).fetch(context.Background(), s.URL+"/hop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("max_redirects 0 followed a redirect: %v", err)
	}
	if m, err := testFetcher(1).fetch(context.Background(), s.URL+"/hop"); err != nil || m == nil {
		t.Errorf("max_redirects 1: %+v, %v", m, err)
	}
}

func TestFetchRefusesURLs(t *testing.T) {
	f := testFetcher(3)
	for _, u := range []string{"ftp://example.com/", "http://user:pw@example.com/", "http:///nohost", "file:///etc/passwd"} {
		if _, err := f.fetch(context.Background(), u); err == nil {
			t.Errorf("%s fetched", u)
		}
	}
}
