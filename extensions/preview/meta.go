package preview

import (
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Bounds on what one preview carries, so a page cannot blow up the
// stanzas (and archives) it is attached to.
const (
	maxTitle = 300  // runes
	maxText  = 1000 // runes: description, alt text
	maxURL   = 2048 // bytes
)

// Meta is the OpenGraph metadata of a page, with the usual fallbacks
// (<title>, <meta name=description>, Twitter cards) where a page has no
// og: tag. URLs are absolute http(s) URLs.
type Meta struct {
	Title       string
	Description string
	URL         string // og:url, the canonical address
	Image       string
	ImageAlt    string
	Type        string
	SiteName    string
}

// empty reports whether m has nothing a client could show.
func (m *Meta) empty() bool { return m.Title == "" && m.Description == "" && m.Image == "" }

type field int

const (
	fTitle field = iota
	fDescription
	fURL
	fImage
	fImageAlt
	fType
	fSiteName
	nFields
)

// metaKeys maps a <meta property=…> or <meta name=…> value to the field it
// fills and its rank: an og: tag beats a Twitter card beats plain HTML.
var metaKeys = map[string]struct {
	f    field
	rank int
}{
	"og:title":            {fTitle, 3},
	"twitter:title":       {fTitle, 2},
	"og:description":      {fDescription, 3},
	"twitter:description": {fDescription, 2},
	"description":         {fDescription, 1},
	"og:url":              {fURL, 3},
	"og:image":            {fImage, 3},
	"og:image:url":        {fImage, 3},
	"og:image:secure_url": {fImage, 3},
	"twitter:image":       {fImage, 2},
	"twitter:image:src":   {fImage, 2},
	"og:image:alt":        {fImageAlt, 3},
	"twitter:image:alt":   {fImageAlt, 2},
	"og:type":             {fType, 3},
	"og:site_name":        {fSiteName, 3},
	"application-name":    {fSiteName, 1},
}

// collector keeps the best value seen for each field; of equal rank the
// first wins (the first og:image is the page's main image).
type collector struct {
	base   *url.URL
	val    [nFields]string
	rank   [nFields]int
	images int // og:image tags seen: an og:image:alt belongs to the first
}

func (c *collector) set(f field, rank int, v string) {
	switch f {
	case fURL, fImage:
		v = c.resolve(v)
	case fTitle, fType, fSiteName:
		v = clean(v, maxTitle)
	default:
		v = clean(v, maxText)
	}
	if v != "" && rank > c.rank[f] {
		c.val[f], c.rank[f] = v, rank
	}
}

// resolve makes ref absolute against the page's URL; anything but an
// http(s) URL without credentials (javascript:, data:) is dropped.
func (c *collector) resolve(ref string) string {
	u, err := c.base.Parse(strings.TrimSpace(ref))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	if s := u.String(); len(s) <= maxURL {
		return s
	}
	return ""
}

// clean collapses white space and cuts s to max runes.
func clean(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRight(s[:i], " ") + "…"
		}
		n++
	}
	return s
}

// parseHead reads the head of an HTML document from r (the caller bounds
// how much) and returns its metadata, nil if it has none. base is the
// page's URL, against which relative URLs resolve. Reading stops at
// </head> or <body>: metadata lives in the head.
func parseHead(r io.Reader, base *url.URL) *Meta {
	c := &collector{base: base}
	z := html.NewTokenizer(r)
	inTitle := false
loop:
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken: // io.EOF, the byte limit, or a read error
			break loop
		case html.TextToken:
			if inTitle {
				c.set(fTitle, 1, string(z.Text()))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Head:
				break loop
			case atom.Title:
				inTitle = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				break loop
			case atom.Title:
				inTitle = tt == html.StartTagToken
			case atom.Meta:
				if hasAttr {
					c.meta(z)
				}
			}
		}
	}
	// A <base href> would change resolution; pages use it rarely enough
	// for previews to ignore it.
	m := &Meta{
		Title:       c.val[fTitle],
		Description: c.val[fDescription],
		URL:         c.val[fURL],
		Image:       c.val[fImage],
		ImageAlt:    c.val[fImageAlt],
		Type:        c.val[fType],
		SiteName:    c.val[fSiteName],
	}
	if m.empty() {
		return nil
	}
	if m.Image == "" {
		m.ImageAlt = ""
	}
	return m
}

// meta takes one <meta> tag: OpenGraph asks for property=, but many pages
// write name= (and Twitter cards use name=); the tokenizer has already
// decoded entities in the attribute values.
func (c *collector) meta(z *html.Tokenizer) {
	var key, content string
	hasContent := false
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "property", "name":
			if key == "" || string(k) == "property" {
				key = strings.ToLower(strings.TrimSpace(string(v)))
			}
		case "content":
			content, hasContent = string(v), true
		}
		if !more {
			break
		}
	}
	mk, ok := metaKeys[key]
	if !ok || !hasContent {
		return
	}
	switch {
	case key == "og:image":
		c.images++
	case mk.f == fImageAlt && c.images > 1:
		return
	}
	c.set(mk.f, mk.rank, content)
}
