package engine_test

import (
	"context"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// A source that is a clone of a protected snapshot, through the histories
// that change what it reads through to its parent: shrink then grow (the
// parent overlap shrinks, so the regrown end reads zeros), a rollback to a
// snapshot taken before the previous backup, and a flatten between two
// backups. Every restore point equals its source snapshot, and every point
// restores exact into a new image; the oldest also in place over the
// flattened volume.
func TestAccExact_cloneSourceHistories(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	var clone layout
	for _, l := range layouts {
		if l.name == "clone" {
			clone = l
		}
	}
	v := &volume{src: src, image: uniqueName("clonesrc")}
	clone.create(t, src, v.image, 16*mib)
	removeImage(t, src, "rbd/"+v.image)
	v.write(t, 2*mib, 1*mib, 1) // copied up: the rest reads the parent

	var taken []chain.Record
	t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
	backup := func(what string) {
		t.Helper()
		parent := ""
		if len(taken) > 0 {
			parent = taken[len(taken)-1].ID
		}
		rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		taken = append(taken, rec)
		if got, want := pointSum(t, dst, v.image, rec), src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot); !testcluster.Same(got, want) {
			t.Errorf("%s: restore point sha256 %s, source snapshot %s", what, got, want)
		}
	}

	backup("full of the clone")
	v.resize(t, 6*mib+4096)
	v.resize(t, 16*mib)
	v.write(t, 12*mib, 8192, 2)
	backup("after shrink then grow")
	v.src.Snap(t, "rbd", v.image, "user-before")
	v.write(t, 0, 4*mib, 3)
	backup("before the rollback")
	v.src.RBD(t, "snap", "rollback", "--no-progress", "rbd/"+v.image+"@user-before")
	backup("after a rollback to a snapshot older than the last backup")
	v.src.RBD(t, "flatten", "--no-progress", "rbd/"+v.image)
	backup("after flatten")
	v.write(t, 9*mib, 64<<10, 4)
	v.discard(t, 2*mib, 4096)
	backup("after writes to the flattened image")

	for _, rec := range taken {
		target := uniqueName("clonesrc-restored")
		removeImage(t, src, "rbd/"+target)
		if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: target}); err != nil {
			t.Fatal(err)
		}
		if got, want := src.ExportSHA256(t, "rbd/"+target), pointSum(t, dst, v.image, rec); !testcluster.Same(got, want) {
			t.Errorf("restore of %s into a new image: sha256 %s, restore point %s", rec.ID, got, want)
		}
	}
	oldest := taken[0]
	if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: oldest.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: v.image, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, "rbd/"+v.image), pointSum(t, dst, v.image, oldest); !testcluster.Same(got, want) {
		t.Errorf("in-place restore of the clone's full over the flattened volume: sha256 %s, restore point %s", got, want)
	}
}
