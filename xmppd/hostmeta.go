package xmppd

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
)

// XEP-0156 discovery of the WebSocket endpoint: /.well-known/host-meta
// (XRD, RFC 6415) and host-meta.json, pointing at public_url's
// /xmpp-websocket with the ws:// or wss:// scheme. Web clients fetch them
// cross-origin, hence Access-Control-Allow-Origin: *.

const relWebSocket = "urn:xmpp:alt-connections:websocket"

// WebSocketURL is the public address of the WebSocket endpoint, from
// http.public_url (http becomes ws, https wss).
func (srv *Server) WebSocketURL() string {
	u, err := url.Parse(srv.cfg.HTTP.PublicURL)
	if err != nil {
		return "" // Validate rejects such a public_url at start-up
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + WebSocketPath
	return u.String()
}

func (srv *Server) handleHostMeta(core *Registrar) error {
	if err := core.HandleHTTP("GET /.well-known/host-meta", http.HandlerFunc(srv.serveHostMetaXML)); err != nil {
		return err
	}
	return core.HandleHTTP("GET /.well-known/host-meta.json", http.HandlerFunc(srv.serveHostMetaJSON))
}

type xrdLink struct {
	Rel  string `xml:"rel,attr" json:"rel"`
	Href string `xml:"href,attr" json:"href"`
}

func (srv *Server) serveHostMetaXML(w http.ResponseWriter, _ *http.Request) {
	doc := struct {
		XMLName xml.Name  `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []xrdLink `xml:"Link"`
	}{Links: []xrdLink{{Rel: relWebSocket, Href: srv.WebSocketURL()}}}
	b, _ := xml.MarshalIndent(doc, "", "  ") // plain strings cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/xrd+xml; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(append([]byte(xml.Header), append(b, '\n')...))
}

func (srv *Server) serveHostMetaJSON(w http.ResponseWriter, _ *http.Request) {
	doc := struct {
		Links []xrdLink `json:"links"`
	}{Links: []xrdLink{{Rel: relWebSocket, Href: srv.WebSocketURL()}}}
	b, _ := json.Marshal(doc)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(append(b, '\n'))
}
