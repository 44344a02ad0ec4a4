package engine_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// BenchmarkInstantRestore prints how long a clone restore (cephbackup_clone)
// and a full restore (cephbackup_restore) of the same restore point take, for
// a 1 GiB and a 4 GiB image written whole with random data:
//
//	TF_ACC=1 go test -run '^$' -bench InstantRestore -benchtime 1x ./internal/engine/
//
// Each size gets a cluster of its own, and the source image is removed once
// backed up (the restores read only the restore point): a memstore OSD holds
// every object in memory and keeps what it once held, and with the source,
// its backup and the full restore of 4 GiB on one OSD the machine (24 GiB)
// ran out of memory.
func BenchmarkInstantRestore(b *testing.B) {
	if os.Getenv("TF_ACC") == "" {
		b.Skip("needs a cluster: run with TF_ACC=1")
	}
	ctx := context.Background()
	for _, gib := range []int64{1, 4} {
		b.Run(fmt.Sprintf("%dGiB", gib), func(b *testing.B) {
			dir := b.TempDir()
			cs, err := testcluster.StartAt(dir, (3*gib+2)<<30, "clonebench")
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = testcluster.StopAt(dir) }()
			c := cs[0]
			eng := adminEngine(c, c)
			img := uniqueName("bench")
			c.CreateImage(b, "rbd", img, uint64(gib<<30))
			c.WriteRandom(b, "rbd", img, 0, gib<<30, 1)
			full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.RBD(b, "snap", "purge", "--no-progress", "rbd/"+img)
			c.RBD(b, "rm", "--no-progress", "rbd/"+img)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clone, restored := fmt.Sprintf("%s-clone%d", img, i), fmt.Sprintf("%s-full%d", img, i)
				start := time.Now()
				if _, err := eng.Clone(ctx, engine.CloneRequest{BackupPool: "backups", Image: img, BackupID: full.ID,
					TargetPool: "backups", TargetImage: clone}); err != nil {
					b.Fatal(err)
				}
				cloned := time.Since(start)
				if err := eng.RemoveClone(ctx, "backups", clone, full.ID); err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
					TargetPool: "rbd", TargetImage: restored}); err != nil {
					b.Fatal(err)
				}
				fullRestore := time.Since(start)
				c.RBD(b, "rm", "--no-progress", "rbd/"+restored)
				b.ReportMetric(cloned.Seconds(), "clone-s")
				b.ReportMetric(fullRestore.Seconds(), "full-restore-s")
				b.ReportMetric(fullRestore.Seconds()/cloned.Seconds(), "x-faster")
			}
		})
	}
}
