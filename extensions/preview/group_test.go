package preview

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheLRU(t *testing.T) {
	c := newCache(2)
	now := time.Now()
	a, b := &Meta{Title: "a"}, &Meta{Title: "b"}
	c.put("a", a, now.Add(time.Hour))
	c.put("b", b, now.Add(time.Hour))
	if m, ok := c.get("a", now); !ok || m != a { // a is now the most recent
		t.Fatalf("get a = %v, %v", m, ok)
	}
	c.put("n", nil, now.Add(time.Minute)) // negative entry; evicts b
	if _, ok := c.get("b", now); ok {
		t.Error("b was not evicted")
	}
	if m, ok := c.get("n", now); !ok || m != nil {
		t.Errorf("negative entry: %v, %v", m, ok)
	}
	if _, ok := c.get("n", now.Add(time.Minute)); ok {
		t.Error("expired entry returned")
	}
	if c.len() != 1 {
		t.Errorf("len = %d after expiry, want 1", c.len())
	}
}

func testGroup(fetch fetchFunc, maxFetches int) (*group, *sync.WaitGroup) {
	c := DefaultConfig()
	c.MaxFetches = maxFetches
	var wg sync.WaitGroup
	return newGroup(context.Background(), &wg, fetch, c, slog.New(slog.NewTextHandler(io.Discard, nil))), &wg
}

func TestGroupSharesFetch(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	g, wg := testGroup(func(ctx context.Context, u string) (*Meta, error) {
		calls.Add(1)
		<-release
		return &Meta{Title: u}, nil
	}, 4)
	var cs []*call
	for range 10 {
		cs = append(cs, g.get("http://x/"))
	}
	close(release)
	for _, c := range cs {
		<-c.done
		if c.meta == nil || c.meta.Title != "http://x/" {
			t.Fatalf("meta = %+v", c.meta)
		}
	}
	if c := g.get("http://x/"); !c.ready() || c.meta == nil {
		t.Error("result not cached")
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestGroupBounded(t *testing.T) {
	release := make(chan struct{})
	g, wg := testGroup(func(ctx context.Context, u string) (*Meta, error) {
		<-release
		return nil, errors.New("down")
	}, 2)
	a, b := g.get("http://a/"), g.get("http://b/")
	if a == nil || b == nil {
		t.Fatal("first two fetches refused")
	}
	if c := g.get("http://c/"); c != nil {
		t.Error("third fetch started beyond max_fetches")
	}
	close(release)
	<-a.done
	<-b.done
	wg.Wait()
	if c := g.get("http://a/"); !c.ready() || c.meta != nil {
		t.Error("failure not cached as a negative entry")
	}
	if c := g.get("http://c/"); c == nil {
		t.Error("no fetch once slots are free")
	}
	wg.Wait()
}
