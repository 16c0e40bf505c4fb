package webchat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/webchat"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func startPage(t *testing.T, guestDomain string, exts ...xmppd.Extension) string {
	t.Helper()
	_, httpAddr := startOnFreePort(t, append(exts, webchat.New()), func(c *config.Config, _ string) {
		c.HTTP.PublicURL = "https://chat.example.com/x"
		c.Enquiry.GuestDomain = guestDomain
	})
	return "http://" + httpAddr
}

// The page names the WebSocket (from public_url), the guest domain and
// the rooms service it found; only this server's code may run on it.
func TestPageAndAssets(t *testing.T) {
	base := startPage(t, "guest.localhost", muc.New())
	res, body := get(t, base+"/chat?utm_source=news")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /chat: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self' wss://chat.example.com") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	i := strings.Index(body, `id="xmppd-config">`)
	j := strings.Index(body[i:], "</script>")
	var cfg struct {
		WebSocket   string `json:"websocket"`
		GuestDomain string `json:"guest_domain"`
		MUCDomain   string `json:"muc_domain"`
	}
	if i < 0 || j < 0 || json.Unmarshal([]byte(body[i+len(`id="xmppd-config">`):i+j]), &cfg) != nil {
		t.Fatalf("no config block in the page:\n%s", body)
	}
	if cfg.WebSocket != "wss://chat.example.com/x/xmpp-websocket" || cfg.GuestDomain != "guest.localhost" || cfg.MUCDomain != "conference.localhost" {
		t.Errorf("page config = %+v", cfg)
	}
	for path, ctype := range map[string]string{"/chat/chat.js": "text/javascript", "/chat/chat.css": "text/css"} {
		res, body := get(t, base+path)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || len(body) < 100 ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %s (%d bytes)", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
	}
}

// Without a guest domain web enquiries are off; without a rooms service
// there is nowhere to chat.
func TestPageOff(t *testing.T) {
	res, body := get(t, startPage(t, "", muc.New())+"/chat")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "guest_domain") {
		t.Errorf("no guest domain: %d %q", res.StatusCode, body)
	}
	res, body = get(t, startPage(t, "guest.localhost")+"/chat")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "group chat") {
		t.Errorf("no rooms service: %d %q", res.StatusCode, body)
	}
}
