package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// When the backup cluster no longer records a backup, Delete has only the
// snapshot name in Terraform state, which may name anybody's snapshot: it
// removes nothing on either cluster, and says so in a warning.
func TestAccDelete_stateSnapshotMustBeTheBackups(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img := uniqueName("del")
	base := chain.BackupImageName(img)
	lone := img + "-nobackup" // a source image with no backup image at all

	src.CreateImage(t, "rbd", img, 4<<20)
	src.WriteRandom(t, "rbd", img, 0, 1<<20, 1)
	src.CreateImage(t, "rbd", lone, 1<<20)
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = dst.RBDErr("snap", "rm", "--no-progress", "backups/"+base+"@keep-me")
		if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: full.ID}); err != nil {
			t.Error(err)
		}
		for _, i := range []string{img, lone} {
			_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+i)
			_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+i)
		}
	})
	src.Snap(t, "rbd", img, "keep-me")
	dst.Snap(t, "backups", base, "keep-me")
	src.Snap(t, "rbd", lone, "keep-me")

	has := func(t *testing.T, c *testcluster.Cluster, pool, image, snap string) bool {
		t.Helper()
		return slices.Contains(c.Snapshots(t, pool, image), snap)
	}
	refused := func(t *testing.T, req engine.DeleteRequest, warnings []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}
		w := strings.Join(warnings, "\n")
		if !strings.Contains(w, req.Snapshot) || !strings.Contains(w, req.ID) {
			t.Errorf("no warning names the snapshot %q left in place for backup %s: %q", req.Snapshot, req.ID, warnings)
		}
	}

	t.Run("foreign snapshot, backup image present", func(t *testing.T) {
		req := engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: chain.NewID(), Snapshot: "keep-me"}
		warnings, err := eng.Delete(ctx, req)
		refused(t, req, warnings, err)
		if !has(t, src, "rbd", img, "keep-me") {
			t.Error("Delete removed the foreign source snapshot rbd/" + img + "@keep-me")
		}
		if !has(t, dst, "backups", base, "keep-me") {
			t.Error("Delete removed the foreign snapshot backups/" + base + "@keep-me on the backup cluster")
		}
	})

	t.Run("another backup's snapshot", func(t *testing.T) {
		req := engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: chain.NewID(), Snapshot: full.Snapshot}
		warnings, err := eng.Delete(ctx, req)
		refused(t, req, warnings, err)
		if !has(t, src, "rbd", img, full.Snapshot) {
			t.Errorf("Delete of backup %s removed the source snapshot of backup %s", req.ID, full.ID)
		}
		if !has(t, dst, "backups", base, full.Snapshot) {
			t.Errorf("Delete of backup %s removed the restore point of backup %s", req.ID, full.ID)
		}
	})

	t.Run("foreign snapshot, no backup image", func(t *testing.T) {
		req := engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: lone, ID: chain.NewID(), Snapshot: "keep-me"}
		warnings, err := eng.Delete(ctx, req)
		refused(t, req, warnings, err)
		if !has(t, src, "rbd", lone, "keep-me") {
			t.Error("Delete removed the foreign source snapshot rbd/" + lone + "@keep-me")
		}
	})

	// Not even a snapshot named after the backup's id: without a record it
	// may have been made by hand (TestAccDelete_removesOnlyWhatTheRecordSaysIsThisBackups).
	t.Run("a snapshot named after the backup, without its record", func(t *testing.T) {
		id := chain.NewID()
		snap := chain.SnapshotName(id, time.Now())
		src.Snap(t, "rbd", img, snap)
		dst.Snap(t, "backups", base, snap)
		src.Snap(t, "rbd", lone, snap)
		for _, image := range []string{img, lone} {
			req := engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: image, ID: id, Snapshot: snap}
			warnings, err := eng.Delete(ctx, req)
			refused(t, req, warnings, err)
			if !has(t, src, "rbd", image, snap) {
				t.Errorf("Delete removed rbd/%s@%s, which no record names", image, snap)
			}
		}
		if !has(t, dst, "backups", base, snap) {
			t.Errorf("Delete removed backups/%s@%s, which no record names", base, snap)
		}
		dst.RBD(t, "snap", "rm", "--no-progress", "backups/"+base+"@"+snap)
	})
}
