package engine_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// BenchmarkInstantRestore prints how long a clone restore (cephbackup_clone)
// and a full restore (cephbackup_restore) of the same restore point take, for
// a 1 GiB and a 4 GiB image written whole with random data, on a cluster of
// its own (with room for the image, its backup and the full restore):
//
//	TF_ACC=1 go test -run '^$' -bench InstantRestore -benchtime 1x ./internal/engine/
func BenchmarkInstantRestore(b *testing.B) {
	if os.Getenv("TF_ACC") == "" {
		b.Skip("needs a cluster: run with TF_ACC=1")
	}
	dir := b.TempDir()
	cs, err := testcluster.StartAt(dir, 14<<30, "clonebench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = testcluster.StopAt(dir) })
	c := cs[0]
	eng := adminEngine(c, c)
	ctx := context.Background()
	for _, gib := range []int64{1, 4} {
		b.Run(fmt.Sprintf("%dGiB", gib), func(b *testing.B) {
			img := uniqueName("bench")
			c.CreateImage(b, "rbd", img, uint64(gib<<30))
			c.WriteRandom(b, "rbd", img, 0, gib<<30, 1)
			full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				suffix := strconv.Itoa(i)
				start := time.Now()
				if _, err := eng.Clone(ctx, engine.CloneRequest{BackupPool: "backups", Image: img, BackupID: full.ID,
					TargetPool: "backups", TargetImage: img + "-clone" + suffix}); err != nil {
					b.Fatal(err)
				}
				cloned := time.Since(start)
				start = time.Now()
				if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
					TargetPool: "rbd", TargetImage: img + "-full" + suffix}); err != nil {
					b.Fatal(err)
				}
				restored := time.Since(start)
				b.ReportMetric(cloned.Seconds(), "clone-s")
				b.ReportMetric(restored.Seconds(), "full-restore-s")
				b.ReportMetric(restored.Seconds()/cloned.Seconds(), "x-faster")
				if err := eng.RemoveClone(ctx, "backups", img+"-clone"+suffix, full.ID); err != nil {
					b.Fatal(err)
				}
				c.RBD(b, "rm", "--no-progress", "rbd/"+img+"-full"+suffix)
			}
			if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: full.ID, Snapshot: full.Snapshot}); err != nil {
				b.Fatal(err)
			}
			c.RBD(b, "rm", "--no-progress", "rbd/"+img)
		})
	}
}
