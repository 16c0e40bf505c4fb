package muc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Data forms (XEP-0004) of the room: the owner's configuration form
// (muc#roomconfig, XEP-0045 §10.2) and the room information form in
// disco#info (muc#roominfo, XEP-0045 §15.5.4 + XEP-0128), both with
// xmppd's x-xmppd#kind field.

// options are list options labelled with their value.
func options(values ...string) []dataform.Option {
	out := make([]dataform.Option, len(values))
	for i, v := range values {
		out[i] = dataform.Option{Label: v, Value: v}
	}
	return out
}

func (c roomConfig) whois() string {
	if c.NonAnonymous {
		return "anyone"
	}
	return "moderators"
}

// configForm renders the owner's configuration form.
func (c roomConfig) configForm() *wire.Element {
	return dataform.New("form", NSRoomConfig).Title("Room configuration").
		Field("muc#roomconfig_roomname", "text-single", "Name", c.Name).
		Field("muc#roomconfig_roomdesc", "text-single", "Description", c.Description).
		List(FieldKind, "Room kind", c.Kind, options(KindSpace, KindEnquiry, KindConference)...).
		Bool("muc#roomconfig_persistentroom", "Persistent (kept when the last occupant leaves)", c.Persistent).
		Bool("muc#roomconfig_publicroom", "Public (listed in the room directory)", c.Public).
		Bool("muc#roomconfig_membersonly", "Members only", c.MembersOnly).
		Bool("muc#roomconfig_passwordprotectedroom", "Password protected", c.Password != "").
		Field("muc#roomconfig_roomsecret", "text-private", "Password", c.Password).
		List("muc#roomconfig_whois", "Who may see real JIDs", c.whois(), options("moderators", "anyone")...).
		Bool("muc#roomconfig_moderatedroom", "Moderated (only participants with voice may speak)", c.Moderated).
		Bool("muc#roomconfig_changesubject", "Participants may change the subject", c.ChangeSubject).
		Bool("muc#roomconfig_allowinvites", "Members may invite others", c.AllowInvites).
		Field("muc#roomconfig_maxusers", "text-single", "Maximum number of occupants", strconv.Itoa(c.MaxUsers)).
		List(FieldMentionAll, "Who may mention everyone (@all)", c.mentionAll(), options("moderators", "participants")...).
		Bool(FieldForwardMentions, "Notify mentioned members who are not in the room", !c.QuietMentions).
		Element()
}

func (c roomConfig) mentionAll() string {
	if c.MentionAll == "" {
		return "moderators"
	}
	return c.MentionAll
}

// applyForm changes c by the submitted fields. Unknown fields are
// ignored (clients send what other servers offer); a bad value is an
// error naming the field.
func (c *roomConfig) applyForm(f *dataform.Form, maxOccupants int) error {
	protected := c.Password != ""
	protectedSet := false
	secret, secretSet := "", false
	for _, name := range f.Vars() {
		vals := f.Values(name)
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		bad := func() error { return fmt.Errorf("unsupported value %q for %s", v, name) }
		setBool := func(dst *bool) error {
			b, ok := dataform.ParseBool(strings.TrimSpace(v))
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
		case FieldMentionAll:
			switch v {
			case "moderators":
				c.MentionAll = ""
			case "participants":
				c.MentionAll = v
			default:
				return bad()
			}
		case FieldForwardMentions:
			forward := !c.QuietMentions
			err = setBool(&forward)
			c.QuietMentions = !forward
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
	return dataform.New("result", NSRoomInfo).
		Field("muc#roomconfig_roomname", "", "Name", c.Name).
		Field("muc#roominfo_description", "", "Description", c.Description).
		Field("muc#roominfo_subject", "", "Subject", r.rec.Subject).
		Field("muc#roominfo_changesubject", "boolean", "Participants may change the subject", dataform.FormatBool(c.ChangeSubject)).
		Field("muc#roominfo_occupants", "", "Number of occupants", strconv.Itoa(len(r.occupants))).
		Field("muc#maxhistoryfetch", "", "Maximum number of history messages returned by the room", strconv.Itoa(maxHistory)).
		Field(FieldKind, "list-single", "Room kind", c.Kind).
		Element()
}
