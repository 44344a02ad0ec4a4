package rbdaio_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"syscall"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// TestAccOfFindsTheHandle writes, zeroes and reads through the handle go-ceph
// opened, checks every byte with go-ceph and with `rbd export`, and fails if
// a go-ceph release moves the handle out of reach.
func TestAccOfFindsTheHandle(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("TF_ACC is not set: needs the test clusters")
	}
	c := testcluster.Get(t, "source")
	const size = 8 << 20
	name := "rbdaio-" + t.Name()
	c.CreateImage(t, "rbd", name, size)
	t.Cleanup(func() { _, _ = c.RBDErr("rm", "--no-progress", "rbd/"+name) })
	c.WriteRandom(t, "rbd", name, 0, size, 1)

	want := make([]byte, size)
	rand.New(rand.NewSource(2)).Read(want[1<<20 : 3<<20])
	clear(want[:1<<20])
	clear(want[3<<20:])
	err := c.OnImage("rbd", name, func(img *rbd.Image) error {
		aio, err := rbdaio.Of(img)
		if err != nil {
			return err
		}
		buf := rbdaio.Alloc(2 << 20)
		defer buf.Free()
		copy(buf.Bytes(), want[1<<20:3<<20])
		// An unaligned write split in two, and zeros around it, all in flight at once.
		ops := []rbdaio.Op{
			aio.Zero(0, 1<<20),
			aio.WriteAt(buf, 0, 12345, 1<<20),
			aio.WriteAt(buf, 12345, 2<<20, 1<<20+12345),
			aio.Zero(3<<20, size-3<<20),
		}
		for i, op := range ops {
			if err := op.Wait(); err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
		}
		got := make([]byte, size)
		if _, err := img.ReadAt(got, 0); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Error("go-ceph reads back something else than what rbdaio wrote")
		}
		back := rbdaio.Alloc(size)
		defer back.Free()
		if err := aio.ReadAt(back, 0).Wait(); err != nil {
			return err
		}
		if !bytes.Equal(back.Bytes(), want) {
			t.Error("rbdaio reads back something else than what it wrote")
		}
		if err := aio.WriteAt(buf, 5, 2<<20+1, 0).Wait(); err == nil {
			t.Error("a write past its buffer's end started")
		}
		if err := aio.ReadAt(back, size).Wait(); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("a read past the image's end: got %v, want EINVAL", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ExportSHA256(t, "rbd/"+name), fmt.Sprintf("%x", sha256.Sum256(want)); got != want {
		t.Errorf("rbd export: sha256 %s, want %s", got, want)
	}
}
