package xmppd

import (
	"context"
	"time"
)

// Periodic runs a background task now and then every interval until Stop:
// the shape of every sweep (retention, expired uploads). The zero value is
// ready to use; Stop on a never-started Periodic is a no-op.
type Periodic struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs fn at once and then every interval, each time with a context
// that Stop cancels.
func (p *Periodic) Start(interval time.Duration, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the task and waits for a run in progress, or for ctx.
func (p *Periodic) Stop(ctx context.Context) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
