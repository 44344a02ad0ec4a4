package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// The refresh cache reuses a read for its ttl, joins a read under way, and
// never keeps a failed read or one older than a write of this process.
func TestRefreshCache(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	c := NewRefreshCache(10 * time.Second)
	c.now = func() time.Time { return clock }
	var reads atomic.Int32
	read := func() (chain.Points, bool, error) { //nolint:unparam // the signature RefreshCache.get takes
		reads.Add(1)
		return chain.Points{Snapshots: map[string]bool{"s": true}}, true, nil
	}
	get := func() {
		t.Helper()
		if pts, ok, err := c.get(context.Background(), refreshKey("backups", "vol"), read); err != nil || !ok || !pts.Snapshots["s"] {
			t.Fatalf("get = %v, %v, %v", pts, ok, err)
		}
	}
	expect := func(want int32, what string) {
		t.Helper()
		if got := reads.Load(); got != want {
			t.Fatalf("%s: %d reads, want %d", what, got, want)
		}
	}
	get()
	get()
	expect(1, "a second get within the ttl")
	clock = clock.Add(11 * time.Second)
	get()
	expect(2, "a get after the ttl")
	done := (&Engine{Refresh: c}).changing("backups", "vol") // an operation writing that backup image starts
	get()
	expect(3, "a get while a write is under way")
	done()
	get()
	expect(4, "a get after the write")
	get()
	expect(4, "a second get after the write")

	boom := errors.New("osd timed out")
	if _, _, err := c.get(context.Background(), "bad", func() (chain.Points, bool, error) { return chain.Points{}, false, boom }); !errors.Is(err, boom) {
		t.Fatalf("a failed read returned %v", err)
	}
	if _, ok, err := c.get(context.Background(), "bad", read); err != nil || !ok {
		t.Fatalf("a failed read was kept: %v, %v", ok, err)
	}

	// Readers of a key whose read is under way wait for it, one read in all.
	slow := make(chan struct{})
	var slowReads atomic.Int32
	slowRead := func() (chain.Points, bool, error) { //nolint:unparam // the signature RefreshCache.get takes
		slowReads.Add(1)
		<-slow
		return chain.Points{}, true, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, _ = c.get(context.Background(), "joined", slowRead) }()
	}
	time.Sleep(50 * time.Millisecond)
	close(slow)
	wg.Wait()
	if n := slowReads.Load(); n != 1 {
		t.Fatalf("8 concurrent gets made %d reads, want 1", n)
	}

	// A waiter gives up with its context.
	stuck := make(chan struct{})
	defer close(stuck)
	go func() {
		_, _, _ = c.get(context.Background(), "stuck", func() (chain.Points, bool, error) { <-stuck; return chain.Points{}, true, nil })
	}()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.get(ctx, "stuck", read); !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiter whose context ended got %v", err)
	}

	var none *RefreshCache // no cache: every get reads
	before := reads.Load()
	_, _, _ = none.get(context.Background(), "x", read)
	_, _, _ = none.get(context.Background(), "x", read)
	expect(before+2, "a nil cache")
}
