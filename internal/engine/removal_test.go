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

// hasSnap reports whether pool/image on c has the snapshot snap.
func hasSnap(t *testing.T, c *testcluster.Cluster, pool, image, snap string) bool {
	t.Helper()
	return slices.Contains(c.Snapshots(t, pool, image), snap)
}

// forgeRecord writes rec as the record of backup rec.ID on a backup image,
// with the rbd CLI, as somebody else than the provider would.
func forgeRecord(t *testing.T, dst *testcluster.Cluster, backupImage string, rec chain.Record) {
	t.Helper()
	dst.RBD(t, "image-meta", "set", backupImage, chain.RecordKey(rec.ID), rec.Encode())
}

// A backup's cleanup of what interrupted runs left removes a snapshot only
// when the record names it as this provider names its snapshots, after the
// record's own id: forged records (a pending backup naming a user's source
// snapshot, a deletion naming a user's snapshot on the backup image, a
// record whose snapshot is another backup's) are left alone with what they
// name, and the plan's leftovers report them.
func TestAccBackup_cleanupKeepsWhatForgedRecordsName(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	v := newVolume(t, src, "forged", 4<<20)
	v.write(t, 0, 1<<20, 1)
	backupImage := "backups/" + chain.BackupImageName(v.image)
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, dst, backupImage)
	fullSum := dst.ExportSHA256(t, backupImage+"@"+full.Snapshot)
	src.Snap(t, "rbd", v.image, "user-snap")
	dst.Snap(t, "backups", chain.BackupImageName(v.image), "user-snap")
	srcSum := src.ExportSHA256(t, "rbd/"+v.image+"@user-snap")
	forged := func(status chain.Status, snapshot string) chain.Record {
		id := chain.NewID()
		return chain.Record{ID: id, Kind: chain.Full, Status: status, SourceFSID: full.SourceFSID, Pool: "rbd", Image: v.image,
			Snapshot: snapshot, CreatedAt: time.Now().UTC()}
	}
	records := []chain.Record{
		forged(chain.Pending, "user-snap"),  // would remove rbd/<image>@user-snap
		forged(chain.Deleting, "user-snap"), // would remove it on the backup image too
		forged(chain.Deleting, full.Snapshot),
	}
	for _, r := range records {
		forgeRecord(t, dst, backupImage, r)
	}
	leftovers, err := eng.Leftovers(ctx, "rbd", v.image, "backups")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if !strings.Contains(strings.Join(leftovers, "\n"), "record "+chain.RecordKey(r.ID)) {
			t.Errorf("no leftover reports the forged record of %s (snapshot %s): %q", r.ID, r.Snapshot, leftovers)
		}
	}

	v.write(t, 2<<20, 1<<20, 2)
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSnap(t, src, "rbd", v.image, "user-snap") {
		t.Fatalf("a backup's cleanup removed rbd/%s@user-snap, named by a forged pending record", v.image)
	}
	if got := src.ExportSHA256(t, "rbd/"+v.image+"@user-snap"); !testcluster.Same(got, srcSum) {
		t.Fatalf("rbd/%s@user-snap: sha256 %s, was %s", v.image, got, srcSum)
	}
	if !hasSnap(t, dst, "backups", chain.BackupImageName(v.image), "user-snap") {
		t.Fatalf("a backup's cleanup removed %s@user-snap, named by a forged deletion record", backupImage)
	}
	if got := dst.ExportSHA256(t, backupImage+"@"+full.Snapshot); !testcluster.Same(got, fullSum) {
		t.Fatalf("restore point %s@%s of backup %s, named by a forged deletion record of another id: sha256 %s, was %s",
			backupImage, full.Snapshot, full.ID, got, fullSum)
	}
	for _, b := range []chain.Record{incr, full} {
		if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: v.image, ID: b.ID, Snapshot: b.Snapshot}); err != nil {
			t.Fatal(err)
		}
	}
	if !hasSnap(t, src, "rbd", v.image, "user-snap") || !hasSnap(t, dst, "backups", chain.BackupImageName(v.image), "user-snap") {
		t.Fatal("deleting the backups removed a user-snap")
	}
	if !dst.ImageExists(t, "backups", chain.BackupImageName(v.image)) {
		t.Fatal("the backup image, which holds user-snap, was removed")
	}
}

// Delete removes a snapshot only when the backup cluster's record of that
// backup names it and is of that image; names from Terraform state alone
// (a backup-like snapshot made by hand, with the backup's id, on the source
// or the backup image) are left, with a warning, and a record of another
// image or one that does not parse refuses the deletion with nothing
// removed. An image named like a backup image but without the provider's
// mark is never removed.
func TestAccDelete_removesOnlyWhatTheRecordSaysIsThisBackups(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	v := newVolume(t, src, "rmcheck", 4<<20)
	v.write(t, 0, 1<<20, 1)
	base := chain.BackupImageName(v.image)
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = dst.RBDErr("snap", "purge", "--no-progress", "backups/"+base)
		_, _ = dst.RBDErr("rm", "--no-progress", "backups/"+base)
	})
	fullSum := dst.ExportSHA256(t, "backups/"+base+"@"+full.Snapshot)

	t.Run("hand-made backup-like snapshots, no record", func(t *testing.T) {
		id := chain.NewID()
		snap := chain.SnapshotName(id, time.Now())
		src.Snap(t, "rbd", v.image, snap)
		dst.Snap(t, "backups", base, snap)
		warnings, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: v.image, ID: id, Snapshot: snap})
		if err != nil {
			t.Fatal(err)
		}
		if !hasSnap(t, src, "rbd", v.image, snap) || !hasSnap(t, dst, "backups", base, snap) {
			t.Fatalf("Delete of backup %s, which the backup cluster does not record, removed the hand-made snapshot %s", id, snap)
		}
		if w := strings.Join(warnings, "\n"); !strings.Contains(w, snap) || !strings.Contains(w, "rbd snap rm") {
			t.Errorf("no warning names the snapshot %s left in place and how to remove it: %q", snap, warnings)
		}
	})

	t.Run("record of another image", func(t *testing.T) {
		id := chain.NewID()
		snap := chain.SnapshotName(id, time.Now())
		src.Snap(t, "rbd", v.image, snap)
		dst.Snap(t, "backups", base, snap)
		forgeRecord(t, dst, "backups/"+base, chain.Record{ID: id, Kind: chain.Full, Status: chain.Complete, SourceFSID: full.SourceFSID,
			Pool: "rbd", Image: "another-image", Snapshot: snap, CreatedAt: time.Now().UTC()})
		_, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: v.image, ID: id, Snapshot: snap})
		if err == nil || !strings.Contains(err.Error(), "another-image") || !strings.Contains(err.Error(), "rbd image-meta remove") {
			t.Errorf("Delete with a record of another image: %v, want a refusal naming the image and what to do", err)
		}
		if !hasSnap(t, src, "rbd", v.image, snap) || !hasSnap(t, dst, "backups", base, snap) {
			t.Fatalf("Delete removed the snapshot %s that a record of another image names", snap)
		}
		dst.RBD(t, "image-meta", "remove", "backups/"+base, chain.RecordKey(id))
	})

	t.Run("record that does not parse", func(t *testing.T) {
		id := chain.NewID()
		snap := chain.SnapshotName(id, time.Now())
		dst.Snap(t, "backups", base, snap)
		dst.RBD(t, "image-meta", "set", "backups/"+base, chain.RecordKey(id), `{"id": "`+id+`", "snapshot": `)
		_, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: v.image, ID: id, Snapshot: snap})
		if err == nil || !strings.Contains(err.Error(), chain.RecordKey(id)) || !strings.Contains(err.Error(), "rbd image-meta remove") {
			t.Errorf("Delete with a record that does not parse: %v, want a refusal naming the record and what to do", err)
		}
		if !hasSnap(t, dst, "backups", base, snap) {
			t.Fatalf("Delete removed the snapshot %s of a record that does not parse", snap)
		}
		dst.RBD(t, "image-meta", "remove", "backups/"+base, chain.RecordKey(id))
	})

	if got := dst.ExportSHA256(t, "backups/"+base+"@"+full.Snapshot); !testcluster.Same(got, fullSum) {
		t.Fatalf("restore point of backup %s: sha256 %s, was %s", full.ID, got, fullSum)
	}

	t.Run("image named like a backup image, without the mark", func(t *testing.T) {
		lone := uniqueName("rmcheck-user")
		userImage := chain.BackupImageName(lone)
		dst.CreateImage(t, "backups", userImage, 1<<20)
		t.Cleanup(func() { _, _ = dst.RBDErr("rm", "--no-progress", "backups/"+userImage) })
		dst.WriteRandom(t, "backups", userImage, 0, 64<<10, 3)
		id := chain.NewID()
		warnings, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: lone, ID: id, Snapshot: chain.SnapshotName(id, time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		if !dst.ImageExists(t, "backups", userImage) {
			t.Fatalf("Delete of backup %s removed backups/%s, an image without the provider's mark (warnings %q)", id, userImage, warnings)
		}
	})
}

// An incremental diffs only from a snapshot that a record names as the
// provider names its snapshots: a forged record naming a user's snapshot,
// present on the source and the backup image, would make it diff from that
// snapshot and miss what was written between the last backup and it.
func TestAccIncremental_forgedRecordIsNoBase(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	v := newVolume(t, src, "forgedbase", 4<<20)
	v.write(t, 0, 1<<20, 1)
	backupImage := "backups/" + chain.BackupImageName(v.image)
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, dst, backupImage)
	v.write(t, 1<<20, 1<<20, 2) // between the full and user-snap
	src.Snap(t, "rbd", v.image, "user-snap")
	dst.Snap(t, "backups", chain.BackupImageName(v.image), "user-snap")
	forgeRecord(t, dst, backupImage, chain.Record{ID: chain.NewID(), Kind: chain.Full, Status: chain.Complete, SourceFSID: full.SourceFSID,
		Pool: "rbd", Image: v.image, Snapshot: "user-snap", CreatedAt: time.Now().UTC()})
	v.write(t, 2<<20, 1<<20, 3)
	incr, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := src.ExportSHA256(t, "rbd/"+v.image+"@"+incr.Snapshot)
	if got := dst.ExportSHA256(t, backupImage+"@"+incr.Snapshot); !testcluster.Same(got, want) {
		t.Fatalf("restore point %s@%s: sha256 %s, its source snapshot %s", backupImage, incr.Snapshot, got, want)
	}
}
