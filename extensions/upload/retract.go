package upload

import (
	"errors"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// retracted is the MessageRetracted hook: the files of this service that
// the retracted message shared and its author uploaded are deleted with
// their thumbnails (a moderator's removal of someone's message included;
// a file someone else uploaded stays).
func (e *Extension) retracted(ev *xmppd.RetractedEvent) xmppd.Verdict {
	owner := ev.Sender.Bare().String()
	for _, u := range ev.URLs {
		id, ok := e.idOf(u)
		if !ok {
			continue
		}
		m, err := e.load(id)
		if errors.Is(err, store.ErrNotFound) {
			continue // already gone, or a made-up URL
		}
		if err != nil {
			e.log.Error("reading upload metadata failed", "id", id, "err", err)
			continue
		}
		if m.Owner != owner {
			e.log.Info("retracted message shared a file of another user: kept", "id", id, "owner", m.Owner, "sender", owner)
			continue
		}
		if err := e.remove(id, owner); err != nil {
			e.log.Error("deleting file of retracted message failed", "id", id, "owner", owner, "err", err)
			continue
		}
		e.log.Info("file of retracted message deleted", "id", id, "owner", owner, "by", ev.By.String())
	}
	return xmppd.Pass
}
