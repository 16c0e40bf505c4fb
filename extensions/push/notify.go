package push

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// summary is what one notification tells the app server.
type summary struct {
	sender string
	body   string
}

// worthPushing says whether a message is one a user wants to be woken for:
// chat or normal with a body or an encrypted payload.
func worthPushing(st *wire.Stanza) (body string, ok bool) {
	switch st.Type {
	case "", "normal", "chat":
	default:
		return "", false
	}
	return pushable(st)
}

// pushable says whether a message of any type has a body or an encrypted
// payload, and returns the body.
func pushable(st *wire.Stanza) (body string, ok bool) {
	for _, c := range st.Children {
		switch {
		case c.Name == "body" && c.NS == nsClient:
			if el, err := wire.Parse(st.ChildBytes(c)); err == nil {
				body = el.Text
			}
			ok = true
		case c.Name == "encrypted" && (c.NS == nsOMEMO || c.NS == nsOMEMO2):
			ok = true
		}
	}
	return body, ok
}

// message is the trigger (see the package doc).
func (e *Extension) message(p *xmppd.Packet) xmppd.Verdict {
	body, ok := worthPushing(p.Stanza)
	owner := p.To.Bare()
	if !ok || p.From.Bare() == owner {
		return xmppd.Pass
	}
	regs := e.registrationsOf(owner)
	if len(regs) == 0 {
		return xmppd.Pass // most messages: nobody to notify, one lookup
	}
	if !allows(e.Setting(owner, p.From.Bare()), false, false) {
		return xmppd.Pass
	}
	e.notify(owner, regs, p.From.BareString(), body)
	return xmppd.Pass
}

// registrationsOf reads owner's registrations; a failure is logged and
// notifies nobody.
func (e *Extension) registrationsOf(owner xmppd.JID) []registration {
	regs, err := e.registrations(owner.String())
	if err != nil {
		e.log.Error("reading push registrations failed", "owner", owner.String(), "err", err)
		return nil
	}
	return regs
}

// notify publishes a notification for every registration (regs) of owner
// whose device is offline (or hibernating), each on its own goroutine.
func (e *Extension) notify(owner xmppd.JID, regs []registration, sender, body string) {
	for _, g := range regs {
		if e.deviceOnline(owner, g.Resource) {
			continue
		}
		n := e.bumpCount(owner.String(), g.key())
		s := summary{sender: sender}
		if g.Body && e.Config.AllowBody {
			s.body = truncate(body, e.Config.MaxBody)
		}
		e.bg.Go(func(context.Context) { e.publish(owner, g, n, s) })
	}
}

// roomMessage is the group chat trigger (xmppd.RoomMessage): every member
// and occupant but the sender whose room setting allows it (always; on-mention
// only when ev.Mentions names them; never: nothing) gets a notification
// for each registration whose device is offline or hibernating. The
// sender shown is the room's JID. It works on a goroutine of its own, off
// the room's lock.
func (e *Extension) roomMessage(ev *xmppd.RoomMessageEvent) xmppd.Verdict {
	body, ok := pushable(ev.Packet.Stanza)
	if !ok {
		return xmppd.Pass
	}
	room, sender := ev.Room.Bare(), ev.Sender.Bare()
	var users []xmppd.JID
	seen := make(map[xmppd.JID]struct{}, len(ev.Members)+len(ev.Occupants))
	for _, list := range [][]xmppd.JID{ev.Members, ev.Occupants} {
		for _, u := range list {
			u = u.Bare()
			if _, dup := seen[u]; dup || u == sender || u.Local == "" || !e.srv.IsLocal(u) {
				continue
			}
			seen[u] = struct{}{}
			users = append(users, u)
		}
	}
	mentions := slices.Clone(ev.Mentions)
	e.bg.Go(func(context.Context) {
		for _, u := range e.registered(users) {
			mentioned := slices.ContainsFunc(mentions, func(m xmppd.JID) bool { return m.Bare() == u })
			if allows(e.Setting(u, room), true, mentioned) {
				e.notify(u, e.registrationsOf(u), room.String(), body)
			}
		}
	})
	return xmppd.Pass
}

// registered returns those of users who have a push registration, in
// one read transaction: most members of a room have none, and a
// transaction per member and message cost more than the rest of the
// room message's fan-out.
func (e *Extension) registered(users []xmppd.JID) []xmppd.JID {
	var out []xmppd.JID
	err := e.db.View(func(tx *store.Tx) error {
		regs := tx.Map(storeRegs)
		for _, u := range users {
			switch err := regs.All(u.String(), func(string, []byte) error { return errHasOne }); err {
			case errHasOne:
				out = append(out, u)
			case nil:
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Error("reading push registrations failed", "err", err)
		return users // notify reads them again, one by one
	}
	return out
}

var errHasOne = errors.New("has a registration")

// allows applies a notification setting to a message: never stops every
// push, on-mention lets through direct messages and group chat messages
// that mention the user.
func allows(setting string, groupchat, mentioned bool) bool {
	switch setting {
	case SettingNever:
		return false
	case SettingOnMention:
		return !groupchat || mentioned
	}
	return true
}

// deviceOnline says whether the device that registered has an available
// session; a hibernating one (XEP-0198, connection lost, waiting for a
// resume) is offline.
func (e *Extension) deviceOnline(owner xmppd.JID, resource string) bool {
	s := e.srv.Session(xmppd.JID{Local: owner.Local, Domain: owner.Domain, Resource: resource})
	return s != nil && s.Available() && !s.Hibernating()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func countKey(owner, reg string) string { return owner + "\x00" + reg }

func (e *Extension) bumpCount(owner, reg string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[countKey(owner, reg)]++
	return e.counts[countKey(owner, reg)]
}

func (e *Extension) resetCount(owner, reg string) {
	e.mu.Lock()
	delete(e.counts, countKey(owner, reg))
	e.mu.Unlock()
}

// deviceOnlineAgain resets the counters of the registrations of a device
// that became available.
func (e *Extension) deviceOnlineAgain(s *xmppd.Session) xmppd.Verdict {
	owner := s.Bare().String()
	regs, err := e.registrations(owner)
	if err != nil {
		return xmppd.Pass
	}
	for _, g := range regs {
		if g.Resource == s.JID().Resource {
			e.resetCount(owner, g.key())
		}
	}
	return xmppd.Pass
}

// notification builds the pubsub publish of one notification.
func notification(g registration, count int, s summary) *wire.Element {
	// FORM_TYPE goes without type='hidden', as in XEP-0357's examples.
	form := dataform.New("submit", "").
		Field("FORM_TYPE", "", "", NSSummary).
		Field("message-count", "", "", strconv.Itoa(count)).
		Field("last-message-sender", "", "", s.sender)
	if s.body != "" {
		form.Field("last-message-body", "", "", s.body)
	}
	pub := wire.NewElement("publish", NSPubsub)
	if g.Node != "" {
		pub.SetAttr("node", g.Node)
	}
	pub.Append(wire.NewElement("item", NSPubsub).Append(wire.NewElement("notification", NS).Append(form.Element())))
	ps := wire.NewElement("pubsub", NSPubsub).Append(pub)
	if g.Options != "" {
		if x, err := wire.Parse([]byte(g.Options)); err == nil {
			ps.Append(wire.NewElement("publish-options", NSPubsub).Append(x))
		}
	}
	return ps
}

// publish sends one notification and disables the registration when the
// app server refuses it.
func (e *Extension) publish(owner xmppd.JID, g registration, count int, s summary) {
	app, err := xmppd.ParseJID(g.JID)
	if err != nil {
		return
	}
	if !e.srv.IsLocal(app) && !slices.Contains(e.srv.ComponentDomains(), app.Domain) {
		e.log.Debug("push app server not reachable without federation", "owner", owner.String(), "app_server", g.JID)
		return
	}
	ctx, cancel := context.WithTimeout(e.bg.Context(), e.Config.Timeout.Duration)
	defer cancel()
	_, err = e.srv.SendIQ(ctx, owner, app, "set", notification(g, count, s))
	var se stanza.Error
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Type != stanza.Wait:
		// XEP-0357 §7: the app server no longer wants this registration.
		e.log.Info("push registration disabled after an app server error", "owner", owner.String(),
			"app_server", g.JID, "node", g.Node, "condition", string(se.Condition))
		if err := e.regs.Delete(owner.String(), g.key()); err != nil {
			e.log.Error("disabling push registration failed", "owner", owner.String(), "err", err)
		}
		e.resetCount(owner.String(), g.key())
	default:
		e.log.Warn("push notification not acknowledged", "owner", owner.String(), "app_server", g.JID, "err", err)
	}
}
