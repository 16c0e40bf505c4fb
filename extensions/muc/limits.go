package muc

import (
	"strconv"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"mellium.im/xmpp/stanza"
)

// bucket is a token bucket limiting one occupant's presence changes or
// groupchat messages (flood protection, as Prosody's mod_muc_limits). It
// holds up to n tokens and refills n per period, so an occupant may send n
// in a burst, then n per period. Guarded by the room's lock.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends one token; false means the occupant is over the limit. n <= 0
// means no limit.
func (b *bucket) take(n int, period time.Duration, now time.Time) bool {
	if n <= 0 || period <= 0 {
		return true
	}
	full := float64(n)
	if b.last.IsZero() {
		b.tokens = full
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(full, b.tokens+d.Seconds()*full/period.Seconds())
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowPresence reports whether o may change its presence now; if not, p
// is refused (wait, policy-violation) and nothing is broadcast. r.mu is
// held.
func (e *Extension) allowPresence(o *occupant, p *xmppd.Packet) bool {
	c := &e.Config
	return e.allow(&o.presenceLimit, c.PresenceRate, c.PresencePeriod.Duration, "presence changes", p)
}

// allowMessage is allowPresence for groupchat messages.
func (e *Extension) allowMessage(o *occupant, p *xmppd.Packet) bool {
	c := &e.Config
	return e.allow(&o.messageLimit, c.MessageRate, c.MessagePeriod.Duration, "messages", p)
}

func (e *Extension) allow(b *bucket, n int, period time.Duration, what string, p *xmppd.Packet) bool {
	if b.take(n, period, time.Now()) {
		return true
	}
	e.bounce(p, stanza.PolicyViolation, stanza.Wait, "too many "+what+": at most "+
		strconv.Itoa(n)+" per "+period.String()+" in this room; try again later")
	return false
}
