package push

import (
	"errors"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// XEP-0492 notification settings.
const (
	NSNotify    = "urn:xmpp:notification-settings:1"
	NSBookmarks = "urn:xmpp:bookmarks:1"

	SettingAlways    = "always"
	SettingOnMention = "on-mention"
	SettingNever     = "never"

	storeSettings = "push.settings"
)

// The identity whose settings this server's notifications follow: push
// notifications wake phones (XEP-0492 §3 picks the most specific element).
const (
	identityCategory = "client"
	identityType     = "phone"
)

// Setting returns user's notification setting for conversation (a
// contact's or a room's bare JID): the one in the user's bookmarks, else
// always (XEP-0492's default for direct chats; rooms get it too for now,
// though XEP-0492's public-room default would be on-mention).
func (e *Extension) Setting(user, conversation xmppd.JID) string {
	raw, err := e.settings.Get(user.BareString(), conversation.BareString())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Error("reading notification setting failed", "owner", user.BareString(), "err", err)
		}
		return SettingAlways
	}
	return string(raw)
}

// chooseSetting picks the element of <notify/> for this server's identity.
func chooseSetting(notify *wire.Element) string {
	best, rank := "", 0
	for _, c := range notify.Children {
		if c.NS != NSNotify {
			continue
		}
		switch c.Name {
		case SettingAlways, SettingOnMention, SettingNever:
		default:
			continue
		}
		cat, typ := c.Attr("identity-category"), c.Attr("identity-type")
		r := 0
		switch {
		case cat == "" && typ == "":
			r = 1
		case cat == identityCategory && typ == "":
			r = 2
		case cat == identityCategory && typ == identityType:
			r = 3
		}
		if r > rank {
			best, rank = c.Name, r
		}
	}
	return best
}

// bookmarkChanged keeps the settings in step with the user's bookmarks.
func (e *Extension) bookmarkChanged(ev *xmppd.PEPEvent) xmppd.Verdict {
	if ev.Node != NSBookmarks {
		return xmppd.Pass
	}
	owner := ev.Owner.BareString()
	var err error
	switch {
	case ev.Retracted && ev.ItemID == "":
		err = e.settings.DeleteOwner(owner)
	case ev.Retracted:
		err = e.dropSetting(owner, ev.ItemID)
	default:
		setting := ""
		if ev.Payload != nil && ev.Payload.Name == "conference" && ev.Payload.NS == NSBookmarks {
			if ext := ev.Payload.Child("extensions", NSBookmarks); ext != nil {
				if n := ext.Child("notify", NSNotify); n != nil {
					setting = chooseSetting(n)
				}
			}
		}
		if setting == "" {
			err = e.dropSetting(owner, ev.ItemID)
			break
		}
		room, perr := xmppd.ParseJID(ev.ItemID)
		if perr != nil {
			return xmppd.Pass
		}
		err = e.settings.Put(owner, room.BareString(), []byte(setting))
	}
	if err != nil {
		e.log.Error("updating notification settings failed", "owner", owner, "item", ev.ItemID, "err", err)
	}
	return xmppd.Pass
}

func (e *Extension) dropSetting(owner, item string) error {
	room, err := xmppd.ParseJID(item)
	if err != nil {
		return nil
	}
	return e.settings.Delete(owner, room.BareString())
}
