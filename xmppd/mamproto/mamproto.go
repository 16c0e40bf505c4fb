// Package mamproto is the protocol side of XEP-0313 Message Archive
// Management (urn:xmpp:mam:2) with XEP-0059 Result Set Management paging,
// shared by every archive xmppd serves: users' 1:1 archives
// (extensions/mam) and room archives (extensions/muc). It is a library,
// not an extension: it reads queries into a store.ArchiveQuery, runs them
// against a store.Archive and builds the result messages, the <fin/>,
// the query form and the metadata. Who may query, and what is archived,
// is the caller's policy.
//
// Queries: data form fields with, start, end, before-id, after-id, ids;
// RSM max (default DefaultPage, at most MaxPage), after, before (an empty
// <before/> is the last page), no index (feature-not-implemented);
// <flip-page/>. Results are <message><result><forwarded><delay/>ORIGINAL
// </forwarded></result></message> followed by the IQ result
// <fin complete='true'?><set><first/><last/><count/></set></fin>, with
// first and last in chronological order whatever the direction; <count/>
// is sent when the store knows it without scanning. A page is also cut
// at a byte budget, so a page of large stanzas cannot get the client
// disconnected (complete is then false). Unknown ids give item-not-found,
// unknown form fields feature-not-implemented.
package mamproto

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Namespaces.
const (
	NS         = "urn:xmpp:mam:2"
	NSExtended = NS + "#extended"

	nsRSM = "http://jabber.org/protocol/rsm"
)

// Page sizes (XEP-0313 §4.3.1: the server MAY limit a page).
const (
	DefaultPage = 50
	MaxPage     = 100
)

// Request is a parsed <query/>.
type Request struct {
	// Query is the store query; Limit is left for Run to set.
	Query   store.ArchiveQuery
	QueryID string
	Flip    bool
	// Max is the number of items per page; 0 asks only for the count.
	Max int
	// Check holds cursors that must exist besides the ones the store
	// checks (the wider of a form id and an RSM cursor).
	Check []string
}

func badRequest(text string) error {
	return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, text)
}

// ParseRequest reads the data form, RSM <set/> and <flip-page/> of a
// <query xmlns='urn:xmpp:mam:2'/>.
func ParseRequest(el *wire.Element) (*Request, error) {
	req := &Request{QueryID: el.Attr("queryid"), Max: DefaultPage}
	if el.Attr("node") != "" {
		return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "pubsub node archives (XEP-0442) are not served here")
	}
	var formAfter, formBefore string
	if form := dataform.Find(el); form != nil {
		if form.HasFormType && form.FormType != NS {
			return nil, badRequest("FORM_TYPE must be " + NS)
		}
		for _, f := range form.Fields {
			first := f.Value()
			switch name := f.Var; name {
			case "with":
				if first == "" {
					continue
				}
				j, err := xmppd.ParseJID(first)
				if err != nil {
					return nil, xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed 'with' JID: "+first)
				}
				req.Query.With = j.String()
			case "start", "end":
				if first == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, first)
				if err != nil {
					return nil, badRequest("'" + name + "' must be a XEP-0082 DateTime, e.g. 2025-01-31T12:00:00Z, not " + first)
				}
				if name == "start" {
					req.Query.Start = t
				} else {
					req.Query.End = t
				}
			case "after-id":
				formAfter = first
			case "before-id":
				formBefore = first
			case "ids":
				req.Query.IDs = []string{}
				for _, v := range f.Values {
					if v = strings.TrimSpace(v); v != "" {
						req.Query.IDs = append(req.Query.IDs, v)
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
			req.Max = min(n, MaxPage)
		}
		if a := set.Child("after", nsRSM); a != nil {
			if rsmAfter = strings.TrimSpace(a.Text); rsmAfter == "" {
				return nil, badRequest("RSM <after/> needs an id")
			}
		}
		if b := set.Child("before", nsRSM); b != nil {
			// An empty <before/> asks for the last page (RSM §2.5).
			req.Query.Reverse = true
			rsmBefore = strings.TrimSpace(b.Text)
		}
	}
	req.Flip = el.Child("flip-page", NS) != nil
	// The form's after-id/before-id and RSM's after/before may both be
	// given: the narrower wins, the other must still exist.
	req.Query.AfterID, req.Check = narrower(formAfter, rsmAfter, 1, req.Check)
	req.Query.BeforeID, req.Check = narrower(formBefore, rsmBefore, -1, req.Check)
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

// Run checks the request's extra cursors and runs its query on owner's
// archive, one page of at most max(req.Max, 1) items. Store errors for
// unknown ids come back as item-not-found.
func Run(a *store.Archive, owner string, req *Request) (store.ArchiveResult, error) {
	for _, id := range req.Check {
		if _, err := a.Get(owner, id); err != nil {
			return store.ArchiveResult{}, NotFound(err, id)
		}
	}
	q := req.Query
	q.Limit = max(req.Max, 1)
	res, err := a.Query(owner, q)
	if err != nil {
		return res, NotFound(err, "")
	}
	return res, nil
}

// Page is one answered query: the result messages in sending order and
// the <fin/> payload of the IQ result.
type Page struct {
	Messages [][]byte
	Fin      *wire.Element
}

// Answer builds the result messages for res, addressed to 'to' and (if
// not empty) from 'from', and the <fin/>. Messages stop once budget bytes
// are used (a forward page keeps its oldest items, a backward one its
// newest; complete is then false); budget <= 0 means no limit.
func Answer(req *Request, res store.ArchiveResult, to, from string, budget int) Page {
	items := res.Items
	complete := res.Complete
	if req.Max == 0 {
		items, complete = nil, len(res.Items) == 0
	}
	reverse := req.Query.Reverse
	msgs := make([][]byte, len(items))
	kept := 0
	for k := range items {
		i := k
		if reverse {
			i = len(items) - 1 - k
		}
		msgs[i] = ResultMessage(to, from, req.QueryID, items[i])
		kept++
		if budget > 0 {
			budget -= len(msgs[i])
			if budget < 0 && k < len(items)-1 {
				complete = false
				break
			}
		}
	}
	if kept < len(items) {
		if reverse {
			items, msgs = items[len(items)-kept:], msgs[len(msgs)-kept:]
		} else {
			items, msgs = items[:kept], msgs[:kept]
		}
	}
	if req.Flip {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
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
	return Page{Messages: msgs, Fin: fin.Append(set)}
}

// NotFound turns the store's ErrNotFound into item-not-found; other
// errors pass unchanged.
func NotFound(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		text := "no such message in the archive"
		if id != "" {
			text += ": " + id
		}
		return xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, text)
	}
	return err
}

// StampLayout is the XEP-0082 layout of archive times, in microseconds.
const StampLayout = "2006-01-02T15:04:05.000000Z"

// ResultMessage wraps an archived stanza for the querier (XEP-0313 §4.2,
// XEP-0297, XEP-0203). from may be empty (an archive of the querier's own
// account answered without a 'from').
func ResultMessage(to, from, queryID string, it store.ArchiveItem) []byte {
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
	b = it.At.UTC().AppendFormat(b, StampLayout)
	b = append(b, "'/>"...)
	b = AppendWithClientNS(b, it.Value)
	return append(b, "</forwarded></result></message>"...)
}

// AppendWithClientNS appends a stored stanza, declaring jabber:client on
// its root when the stored bytes inherit it from the stream: inside
// <forwarded/> it would otherwise land in the forward namespace.
func AppendWithClientNS(b, st []byte) []byte {
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

// Form is the answer to form discovery (XEP-0313 §4.1.5): the
// <query/> with the fields ParseRequest understands.
func Form() *wire.Element {
	x := dataform.New("form", NS).
		Field("with", "jid-single", "").
		Field("start", "text-single", "").
		Field("end", "text-single", "").
		Field("before-id", "text-single", "").
		Field("after-id", "text-single", "").
		Append(dataform.FieldElement("ids", "list-multi", "").Append(
			wire.NewElement("validate", "http://jabber.org/protocol/xdata-validate").SetAttr("datatype", "xs:string").
				Append(wire.NewElement("open", "http://jabber.org/protocol/xdata-validate"))))
	return wire.NewElement("query", NS).Append(x.Element())
}

// Metadata answers the archive metadata query (XEP-0313 §5): the first
// and last entry of owner's archive, nothing for an empty one.
func Metadata(a *store.Archive, owner string) (*wire.Element, error) {
	md := wire.NewElement("metadata", NS)
	first, err := a.Query(owner, store.ArchiveQuery{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(first.Items) == 0 {
		return md, nil
	}
	last, err := a.Query(owner, store.ArchiveQuery{Limit: 1, Reverse: true})
	if err != nil {
		return nil, err
	}
	for _, x := range []struct {
		name string
		it   store.ArchiveItem
	}{{"start", first.Items[0]}, {"end", last.Items[0]}} {
		md.Append(wire.NewElement(x.name, NS).SetAttr("id", x.it.ID).
			SetAttr("timestamp", x.it.At.UTC().Format(StampLayout)))
	}
	return md, nil
}
