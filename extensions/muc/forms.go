package muc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// Data forms (XEP-0004) of the room: the owner's configuration form
// (muc#roomconfig, XEP-0045 §10.2) and the room information form in
// disco#info (muc#roominfo, XEP-0045 §15.5.4 + XEP-0128), both with
// xmppd's x-xmppd#kind field.

func formField(v, typ, label string, values ...string) *wire.Element {
	f := wire.NewElement("field", nsData, wire.Attr{Name: "var", Value: v})
	if typ != "" {
		f.SetAttr("type", typ)
	}
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, val := range values {
		f.Append(wire.NewElement("value", nsData).SetText(val))
	}
	return f
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func boolField(v, label string, b bool) *wire.Element {
	return formField(v, "boolean", label, boolValue(b))
}

func listField(v, label, value string, options ...string) *wire.Element {
	f := formField(v, "list-single", label, value)
	for _, o := range options {
		f.Append(wire.NewElement("option", nsData, wire.Attr{Name: "label", Value: o}).
			Append(wire.NewElement("value", nsData).SetText(o)))
	}
	return f
}

func (c roomConfig) whois() string {
	if c.NonAnonymous {
		return "anyone"
	}
	return "moderators"
}

// configForm renders the owner's configuration form.
func (c roomConfig) configForm() *wire.Element {
	x := wire.NewElement("x", nsData, wire.Attr{Name: "type", Value: "form"})
	x.Append(wire.NewElement("title", nsData).SetText("Room configuration"))
	x.Append(formField("FORM_TYPE", "hidden", "", NSRoomConfig))
	x.Append(formField("muc#roomconfig_roomname", "text-single", "Name", c.Name))
	x.Append(formField("muc#roomconfig_roomdesc", "text-single", "Description", c.Description))
	x.Append(listField(FieldKind, "Room kind", c.Kind, KindSpace, KindEnquiry, KindConference))
	x.Append(boolField("muc#roomconfig_persistentroom", "Persistent (kept when the last occupant leaves)", c.Persistent))
	x.Append(boolField("muc#roomconfig_publicroom", "Public (listed in the room directory)", c.Public))
	x.Append(boolField("muc#roomconfig_membersonly", "Members only", c.MembersOnly))
	x.Append(boolField("muc#roomconfig_passwordprotectedroom", "Password protected", c.Password != ""))
	x.Append(formField("muc#roomconfig_roomsecret", "text-private", "Password", c.Password))
	x.Append(listField("muc#roomconfig_whois", "Who may see real JIDs", c.whois(), "moderators", "anyone"))
	x.Append(boolField("muc#roomconfig_moderatedroom", "Moderated (only participants with voice may speak)", c.Moderated))
	x.Append(boolField("muc#roomconfig_changesubject", "Participants may change the subject", c.ChangeSubject))
	x.Append(boolField("muc#roomconfig_allowinvites", "Members may invite others", c.AllowInvites))
	x.Append(formField("muc#roomconfig_maxusers", "text-single", "Maximum number of occupants", strconv.Itoa(c.MaxUsers)))
	return x
}

// submittedForm is a parsed submitted form: field var → values.
type submittedForm struct {
	typ      string
	formType string
	fields   map[string][]string
	order    []string
}

func parseForm(x *wire.Element) *submittedForm {
	f := &submittedForm{typ: x.Attr("type"), fields: make(map[string][]string)}
	for _, fe := range x.ChildrenNamed("field", nsData) {
		v := fe.Attr("var")
		var vals []string
		for _, ve := range fe.ChildrenNamed("value", nsData) {
			vals = append(vals, ve.Text)
		}
		if v == "FORM_TYPE" {
			if len(vals) > 0 {
				f.formType = strings.TrimSpace(vals[0])
			}
			continue
		}
		if v == "" {
			continue
		}
		if _, dup := f.fields[v]; !dup {
			f.order = append(f.order, v)
		}
		f.fields[v] = vals
	}
	return f
}

func parseBool(s string) (bool, bool) {
	switch strings.TrimSpace(s) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// applyForm changes c by the submitted fields. Unknown fields are
// ignored (clients send what other servers offer); a bad value is an
// error naming the field.
func (c *roomConfig) applyForm(f *submittedForm, maxOccupants int) error {
	protected := c.Password != ""
	protectedSet := false
	secret, secretSet := "", false
	for _, name := range f.order {
		vals := f.fields[name]
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		bad := func() error { return fmt.Errorf("unsupported value %q for %s", v, name) }
		setBool := func(dst *bool) error {
			b, ok := parseBool(v)
			if !ok {
				return bad()
			}
			*dst = b
			return nil
		}
		var err error
		switch name {
		case "muc#roomconfig_roomname":
			c.Name = strings.TrimSpace(v)
		case "muc#roomconfig_roomdesc":
			c.Description = strings.TrimSpace(v)
		case FieldKind:
			switch v {
			case KindSpace, KindEnquiry, KindConference:
				c.Kind = v
			default:
				return bad()
			}
		case "muc#roomconfig_persistentroom":
			err = setBool(&c.Persistent)
		case "muc#roomconfig_publicroom":
			err = setBool(&c.Public)
		case "muc#roomconfig_membersonly":
			err = setBool(&c.MembersOnly)
		case "muc#roomconfig_moderatedroom":
			err = setBool(&c.Moderated)
		case "muc#roomconfig_changesubject":
			err = setBool(&c.ChangeSubject)
		case "muc#roomconfig_allowinvites":
			err = setBool(&c.AllowInvites)
		case "muc#roomconfig_passwordprotectedroom":
			err = setBool(&protected)
			protectedSet = true
		case "muc#roomconfig_roomsecret":
			secret, secretSet = v, true
		case "muc#roomconfig_whois":
			switch v {
			case "anyone":
				c.NonAnonymous = true
			case "moderators":
				c.NonAnonymous = false
			default:
				return bad()
			}
		case "muc#roomconfig_maxusers":
			switch v {
			case "", "none", "0":
				c.MaxUsers = maxOccupants
			default:
				n, perr := strconv.Atoi(strings.TrimSpace(v))
				if perr != nil || n < 1 {
					return bad()
				}
				c.MaxUsers = min(n, maxOccupants)
			}
		}
		if err != nil {
			return err
		}
	}
	switch {
	case protectedSet && !protected:
		c.Password = ""
	case secretSet && secret != "":
		c.Password = secret
	case protectedSet && protected && c.Password == "":
		return fmt.Errorf("muc#roomconfig_passwordprotectedroom needs a muc#roomconfig_roomsecret")
	}
	return nil
}

// roomInfoForm is the muc#roominfo form of disco#info (XEP-0128).
func (r *room) roomInfoForm(maxHistory int) *wire.Element {
	c := r.rec.Config
	x := wire.NewElement("x", nsData, wire.Attr{Name: "type", Value: "result"})
	x.Append(formField("FORM_TYPE", "hidden", "", NSRoomInfo))
	x.Append(formField("muc#roomconfig_roomname", "", "Name", c.Name))
	x.Append(formField("muc#roominfo_description", "", "Description", c.Description))
	x.Append(formField("muc#roominfo_subject", "", "Subject", r.rec.Subject))
	x.Append(formField("muc#roominfo_changesubject", "boolean", "Participants may change the subject", boolValue(c.ChangeSubject)))
	x.Append(formField("muc#roominfo_occupants", "", "Number of occupants", strconv.Itoa(len(r.occupants))))
	x.Append(formField("muc#maxhistoryfetch", "", "Maximum number of history messages returned by the room", strconv.Itoa(maxHistory)))
	x.Append(formField(FieldKind, "list-single", "Room kind", c.Kind))
	return x
}
