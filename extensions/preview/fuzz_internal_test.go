package preview

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzHead: any page (hostile ones included) gives no preview or one
// within the size bounds, with absolute http(s) URLs only, that goes
// into a message as a well-formed XEP-0511 description.
func FuzzHead(f *testing.F) {
	for _, seed := range []string{
		`<html><head><title> A  page </title><meta property="og:title" content="Fish &amp; Chips"><meta property="og:image" content="/i.png"><meta property="og:image:alt" content="a fish"></head><body>`,
		`<meta name="twitter:image" content="javascript:alert(1)"><meta name="description" content="` + strings.Repeat("word ", 400) + `">`,
		`<meta property="og:url" content="https://user:pw@example.com/"><meta property="og:image" content="//cdn.example/x.png"><meta property="og:image" content="/second.png"><meta property="og:image:alt" content="second">`,
		"<title>\x00\x01\ufffe\xff</title><meta property=og:site_name content=\"a]]>b</rdf:Description>\">",
		`<meta property="og:type" content="article"><body><meta property="og:title" content="after the body">`,
	} {
		f.Add(seed)
	}
	base, err := url.Parse("https://example.com/dir/page.html")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, page string) {
		m := parseHead(strings.NewReader(page), base)
		if m == nil {
			return
		}
		if m.empty() || m.Image == "" && m.ImageAlt != "" {
			t.Fatalf("preview %+v", m)
		}
		for _, s := range []struct {
			v   string
			max int
		}{{m.Title, maxTitle}, {m.Type, maxTitle}, {m.SiteName, maxTitle}, {m.Description, maxText}, {m.ImageAlt, maxText}} {
			if n := utf8.RuneCountInString(s.v); n > s.max || s.v != strings.TrimSpace(s.v) {
				t.Fatalf("%q: %d runes, at most %d, trimmed", s.v, n, s.max)
			}
		}
		for _, u := range []string{m.URL, m.Image} {
			if u == "" {
				continue
			}
			pu, err := url.Parse(u)
			if err != nil || pu.Scheme != "http" && pu.Scheme != "https" || pu.Host == "" || pu.User != nil || len(u) > maxURL {
				t.Fatalf("URL %q in the preview (%v)", u, err)
			}
		}
		msg := wire.InsertChild([]byte("<message type='chat'><body>https://example.com/dir/page.html</body></message>"),
			m.appendXML(nil, "https://example.com/dir/page.html"))
		st, err := wire.ParseStanza(msg)
		if err != nil {
			t.Fatalf("the message with the preview does not parse: %v\n%s", err, msg)
		}
		el, err := st.Element()
		if err != nil {
			t.Fatal(err)
		}
		d := el.Child("Description", NSRDF)
		if d == nil || about(d) != "https://example.com/dir/page.html" {
			t.Fatalf("no description about the page in %s", msg)
		}
		if m.Image != "" && d.ChildText("image", NSOG) != m.Image {
			t.Fatalf("og:image %q reads back as %q", m.Image, d.ChildText("image", NSOG))
		}
	})
}
