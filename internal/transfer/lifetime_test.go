package transfer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// failingReads reads an image, except at failAt, where the read fails with
// EIO once another read has started. The other reads go on only once that
// one has failed, so they are still running when the run learns of the
// failure; outstanding counts them.
type failingReads struct {
	img          *rbd.Image
	failAt       int64
	another      chan struct{}
	failed       chan struct{}
	once, failOn sync.Once
	outstanding  atomic.Int32
}

func newFailingReads(img *rbd.Image, failAt int64) *failingReads {
	return &failingReads{img: img, failAt: failAt, another: make(chan struct{}), failed: make(chan struct{})}
}

func (r *failingReads) ReadAt(p []byte, off int64) (int, error) {
	r.outstanding.Add(1)
	defer r.outstanding.Add(-1)
	if off == r.failAt {
		<-r.another
		r.failOn.Do(func() { close(r.failed) })
		return 0, syscall.EIO
	}
	r.once.Do(func() { close(r.another) })
	<-r.failed
	time.Sleep(200 * time.Millisecond)
	return r.img.ReadAt(p, off)
}

// A read that fails while others are in flight on a real image fails the
// run, and the run returns only once the reads it started are done: the
// caller closes the image next, and librbd must not be reading it then.
// Checksum and the synchronous copy workers alike.
func TestAccReadErrorWaitsForReadsInFlight(t *testing.T) {
	const size = 32 << 20
	betweenImages(t, size, size, func(c *testcluster.Cluster, src, dst *rbd.Image, srcName, _ string) {
		c.WriteRandom(t, "rbd", srcName, 0, size, 4)
		whole := extent.Set{{Off: 0, Len: size}}
		runs := []struct {
			name string
			run  func(r *failingReads) error
		}{
			{"Checksum", func(r *failingReads) error {
				_, err := transfer.Checksum(context.Background(), r, size, whole, transfer.Options{})
				return err
			}},
			{"synchronous copy", func(r *failingReads) error {
				_, err := transfer.Run(context.Background(), r, transfer.ImageSink{Image: dst},
					transfer.Plan{Copy: whole}, transfer.Options{ObjectSize: 4 << 20})
				return err
			}},
		}
		for _, run := range runs {
			r := newFailingReads(src, 0)
			err := run.run(r)
			if n := r.outstanding.Load(); n != 0 {
				t.Errorf("%s returned with %d reads of the image still running", run.name, n)
			}
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("%s with a failing read: %v, want EIO", run.name, err)
			}
		}
	})
}
