package inbox

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

const stampLayout = "2006-01-02T15:04:05.000000Z"

func badRequest(text string) error {
	return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, text)
}

func ownerOnly(iq *xmppd.IQ) error {
	if iq.From.Bare() != iq.To.Bare() {
		return xmppd.StanzaError(stanza.Cancel, stanza.Forbidden, "only the owner may access this inbox")
	}
	return nil
}

// request is a parsed inbox query.
type request struct {
	queryID    string
	start, end time.Time
	asc        bool
	hiddenRead bool
	box        string // all, inbox, archive
	max        int    // -1: none given
	after      *cursor
	before     *cursor
	lastPage   bool // empty <before/>
}

// cursor is an RSM position: MongooseIM's "µs/base64(jid)".
type cursor struct {
	at  int64
	jid string
}

func (c cursor) String() string {
	return strconv.FormatInt(c.at, 10) + "/" + base64.StdEncoding.EncodeToString([]byte(c.jid))
}

func parseCursor(s string) (*cursor, error) {
	ts, j, ok := strings.Cut(s, "/")
	at, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || at < 0 {
		return nil, badRequest("bad RSM id: " + s)
	}
	raw, err := base64.StdEncoding.DecodeString(j)
	if err != nil {
		return nil, badRequest("bad RSM id: " + s)
	}
	return &cursor{at: at, jid: string(raw)}, nil
}

// formValues reads the fields of the first jabber:x:data child.
func formValues(el *wire.Element) map[string]string {
	x := el.Child("x", nsData)
	if x == nil {
		return nil
	}
	out := make(map[string]string)
	for _, f := range x.ChildrenNamed("field", nsData) {
		v := f.ChildText("value", nsData)
		if v == "" {
			v = f.Attr("value") // MongooseIM's own form examples put it here
		}
		out[f.Attr("var")] = strings.TrimSpace(v)
	}
	return out
}

func parseRequest(el *wire.Element) (*request, error) {
	req := &request{queryID: el.Attr("queryid"), box: "all", max: -1}
	for k, v := range formValues(el) {
		if v == "" {
			continue
		}
		switch k {
		case "FORM_TYPE":
			if v != NS {
				return nil, badRequest("FORM_TYPE must be " + NS)
			}
		case "start", "end":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, badRequest("Invalid inbox form field value, field=" + k + ", value=" + v)
			}
			if k == "start" {
				req.start = t
			} else {
				req.end = t
			}
		case "order":
			switch v {
			case "asc", "desc":
				req.asc = v == "asc"
			default:
				return nil, badRequest("Invalid inbox form field value, field=order, value=" + v)
			}
		case "hidden_read":
			b, ok := dataform.ParseBool(v)
			if !ok {
				return nil, badRequest("Invalid inbox form field value, field=hidden_read, value=" + v)
			}
			req.hiddenRead = b
		case "box":
			switch v {
			case "all", boxInbox, boxArchive, "bin":
				req.box = v
			default:
				return nil, badRequest("Invalid inbox form field value, field=box, value=" + v)
			}
		case "archive": // deprecated in MongooseIM in favour of box
			b, ok := dataform.ParseBool(v)
			if !ok {
				return nil, badRequest("Invalid inbox form field value, field=archive, value=" + v)
			}
			if b {
				req.box = boxArchive
			} else {
				req.box = boxInbox
			}
		default:
			return nil, badRequest("unknown inbox form field: " + k)
		}
	}
	if set := el.Child("set", nsRSM); set != nil {
		if set.Child("index", nsRSM) != nil {
			return nil, xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "Inbox does not expose a total count and indexes")
		}
		if m := set.Child("max", nsRSM); m != nil {
			n, err := strconv.Atoi(strings.TrimSpace(m.Text))
			if err != nil || n < 0 {
				return nil, badRequest("RSM max must be a non-negative number")
			}
			req.max = n
		}
		if a := set.Child("after", nsRSM); a != nil {
			c, err := parseCursor(strings.TrimSpace(a.Text))
			if err != nil {
				return nil, err
			}
			req.after = c
		}
		if b := set.Child("before", nsRSM); b != nil {
			if t := strings.TrimSpace(b.Text); t == "" {
				req.lastPage = true
			} else {
				c, err := parseCursor(t)
				if err != nil {
					return nil, err
				}
				req.before = c
			}
		}
	}
	return req, nil
}

// listed is one entry on its way out.
type listed struct {
	jid string
	entry
}

func (l listed) cursor() cursor { return cursor{at: l.Last.At.UnixMicro(), jid: l.jid} }

// compare orders entries as the query asks (by last activity, then JID).
func (req *request) compare(a, b cursor) int {
	c := cmp.Compare(a.at, b.at)
	if !req.asc {
		c = -c
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.jid, b.jid)
}

func (e *Extension) handleQuery(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownerOnly(iq); err != nil {
		return nil, err
	}
	req, err := parseRequest(iq.Payload)
	if err != nil {
		return nil, err
	}
	owner := iq.To.BareString()
	entries, err := e.all(owner)
	if err != nil {
		return nil, err
	}
	var list []listed
	unread, mentions, active := 0, 0, 0
	for j, en := range entries {
		switch {
		case req.box == "bin": // no bin: entries are never deleted
			continue
		case req.box != "all" && en.box() != req.box,
			req.hiddenRead && en.Unread == 0,
			!req.start.IsZero() && en.Last.At.Before(req.start),
			!req.end.IsZero() && en.Last.At.After(req.end):
			continue
		}
		list = append(list, listed{jid: j, entry: en})
		unread += en.Unread
		mentions += en.Mentions
		if en.Unread > 0 {
			active++
		}
	}
	total := len(list)
	slices.SortFunc(list, func(a, b listed) int { return req.compare(a.cursor(), b.cursor()) })

	// RSM: after/before are positions in the sort order, present or not.
	if req.after != nil {
		i, _ := slices.BinarySearchFunc(list, *req.after, func(l listed, c cursor) int { return req.compare(l.cursor(), c) })
		for i < len(list) && req.compare(list[i].cursor(), *req.after) <= 0 {
			i++
		}
		list = list[i:]
	}
	fromEnd := req.lastPage
	if req.before != nil {
		i, _ := slices.BinarySearchFunc(list, *req.before, func(l listed, c cursor) int { return req.compare(l.cursor(), c) })
		list = list[:i]
		fromEnd = true
	}
	limit := req.max
	if m := e.Config.MaxResultLimit; m > 0 && (limit < 0 || limit > m) {
		limit = m
	}
	if limit >= 0 && len(list) > limit {
		if fromEnd {
			list = list[len(list)-limit:]
		} else {
			list = list[:limit]
		}
	}

	queryID := req.queryID
	if queryID == "" {
		queryID = iq.Stanza.ID
	}
	now := time.Now()
	for _, l := range list {
		res := wire.NewElement("result", NS,
			wire.Attr{Name: "unread", Value: strconv.Itoa(l.Unread)},
			wire.Attr{Name: "queryid", Value: queryID},
			wire.Attr{Name: "jid", Value: l.jid},
			wire.Attr{Name: "mentions", Value: strconv.Itoa(l.Mentions)})
		if fw := e.forwarded(owner, l); fw != nil {
			res.Append(fw)
		}
		res.Append(l.properties(now)...)
		msg := wire.NewElement("message", "",
			wire.Attr{Name: "from", Value: owner},
			wire.Attr{Name: "to", Value: iq.From.String()},
			wire.Attr{Name: "id", Value: e.srv.NextID()}).Append(res)
		e.send(iq, msg)
	}

	set := wire.NewElement("set", nsRSM)
	if len(list) > 0 {
		set.Append(wire.NewElement("first", nsRSM).SetText(list[0].cursor().String()),
			wire.NewElement("last", nsRSM).SetText(list[len(list)-1].cursor().String()))
	}
	set.Append(wire.NewElement("count", nsRSM).SetText(strconv.Itoa(total)))
	return wire.NewElement("fin", NS).Append(
		wire.NewElement("active-conversations", NS).SetText(strconv.Itoa(active)),
		wire.NewElement("count", NS).SetText(strconv.Itoa(total)),
		wire.NewElement("unread-messages", NS).SetText(strconv.Itoa(unread)),
		wire.NewElement("unread-mentions", NS).SetText(strconv.Itoa(mentions)),
		set), nil
}

func (e *Extension) send(iq *xmppd.IQ, el *wire.Element) {
	if iq.Session != nil {
		iq.Session.SendElement(el)
		return
	}
	e.srv.SendRaw(iq.From, el.AppendXML(nil))
}

// forwarded wraps the last message (XEP-0297 with a XEP-0203 delay).
func (e *Extension) forwarded(owner string, l listed) *wire.Element {
	msg, err := wire.Parse([]byte(l.Last.XML))
	if err != nil {
		e.log.Error("stored inbox message unreadable", "owner", owner, "jid", l.jid, "err", err)
		return nil
	}
	return wire.NewElement("forwarded", nsForward).Append(
		wire.NewElement("delay", nsDelay, wire.Attr{Name: "stamp", Value: l.Last.At.UTC().Format(stampLayout)}),
		msg)
}

// properties are MongooseIM's entry properties, in its order.
func (en *entry) properties(now time.Time) []*wire.Element {
	mute := "0"
	if en.MutedUntil.After(now) {
		mute = en.MutedUntil.UTC().Format(stampLayout)
	}
	return []*wire.Element{
		wire.NewElement("read", NS).SetText(strconv.FormatBool(en.Unread == 0)),
		wire.NewElement("box", NS).SetText(en.box()),
		wire.NewElement("archive", NS).SetText(strconv.FormatBool(en.box() == boxArchive)),
		wire.NewElement("mute", NS).SetText(mute),
	}
}

func field(v, typ string, values ...string) *wire.Element {
	f := wire.NewElement("field", nsData, wire.Attr{Name: "var", Value: v}, wire.Attr{Name: "type", Value: typ})
	for _, s := range values {
		f.Append(wire.NewElement("value", nsData).SetText(s))
	}
	return f
}

func listField(v string, def string, options ...string) *wire.Element {
	f := field(v, "list-single", def)
	for _, o := range options {
		f.Append(wire.NewElement("option", nsData, wire.Attr{Name: "label", Value: o}).Append(
			wire.NewElement("value", nsData).SetText(o)))
	}
	return f
}

// handleForm answers the query form (MongooseIM: IQ get).
func (e *Extension) handleForm(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownerOnly(iq); err != nil {
		return nil, err
	}
	x := wire.NewElement("x", nsData, wire.Attr{Name: "type", Value: "form"}).Append(
		field("FORM_TYPE", "hidden", NS),
		field("start", "text-single"),
		field("end", "text-single"),
		listField("order", "desc", "asc", "desc"),
		field("hidden_read", "text-single", "false"),
		listField("box", "all", "all", boxInbox, boxArchive, "bin"),
		field("archive", "boolean", "false"),
	)
	return wire.NewElement(iq.Payload.Name, NS).Append(x), nil
}

// convJID reads and normalises the jid attribute of a conversation request.
func convJID(el *wire.Element) (string, error) {
	s := el.Attr("jid")
	if s == "" {
		return "", badRequest("jid-required")
	}
	j, err := xmppd.ParseJID(s)
	if err != nil {
		return "", xmppd.StanzaError(stanza.Modify, stanza.JIDMalformed, "malformed jid: "+s)
	}
	return j.String(), nil
}

var errNoEntry = xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no inbox entry for this jid")

// handleConvGet returns the properties form, or one entry's properties.
func (e *Extension) handleConvGet(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownerOnly(iq); err != nil {
		return nil, err
	}
	if iq.Payload.Attr("jid") == "" {
		x := wire.NewElement("x", nsData, wire.Attr{Name: "type", Value: "form"}).Append(
			field("FORM_TYPE", "hidden", NS),
			field("archive", "boolean", "false"),
			field("read", "boolean", "false"),
			field("mute", "text-single", "0"),
			listField("box", "all", "all", boxInbox, boxArchive, "bin"),
		)
		return wire.NewElement("query", NSConversation).Append(x), nil
	}
	conv, err := convJID(iq.Payload)
	if err != nil {
		return nil, err
	}
	owner := iq.To.BareString()
	en, ok, err := e.load(owner, conv)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoEntry
	}
	q := wire.NewElement("query", NSConversation, wire.Attr{Name: "jid", Value: conv})
	if c, _ := dataform.ParseBool(iq.Payload.Attr("complete")); c {
		if fw := e.forwarded(owner, listed{jid: conv, entry: en}); fw != nil {
			q.Append(fw)
		}
	}
	return q.Append(en.properties(time.Now())...), nil
}

// handleConvSet changes properties of one entry and tells every resource.
func (e *Extension) handleConvSet(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownerOnly(iq); err != nil {
		return nil, err
	}
	conv, err := convJID(iq.Payload)
	if err != nil {
		return nil, err
	}
	type change func(en *entry)
	var changes []change
	now := time.Now()
	for _, c := range iq.Payload.Children {
		v := strings.TrimSpace(c.Text)
		switch c.Name {
		case "read":
			b, ok := dataform.ParseBool(v)
			if !ok {
				return nil, badRequest("read must be true or false")
			}
			changes = append(changes, func(en *entry) {
				if b {
					en.markAllRead()
				} else if en.unreadNow() == 0 {
					en.Unread = 1 // MongooseIM: "unread" means one
				}
			})
		case "mute":
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil || secs < 0 || secs > 100*365*86400 {
				return nil, badRequest("mute must be a number of seconds, 0 to unmute")
			}
			changes = append(changes, func(en *entry) {
				en.MutedUntil = time.Time{}
				if secs > 0 {
					en.MutedUntil = now.Add(time.Duration(secs) * time.Second).UTC()
				}
			})
		case "box":
			switch v {
			case boxInbox, boxArchive:
			default:
				return nil, badRequest("box must be inbox or archive")
			}
			changes = append(changes, func(en *entry) { en.fileIn(v == boxArchive) })
		case "archive":
			b, ok := dataform.ParseBool(v)
			if !ok {
				return nil, badRequest("archive must be true or false")
			}
			changes = append(changes, func(en *entry) { en.fileIn(b) })
		default:
			return nil, badRequest("unknown property: " + c.Name)
		}
	}
	if len(changes) == 0 {
		return nil, badRequest("no property to set")
	}
	owner := iq.To.Bare()
	en, ok, err := e.update(owner.String(), conv, false, func(en *entry) bool {
		for _, ch := range changes {
			ch(en)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoEntry
	}
	props := en.properties(now)
	// Every resource of the user learns of the change (MongooseIM).
	x := wire.NewElement("x", NSConversation, wire.Attr{Name: "jid", Value: conv}).Append(props...)
	msg := wire.NewElement("message", "",
		wire.Attr{Name: "from", Value: owner.String()},
		wire.Attr{Name: "to", Value: owner.String()},
		wire.Attr{Name: "id", Value: iq.Stanza.ID}).Append(x)
	e.srv.SendRaw(owner, msg.AppendXML(nil))
	return wire.NewElement("query", NSConversation, wire.Attr{Name: "jid", Value: conv}).Append(en.properties(now)...), nil
}

// handleReset is MongooseIM's deprecated <reset jid/>: unread becomes 0.
func (e *Extension) handleReset(iq *xmppd.IQ) (*wire.Element, error) {
	if err := ownerOnly(iq); err != nil {
		return nil, err
	}
	conv, err := convJID(iq.Payload)
	if err != nil {
		return nil, err
	}
	_, ok, err := e.update(iq.To.BareString(), conv, false, func(en *entry) bool { en.markAllRead(); return true })
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoEntry
	}
	return nil, nil
}
