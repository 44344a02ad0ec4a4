package transfer

import (
	"cmp"
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
)

// A chunk in flight: its read, then its writes, all started before any is
// waited for, so that many small extents travel at once.
type flight struct {
	job
	buf     rbdaio.Buffer // zero-only chunks have none
	read    rbdaio.Op
	readErr error
	writes  []targetOp
}

// targetOp is a write or a zero operation on [off, off+n) of the target.
type targetOp struct {
	rbdaio.Op
	off, n uint64
	zero   bool
}

func (t targetOp) wait() error {
	if err := t.Wait(); err != nil {
		what := "writing"
		if t.zero {
			what = "zeroing"
		}
		return ioError(what, t.n, t.off, err)
	}
	return nil
}

// copyAsync copies between two RBD images with librbd's asynchronous I/O:
// up to Parallelism chunks in flight, their buffers bounded by MaxInFlight.
// This goroutine starts reads; one waits for them in order and starts their
// writes, one waits for those. Synchronous workers instead block a thread
// per I/O and wait out each read before starting its write.
//
// Buffers are C memory, freed only once every operation on them has been
// waited for, failed ones included: librbd may fill a buffer until its read
// completes.
func copyAsync(ctx context.Context, cancel context.CancelCauseFunc, from, to *rbdaio.Image, plan Plan, opts Options, stats *Stats, done func(uint64)) {
	slots := semaphore.NewWeighted(int64(opts.Parallelism))
	budget := semaphore.NewWeighted(int64(max(opts.MaxInFlight, opts.chunkSize())))
	reads := make(chan *flight, opts.Parallelism)
	written := make(chan *flight, opts.Parallelism)
	var failed atomic.Bool

	go func() {
		defer close(written)
		for f := range reads {
			if err := f.read.Wait(); err != nil {
				f.readErr = ioError("reading", f.Len, f.Off, err)
			} else if !failed.Load() {
				atomic.AddUint64(&stats.ReadBytes, f.Len)
				f.startWrites(to, plan.TargetHasData)
			}
			written <- f
		}
	}()

	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for f := range written {
			err := f.readErr
			for _, t := range f.writes {
				werr := t.wait()
				switch {
				case werr != nil:
					err = cmp.Or(err, werr)
				case t.zero:
					atomic.AddUint64(&stats.ZeroedBytes, t.n)
				default:
					atomic.AddUint64(&stats.WrittenBytes, t.n)
				}
			}
			if f.buf.Len() > 0 {
				f.buf.Free()
				budget.Release(int64(f.Len))
			}
			slots.Release(1)
			if err != nil {
				failed.Store(true)
				cancel(err)
				continue
			}
			done(f.Len)
			opts.afterChunk()
		}
	}()

	for j := range opts.jobs(ctx, plan) {
		if failed.Load() || slots.Acquire(ctx, 1) != nil {
			break
		}
		f := &flight{job: j}
		if j.zeroOnly {
			f.writes = append(f.writes, targetOp{to.Zero(j.Off, j.Len), j.Off, j.Len, true})
			written <- f
			continue
		}
		if budget.Acquire(ctx, int64(j.Len)) != nil {
			slots.Release(1)
			break
		}
		f.buf = rbdaio.Alloc(int(j.Len))
		f.read = from.ReadAt(f.buf, j.Off)
		reads <- f
	}
	close(reads)
	<-finished
}

// startWrites starts the chunk's writes: data runs as writes, zero runs as
// zero operations where the target may hold old data.
func (f *flight) startWrites(to *rbdaio.Image, targetHasData bool) {
	for _, r := range ZeroRuns(f.buf.Bytes()) {
		at, n := f.Off+uint64(r.Start), uint64(r.End-r.Start)
		switch {
		case r.Zero && targetHasData:
			f.writes = append(f.writes, targetOp{to.Zero(at, n), at, n, true})
		case !r.Zero:
			f.writes = append(f.writes, targetOp{to.WriteAt(f.buf, r.Start, r.End, at), at, n, false})
		}
	}
}
