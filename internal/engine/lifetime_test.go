package engine_test

import (
	"context"
	"regexp"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// cloneState is what `rbd du` says pool/image uses, and whether `rbd info`
// still shows a parent.
func cloneState(t *testing.T, c *testcluster.Cluster, spec string) (du string, parent bool) {
	t.Helper()
	return c.RBD(t, "du", spec), strings.Contains(c.RBD(t, "info", spec), "parent:")
}

// flattensRunning is the stack of every goroutine in a librbd flatten call.
func flattensRunning() string {
	var all strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&all, 2)
	var out []string
	for _, g := range strings.Split(all.String(), "\n\n") {
		if flattenCall.MatchString(g) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

var flattenCall = regexp.MustCompile(`_Cfunc_rbd\w*_flatten`)

// holdLock opens pool/image with another client of c and takes its
// exclusive lock, as a VM using an instant restore does, until t ends.
func holdLock(t *testing.T, c *testcluster.Cluster, pool, image string) {
	t.Helper()
	holding, release := make(chan error), make(chan struct{})
	go func() {
		holding <- c.OnImage(pool, image, func(img *rbd.Image) error {
			if err := img.LockAcquire(rbd.LockModeExclusive); err != nil {
				return err
			}
			holding <- nil
			<-release
			return nil
		})
	}()
	if err := <-holding; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		if err := <-holding; err != nil {
			t.Error(err)
		}
	})
}

// A flatten of a 256 MiB clone with a timeout of 100 ms returns with no
// flatten left running, and the clone does not change after it returned:
// on its own, the flatten is stopped; when the clone's lock holder (a VM
// using it) runs the flatten for the provider, it is waited for (the old
// code closed the clone under the forwarded flatten, and librbd aborted the
// process: `ceph_assert(_size == 0)` in ~xlist<AsyncRequest>). Flattening
// again finishes, and the clone reads as its restore point.
func TestAccClone_flattenTimedOutLeavesNothingRunning(t *testing.T) {
	src, dst, eng := clusters(t)
	img, full := backedUpImage(t, src, eng, "flat", 256*mib)
	for _, tc := range []struct {
		name     string
		lockHeld bool
	}{{"alone", false}, {"lock held by a client", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clone := uniqueName("flat-clone")
			if _, err := eng.Clone(ctx, engine.CloneRequest{BackupPool: "backups", Image: img, BackupID: full.ID,
				TargetPool: "backups", TargetImage: clone}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := eng.RemoveClone(ctx, "backups", clone, full.ID); err != nil {
					t.Error(err)
				}
			})
			if tc.lockHeld {
				holdLock(t, dst, "backups", clone)
			}
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			started := time.Now()
			err := eng.FlattenClone(short, "backups", clone, full.ID)
			running := flattensRunning()
			t.Logf("FlattenClone returned after %s: %v", time.Since(started), err)
			if running != "" {
				t.Errorf("FlattenClone returned while a librbd flatten still ran:\n%s", running)
			}
			if err == nil && !tc.lockHeld {
				t.Fatal("the flatten finished within its timeout: make the image bigger")
			}
			du, parent := cloneState(t, dst, "backups/"+clone)
			if err == nil && parent {
				t.Errorf("FlattenClone succeeded and the clone still has a parent")
			}
			time.Sleep(3 * time.Second)
			if du2, parent2 := cloneState(t, dst, "backups/"+clone); du2 != du || parent2 != parent {
				t.Fatalf("the clone changed after FlattenClone returned: a flatten was still running.\nat return (parent %v):\n%s\n3 s later (parent %v):\n%s",
					parent, du, parent2, du2)
			}
			if err := eng.FlattenClone(ctx, "backups", clone, full.ID); err != nil {
				t.Fatal(err)
			}
			if _, parent := cloneState(t, dst, "backups/"+clone); parent {
				t.Error("the clone still has a parent after a flatten that returned no error")
			}
			if got, want := dst.ExportSHA256(t, "backups/"+clone), pointSum(t, dst, img, full); !testcluster.Same(got, want) {
				t.Errorf("the flattened clone reads sha256 %s, its restore point %s", got, want)
			}
		})
	}
}
