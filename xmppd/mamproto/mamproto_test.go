package mamproto

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd/wire"
)

func parse(t *testing.T, inner string) (*Request, error) {
	t.Helper()
	el, err := wire.Parse([]byte("<query xmlns='urn:xmpp:mam:2' queryid='q'>" + inner + "</query>"))
	if err != nil {
		t.Fatal(err)
	}
	return ParseRequest(el)
}

func TestParseRequest(t *testing.T) {
	req, err := parse(t, "<x xmlns='jabber:x:data' type='submit'>"+
		"<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>"+
		"<field var='with'><value>room@muc.example/nick</value></field>"+
		"<field var='start'><value>2025-01-31T12:00:00Z</value></field>"+
		"<field var='before-id'><value>m5</value></field></x>"+
		"<set xmlns='http://jabber.org/protocol/rsm'><max>500</max><before>m3</before></set><flip-page/>")
	if err != nil {
		t.Fatal(err)
	}
	q := req.Query
	if req.QueryID != "q" || !req.Flip || req.Max != MaxPage || q.With != "room@muc.example/nick" ||
		!q.Start.Equal(time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)) || !q.Reverse ||
		q.BeforeID != "m3" || !slices.Equal(req.Check, []string{"m5"}) {
		t.Fatalf("parsed %+v", req)
	}
	for _, bad := range []string{
		"<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>",
		"<x xmlns='jabber:x:data'><field var='colour'><value>red</value></field></x>",
		"<set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set>",
		"<set xmlns='http://jabber.org/protocol/rsm'><after/></set>",
		"<set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set>",
	} {
		if _, err := parse(t, bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestAnswer(t *testing.T) {
	var items []store.ArchiveItem
	for i := range 5 {
		items = append(items, store.ArchiveItem{ID: fmt.Sprint("m", i), At: time.Unix(int64(i), 0),
			Value: []byte(fmt.Sprintf("<message from='r@m/n'><body>%d</body></message>", i))})
	}
	res := store.ArchiveResult{Items: items, Complete: true, Count: 9}
	p := Answer(&Request{QueryID: "q", Max: 5, Flip: true}, res, "u@x/r", "r@m", 0)
	if len(p.Messages) != 5 || !strings.Contains(string(p.Messages[0]), "<body>4</body>") ||
		!strings.Contains(string(p.Messages[0]), "from='r@m'") || !strings.Contains(string(p.Messages[0]), "<message xmlns='jabber:client' from='r@m/n'>") {
		t.Fatalf("flipped page: %s", p.Messages[0])
	}
	if fin := p.Fin; fin.Attr("complete") != "true" || !strings.Contains(string(fin.AppendXML(nil)), "<first>m0</first><last>m4</last><count>9</count>") {
		t.Fatalf("fin: %s", fin.AppendXML(nil))
	}
	// A backward page cut by the budget keeps its newest items.
	one := len(ResultMessage("u@x/r", "r@m", "q", items[0]))
	p = Answer(&Request{QueryID: "q", Max: 5, Query: store.ArchiveQuery{Reverse: true}}, res, "u@x/r", "r@m", 2*one-1)
	if len(p.Messages) != 2 || !strings.Contains(string(p.Messages[0]), "<body>3</body>") || p.Fin.Attr("complete") == "true" {
		t.Fatalf("cut page: %d messages, fin %s", len(p.Messages), p.Fin.AppendXML(nil))
	}
	// max 0: the count only.
	if p = Answer(&Request{Max: 0}, res, "u@x/r", "", 0); len(p.Messages) != 0 || p.Fin.Attr("complete") == "true" {
		t.Fatalf("count-only page: %d, %s", len(p.Messages), p.Fin.AppendXML(nil))
	}
}
