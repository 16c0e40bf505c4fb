package preview

import "github.com/xmppd/xmppd/xmppd/wire"

// Namespaces of XEP-0511 metadata.
const (
	NSRDF     = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	NSOG      = "https://ogp.me/ns#"
	nsOGImage = "https://ogp.me/ns#image:" // og:image:alt, as XEP-0511's example writes it
)

// appendXML appends m as a XEP-0511 <rdf:Description/> about the URL as
// the message wrote it.
func (m *Meta) appendXML(b []byte, about string) []byte {
	b = append(b, "<rdf:Description"...)
	b = wire.AppendAttr(b, "xmlns:rdf", NSRDF)
	b = wire.AppendAttr(b, "xmlns:og", NSOG)
	if m.ImageAlt != "" {
		b = wire.AppendAttr(b, "xmlns:ogi", nsOGImage)
	}
	b = wire.AppendAttr(b, "rdf:about", about)
	b = append(b, '>')
	b = appendText(b, "og:title", m.Title)
	b = appendText(b, "og:description", m.Description)
	b = appendText(b, "og:url", m.URL)
	b = appendText(b, "og:image", m.Image)
	b = appendText(b, "ogi:alt", m.ImageAlt)
	b = appendText(b, "og:type", m.Type)
	b = appendText(b, "og:site_name", m.SiteName)
	return append(b, "</rdf:Description>"...)
}

// appendText appends <name>text</name>, nothing when text is empty.
func appendText(b []byte, name, text string) []byte {
	if text == "" {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = wire.AppendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}
