package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

func removeImage(t *testing.T, c *testcluster.Cluster, spec string) {
	t.Cleanup(func() {
		_, _ = c.RBDErr("snap", "purge", "--no-progress", spec)
		_, _ = c.RBDErr("rm", "--no-progress", spec)
	})
}

// randomImage creates rbd/<prefix>-… written with size bytes of random data,
// removed when t ends.
func randomImage(t *testing.T, src *testcluster.Cluster, prefix string, size int64) string {
	t.Helper()
	img := uniqueName(prefix)
	src.CreateImage(t, "rbd", img, uint64(size))
	removeImage(t, src, "rbd/"+img)
	src.WriteRandom(t, "rbd", img, 0, size, 1)
	return img
}

// backedUpImage is a randomImage with a full backup, deleted when t ends.
func backedUpImage(t *testing.T, src *testcluster.Cluster, eng *engine.Engine, prefix string, size int64) (string, chain.Record) {
	t.Helper()
	img := randomImage(t, src, prefix, size)
	full, err := eng.Backup(context.Background(), engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, eng, img, []chain.Record{full}) })
	return img, full
}

// An in-place restore rewrites every range the volume changed since the
// backup, discards included (fstrim, mkfs, blkdiscard): a whole aligned
// object, small unaligned ranges inside data, and a write, on an image with
// the default features and on one without the exclusive-lock feature.
func TestAccExact_inPlaceRestoreRewritesDiscards(t *testing.T) {
	src, dst, eng := clusters(t)
	for _, l := range []layout{layouts[0], layouts[2]} {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			img := uniqueName("trim")
			l.create(t, src, img, 16*mib)
			removeImage(t, src, "rbd/"+img)
			src.WriteRandom(t, "rbd", img, 0, 16*mib, 1)
			full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { deleteAll(t, eng, img, []chain.Record{full}) })

			src.Discard(t, "rbd", img, 4*mib, 4*mib)
			src.Discard(t, "rbd", img, 1*mib+512, 512)
			src.Discard(t, "rbd", img, 9*mib+4096, 4096)
			src.Discard(t, "rbd", img, 10*mib+100, 12288)
			src.Discard(t, "rbd", img, 12*mib+7, 300<<10)
			src.WriteRandom(t, "rbd", img, 14*mib, 8192, 2)
			res, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
				TargetPool: "rbd", TargetImage: img, Force: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.BaseSnapshot == "" {
				t.Errorf("the in-place restore copied the whole image instead of the differences from %s", full.Snapshot)
			}
			if got, want := src.ExportSHA256(t, "rbd/"+img), pointSum(t, dst, img, full); !testcluster.Same(got, want) {
				t.Fatalf("in-place restore: sha256 %s, restore point %s", got, want)
			}
		})
	}
}

// Zeroing is exact whatever rbd_skip_partial_discard says at pool or image
// level, where it beats the client's own setting: a backup, an incremental
// and an in-place restore with the override on the source pool, the backup
// pool and the restore target.
func TestAccExact_zeroingIgnoresSkipPartialDiscard(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	const pool, bpool = "rbd-skipdiscard", "backups-skipdiscard"
	src.CreatePool(t, pool)
	dst.CreatePool(t, bpool)
	src.RBD(t, "config", "pool", "set", pool, "rbd_skip_partial_discard", "true")
	dst.RBD(t, "config", "pool", "set", bpool, "rbd_skip_partial_discard", "true")
	img := uniqueName("skip")
	src.CreateImage(t, pool, img, 16*mib)
	removeImage(t, src, pool+"/"+img)
	src.RBD(t, "config", "image", "set", pool+"/"+img, "rbd_skip_partial_discard", "true")
	src.WriteRandom(t, pool, img, 0, 16*mib, 1)

	req := engine.BackupRequest{Pool: pool, Image: img, BackupPool: bpool}
	full, err := eng.Backup(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	var taken = []chain.Record{full}
	t.Cleanup(func() {
		for i := len(taken) - 1; i >= 0; i-- {
			if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: bpool, Pool: pool, Image: img, ID: taken[i].ID}); err != nil {
				t.Error(err)
			}
		}
	})
	sum := func(r chain.Record) string {
		return dst.ExportSHA256(t, bpool+"/"+chain.BackupImageName(img)+"@"+r.Snapshot)
	}
	// Zero runs long enough to be sent as zero operations, at unaligned
	// offsets inside data. Written as zeros: a discard on the source would
	// itself be skipped in part by the override.
	for _, r := range [][2]int64{{1*mib + 512, 200 << 10}, {6*mib + 4096, 1 * mib}, {11*mib + 7, 3 * mib}} {
		src.Write(t, pool, img, r[0], make([]byte, r[1]))
	}
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: pool, Image: img, BackupPool: bpool, ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	taken = append(taken, incr)
	if got, want := sum(incr), src.ExportSHA256(t, pool+"/"+img+"@"+incr.Snapshot); !testcluster.Same(got, want) {
		t.Errorf("incremental: restore point sha256 %s, source snapshot %s", got, want)
	}
	// Back to the full's data, then the restore zeroes the ranges again.
	if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: pool, Image: img, BackupPool: bpool,
		TargetPool: pool, TargetImage: img, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, pool+"/"+img), sum(full); !testcluster.Same(got, want) {
		t.Errorf("restore of the full: sha256 %s, restore point %s", got, want)
	}
	if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: incr.ID, Pool: pool, Image: img, BackupPool: bpool,
		TargetPool: pool, TargetImage: img, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, pool+"/"+img), sum(incr); !testcluster.Same(got, want) {
		t.Errorf("restore of the incremental: sha256 %s, restore point %s", got, want)
	}
}

// Two first backups of one image race: the second to be created finds the
// backup image the first made and, before it takes the lock, the other
// writes a restore point into it; the source changes in between. Both
// restore points are exact.
func TestAccExact_racingFirstBackups(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img := randomImage(t, src, "race", 12*mib)

	other := adminEngine(src, dst)
	req := engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}
	var winner chain.Record
	var winnerSum string // its source snapshot is pruned by the loser
	var once sync.Once
	engine.SetBeforeLock(eng, func() {
		once.Do(func() {
			var err error
			if winner, err = other.Backup(ctx, req, nil); err != nil {
				t.Error(err)
				return
			}
			winnerSum = src.ExportSHA256(t, "rbd/"+img+"@"+winner.Snapshot)
			// The loser's snapshot, taken next, has zeros where the winner's has data.
			src.Discard(t, "rbd", img, 4*mib, 4*mib)
			src.Discard(t, "rbd", img, 1*mib, 128<<10)
		})
	})
	t.Cleanup(func() { engine.SetBeforeLock(eng, nil) })
	loser, err := eng.Backup(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, eng, img, []chain.Record{winner, loser}) })
	if winner.ID == "" {
		t.Fatal("the racing backup did not run")
	}
	if got := pointSum(t, dst, img, winner); !testcluster.Same(got, winnerSum) {
		t.Errorf("the first backup's restore point: sha256 %s, source snapshot %s", got, winnerSum)
	}
	if got, want := pointSum(t, dst, img, loser), src.ExportSHA256(t, "rbd/"+img+"@"+loser.Snapshot); !testcluster.Same(got, want) {
		t.Errorf("the second backup's restore point: sha256 %s, source snapshot %s", got, want)
	}
}

// The restore refuses, before writing anything, a target that another
// client has open: busy (rbd bench writing) or idle.
func TestAccRestore_refusesATargetInUse(t *testing.T) {
	src, _, eng := clusters(t)
	ctx := context.Background()
	img, full := backedUpImage(t, src, eng, "inuse", 8*mib)

	restore := func(target string) error {
		_, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: target, Force: true})
		return err
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		var fe *engine.FieldError
		if err == nil || !errors.As(err, &fe) || fe.Field != "target_image" || !strings.Contains(err.Error(), "in use by client.") {
			t.Fatalf("restore into an image in use: got %v, want a refusal on target_image naming the client", err)
		}
	}

	t.Run("idle opener", func(t *testing.T) {
		t.Parallel()
		target := uniqueName("inuse-idle")
		src.CreateImage(t, "rbd", target, 8*mib)
		removeImage(t, src, "rbd/"+target)
		src.WriteRandom(t, "rbd", target, 0, 1*mib, 7)
		before := src.ExportSHA256(t, "rbd/"+target)
		closeIt := openIdle(t, src, target)
		refused(t, restore(target))
		closeIt()
		if after := src.ExportSHA256(t, "rbd/"+target); !testcluster.Same(after, before) {
			t.Fatalf("the refused restore changed the target: sha256 %s, was %s", after, before)
		}
	})
	t.Run("live writer", func(t *testing.T) {
		t.Parallel()
		target := uniqueName("inuse-live")
		src.CreateImage(t, "rbd", target, 8*mib)
		removeImage(t, src, "rbd/"+target)
		bench := exec.Command("rbd", "-c", src.ConfFile, "--keyring", src.AdminKeyring, "--id", "admin",
			"bench", "--io-type", "write", "--io-size", "4096", "--io-threads", "1", "--io-total", "100G", "--io-pattern", "rand", "rbd/"+target)
		if err := bench.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bench.Process.Kill(); _ = bench.Wait() })
		waitForWatcher(t, src, "rbd/"+target)
		refused(t, restore(target))
	})
}

// openIdle opens rbd/image as another client that does nothing with it (a
// watcher holding no lock), and returns the close.
func openIdle(t *testing.T, c *testcluster.Cluster, image string) (closeIt func()) {
	t.Helper()
	opener := cephconn.NewClient("opener", c.AdminConfig())
	t.Cleanup(opener.Close)
	ioctx, err := opener.IOContext(context.Background(), "rbd")
	if err != nil {
		t.Fatal(err)
	}
	open, err := rbd.OpenImage(ioctx, image, rbd.NoSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	return func() { _ = open.Close() }
}

func waitForWatcher(t *testing.T, c *testcluster.Cluster, spec string) {
	t.Helper()
	for range 100 {
		if len(watchers(t, c, spec)) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no client ever opened %s", spec)
}

func watchers(t *testing.T, c *testcluster.Cluster, spec string) []string {
	t.Helper()
	var status struct {
		Watchers []struct {
			Address string `json:"address"`
		} `json:"watchers"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "status", "--format", "json", spec)), &status); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range status.Watchers {
		out = append(out, w.Address)
	}
	return out
}

// A backup reads the source through a read-only open of its snapshot: while
// the data travels, the production volume has no watcher of the provider's.
func TestAccBackup_sourceIsNotOpenWhileDataTravels(t *testing.T) {
	src, _, eng := clusters(t)
	ctx := context.Background()
	img := randomImage(t, src, "ro", 8*mib)
	var during []string
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, func(chain.Record) {
		during = watchers(t, src, "rbd/"+img)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, eng, img, []chain.Record{full}) })
	if len(during) > 0 {
		t.Fatalf("the source image had watchers %v while the backup's data was read", during)
	}
}

// cluster and backup_cluster configured apart but naming one cluster: a
// forced restore onto the backup image itself is still refused, and the
// restore points are untouched.
func TestAccRestore_backupImageRefusedBySameFSID(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img, full := backedUpImage(t, src, eng, "fsid", 8*mib)
	before := pointSum(t, dst, img, full)

	onBackupCluster := adminEngine(dst, dst)
	_, err := onBackupCluster.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
		TargetPool: "backups", TargetImage: chain.BackupImageName(img), Force: true})
	var fe *engine.FieldError
	if !errors.As(err, &fe) || fe.Field != "target_image" {
		t.Fatalf("restore onto the backup image: got %v, want a refusal on target_image", err)
	}
	if after := pointSum(t, dst, img, full); !testcluster.Same(after, before) {
		t.Fatalf("the restore point changed: sha256 %s, was %s", after, before)
	}
}

// The older source snapshots are removed while the copy runs. A copy that
// fails after that leaves no half-made backup, and the next incremental,
// with no snapshot left to diff from, copies the whole image into the backup
// image: exact, as rbd export shows.
func TestAccBackup_copyFailingAfterPruningFallsBackToWholeCopy(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img, full := backedUpImage(t, src, eng, "prunefail", 16<<20)
	src.WriteRandom(t, "rbd", img, 2<<20, 1<<20, 7)
	boom := errors.New("injected copy failure")
	engine.SetBeforeCopy(eng, func() error {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if !slices.Contains(src.Snapshots(t, "rbd", img), full.Snapshot) {
				return boom
			}
		}
		return errors.New("the parent's source snapshot was not removed while the copy ran")
	})
	if _, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups", ParentID: full.ID}, nil); !errors.Is(err, boom) {
		t.Fatalf("backup with a failing copy: %v, want %v", err, boom)
	}
	engine.SetBeforeCopy(eng, nil)
	if snaps := src.Snapshots(t, "rbd", img); len(snaps) != 0 {
		t.Fatalf("the failed backup left source snapshots %v", snaps)
	}
	if snaps := dst.Snapshots(t, "backups", chain.BackupImageName(img)); !slices.Equal(snaps, []string{full.Snapshot}) {
		t.Fatalf("backup image snapshots %v, want only the full's %s", snaps, full.Snapshot)
	}

	src.WriteRandom(t, "rbd", img, 9<<20, 64<<10, 8)
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups", ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, eng, img, []chain.Record{incr}) })
	if incr.TransferredBytes < 16<<20 {
		t.Errorf("the incremental after the failure sent %d bytes; with no snapshot to diff from it copies the whole 16 MiB", incr.TransferredBytes)
	}
	want := src.ExportSHA256(t, "rbd/"+img+"@"+incr.Snapshot)
	if got := dst.ExportSHA256(t, "backups/"+chain.BackupImageName(img)+"@"+incr.Snapshot); !testcluster.Same(got, want) {
		t.Fatalf("restore point %s after the whole copy: sha256 %s, source snapshot %s", incr.Snapshot, got, want)
	}
}

// A forced restore refused because a client has the target open leaves the
// target exactly as it was (no restoring mark, no metadata), and the retry
// once the client is gone overwrites every range the volume holds: the
// refused attempt must not make the retry take the volume for a fresh image
// of its own whose holes need no rewriting.
func TestAccRestore_retriedForcedRestoreAfterRefusalIsExact(t *testing.T) {
	src, _, eng := clusters(t)
	ctx := context.Background()
	v := newVolume(t, src, "retry", 8*mib)
	v.write(t, 0, 2*mib, 1) // the rest of the volume is a hole in the restore point
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, eng, v.image, []chain.Record{full}) })
	want := src.ExportSHA256(t, "rbd/"+v.image+"@"+full.Snapshot)

	target := uniqueName("retry-rr")
	removeImage(t, src, "rbd/"+target)
	restore := func() (engine.RestoreResult, error) {
		return eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: target, Force: true})
	}
	if res, err := restore(); err != nil || !res.CreatedTarget {
		t.Fatalf("first restore into a new image: created %v, error %v", res.CreatedTarget, err)
	}
	// The restored volume is used (and its restore forgotten by Terraform).
	src.WriteRandom(t, "rbd", target, 5*mib, 1*mib, 9)
	before := src.ExportSHA256(t, "rbd/"+target)
	metaBefore := src.RBD(t, "image-meta", "list", "--format", "json", "rbd/"+target)

	closeIt := openIdle(t, src, target)
	if _, err := restore(); err == nil || !strings.Contains(err.Error(), "in use by client.") {
		t.Fatalf("forced restore into an image in use: got %v, want a refusal naming the client", err)
	}
	closeIt()
	if after := src.ExportSHA256(t, "rbd/"+target); !testcluster.Same(after, before) {
		t.Fatalf("the refused restore changed the target's data: sha256 %s, was %s", after, before)
	}
	if meta := src.RBD(t, "image-meta", "list", "--format", "json", "rbd/"+target); meta != metaBefore {
		t.Errorf("the refused restore changed the target's metadata:\n%s\nwas\n%s", meta, metaBefore)
	}
	warnings, err := eng.CheckRestore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: target, Force: true})
	if err != nil || len(warnings) != 0 {
		t.Errorf("plan of the retry: warnings %q, error %v; want none (no restore was interrupted)", warnings, err)
	}

	res, err := restore()
	if err != nil {
		t.Fatal(err)
	}
	if res.CreatedTarget {
		t.Error("the retry says it created the target, which existed before it")
	}
	if got := src.ExportSHA256(t, "rbd/"+target); !testcluster.Same(got, want) {
		t.Fatalf("retried restore: target sha256 %s, restore point %s", got, want)
	}
}
