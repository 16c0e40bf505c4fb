package mamproto

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// Retention bounds every archive of a store: entries older than the
// period (0: kept forever) and, beyond maxItems per owner (0: no limit),
// the oldest go (XEP-0313 §3.2: always the oldest first).
type Retention struct {
	Archive *store.Archive
	// Limits returns the period and maxItems; it is asked on every sweep,
	// so a changed configuration applies to the next one.
	Limits func() (period time.Duration, maxItems int)
	Log    *slog.Logger
	What   string // names the archives in log lines, e.g. "room archive"

	sweeper xmppd.Periodic
}

// Sweep applies the period and the limit to every owner's archive once.
func (r *Retention) Sweep(ctx context.Context) {
	var expired, trimmed int
	period, maxItems := r.Limits()
	err := r.Archive.Owners(func(owner string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if period > 0 {
			n, err := r.Archive.DeleteBefore(owner, time.Now().Add(-period))
			expired += n
			if err != nil {
				return err
			}
		}
		if maxItems > 0 {
			n, err := r.Archive.Trim(owner, maxItems)
			trimmed += n
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		r.Log.Error(r.What+" retention sweep failed", "err", err)
	}
	if expired+trimmed > 0 {
		r.Log.Info(r.What+" retention sweep", "expired", expired, "over_limit", trimmed)
	}
}

// Start sweeps now and then periodically (Period/10, between a minute and
// an hour; hourly without a period) until Stop. Without a period or a
// limit it does nothing.
func (r *Retention) Start() {
	period, maxItems := r.Limits()
	if period <= 0 && maxItems == 0 {
		return
	}
	interval := time.Hour
	if period > 0 {
		interval = min(max(period/10, time.Minute), time.Hour)
	}
	r.sweeper.Start(interval, r.Sweep)
}

// Stop ends the periodic sweep and waits for it, or for ctx.
func (r *Retention) Stop(ctx context.Context) error { return r.sweeper.Stop(ctx) }
