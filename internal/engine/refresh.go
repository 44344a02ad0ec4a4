package engine

import (
	"context"
	"sync"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// RefreshCache lets a refresh read each backup image once instead of once
// per restore point: `terraform plan` reads every backup in state, and the
// points of one image share one image's records and snapshots. What a read
// found is reused by ReadBackup for ttl; readers of an image whose read is
// under way wait for it. Every engine operation that changes a backup image
// forgets it, before and after, so this process never reads back an older
// state than its own writes; a change by another client shows at the
// latest ttl later (a refresh is one pass, and the next command starts a new
// provider process). Only ReadBackup uses it: plan checks and applies read
// the cluster afresh.
type RefreshCache struct {
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]*refreshEntry
}

type refreshEntry struct {
	ready chan struct{} // closed once the read below is done
	at    time.Time
	pts   chain.Points
	ok    bool
	err   error
}

// NewRefreshCache returns a cache whose reads are reused for ttl.
func NewRefreshCache(ttl time.Duration) *RefreshCache {
	return &RefreshCache{ttl: ttl, now: time.Now, entries: map[string]*refreshEntry{}}
}

// get returns what read returns for key, reusing a read younger than ttl
// and joining one under way. A failed read is not kept. A nil cache reads.
func (c *RefreshCache) get(ctx context.Context, key string, read func() (chain.Points, bool, error)) (chain.Points, bool, error) {
	if c == nil {
		return read()
	}
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		select {
		case <-e.ready:
			if c.now().Sub(e.at) > c.ttl || e.err != nil {
				e = nil
			}
		default: // under way: wait for it below
		}
	}
	if e == nil {
		e = &refreshEntry{ready: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		e.pts, e.ok, e.err = read()
		e.at = c.now()
		close(e.ready)
		return e.pts, e.ok, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.pts, e.ok, e.err
	case <-ctx.Done():
		return chain.Points{}, false, ctx.Err()
	}
}

// forget drops what was read of key; a read under way finishes for its
// waiters but is not kept.
func (c *RefreshCache) forget(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

func refreshKey(backupPool, image string) string {
	return backupPool + "/" + chain.BackupImageName(image)
}

// changing forgets image's backup image in the refresh cache now and when
// the returned function runs: call it as `defer e.changing(pool, image)()`
// in every operation that writes a backup image.
func (e *Engine) changing(backupPool, image string) func() {
	key := refreshKey(backupPool, image)
	e.Refresh.forget(key)
	return func() { e.Refresh.forget(key) }
}

// ReadBackup is GetBackup for a refresh: it may answer from the refresh
// cache (see RefreshCache).
func (e *Engine) ReadBackup(ctx context.Context, backupPool, image, id string) (chain.Record, error) {
	pts, ok, err := e.Refresh.get(ctx, refreshKey(backupPool, image), func() (chain.Points, bool, error) {
		return e.readPoints(ctx, backupPool, image)
	})
	return findBackup(pts, ok, err, id)
}
