package muc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Conference rooms (SPEC §1) keep a call log: a call starts with the first
// occupant to join and ends when the last one leaves; it records the host
// and every participant's join and leave. Owners read it with the ad-hoc
// command call-log (commands.go), operators with `xmppd room info`.
//
// A persistent room stores each call under Map "muc/calls" (owner: the
// room's local part, key: the call's start as 16 hex digits of Unix
// nanoseconds, so keys sort by time), rewritten on every join and leave.
// [muc] max_calls bounds the calls kept per room, max_call_entries the
// join/leave entries kept per call.

// FormTypeCallLog is the FORM_TYPE of the call-log command's result form.
const FormTypeCallLog = "urn:xmppd:call-log:0"

// Call is one call of a conference room.
type Call struct {
	Start time.Time `json:"start"`
	// End is zero while the call goes on.
	End time.Time `json:"end,omitzero"`
	// Host is the real bare JID of the call's host: the room's creator if
	// they joined, else the first owner, else the first moderator to join.
	Host     string `json:"host,omitempty"`
	HostNick string `json:"host_nick,omitempty"`
	// Participants are the joins, oldest first; one user who joins twice
	// has two entries.
	Participants []CallParticipant `json:"participants"`
	// Dropped counts the oldest entries left out to keep the call within
	// [muc] max_call_entries.
	Dropped  int `json:"dropped,omitempty"`
	hostRank int
}

// CallParticipant is one occupant's stay in a call.
type CallParticipant struct {
	JID    string    `json:"jid"` // real bare JID
	Nick   string    `json:"nick"`
	Joined time.Time `json:"joined"`
	// Left is zero while the occupant is in the room.
	Left time.Time `json:"left,omitzero"`
}

const storeCalls = "muc/calls"

func callKey(c *Call) string { return fmt.Sprintf("%016x", c.Start.UnixNano()) }

// openCall returns the call in progress, or nil.
func (r *room) openCall() *Call {
	if n := len(r.calls); n > 0 && r.calls[n-1].End.IsZero() {
		return r.calls[n-1]
	}
	return nil
}

// hostRank says how good a host o is: the room's creator, an owner, a
// moderator.
func (r *room) hostRank(o *occupant) int {
	switch {
	case r.rec.Creator != "" && o.bare.String() == r.rec.Creator:
		return 3
	case r.affiliation(o.bare) == affOwner:
		return 2
	case o.role == roleModerator:
		return 1
	}
	return 0
}

// callJoin records a new occupant of a conference room, starting a call
// if it is the first. r.mu is held.
func (e *Extension) callJoin(r *room, o *occupant) {
	if r.rec.Config.Kind != KindConference {
		return
	}
	now := time.Now().UTC()
	c := r.openCall()
	if c == nil {
		c = &Call{Start: now}
		r.calls = append(r.calls, c)
		if n := len(r.calls) - e.Config.MaxCalls; n > 0 {
			old := r.calls[:n]
			r.calls = append([]*Call(nil), r.calls[n:]...)
			e.dropCalls(r, old)
		}
	}
	c.Participants = append(c.Participants, CallParticipant{JID: o.bare.String(), Nick: o.nick, Joined: now})
	if n := len(c.Participants) - e.Config.MaxCallEntries; n > 0 {
		c.Participants = append([]CallParticipant(nil), c.Participants[n:]...)
		c.Dropped += n
	}
	if rank := r.hostRank(o); rank > 0 && (c.Host == "" || rank > c.hostRank) {
		c.Host, c.HostNick, c.hostRank = o.bare.String(), o.nick, rank
	}
	e.saveCall(r, c)
}

// callLeave records that o left; the call ends with the last occupant.
// r.mu is held and o is already out of r.occupants.
func (e *Extension) callLeave(r *room, o *occupant) {
	c := r.openCall()
	if c == nil {
		return
	}
	now := time.Now().UTC()
	for i := len(c.Participants) - 1; i >= 0; i-- {
		p := &c.Participants[i]
		if p.JID == o.bare.String() && p.Nick == o.nick && p.Left.IsZero() {
			p.Left = now
			break
		}
	}
	if len(r.occupants) == 0 {
		c.End = now
		// Anyone still marked present (entries of a room whose kind
		// changed mid-call) left when the call ended.
		for i := range c.Participants {
			if c.Participants[i].Left.IsZero() {
				c.Participants[i].Left = now
			}
		}
	}
	e.saveCall(r, c)
}

// callRename follows a nick change in the open call. r.mu is held.
func (e *Extension) callRename(r *room, o *occupant, oldNick string) {
	c := r.openCall()
	if c == nil {
		return
	}
	for i := len(c.Participants) - 1; i >= 0; i-- {
		p := &c.Participants[i]
		if p.JID == o.bare.String() && p.Nick == oldNick && p.Left.IsZero() {
			p.Nick = o.nick
			if c.Host == p.JID && c.HostNick == oldNick {
				c.HostNick = o.nick
			}
			e.saveCall(r, c)
			return
		}
	}
}

// saveCall stores a persistent room's call. A failed write costs a log
// line, not the join or leave. r.mu is held.
func (e *Extension) saveCall(r *room, c *Call) {
	if !r.rec.Config.Persistent || r.destroyed {
		return
	}
	b, err := json.Marshal(c)
	if err == nil {
		err = e.db.Map(storeCalls).Put(r.name, callKey(c), b)
	}
	if err != nil {
		e.log.Error("storing the call log failed", "room", r.jid.String(), "err", err)
	}
}

func (e *Extension) dropCalls(r *room, calls []*Call) {
	if !r.rec.Config.Persistent {
		return
	}
	for _, c := range calls {
		if err := e.db.Map(storeCalls).Delete(r.name, callKey(c)); err != nil {
			e.log.Error("trimming the call log failed", "room", r.jid.String(), "err", err)
		}
	}
}

// loadCalls reads a room's stored calls. A call still open in the store
// was cut short by a crash: it ends at its last recorded event.
func (e *Extension) loadCalls(r *room) error {
	err := e.db.Map(storeCalls).All(r.name, func(_ string, v []byte) error {
		c := new(Call)
		if json.Unmarshal(v, c) != nil {
			return nil // a damaged entry costs one call, not the room
		}
		if c.End.IsZero() {
			last := c.Start
			for _, p := range c.Participants {
				last = maxTime(last, p.Joined, p.Left)
			}
			c.End = last
			for i := range c.Participants {
				if c.Participants[i].Left.IsZero() {
					c.Participants[i].Left = last
				}
			}
		}
		r.calls = append(r.calls, c)
		return nil
	})
	if n := len(r.calls) - e.Config.MaxCalls; n > 0 {
		r.calls = r.calls[n:]
	}
	return err
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// callLog returns copies of r's calls, oldest first. r.mu is held.
func (r *room) callLog() []Call {
	if len(r.calls) == 0 {
		return nil
	}
	l := make([]Call, len(r.calls))
	for i, c := range r.calls {
		l[i] = *c
		l[i].Participants = append([]CallParticipant(nil), c.Participants...)
	}
	return l
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// callLogForm renders the calls as a XEP-0004 result table: one row per
// participant entry, each naming its call, the call's start, end and host.
func callLogForm(room string, calls []Call) *wire.Element {
	x := dataform.New("result", FormTypeCallLog).Title("Call log of " + room)
	cols := []struct{ v, label string }{
		{"call", "Call"}, {"call_start", "Call start"}, {"call_end", "Call end"}, {"host", "Host"},
		{"nick", "Nick"}, {"jid", "JID"}, {"joined", "Joined"}, {"left", "Left"},
	}
	rep := wire.NewElement("reported", nsData)
	for _, c := range cols {
		rep.Append(dataform.FieldElement(c.v, "text-single", c.label))
	}
	x.Append(rep)
	for i, c := range calls {
		for _, p := range c.Participants {
			it := wire.NewElement("item", nsData)
			for j, v := range []string{strconv.Itoa(i + 1), stamp(c.Start), stamp(c.End), c.Host, p.Nick, p.JID, stamp(p.Joined), stamp(p.Left)} {
				it.Append(dataform.FieldElement(cols[j].v, "", "", v))
			}
			x.Append(it)
		}
	}
	return x.Element()
}

// callLogText is the call log as plain text, for the command's note (a
// client that shows no tables still shows it).
func callLogText(calls []Call) string {
	if len(calls) == 0 {
		return "No calls yet."
	}
	var b strings.Builder
	for i, c := range calls {
		end := stamp(c.End)
		if end == "" {
			end = "in progress"
		}
		fmt.Fprintf(&b, "Call %d: %s – %s, host %s\n", i+1, stamp(c.Start), end, orNone(c.Host))
		for _, p := range c.Participants {
			left := stamp(p.Left)
			if left == "" {
				left = "still in the call"
			}
			fmt.Fprintf(&b, "  %s (%s): %s – %s\n", p.Nick, p.JID, stamp(p.Joined), left)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
