// Package edits enforces who may correct (XEP-0308) or retract (XEP-0424)
// a message, and until when: the workspace's five-minute rule (SPEC §2),
// in 1:1 chats and in rooms alike.
//
// A correction (<replace xmlns='urn:xmpp:message-correct:0' id/>) or a
// retraction (<retract xmlns='urn:xmpp:message-retract:1' id/>, or the
// older <apply-to xmlns='urn:xmpp:fasten:0' id><retract
// xmlns='urn:xmpp:message-retract:0'/></apply-to> that slixmpp and other
// deployed clients still send) is checked by a filter on xmppd.MessageOut
// before anything else sees it. It is accepted only if the referenced id
// names a message of the same conversation (the 1:1 pair of bare JIDs, or
// the room), written by the same user (bare JID; in rooms the real JID,
// not the nick), not retracted, and received by the server less than the
// window ago ([messages] correction_window / retraction_window, default
// 5m, "0" = no limit). A correction of a correction counts from the
// original's time. Otherwise the sender gets a message error and nothing
// is delivered or archived: item-not-found (unknown id), forbidden
// (someone else's message), not-acceptable (too late, or retracted), each
// with a text saying why. Messages to other components (a MUC private
// message, a gateway) are not checked.
//
// An accepted edit carries xmppd.MessageEdit on Packet.Edit: the sender,
// the original's time, every archived copy of the original and its
// corrections, and the URLs they shared. The archives act on it (MAM and
// room archives replace every copy with a XEP-0424 tombstone on a
// retraction; corrections are archived as messages of their own, so a MAM
// query returns the original followed by its corrections), and once the
// retraction is stored with the message xmppd.MessageRetracted runs, so
// the upload service deletes the shared files.
//
// To know the originals, the extension keeps an index of recent messages
// with a body: KV "edits/sent", key conversation NUL id (each of the id
// attribute, the XEP-0359 origin-id and, in rooms, the room's stanza-id),
// value a small JSON record (author, time, archived copies, URLs, keys,
// retracted). It is written with the message's own commit (Packet.Persist,
// xmppd.MessageToAccount/MessageToFull and xmppd.RoomMessage at
// PriorityCount, when the archive ids are known), so it costs no fsync of
// its own. A sweep drops records older than the longer window (none when
// a window is unlimited). A moderator's retraction in a room
// (XEP-0425, done by the MUC service) marks the record retracted through
// xmppd.MessageRetracted.
//
// The index is also the core's xmppd.MessageIndex: the MUC service looks
// up the author, versions and URLs of a message a moderator removes.
//
// Disco: urn:xmpp:message-retract:1#tombstone on every account (MAM keeps
// tombstones).
package edits

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/mamproto"
)

// Namespaces.
const (
	NSCorrect   = "urn:xmpp:message-correct:0"
	NSRetract   = mamproto.NSRetract
	NSRetract0  = "urn:xmpp:message-retract:0"
	NSFasten    = "urn:xmpp:fasten:0"
	nsSID       = "urn:xmpp:sid:0"
	nsClient    = "jabber:client"
	storeName   = "edits/sent"
	sweepMargin = time.Minute
	sweepChunk  = 1000 // deletions per transaction: short write locks
)

// Config is the [messages] section.
type Config struct {
	// CorrectionWindow is how long after the original a correction is
	// accepted; 0 means no limit.
	CorrectionWindow config.Duration `toml:"correction_window"`
	// RetractionWindow is the same for retractions.
	RetractionWindow config.Duration `toml:"retraction_window"`
}

// Extension enforces the correction and retraction rules.
type Extension struct {
	Config Config
	// Now is the clock the windows are measured with; tests replace it.
	Now func() time.Time

	srv   *xmppd.Server
	log   *slog.Logger
	db    *store.DB
	sent  *store.KV
	sweep xmppd.Periodic
}

var (
	_ xmppd.Extension = (*Extension)(nil)
	_ xmppd.Starter   = (*Extension)(nil)
	_ xmppd.Stopper   = (*Extension)(nil)
)

// New returns the extension with the default five-minute windows.
func New() *Extension {
	return &Extension{
		Config: Config{
			CorrectionWindow: config.Duration{Duration: 5 * time.Minute},
			RetractionWindow: config.Duration{Duration: 5 * time.Minute},
		},
		Now: time.Now,
	}
}

// Name implements xmppd.Extension.
func (*Extension) Name() string { return "edits" }

// Register implements xmppd.Extension.
func (e *Extension) Register(r *xmppd.Registrar) error {
	if err := r.Config("messages", &e.Config); err != nil {
		return err
	}
	for key, d := range map[string]config.Duration{
		"messages.correction_window": e.Config.CorrectionWindow,
		"messages.retraction_window": e.Config.RetractionWindow,
	} {
		if d.Duration < 0 {
			return fmt.Errorf("%s must be 0 (no limit) or positive, got %s", key, d.Duration)
		}
	}
	e.srv = r.Server()
	e.log = r.Logger()
	e.db = r.Store()
	e.sent = e.db.KV(storeName)

	if err := r.ProvideMessageIndex(e); err != nil {
		return err
	}
	r.AccountFeature(NSRetract + "#tombstone")
	// The check reads what the original stored: handled after it.
	r.RefersToEarlierMessages("replace", NSCorrect)
	r.RefersToEarlierMessages("retract", NSRetract)
	r.RefersToEarlierMessages("apply-to", NSFasten)
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityFilter, e.check)
	xmppd.Hook(r, xmppd.MessageToAccount, xmppd.PriorityCount, e.recordDirect)
	xmppd.Hook(r, xmppd.MessageToFull, xmppd.PriorityCount, e.recordDirect)
	xmppd.Hook(r, xmppd.RoomMessage, xmppd.PriorityCount, e.recordRoom)
	xmppd.Hook(r, xmppd.MessageRetracted, xmppd.PriorityObserve, e.moderated)
	return nil
}

// Start implements xmppd.Starter: the sweep of expired records.
func (e *Extension) Start(context.Context) error {
	if keep := e.keep(); keep > 0 {
		e.sweep.Start(max(keep/5, time.Minute), e.Sweep)
	}
	return nil
}

// Stop implements xmppd.Stopper.
func (e *Extension) Stop(ctx context.Context) error { return e.sweep.Stop(ctx) }

// keep is how long a record can still matter; 0 = forever.
func (e *Extension) keep() time.Duration {
	c, r := e.Config.CorrectionWindow.Duration, e.Config.RetractionWindow.Duration
	if c == 0 || r == 0 {
		return 0
	}
	return max(c, r) + sweepMargin
}

// Sweep drops the records no window can reach any more.
func (e *Extension) Sweep(ctx context.Context) {
	keep := e.keep()
	if keep == 0 {
		return
	}
	cutoff := e.Now().Add(-keep).UnixMicro()
	var doomed []string
	err := e.sent.ForEach("", func(key string, val []byte) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rec, err := decodeRecord(val); err != nil || rec.At < cutoff {
			doomed = append(doomed, key)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("sweeping the edit index failed", "err", err)
		return
	}
	for len(doomed) > 0 && ctx.Err() == nil {
		chunk := doomed[:min(len(doomed), sweepChunk)]
		doomed = doomed[len(chunk):]
		err := e.db.Update(func(tx *store.Tx) error {
			kv := tx.KV(storeName)
			for _, k := range chunk {
				if err := kv.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			e.log.Error("sweeping the edit index failed", "err", err)
			return
		}
	}
}
