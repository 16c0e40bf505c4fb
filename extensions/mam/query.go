package mam

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// request is a parsed <query/>.
type request struct {
	q       store.ArchiveQuery
	queryID string
	flip    bool
	max     int // items per page; 0 asks only for the count
	// cursors that must exist besides the one the store checks
	check []string
}

func badRequest(text string) error {
	return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, text)
}

// parseRequest reads the data form, RSM <set/> and <flip-page/>.
func parseRequest(el *wire.Element) (*request, error) {
	req := &request{queryID: el.Attr("queryid"), max: DefaultPage}
	if el.Attr("node") != "" {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "pubsub node archives (XEP-0442) are not served here")
	}
	var formAfter, formBefore string
	if x := el.Child("x", nsData); x != nil {
		for _, f := range x.ChildrenNamed("field", nsData) {
			var values []string
			for _, v := range f.ChildrenNamed("value", nsData) {
				values = append(values, strings.TrimSpace(v.Text))
			}
			first := ""
			if len(values) > 0 {
				first = values[0]
			}
			switch name := f.Attr("var"); name {
			case "FORM_TYPE":
				if first != NS {
					return nil, badRequest("FORM_TYPE must be " + NS)
				}
			case "with":
				if first == "" {
					continue
				}
				j, err := xmppd.ParseJID(first)
				if err != nil {
					return nil, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed 'with' JID: "+first)
				}
				req.q.With = j.String()
			case "start", "end":
				if first == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, first)
				if err != nil {
					return nil, badRequest("'" + name + "' must be a XEP-0082 DateTime, e.g. 2025-01-31T12:00:00Z, not " + first)
				}
				if name == "start" {
					req.q.Start = t
				} else {
					req.q.End = t
				}
			case "after-id":
				formAfter = first
			case "before-id":
				formBefore = first
			case "ids":
				req.q.IDs = []string{}
				for _, v := range values {
					if v != "" {
						req.q.IDs = append(req.q.IDs, v)
					}
				}
			default:
				return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "unsupported query field "+name)
			}
		}
	}
	var rsmAfter, rsmBefore string
	if set := el.Child("set", nsRSM); set != nil {
		if set.Child("index", nsRSM) != nil {
			return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "RSM <index/> is not supported; page with <after/> and <before/>")
		}
		if m := set.Child("max", nsRSM); m != nil {
			n, err := strconv.Atoi(strings.TrimSpace(m.Text))
			if err != nil || n < 0 {
				return nil, badRequest("RSM <max/> must be a non-negative number")
			}
			req.max = min(n, MaxPage)
		}
		if a := set.Child("after", nsRSM); a != nil {
			if rsmAfter = strings.TrimSpace(a.Text); rsmAfter == "" {
				return nil, badRequest("RSM <after/> needs an id")
			}
		}
		if b := set.Child("before", nsRSM); b != nil {
			// An empty <before/> asks for the last page (RSM §2.5).
			req.q.Reverse = true
			rsmBefore = strings.TrimSpace(b.Text)
		}
	}
	req.flip = el.Child("flip-page", NS) != nil
	// The form's after-id/before-id and RSM's after/before may both be
	// given: the narrower wins, the other must still exist.
	req.q.AfterID, req.check = narrower(formAfter, rsmAfter, 1, req.check)
	req.q.BeforeID, req.check = narrower(formBefore, rsmBefore, -1, req.check)
	return req, nil
}

// narrower picks of two optional ids the larger (sign 1) or smaller (-1)
// and appends the other, if any, to check.
func narrower(a, b string, sign int, check []string) (string, []string) {
	switch {
	case a == "":
		return b, check
	case b == "":
		return a, check
	}
	if strings.Compare(a, b)*sign < 0 {
		a, b = b, a
	}
	return a, append(check, b)
}

// pageBudget is the most result bytes one query queues for the client: a
// quarter of the outbound queue, so that paging never gets a client
// disconnected as too slow.
func (e *Extension) pageBudget() int {
	return max(int(e.srv.Config().Limits.OutboundQueue/4), 64*1024)
}

func (e *Extension) handleQuery(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	req, err := parseRequest(iq.Payload)
	if err != nil {
		return nil, err
	}
	owner := iq.To.BareString()
	for _, id := range req.check {
		if _, err := e.archive.Get(owner, id); err != nil {
			return nil, notFound(err, id)
		}
	}
	q := req.q
	q.Limit = max(req.max, 1)
	res, err := e.archive.Query(owner, q)
	if err != nil {
		return nil, notFound(err, "")
	}
	items := res.Items
	complete := res.Complete
	if req.max == 0 {
		items, complete = nil, len(res.Items) == 0
	}

	// Build the result messages, within the byte budget: a forward page
	// keeps its oldest items, a backward one its newest.
	to := iq.From.String()
	from := ""
	if iq.Stanza.To != "" {
		from = owner
	}
	msgs := make([][]byte, len(items))
	budget := e.pageBudget()
	kept := 0
	for k := range items {
		i := k
		if q.Reverse {
			i = len(items) - 1 - k
		}
		msgs[i] = resultMessage(to, from, req.queryID, items[i])
		budget -= len(msgs[i])
		kept++
		if budget < 0 && k < len(items)-1 {
			complete = false
			break
		}
	}
	if kept < len(items) {
		if q.Reverse {
			items, msgs = items[len(items)-kept:], msgs[len(msgs)-kept:]
		} else {
			items, msgs = items[:kept], msgs[:kept]
		}
	}
	send := func(b []byte) {
		if iq.Session != nil {
			iq.Session.Send(b)
		} else {
			e.srv.SendRaw(iq.From, b)
		}
	}
	for k := range msgs {
		i := k
		if req.flip {
			i = len(msgs) - 1 - k
		}
		send(msgs[i])
	}

	fin := wire.NewElement("fin", NS)
	if complete {
		fin.SetAttr("complete", "true")
	}
	set := wire.NewElement("set", nsRSM)
	if len(items) > 0 {
		set.Append(wire.NewElement("first", nsRSM).SetText(items[0].ID),
			wire.NewElement("last", nsRSM).SetText(items[len(items)-1].ID))
	}
	if res.Count >= 0 {
		set.Append(wire.NewElement("count", nsRSM).SetText(strconv.Itoa(res.Count)))
	}
	return fin.Append(set), nil
}

// notFound turns the store's ErrNotFound into item-not-found.
func notFound(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		text := "no such message in the archive"
		if id != "" {
			text += ": " + id
		}
		return xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, text)
	}
	return err
}

const stampLayout = "2006-01-02T15:04:05.000000Z"

// resultMessage wraps an archived stanza for the querier (XEP-0313 §4.2,
// XEP-0297, XEP-0203).
func resultMessage(to, from, queryID string, it store.ArchiveItem) []byte {
	b := make([]byte, 0, len(it.Value)+320)
	b = append(b, "<message to='"...)
	b = wire.AppendEscaped(b, to)
	if from != "" {
		b = append(b, "' from='"...)
		b = wire.AppendEscaped(b, from)
	}
	b = append(b, "'><result xmlns='urn:xmpp:mam:2'"...)
	if queryID != "" {
		b = append(b, " queryid='"...)
		b = wire.AppendEscaped(b, queryID)
		b = append(b, '\'')
	}
	b = append(b, " id='"...)
	b = wire.AppendEscaped(b, it.ID)
	b = append(b, "'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='"...)
	b = it.At.UTC().AppendFormat(b, stampLayout)
	b = append(b, "'/>"...)
	b = appendWithClientNS(b, it.Value)
	return append(b, "</forwarded></result></message>"...)
}

// appendWithClientNS appends a stored stanza, declaring jabber:client on
// its root when the stored bytes inherit it from the stream: inside
// <forwarded/> it would otherwise land in the forward namespace.
func appendWithClientNS(b, st []byte) []byte {
	if len(st) < 2 || st[0] != '<' {
		return append(b, st...)
	}
	nameEnd := 1
	for nameEnd < len(st) && !isSpace(st[nameEnd]) && st[nameEnd] != '/' && st[nameEnd] != '>' {
		nameEnd++
	}
	if strings.ContainsRune(string(st[1:nameEnd]), ':') || hasDefaultNS(st[nameEnd:]) {
		return append(b, st...)
	}
	b = append(b, st[:nameEnd]...)
	b = append(b, " xmlns='jabber:client'"...)
	return append(b, st[nameEnd:]...)
}

// hasDefaultNS reports whether the attributes of a start tag (the bytes
// after its name) declare a default namespace.
func hasDefaultNS(s []byte) bool {
	i := 0
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] == '>' || s[i] == '/' {
			return false
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		name := string(s[start:i])
		for i < len(s) && (s[i] == '=' || isSpace(s[i])) {
			i++
		}
		if i >= len(s) {
			return false
		}
		q := s[i]
		if q != '\'' && q != '"' {
			return false
		}
		end := i + 1
		for end < len(s) && s[end] != q {
			end++
		}
		if name == "xmlns" {
			return true
		}
		i = end + 1
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// handleForm answers form discovery (XEP-0313 §4.1.5).
func (e *Extension) handleForm(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	field := func(typ, name string) *wire.Element {
		return wire.NewElement("field", nsData).SetAttr("type", typ).SetAttr("var", name)
	}
	x := wire.NewElement("x", nsData).SetAttr("type", "form").Append(
		field("hidden", "FORM_TYPE").Append(wire.NewElement("value", nsData).SetText(NS)),
		field("jid-single", "with"),
		field("text-single", "start"),
		field("text-single", "end"),
		field("text-single", "before-id"),
		field("text-single", "after-id"),
		field("list-multi", "ids").Append(
			wire.NewElement("validate", "http://jabber.org/protocol/xdata-validate").SetAttr("datatype", "xs:string").
				Append(wire.NewElement("open", "http://jabber.org/protocol/xdata-validate"))),
	)
	return wire.NewElement("query", NS).Append(x), nil
}

// handleMetadata answers the archive metadata query (XEP-0313 §5).
func (e *Extension) handleMetadata(iq *xmppd.IQ) (*wire.Element, error) {
	if err := e.ownerOnly(iq); err != nil {
		return nil, err
	}
	owner := iq.To.BareString()
	md := wire.NewElement("metadata", NS)
	first, err := e.archive.Query(owner, store.ArchiveQuery{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(first.Items) == 0 {
		return md, nil
	}
	last, err := e.archive.Query(owner, store.ArchiveQuery{Limit: 1, Reverse: true})
	if err != nil {
		return nil, err
	}
	for _, x := range []struct {
		name string
		it   store.ArchiveItem
	}{{"start", first.Items[0]}, {"end", last.Items[0]}} {
		md.Append(wire.NewElement(x.name, NS).SetAttr("id", x.it.ID).
			SetAttr("timestamp", x.it.At.UTC().Format(stampLayout)))
	}
	return md, nil
}
