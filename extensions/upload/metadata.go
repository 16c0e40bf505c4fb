package upload

import (
	"bytes"
	"errors"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// File metadata for clients. When a local user sends a message (chat,
// normal or groupchat) that shares the GET URL of a file they uploaded
// here, as a XEP-0066 <x xmlns='jabber:x:oob'><url/> or as the whole
// body, and the message carries no file metadata of its own, the server
// adds a XEP-0447 <file-sharing/> with the XEP-0446 <file/> (media type,
// name, date, size, SHA-256, width and height of images and video, length
// of audio and video in milliseconds, the XEP-0264 <thumbnail/>) and the
// URL as <sources><url-data/></sources>. It is added at MessageOut, before
// the archives and delivery, so recipients, carbons and MAM get it. The
// service also answers an IQ get asking for it by URL (describe).

const (
	nsSFS      = "urn:xmpp:sfs:0"
	nsFileMeta = "urn:xmpp:file:metadata:0"
	nsThumbs   = "urn:xmpp:thumbs:1"
	nsURLData  = "http://jabber.org/protocol/url-data"
	nsHashes   = "urn:xmpp:hashes:2"
	nsOOB      = "jabber:x:oob"
	nsSIMS     = "urn:xmpp:sims:1"
	nsClient   = "jabber:client"
)

// getURL is the public URL of id's file.
func (e *Extension) getURL(id string, m fileMeta) string {
	return e.baseURL + id + "/" + url.PathEscape(m.Slug)
}

// idOf returns the file id a URL of this service names (its file or its
// thumbnail).
func (e *Extension) idOf(u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, e.baseURL)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	return id, validID(id)
}

// attachMetadata is the MessageOut hook.
func (e *Extension) attachMetadata(p *xmppd.Packet) xmppd.Verdict {
	switch p.Type() {
	case "", "normal", "chat", "groupchat":
	default:
		return xmppd.Pass
	}
	raw := p.Stanza.Raw
	if !bytes.Contains(raw, []byte(e.baseURL)) || p.From.Local == "" {
		return xmppd.Pass
	}
	for _, ns := range []string{nsFileMeta, nsSFS, nsSIMS} {
		if bytes.Contains(raw, []byte(ns)) {
			return xmppd.Pass // the client described the file itself
		}
	}
	el, err := p.Stanza.Element()
	if err != nil {
		return xmppd.Pass
	}
	var urls []string
	for _, c := range el.Children {
		u := ""
		switch {
		case c.Name == "x" && c.NS == nsOOB:
			u = strings.TrimSpace(c.ChildText("url", nsOOB))
		case c.Name == "body" && c.NS == nsClient:
			u = strings.TrimSpace(c.Text)
		}
		if u != "" && !strings.ContainsAny(u, " \t\r\n") && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	owner := p.From.Bare().String()
	now := time.Now()
	for _, u := range urls {
		id, ok := e.idOf(u)
		if !ok {
			continue
		}
		m, err := e.load(id)
		if err != nil || m.Owner != owner || m.Uploaded.IsZero() || e.expired(m, now) || e.getURL(id, m) != u {
			continue
		}
		p.AddChild(e.fileSharing(id, m).AppendXML(nil))
	}
	return xmppd.Pass
}

// fileSharing is the XEP-0447 element describing id's file.
func (e *Extension) fileSharing(id string, m fileMeta) *wire.Element {
	ctype := m.Type
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	disp := "attachment"
	if inline(mt) {
		disp = "inline"
	}
	u := e.getURL(id, m)
	return wire.NewElement("file-sharing", nsSFS, wire.Attr{Name: "disposition", Value: disp}).Append(
		e.fileElement(id, m, ctype),
		wire.NewElement("sources", nsSFS).Append(
			wire.NewElement("url-data", nsURLData, wire.Attr{Name: "target", Value: u})),
	)
}

// fileElement is the XEP-0446 metadata of id's file.
func (e *Extension) fileElement(id string, m fileMeta, ctype string) *wire.Element {
	f := wire.NewElement("file", nsFileMeta)
	text := func(name, v string) { f.Append(wire.NewElement(name, nsFileMeta).SetText(v)) }
	text("media-type", ctype)
	text("name", m.Name)
	text("date", m.Uploaded.UTC().Format(time.RFC3339))
	text("size", strconv.FormatInt(m.Size, 10))
	if m.Width > 0 && m.Height > 0 {
		text("width", strconv.Itoa(m.Width))
		text("height", strconv.Itoa(m.Height))
	}
	if m.Length > 0 {
		text("length", strconv.FormatInt(m.Length, 10))
	}
	if m.SHA256 != "" {
		f.Append(wire.NewElement("hash", nsHashes, wire.Attr{Name: "algo", Value: "sha-256"}).SetText(m.SHA256))
	}
	if t := m.Thumb; t != nil {
		f.Append(wire.NewElement("thumbnail", nsThumbs,
			wire.Attr{Name: "uri", Value: e.getURL(id, m) + "/thumb"},
			wire.Attr{Name: "media-type", Value: t.Type},
			wire.Attr{Name: "width", Value: strconv.Itoa(t.Width)},
			wire.Attr{Name: "height", Value: strconv.Itoa(t.Height)}))
	}
	return f
}

// describe answers an IQ get carrying <file-sharing/> whose url-data
// target is a GET URL of this service with the file's <file-sharing/>:
// metadata for whoever has the URL (and so could GET the file).
func (e *Extension) describe(p *xmppd.Packet, q *wire.Element) (*wire.Element, error) {
	if !e.srv.IsLocal(p.From) || p.From.Local == "" {
		return nil, xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only users of "+e.srv.Domain()+" may ask")
	}
	target := ""
	if src := q.Child("sources", nsSFS); src != nil {
		if ud := src.Child("url-data", nsURLData); ud != nil {
			target = ud.Attr("target")
		}
	}
	if target == "" {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "name the file as <sources><url-data target='URL'/></sources>")
	}
	id, ok := e.idOf(target)
	if !ok {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "not a file of this service")
	}
	m, err := e.load(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (m.Uploaded.IsZero() || e.expired(m, time.Now()) || e.getURL(id, m) != target) {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such file")
	}
	if err != nil {
		return nil, err
	}
	return e.fileSharing(id, m), nil
}
