package transfer_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// betweenImages runs f on two images of the source test cluster, opened
// read-write at once, as the engine opens a source and a target.
func betweenImages(t *testing.T, srcSize, dstSize uint64, f func(c *testcluster.Cluster, src, dst *rbd.Image, srcName, dstName string)) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("TF_ACC is not set: needs the test clusters")
	}
	c := testcluster.Get(t, "source")
	srcName, dstName := "transfer-src-"+t.Name(), "transfer-dst-"+t.Name()
	c.CreateImage(t, "rbd", srcName, srcSize)
	c.CreateImage(t, "rbd", dstName, dstSize)
	t.Cleanup(func() {
		_, _ = c.RBDErr("rm", "--no-progress", "rbd/"+srcName)
		_, _ = c.RBDErr("rm", "--no-progress", "rbd/"+dstName)
	})
	err := c.OnImage("rbd", srcName, func(src *rbd.Image) error {
		return c.OnImage("rbd", dstName, func(dst *rbd.Image) error {
			f(c, src, dst, srcName, dstName)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The asynchronous path makes a dirty target equal to the source: data
// runs written, zero runs zeroed, unaligned edges included.
func TestAccRunBetweenImagesMakesTargetEqualSource(t *testing.T) {
	const size = 24 << 20
	betweenImages(t, size, size, func(c *testcluster.Cluster, src, dst *rbd.Image, srcName, dstName string) {
		c.WriteRandom(t, "rbd", dstName, 0, size, 1) // stale data everywhere
		c.WriteRandom(t, "rbd", srcName, 0, size, 2)
		c.Discard(t, "rbd", srcName, 5<<20, 3<<20)                    // a zero run across objects
		c.Write(t, "rbd", srcName, 12<<20+333, make([]byte, 100<<10)) // an unaligned one
		whole := extent.Set{{Off: 0, Len: size}}
		stats, err := transfer.Run(context.Background(), src, transfer.ImageSink{Image: dst},
			transfer.NewPlan(whole, nil, whole, size, true),
			transfer.Options{ObjectSize: 4 << 20, Parallelism: 5, MaxInFlight: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if stats.ReadBytes != size || stats.ZeroedBytes < 3<<20 || stats.WrittenBytes+stats.ZeroedBytes != size {
			t.Errorf("stats %+v: want %d bytes read, at least 3 MiB zeroed, written and zeroed adding up", stats, size)
		}
		if got, want := c.ExportSHA256(t, "rbd/"+dstName), c.ExportSHA256(t, "rbd/"+srcName); got != want {
			t.Errorf("target sha256 %s, source %s", got, want)
		}
	})
}

// A write librbd refuses fails the run with what was being written, after
// every operation in flight has been waited for; a cancelled context stops
// it before anything starts.
func TestAccRunBetweenImagesStopsOnErrorAndCancellation(t *testing.T) {
	const size = 16 << 20
	betweenImages(t, size, size/2, func(c *testcluster.Cluster, src, dst *rbd.Image, srcName, _ string) {
		c.WriteRandom(t, "rbd", srcName, 0, size, 3)
		plan := transfer.Plan{Copy: extent.Set{{Off: 0, Len: size}}}
		_, err := transfer.Run(context.Background(), src, transfer.ImageSink{Image: dst}, plan, transfer.Options{ObjectSize: 4 << 20})
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "writing") {
			t.Errorf("a plan past the target's end: %v, want EINVAL while writing", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		stats, err := transfer.Run(ctx, src, transfer.ImageSink{Image: dst}, plan, transfer.Options{ObjectSize: 4 << 20})
		if !errors.Is(err, context.Canceled) || stats.WrittenBytes != 0 {
			t.Errorf("a cancelled run: %v after %d bytes written, want context.Canceled before any", err, stats.WrittenBytes)
		}
	})
}
