// Package webchat serves the visitor's web chat page (SPEC §1, §6): a
// link such as /chat?utm_source=news&utm_campaign=spring opens a small
// page that shows an optional visitor form (first name, last name, phone,
// email), logs in as a guest (SASL ANONYMOUS on [enquiry] guest_domain)
// over the server's WebSocket endpoint, starts an enquiry at the MUC
// service (urn:xmppd:enquiry:0, see extensions/muc) with the link's
// parameters, the form, the device (platform, user agent, screen, local
// time, and the position only if the visitor ticks the box) and the
// browser's language, joins the enquiry room and chats there.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary
// (go:embed): no build step, no third-party code. Its few stanzas are
// written and read with the browser's DOM parser.
//
// HTTP (Registrar.HandleHTTP): GET /chat (the page, with the WebSocket URL,
// the guest domain and the MUC service in a JSON block), GET
// /chat/chat.js, GET /chat/chat.css. Every answer carries a
// Content-Security-Policy that allows only this server's scripts, styles
// and WebSocket. With [enquiry] guest_domain empty the page answers 404.
//
// The rooms service's and the upload service's domains are found on the
// first request by asking each component of the server for its disco#info
// (identities conference/text and store/file), so they follow [muc] domain
// and [upload] domain without reading them. With an upload service the
// visitor may send files (XEP-0363 slot, PUT, the URL in the room).
package webchat

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/chat.html"))

const (
	nsDiscoInfo = xmppd.NSDiscoInfo
	// Title is the page's heading.
	Title = "Chat with us"
)

// Extension serves the web chat page.
type Extension struct {
	// GuestDomain is where visitors log in; empty turns the page off. Set
	// from [enquiry] guest_domain at registration unless a test set it.
	GuestDomain string

	srv *xmppd.Server
	log *slog.Logger

	servicesMu sync.Mutex
	services   map[string]string // "category/type" → component domain
}

// New returns the extension.
func New() *Extension { return &Extension{} }

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "webchat" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	e.srv, e.log = r.Server(), r.Logger()
	if e.GuestDomain == "" {
		e.GuestDomain = r.Server().Config().Enquiry.GuestDomain
	}
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /chat":          e.servePage,
		"GET /chat/chat.js":  e.serveAsset("assets/chat.js", "text/javascript; charset=utf-8"),
		"GET /chat/chat.css": e.serveAsset("assets/chat.css", "text/css; charset=utf-8"),
	} {
		if err := r.HandleHTTP(pattern, h); err != nil {
			return err
		}
	}
	return nil
}

// pageConfig is what the page's script needs, as JSON in the page.
type pageConfig struct {
	WebSocket    string `json:"websocket"`
	GuestDomain  string `json:"guest_domain"`
	MUCDomain    string `json:"muc_domain"`
	UploadDomain string `json:"upload_domain,omitempty"` // "": no file sharing
}

func (e *Extension) servePage(w http.ResponseWriter, r *http.Request) {
	if e.GuestDomain == "" {
		http.Error(w, "web chat is off on this server ([enquiry] guest_domain is empty)", http.StatusNotFound)
		return
	}
	muc := e.service(r.Context(), "conference/text")
	if muc == "" {
		http.Error(w, "web chat is unavailable: this server runs no group chat service", http.StatusServiceUnavailable)
		return
	}
	ws, origins := e.webSocketURL()
	securityHeaders(w, origins)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := page.Execute(w, struct {
		Title, Script, Style string
		Config               pageConfig
	}{Title, "/chat/chat.js", "/chat/chat.css", pageConfig{ws, e.GuestDomain, muc, e.service(r.Context(), "store/file")}})
	if err != nil {
		e.log.Debug("writing the web chat page failed", "err", err)
	}
}

func (e *Extension) serveAsset(name, ctype string) http.HandlerFunc {
	body, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return func(w http.ResponseWriter, r *http.Request) {
		_, origins := e.webSocketURL()
		securityHeaders(w, origins)
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}
}

// securityHeaders lets the page load only this server's script and style
// and talk only to its WebSocket and upload service (origins); it may be
// framed by a customer's site.
func securityHeaders(w http.ResponseWriter, origins string) {
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' "+origins+"; img-src 'self'; form-action 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// webSocketURL is the RFC 7395 endpoint under [http] public_url, and the
// origins the page talks to for the Content-Security-Policy (the
// WebSocket's and public_url's, where uploads go).
func (e *Extension) webSocketURL() (string, string) {
	u, err := url.Parse(e.srv.Config().HTTP.PublicURL)
	if err != nil || u.Host == "" {
		return "/xmpp-websocket", ""
	}
	public := u.Scheme + "://" + u.Host
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	origin := u.Scheme + "://" + u.Host
	return origin + strings.TrimSuffix(u.Path, "/") + "/xmpp-websocket", origin + " " + public
}

// service finds the component whose disco#info has the identity
// "category/type" (conference/text: the rooms service; store/file: the
// upload service), asking each component once until found.
func (e *Extension) service(ctx context.Context, identity string) string {
	e.servicesMu.Lock()
	defer e.servicesMu.Unlock()
	if d, ok := e.services[identity]; ok {
		return d
	}
	if e.services == nil {
		e.services = map[string]string{}
	}
	category, typ, _ := strings.Cut(identity, "/")
	server := xmppd.JID{Domain: e.srv.Domain()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, d := range e.srv.ComponentDomains() {
		res, err := e.srv.SendIQ(ctx, server, xmppd.JID{Domain: d}, "get", wire.NewElement("query", nsDiscoInfo))
		if err != nil {
			continue
		}
		el, err := res.Element()
		if err != nil {
			continue
		}
		q := el.Child("query", nsDiscoInfo)
		if q == nil {
			continue
		}
		for _, id := range q.ChildrenNamed("identity", nsDiscoInfo) {
			if id.Attr("category") == category && id.Attr("type") == typ {
				e.services[identity] = d
				return d
			}
		}
	}
	e.services[identity] = "" // the components are fixed at start
	return ""
}
