// Package transfer moves image data: it copies a plan of extents from a
// source that can be read at any offset to a sink, with parallel I/O, a fixed
// number of bytes in flight, and zero ranges turned into zero operations
// instead of buffers of zeros.
package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
)

// Sink receives the data. Implementations must accept concurrent calls for
// disjoint ranges.
type Sink interface {
	WriteAt(p []byte, off int64) (int, error)
	// Zero makes [off, off+length) read as zeros.
	Zero(off, length uint64) error
}

// Plan says what to do with each range of the target.
type Plan struct {
	// Copy ranges are read from the source and written to the sink.
	Copy extent.Set
	// Zero ranges are zeroed on the sink without reading the source.
	Zero extent.Set
	// TargetHasData is true when the sink may hold old data in Copy ranges,
	// so zeros read from the source must be written (zeroed) too. When
	// false (a new, empty target) zero runs are skipped and stay sparse.
	TargetHasData bool
}

// Bytes is how much of the image the plan covers.
func (p Plan) Bytes() uint64 { return p.Copy.Bytes() + p.Zero.Bytes() }

// Defaults. Parallelism counts chunks in flight; the memory bound wins with
// 4 MiB RADOS objects: 8 object-sized I/Os at a time, which copied as fast as
// 16 on the benchmark machine while keeping the provider's peak RSS well
// under 256 MiB (librados holds a copy of each I/O besides ours; make bench,
// figure 5). Small extents, as an incremental's scattered writes give, fill
// all 64: with asynchronous I/O the copy of 800 extents of 4-64 KiB took
// 0.19 s with 64 in flight, 0.24 s with 32 and 0.26 s with 16 (median of 3,
// 2026-11-29; synchronous workers: 0.55 s). Big clusters gain from raising
// the memory bound.
const (
	DefaultParallelism = 64
	DefaultMaxInFlight = 32 << 20
	DefaultChunkSize   = 4 << 20
	// Zero runs shorter than this inside data are written as data: one
	// larger write is cheaper than a write, a zero op and another write.
	minZeroRun = 64 << 10
	zeroBlock  = 4 << 10
)

// Options tune a run. Zero values mean the defaults.
type Options struct {
	Parallelism   int
	MaxInFlight   uint64
	ObjectSize    uint64 // chunks never cross an object boundary
	ProgressEvery time.Duration
	Progress      func(Progress)
	// AfterChunk, when set, runs after each chunk is done (copied, or read
	// and hashed by Checksum), on the goroutine that counts it done, which
	// waits for it: a seam for tests to act between a run's chunks.
	AfterChunk func()
}

// Progress is reported at every tenth of the work and every ProgressEvery
// while a run goes on, and once at the end.
type Progress struct {
	Done, Total uint64
	Elapsed     time.Duration
}

// Rate is bytes per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA estimates the time left at the current rate.
func (p Progress) ETA() time.Duration {
	r := p.Rate()
	if r <= 0 || p.Done >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Total-p.Done) / r * float64(time.Second))
}

// Percent done.
func (p Progress) Percent() float64 {
	if p.Total == 0 {
		return 100
	}
	return 100 * float64(p.Done) / float64(p.Total)
}

// Stats is what a run did.
type Stats struct {
	ReadBytes    uint64 // read from the source
	WrittenBytes uint64 // data written to the sink
	ZeroedBytes  uint64 // zeroed on the sink
	Duration     time.Duration
	// NoAsyncIO, when set, says why a copy between two images used
	// synchronous workers instead of librbd's asynchronous I/O: as exact,
	// slower on small extents.
	NoAsyncIO error
}

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ObjectSize == 0 {
		o.ObjectSize = DefaultChunkSize
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return o
}

type job struct {
	extent.Extent
	zeroOnly bool
}

// Run executes plan, reading from src and writing to dst, until done, an
// error, or ctx is cancelled. Memory use is bounded by MaxInFlight.
//
// Between two RBD images (an *rbd.Image source and an ImageSink) it uses
// librbd's asynchronous I/O (copyAsync); anything else is copied by
// workers making synchronous calls, and so are two images whose librbd
// handles a go-ceph release keeps out of rbdaio's reach (Stats.NoAsyncIO
// says so).
func Run(ctx context.Context, src io.ReaderAt, dst Sink, plan Plan, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	p := newProgress(plan.Bytes(), opts)
	var stats Stats
	srcImage, srcIsImage := src.(*rbd.Image)
	dstImage, dstIsImage := dst.(ImageSink)
	var from, to *rbdaio.Image
	var err error
	if srcIsImage && dstIsImage {
		if from, err = rbdaio.Of(srcImage); err == nil {
			to, err = rbdaio.Of(dstImage.Image)
		}
	}
	switch {
	case from != nil && to != nil:
		copyAsync(ctx, cancel, from, to, plan, opts, &stats, p.add)
	case errors.Is(err, rbdaio.ErrUnsupported):
		stats.NoAsyncIO = err
		copySync(ctx, cancel, src, dst, plan, opts, &stats, p.add)
	case err != nil:
		cancel(err)
	default:
		copySync(ctx, cancel, src, dst, plan, opts, &stats, p.add)
	}
	stats.Duration = p.stop()
	if err := context.Cause(ctx); err != nil {
		return stats, err
	}
	p.final()
	return stats, nil
}

func (o Options) afterChunk() {
	if o.AfterChunk != nil {
		o.AfterChunk()
	}
}

// chunkSize is the largest I/O: an object, at most DefaultChunkSize.
func (o Options) chunkSize() uint64 { return min(o.ObjectSize, DefaultChunkSize) }

// buffers is how many buffers of chunk bytes may be held at once: one per
// parallel I/O, as many as the memory bound allows, at least one.
func (o Options) buffers(chunk uint64) int {
	return max(1, min(o.Parallelism, int(o.MaxInFlight/chunk)))
}

// jobs feeds plan's chunks, zeros first, until ctx is done.
func (o Options) jobs(ctx context.Context, plan Plan) <-chan job {
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		feed := func(set extent.Set, zeroOnly bool) bool {
			for _, c := range set.Chunks(o.ObjectSize, o.chunkSize()) {
				select {
				case jobs <- job{c, zeroOnly}:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}
		if feed(plan.Zero, true) {
			feed(plan.Copy, false)
		}
	}()
	return jobs
}

// copySync copies with workers making synchronous calls, as many as the
// memory bound allows buffers of a chunk.
func copySync(ctx context.Context, cancel context.CancelCauseFunc, src io.ReaderAt, dst Sink, plan Plan, opts Options, stats *Stats, done func(uint64)) {
	chunk := opts.chunkSize()
	workers := opts.buffers(chunk)
	jobs := opts.jobs(ctx, plan)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			for j := range jobs {
				w := worker{src: src, dst: dst, stats: stats, targetHasData: plan.TargetHasData}
				var err error
				if j.zeroOnly {
					err = w.zero(j.Off, j.Len)
				} else {
					err = w.copy(buf[:j.Len], j.Off)
				}
				if err != nil {
					cancel(err)
					return
				}
				done(j.Len)
				opts.afterChunk()
			}
		}()
	}
	wg.Wait()
}

// progress counts the bytes done and reports them at every tenth of the
// work and every ProgressEvery.
type progress struct {
	done      atomic.Uint64
	total     uint64
	start     time.Time
	report    func(Progress)
	milestone chan struct{}
	finished  chan struct{}
	gone      chan struct{}
}

func newProgress(total uint64, opts Options) *progress {
	p := &progress{total: total, start: time.Now(), report: opts.Progress,
		milestone: make(chan struct{}, 1), finished: make(chan struct{}), gone: make(chan struct{})}
	if p.report == nil {
		close(p.gone)
		return p
	}
	go func() {
		defer close(p.gone)
		tick := time.NewTicker(opts.ProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-p.finished:
				return
			case <-tick.C:
				p.report(p.now())
			case <-p.milestone:
				p.report(p.now())
			}
		}
	}()
	return p
}

func (p *progress) now() Progress {
	return Progress{Done: p.done.Load(), Total: p.total, Elapsed: time.Since(p.start)}
}

// add counts n bytes done; safe for concurrent use.
func (p *progress) add(n uint64) {
	if d := p.done.Add(n); p.total > 0 && (d-n)*10/p.total < d*10/p.total && d < p.total {
		select { // a tenth crossed; the reporter may still be busy with the last one
		case p.milestone <- struct{}{}:
		default:
		}
	}
}

// stop ends the periodic reports and returns the time taken.
func (p *progress) stop() time.Duration {
	close(p.finished)
	<-p.gone // the final report comes last, never concurrently
	return time.Since(p.start)
}

// final reports once more, at the end of a run that succeeded.
func (p *progress) final() {
	if p.report != nil {
		p.report(p.now())
	}
}

// ioError says which I/O of a run failed.
func ioError(what string, n, off uint64, err error) error {
	return fmt.Errorf("%s %d bytes at offset %d: %w", what, n, off, err)
}

type worker struct {
	src           io.ReaderAt
	dst           Sink
	stats         *Stats
	targetHasData bool
}

func (w worker) zero(off, length uint64) error {
	if err := w.dst.Zero(off, length); err != nil {
		return ioError("zeroing", length, off, err)
	}
	atomic.AddUint64(&w.stats.ZeroedBytes, length)
	return nil
}

func (w worker) copy(buf []byte, off uint64) error {
	n, err := w.src.ReadAt(buf, int64(off))
	if err != nil && (!errors.Is(err, io.EOF) || n != len(buf)) {
		return ioError("reading", uint64(len(buf)), off, err)
	}
	if n != len(buf) {
		return fmt.Errorf("short read of %d bytes at offset %d: got %d", len(buf), off, n)
	}
	atomic.AddUint64(&w.stats.ReadBytes, uint64(n))
	for _, r := range ZeroRuns(buf) {
		at := off + uint64(r.Start)
		if r.Zero {
			if w.targetHasData {
				if err := w.zero(at, uint64(r.End-r.Start)); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := w.dst.WriteAt(buf[r.Start:r.End], int64(at)); err != nil {
			return ioError("writing", uint64(r.End-r.Start), at, err)
		}
		atomic.AddUint64(&w.stats.WrittenBytes, uint64(r.End-r.Start))
	}
	return nil
}

// Span is a range [Start, End) of a buffer that is all zeros or holds data.
type Span struct {
	Start, End int
	Zero       bool
}

var zeros = make([]byte, zeroBlock)

// ZeroRuns splits buf into alternating data and zero runs, so zeros can be
// sent as zero operations. librbd reports zeroed ranges inside existing
// objects as changed data, so this is where they are found. Zero runs
// shorter than 64 KiB between data are folded into the data.
func ZeroRuns(buf []byte) []Span {
	var out []Span
	for i := 0; i < len(buf); i += zeroBlock {
		end := min(i+zeroBlock, len(buf))
		z := bytes.Equal(buf[i:end], zeros[:end-i])
		if n := len(out); n > 0 && out[n-1].Zero == z {
			out[n-1].End = end
			continue
		}
		out = append(out, Span{i, end, z})
	}
	// Fold short inner zero runs into their neighbours.
	merged := out[:0]
	for i, r := range out {
		short := r.Zero && r.End-r.Start < minZeroRun && i > 0 && i < len(out)-1
		if short {
			r.Zero = false
		}
		if n := len(merged); n > 0 && merged[n-1].Zero == r.Zero {
			merged[n-1].End = r.End
			continue
		}
		merged = append(merged, r)
	}
	return merged
}
