package preview

import (
	"net/url"
	"strings"
	"testing"
)

func parse(t *testing.T, page, base string) *Meta {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return parseHead(strings.NewReader(page), u)
}

func TestParseHead(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       *Meta
	}{{
		name: "og tags with entities",
		page: `<html><head><meta property="og:title" content="Fish &amp; Chips &eacute;t&#233;">` +
			`<meta property="og:description" content="&lt;b&gt;bold&lt;/b&gt; &quot;q&quot;">` +
			`<meta property="og:site_name" content="Caf&eacute;"><meta property="og:type" content="article">`,
		want: &Meta{Title: "Fish & Chips été", Description: `<b>bold</b> "q"`, SiteName: "Café", Type: "article"},
	}, {
		name: "name instead of property, upper case",
		page: `<meta name="OG:Title" content="By name"><meta name="og:image" content="https://cdn.example/a.png">`,
		want: &Meta{Title: "By name", Image: "https://cdn.example/a.png"},
	}, {
		name: "property wins over name on one tag",
		page: `<meta name="twitter:title" property="og:title" content="Both">`,
		want: &Meta{Title: "Both"},
	}, {
		name: "og beats twitter beats html, whatever the order",
		page: `<title>HTML title</title><meta name="description" content="plain">` +
			`<meta name="twitter:title" content="Tweet"><meta property="og:title" content="OG">` +
			`<meta name="twitter:description" content="tweet desc">`,
		want: &Meta{Title: "OG", Description: "tweet desc"},
	}, {
		name: "fallback to title and description",
		page: `<head><title>  A
		  title  </title><meta name="description" content="Described"></head>`,
		want: &Meta{Title: "A title", Description: "Described"},
	}, {
		name: "relative image and url resolved against the page",
		page: `<meta property="og:image" content="../img/x.png"><meta property="og:image:alt" content="An X">` +
			`<meta property="og:url" content="/canonical?a=1">`,
		want: &Meta{Image: "https://example.com/img/x.png", ImageAlt: "An X", URL: "https://example.com/canonical?a=1"},
	}, {
		name: "protocol-relative image",
		page: `<meta property="og:image" content="//cdn.example.net/y.jpg">`,
		want: &Meta{Image: "https://cdn.example.net/y.jpg"},
	}, {
		name: "first image wins, alt of a later image ignored",
		page: `<meta property="og:image" content="/1.png"><meta property="og:image" content="/2.png">` +
			`<meta property="og:image:alt" content="second">`,
		want: &Meta{Image: "https://example.com/1.png"},
	}, {
		name: "unsafe image schemes dropped",
		page: `<meta property="og:title" content="T"><meta property="og:image" content="javascript:alert(1)">` +
			`<meta name="twitter:image" content="data:image/png;base64,AAAA">`,
		want: &Meta{Title: "T"},
	}, {
		name: "image with credentials dropped",
		page: `<meta property="og:title" content="T"><meta property="og:image" content="https://u:p@example.com/i.png">`,
		want: &Meta{Title: "T"},
	}, {
		name: "stops at body",
		page: `<head><title>Head</title></head><body><meta property="og:title" content="Body"></body>`,
		want: &Meta{Title: "Head"},
	}, {
		name: "script content is not markup",
		page: `<head><script>var s = '<meta property="og:title" content="Fake">';</script><title>Real</title>`,
		want: &Meta{Title: "Real"},
	}, {
		name: "nothing",
		page: `<html><head><meta charset="utf-8"><meta property="og:title"></head>`,
		want: nil,
	}, {
		name: "not even HTML",
		page: "\x00\x01binary",
		want: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := parse(t, tc.page, "https://example.com/dir/page.html")
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseHeadCuts(t *testing.T) {
	long := strings.Repeat("ab ", 1000)
	m := parse(t, `<meta property="og:title" content="`+long+`"><meta property="og:description" content="`+long+`">`, "http://x.example/")
	if n := len([]rune(m.Title)); n > maxTitle || n < maxTitle-2 {
		t.Errorf("title has %d runes, want about %d", n, maxTitle)
	}
	if n := len([]rune(m.Description)); n > maxText || n < maxText-2 {
		t.Errorf("description has %d runes, want about %d", n, maxText)
	}
	if !strings.HasSuffix(m.Title, "…") {
		t.Errorf("cut title does not end in an ellipsis: %q", m.Title)
	}
}

func TestAppendXML(t *testing.T) {
	m := &Meta{Title: "A <b> & 'c'", Image: "https://e.example/i.png?a=1&b=2", ImageAlt: "alt", SiteName: "S"}
	got := string(m.appendXML(nil, "https://e.example/?q='x'&y"))
	want := `<rdf:Description xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' xmlns:og='https://ogp.me/ns#' xmlns:ogi='https://ogp.me/ns#image:' rdf:about='https://e.example/?q=&apos;x&apos;&amp;y'>` +
		`<og:title>A &lt;b&gt; &amp; &apos;c&apos;</og:title><og:image>https://e.example/i.png?a=1&amp;b=2</og:image>` +
		`<ogi:alt>alt</ogi:alt><og:site_name>S</og:site_name></rdf:Description>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
