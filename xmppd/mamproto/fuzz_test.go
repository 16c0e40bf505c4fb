package mamproto

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// FuzzParseRequest: any <query/> a client sends is either a request
// within the documented bounds or a stanza error to answer; never a panic.
// Each accepted request then runs against a small archive (Run) and is
// answered (Answer): unknown cursors are item-not-found, pages respect
// their size, and the <fin/> and result messages are well-formed.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"",
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'><value>bob@example.com/r</value></field><field var='start'><value>2025-01-31T12:00:00Z</value></field><field var='end'><value>2030-01-01T00:00:00.5+02:00</value></field></x>",
		"<x xmlns='jabber:x:data'><field var='after-id'><value>m2</value></field><field var='before-id'><value>m7</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>3</max><after>m1</after><before>m9</before></set>",
		"<x xmlns='jabber:x:data'><field var='ids'><value>m1</value><value> m4 </value><value/></field></x>",
		"<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>",
		"<set xmlns='http://jabber.org/protocol/rsm'><max>99999999999999999999</max><before/></set><flip-page/>",
		"<set xmlns='http://jabber.org/protocol/rsm'><index>2</index></set>",
		"<set xmlns='http://jabber.org/protocol/rsm'><after> </after></set>",
		"<x xmlns='jabber:x:data'><field var='with'><value>@@</value></field><field var='nope'/></x>",
		"<x xmlns='jabber:x:data'><field var='start'><value>yesterday</value></field></x>",
	} {
		f.Add("q1", s)
	}
	f.Add("", "<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>")

	db, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"), store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	const owner = "alice@example.com"
	arch := db.Archive("mam.fuzz")
	t0 := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		with := "bob@example.com/r"
		if i%3 == 0 {
			with = "carol@example.com"
		}
		msg := fmt.Sprintf("<message xmlns='jabber:client' from='%s' id='x%d'><body>%d</body></message>", with, i, i)
		if err := arch.Append(owner, fmt.Sprintf("m%d", i), t0.Add(time.Duration(i)*time.Hour), with, []byte(msg)); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, queryID, inner string) {
		b := []byte("<query xmlns='urn:xmpp:mam:2'")
		b = wire.AppendAttr(b, "queryid", queryID)
		b = append(b, '>')
		b = append(b, inner...)
		b = append(b, "</query>"...)
		el, err := wire.Parse(b)
		if err != nil {
			return
		}
		req, err := ParseRequest(el)
		if err != nil {
			var se stanza.Error
			if !errors.As(err, &se) || se.Condition == "" {
				t.Fatalf("ParseRequest(%q): %T %v, want a stanza error", b, err, err)
			}
			return
		}
		if req.Max < 0 || req.Max > MaxPage {
			t.Fatalf("ParseRequest(%q): Max %d outside [0, %d]", b, req.Max, MaxPage)
		}
		if req.QueryID != el.Attr("queryid") {
			t.Fatalf("ParseRequest(%q): queryid %q", b, req.QueryID)
		}
		q := req.Query
		if q.With != "" {
			if _, err := xmppd.ParseJID(q.With); err != nil {
				t.Fatalf("ParseRequest(%q): With %q does not parse: %v", b, q.With, err)
			}
		}
		for _, id := range append(append([]string{q.AfterID, q.BeforeID}, q.IDs...), req.Check...) {
			if id != strings.TrimSpace(id) {
				t.Fatalf("ParseRequest(%q): untrimmed id %q", b, id)
			}
		}
		res, err := Run(arch, owner, req)
		if err != nil {
			var se stanza.Error
			if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
				t.Fatalf("Run(%+v): %v, want item-not-found or a page", req, err)
			}
			return
		}
		if len(res.Items) > max(req.Max, 1) {
			t.Fatalf("Run(%+v): %d items, page size %d", req, len(res.Items), req.Max)
		}
		page := Answer(req, res, owner+"/r", "", 0)
		for _, m := range page.Messages {
			if _, err := wire.Parse(m); err != nil {
				t.Fatalf("result message %q: %v", m, err)
			}
		}
		if _, err := wire.Parse(page.Fin.AppendXML(nil)); err != nil {
			t.Fatalf("fin %s: %v", page.Fin, err)
		}
	})
}
