package preview

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

const (
	nsClient = "jabber:client"
	nsHints  = "urn:xmpp:hints"
	nsOOB    = "jabber:x:oob"
)

// Payloads that mean the message is encrypted and its body only a
// fallback: OMEMO (old and v2), OpenPGP for XMPP, legacy XEP-0027, and
// XEP-0380's explicit encryption marker.
var encrypted = map[string]bool{
	"eu.siacs.conversations.axolotl": true,
	"urn:xmpp:omemo:2":               true,
	"urn:xmpp:openpgp:0":             true,
	"jabber:x:encrypted":             true,
	"urn:xmpp:eme:0":                 true,
}

// link is one URL of a message: as written (the rdf:about) and the page to
// fetch (without the #fragment, which is never sent, so both forms share a
// cache entry).
type link struct {
	about, page string
}

// messageOut adds previews of the message's links, waiting at most
// max_wait for them.
func (e *Extension) messageOut(p *xmppd.Packet) xmppd.Verdict {
	links := e.links(p)
	if len(links) == 0 {
		return xmppd.Pass
	}
	calls := make([]*call, len(links))
	for i, l := range links {
		calls[i] = e.group.get(l.page)
	}
	timer := time.NewTimer(e.Config.MaxWait.Duration)
	defer timer.Stop()
wait:
	for _, c := range calls {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-timer.C:
			break wait // the rest arrive in the cache, for later messages
		}
	}
	for i, c := range calls {
		if c != nil && c.ready() && c.meta != nil {
			p.AddChild(c.meta.appendXML(nil, links[i].about))
		}
	}
	return xmppd.Pass
}

// links returns the URLs of p's body that get a preview (see the package
// doc), at most max_urls.
func (e *Extension) links(p *xmppd.Packet) []link {
	st := p.Stanza
	switch st.Type {
	case "", "normal", "chat", "groupchat":
	default:
		return nil
	}
	if !bytes.Contains(st.Raw, []byte("http")) {
		return nil
	}
	if _, ok := st.Child("body", nsClient); !ok {
		return nil
	}
	for _, c := range st.Children {
		if encrypted[c.NS] || c.NS == nsHints && (c.Name == "no-store" || c.Name == "no-permanent-store") {
			return nil
		}
	}
	el, err := st.Element()
	if err != nil {
		return nil
	}
	var body strings.Builder
	var skip []string // OOB files and URLs already described
	for _, c := range el.Children {
		switch {
		case c.Name == "body" && c.NS == nsClient:
			body.WriteString(c.Text)
			body.WriteByte(' ')
		case c.Name == "x" && c.NS == nsOOB:
			skip = append(skip, c.ChildText("url", nsOOB))
		case c.Name == "Description" && c.NS == NSRDF:
			skip = append(skip, about(c))
		}
	}
	text := body.String()
	var out []link
	for _, u := range xmppd.MessageURLs(st) {
		if !strings.Contains(text, u) || slices.Contains(skip, u) {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || checkURL(pu) != nil {
			continue
		}
		pu.Fragment, pu.RawFragment = "", ""
		out = append(out, link{about: u, page: pu.String()})
		if len(out) == e.Config.MaxURLs {
			break
		}
	}
	return out
}

// about returns the rdf:about of a client-made Description, whatever
// prefix the client bound the RDF namespace to.
func about(d *wire.Element) string {
	for _, a := range d.Attrs {
		prefix, local, ok := strings.Cut(a.Name, ":")
		if ok && local == "about" && d.Attr("xmlns:"+prefix) == NSRDF {
			return a.Value
		}
	}
	return ""
}
