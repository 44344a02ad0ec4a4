package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// midRead makes eng read one chunk at a time and run f once, after the
// first chunk: the chunks after it are read once f has done its work.
func midRead(eng *engine.Engine, f func()) {
	var once sync.Once
	eng.Transfer = transfer.Options{Parallelism: 1, AfterChunk: func() { once.Do(f) }}
}

// replaceSnapshot removes pool/image@snap with the rbd CLI and makes a new
// snapshot of the same name, of the image's head: what another workspace's
// hand-made clean-up and re-snapshot leaves, with the backup's record kept.
func replaceSnapshot(t *testing.T, c *testcluster.Cluster, spec, snap string) {
	t.Helper()
	c.RBD(t, "snap", "rm", "--no-progress", spec+"@"+snap)
	c.RBD(t, "snap", "create", "--no-progress", spec+"@"+snap)
}

// restoringMark is the target's interrupted-restore mark, read with the rbd CLI.
func restoringMark(t *testing.T, c *testcluster.Cluster, spec string) string {
	t.Helper()
	out, err := c.RBDErr("image-meta", "get", spec, "cephbackup.restoring")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// Another workspace deletes the restore point (snapshot, record and, as it
// was the last one, the backup image) while a restore of it reads
// it. The restore fails, saying so, and the target stays marked as an
// interrupted restore.
func TestAccRestore_pointDeletedByAnotherWorkspaceMidCopyFails(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img, full := backedUpImage(t, src, eng, "gone", 16*mib)
	want := pointSum(t, dst, img, full)
	other := adminEngine(src, dst)
	midRead(eng, func() {
		if _, err := other.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: full.ID, Snapshot: full.Snapshot}); err != nil {
			t.Errorf("the other workspace's deletion: %v", err)
		}
	})
	target := uniqueName("gone-restored")
	removeImage(t, src, "rbd/"+target)
	_, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: target})
	if dst.ImageExists(t, "backups", chain.BackupImageName(img)) {
		t.Fatal("the other workspace's deletion left the backup image")
	}
	if !errors.Is(err, engine.ErrPointGoneWhileRead) {
		got := "(target missing)"
		if src.ImageExists(t, "rbd", target) {
			got = src.ExportSHA256(t, "rbd/"+target)
		}
		t.Fatalf("restore of a point deleted while it was read: got %v, want %v (restored sha256 %s, the point had %s)",
			err, engine.ErrPointGoneWhileRead, got, want)
	}
	t.Log(err)
	if mark := restoringMark(t, src, "rbd/"+target); mark != full.ID+";created" {
		t.Errorf("the target's interrupted-restore mark is %q, want %s;created (a restore that created the image)", mark, full.ID)
	}
}

// The restore point's snapshot is removed with the rbd CLI while a restore
// reads it, and a new snapshot of the same name is made of the
// backup image's head (the incremental's data); the record stays. The name
// is still there, the point is not: the restore fails.
func TestAccRestore_pointReplacedBySnapshotOfTheSameNameMidCopyFails(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img := uniqueName("replaced")
	full, _ := backupChain(t, src, eng, img)
	want := pointSum(t, dst, img, full)
	backupImage := "backups/" + chain.BackupImageName(img)
	midRead(eng, func() { replaceSnapshot(t, dst, backupImage, full.Snapshot) })
	target := uniqueName("replaced-restored")
	removeImage(t, src, "rbd/"+target)
	_, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: target})
	if !errors.Is(err, engine.ErrPointGoneWhileRead) {
		t.Fatalf("restore of a point replaced while it was read: got %v, want %v (restored sha256 %s, the point had %s)",
			err, engine.ErrPointGoneWhileRead, src.ExportSHA256(t, "rbd/"+target), want)
	}
	t.Log(err)
	if mark := restoringMark(t, src, "rbd/"+target); mark != full.ID+";created" {
		t.Errorf("the target's interrupted-restore mark is %q, want %s;created (a restore that created the image)", mark, full.ID)
	}
}

// verify of a restore point whose source snapshot is gone (the full of a
// chain) reads only the restore point; its snapshot is replaced by one of the
// same name, of other data, while it is read. The verification fails and
// records no checksum.
func TestAccVerify_pointReplacedMidReadRecordsNothing(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	img := uniqueName("vreplaced")
	full, _ := backupChain(t, src, eng, img)
	backupImage := "backups/" + chain.BackupImageName(img)
	midRead(eng, func() { replaceSnapshot(t, dst, backupImage, full.Snapshot) })
	v, err := eng.VerifyBackup(ctx, "backups", img, full.ID)
	if !errors.Is(err, engine.ErrPointGoneWhileRead) {
		t.Fatalf("verify of a point replaced while it was read: got %v (compared with its source: %v), want %v", err, v.Compared, engine.ErrPointGoneWhileRead)
	}
	t.Log(err)
	var rec chain.Record
	raw := dst.RBD(t, "image-meta", "get", backupImage, chain.RecordKey(full.ID))
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.SHA256 != "" {
		t.Errorf("the failed verification recorded sha256 %s", rec.SHA256)
	}
}

// An export of the full of a chain (a diff file) while its snapshot is
// replaced by one of the same name, of the incremental's data: the export
// fails, and what it wrote is not passed off as the restore point.
func TestAccDiffStream_pointReplacedMidExportFails(t *testing.T) {
	src, dst, eng := clusters(t)
	img := uniqueName("xreplaced")
	full, _ := backupChain(t, src, eng, img)
	midRead(eng, func() { replaceSnapshot(t, dst, "backups/"+chain.BackupImageName(img), full.Snapshot) })
	var stream bytes.Buffer
	_, err := eng.ExportDiff(context.Background(), engine.ExportRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups"}, &stream)
	if !errors.Is(err, engine.ErrPointGoneWhileRead) {
		t.Fatalf("export of a point replaced while it was read: got %v after %d bytes written, want %v", err, stream.Len(), engine.ErrPointGoneWhileRead)
	}
	t.Log(err)
}
