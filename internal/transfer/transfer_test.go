package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// memImage is an in-memory image that counts what is done to it.
type memImage struct {
	mu       sync.Mutex
	data     []byte
	written  map[int64]int
	zeroOps  int
	inFlight atomic.Int32
	peak     atomic.Int32
}

func newMem(size int) *memImage { return &memImage{data: make([]byte, size), written: map[int64]int{}} }

func (m *memImage) ReadAt(p []byte, off int64) (int, error) {
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for {
		peak := m.peak.Load()
		if n <= peak || m.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(p, m.data[off:]), nil
}

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written[off] = len(p)
	return copy(m.data[off:], p), nil
}

func (m *memImage) Zero(off, length uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.zeroOps++
	clear(m.data[off : off+length])
	return nil
}

const obj = 1 << 20

// fill writes random data into m at the given extents.
func fill(m *memImage, rng *rand.Rand, es ...extent.Extent) {
	for _, e := range es {
		rng.Read(m.data[e.Off:e.End()])
	}
}

func TestRunMakesTargetEqualSourceOverDirtyTarget(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	size := 8 * obj
	src, dst := newMem(size), newMem(size)
	data := extent.Set{{Off: 100, Len: 3 * obj}, {Off: 5*obj + 4096, Len: 5000}}
	fill(src, rng, data...)
	// A 4 KiB unaligned zero range inside data, as CEPH-NOTES warns about.
	clear(src.data[200000 : 200000+4096])
	// The target holds stale data everywhere, some of it where the source is empty.
	rng.Read(dst.data)
	dirty := extent.Set{{Off: 0, Len: uint64(size)}}

	plan := NewPlan(data, nil, dirty, uint64(size), true)
	stats, err := Run(context.Background(), src, dst, plan, Options{ObjectSize: obj, Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src.data, dst.data) {
		t.Fatal("target differs from source after the transfer")
	}
	if stats.ReadBytes != uint64(size) {
		t.Fatalf("read %d bytes, want the whole dirty image %d", stats.ReadBytes, size)
	}
	if stats.WrittenBytes > data.Bytes()+2*minZeroRun {
		t.Fatalf("wrote %d data bytes for %d bytes of data: zero runs were written as data", stats.WrittenBytes, data.Bytes())
	}
}

func TestRunKeepsANewTargetSparse(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	size := 4 * obj
	src, dst := newMem(size), newMem(size)
	fill(src, rng, extent.Extent{Off: 0, Len: 8192}, extent.Extent{Off: 3 * obj, Len: 8192})
	// Whole-object extents, as fast-diff reports them: mostly zeros.
	plan := NewPlan(extent.Set{{Off: 0, Len: obj}, {Off: 3 * obj, Len: obj}}, nil, nil, uint64(size), false)
	stats, err := Run(context.Background(), src, dst, plan, Options{ObjectSize: obj})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src.data, dst.data) {
		t.Fatal("target differs from source")
	}
	if dst.zeroOps != 0 || stats.WrittenBytes != 2*8192 {
		t.Fatalf("new target: %d zero ops, %d bytes written; want 0 and %d", dst.zeroOps, stats.WrittenBytes, 2*8192)
	}
}

func TestZeroExtentsAreZeroedWithoutReading(t *testing.T) {
	size := 2 * obj
	src, dst := newMem(size), newMem(size)
	for i := range dst.data {
		dst.data[i] = 0xff
	}
	plan := NewPlan(nil, extent.Set{{Off: 10, Len: 4096}}, nil, uint64(size), true)
	stats, err := Run(context.Background(), src, dst, plan, Options{ObjectSize: obj})
	if err != nil {
		t.Fatal(err)
	}
	if stats.ReadBytes != 0 || dst.data[10] != 0 || dst.data[10+4095] != 0 || dst.data[9] != 0xff || dst.data[10+4096] != 0xff {
		t.Fatalf("zero extent handled wrongly: read %d bytes", stats.ReadBytes)
	}
}

func TestInFlightIsBounded(t *testing.T) {
	size := 64 * obj
	src, dst := newMem(size), newMem(size)
	plan := Plan{Copy: extent.Set{{Off: 0, Len: uint64(size)}}}
	if _, err := Run(context.Background(), src, dst, plan, Options{ObjectSize: obj, Parallelism: 32, MaxInFlight: 3 * obj}); err != nil {
		t.Fatal(err)
	}
	if peak := src.peak.Load(); peak > 3 {
		t.Fatalf("%d reads in flight with room for 3 chunks", peak)
	}
}

type failingSink struct{ *memImage }

func (f failingSink) WriteAt([]byte, int64) (int, error) { return 0, errors.New("osd down") }

func TestRunStopsOnErrorAndCancellation(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	size := 16 * obj
	src := newMem(size)
	fill(src, rng, extent.Extent{Off: 0, Len: uint64(size)})
	plan := Plan{Copy: extent.Set{{Off: 0, Len: uint64(size)}}}
	if _, err := Run(context.Background(), src, failingSink{newMem(size)}, plan, Options{ObjectSize: obj}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("osd down")) {
		t.Fatalf("Run with a failing sink = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, src, newMem(size), plan, Options{ObjectSize: obj}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v", err)
	}
}

func TestProgressIsReported(t *testing.T) {
	size := 4 * obj
	var last Progress
	_, err := Run(context.Background(), newMem(size), newMem(size), Plan{Copy: extent.Set{{Off: 0, Len: uint64(size)}}},
		Options{ObjectSize: obj, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Done != uint64(size) || last.Total != uint64(size) || last.Percent() != 100 {
		t.Fatalf("final progress = %+v", last)
	}
}

type slowSink struct{ *memImage }

func (s slowSink) WriteAt(p []byte, off int64) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.memImage.WriteAt(p, off)
}

// Every tenth is reported while the run goes on, long before the time tick,
// so that TF_LOG=INFO shows a short transfer moving too.
func TestProgressReportsEveryTenth(t *testing.T) {
	size := 20 * obj
	src := newMem(size)
	fill(src, rand.New(rand.NewSource(3)), extent.Extent{Off: 0, Len: uint64(size)})
	var seen []float64
	_, err := Run(context.Background(), src, slowSink{newMem(size)}, Plan{Copy: extent.Set{{Off: 0, Len: uint64(size)}}},
		Options{ObjectSize: obj, Parallelism: 1, ProgressEvery: time.Hour, Progress: func(p Progress) { seen = append(seen, p.Percent()) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 10 || seen[9] != 100 {
		t.Fatalf("progress reports at %v%%, want one per tenth and 100%% last", seen)
	}
	for i := 0; i < 9; i++ {
		if seen[i] < float64(10*(i+1)) || seen[i] >= float64(10*(i+2)) {
			t.Fatalf("report %d at %.1f%%, want within the %d0s: all %v", i, seen[i], i+1, seen)
		}
	}
}

func TestRunsFoldShortZeroGaps(t *testing.T) {
	buf := make([]byte, 256<<10)
	buf[0] = 1                 // data in block 0
	buf[8<<10] = 1             // a 4 KiB gap, then data: folded
	buf[(8<<10)+(100<<10)] = 1 // a ~96 KiB gap: kept as zero
	rs := ZeroRuns(buf)
	if len(rs) != 4 || rs[0].Zero || !rs[1].Zero || rs[2].Zero || !rs[3].Zero {
		t.Fatalf("runs = %+v", rs)
	}
}

func TestChecksumMatchesSha256OfTheWholeImage(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	size := 20*obj + 12345 // chunks of 4 MiB: [12 MiB, 16 MiB) is a hole
	img := newMem(size)
	data := extent.Set{{Off: 3 * obj, Len: 2*obj + 7}, {Off: uint64(size) - 100, Len: 100}}
	fill(img, rng, data...)
	want := sha256.Sum256(img.data)
	got, err := Checksum(context.Background(), img, uint64(size), data, Options{Parallelism: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got != hex.EncodeToString(want[:]) {
		t.Fatalf("Checksum = %s, want %x", got, want)
	}
	// Holes are not read: only the chunks that touch data are.
	if reads := img.peak.Load(); reads == 0 {
		t.Fatal("no read at all")
	}
	// Data outside mayHaveData would be missed: the set is a promise.
	img.data[13*obj] = 1
	if again, _ := Checksum(context.Background(), img, uint64(size), data, Options{Parallelism: 3}); again != got {
		t.Fatal("a chunk outside mayHaveData was read")
	}
}

func TestCoverObjectsWidensToWholeObjects(t *testing.T) {
	const mib = 1 << 20
	p := Plan{
		Copy: extent.Set{{Off: 5*mib + 100, Len: 10}, {Off: 13 * mib, Len: 4096}},
		Zero: extent.Set{{Off: 8*mib + 1, Len: 1}},
	}
	cases := []struct {
		name                     string
		objectSize, header, size uint64
		want                     extent.Set
	}{
		{"header a multiple of the object size", 4 * mib, 16 * mib, 14 * mib,
			extent.Set{{Off: 4 * mib, Len: 10 * mib}}},
		{"no header", 4 * mib, 0, 32 * mib,
			extent.Set{{Off: 4 * mib, Len: 12 * mib}}},
		{"header inside an object: the first object starts before the data", 4 * mib, 2 * mib, 32 * mib,
			extent.Set{{Off: 2 * mib, Len: 12 * mib}}},
		{"small objects", 1 * mib, 16 * mib, 32 * mib,
			extent.Set{{Off: 5 * mib, Len: 1 * mib}, {Off: 8 * mib, Len: 1 * mib}, {Off: 13 * mib, Len: 1 * mib}}},
	}
	for _, c := range cases {
		got := p.CoverObjects(c.objectSize, c.header, c.size)
		if !equalSets(got.Copy, c.want) || len(got.Zero) != 0 || !got.TargetHasData {
			t.Errorf("%s: got copy %v zero %v targetHasData %v, want copy %v, no zero, targetHasData", c.name, got.Copy, got.Zero, got.TargetHasData, c.want)
		}
	}
	first := Plan{Copy: extent.Set{{Off: 0, Len: 1}}}.CoverObjects(4*mib, 2*mib, 32*mib)
	if !equalSets(first.Copy, extent.Set{{Off: 0, Len: 2 * mib}}) {
		t.Errorf("the object that holds the header: %v, want its data part [0, 2 MiB)", first.Copy)
	}
}

func equalSets(a, b extent.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
