package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are kept in log-linear buckets of microseconds: exact below
// 16 µs, then 16 buckets per power of two (at most ~6% error), up to
// hours. Each recording goroutine owns a Hist (no shared cache line on
// the hot path); the reporter sums them.
const (
	histSub     = 16
	histBuckets = histSub + 40*histSub
)

// Hist is a latency histogram written by one goroutine and read by any.
type Hist struct {
	b [histBuckets]atomic.Uint64
}

func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < histSub {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= 4
	i := histSub + (e-4)*histSub + int((us>>(e-4))&(histSub-1))
	return min(i, histBuckets-1)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)*time.Microsecond + time.Microsecond/2
	}
	e := (i-histSub)/histSub + 4
	sub := uint64((i - histSub) % histSub)
	lo := (histSub + sub) << (e - 4)
	w := uint64(1) << (e - 4)
	return time.Duration(lo)*time.Microsecond + time.Duration(w)*time.Microsecond/2
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) { h.b[bucketOf(d)].Add(1) }

// counts is a merged histogram.
type counts [histBuckets]uint64

func (c *counts) add(h *Hist) {
	for i := range h.b {
		c[i] += h.b[i].Load()
	}
}

func (c *counts) sub(o *counts) counts {
	var d counts
	for i := range c {
		d[i] = c[i] - o[i]
	}
	return d
}

func (c *counts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// quantile returns the q-quantile (0 < q <= 1), 0 if empty.
func (c *counts) quantile(q float64) time.Duration {
	n := c.total()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, v := range c {
		seen += v
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}
