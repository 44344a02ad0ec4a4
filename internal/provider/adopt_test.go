package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// attr reads a string attribute of a resource from the workspace's state.
func (w *workspace) attr(address, name string) string {
	w.t.Helper()
	out, err := w.run("state", "show", "-no-color", address)
	if err != nil {
		w.t.Fatalf("terraform state show %s: %v\n%s", address, err, out)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s*=\s*"?([^"\n]*)"?\s*$`).FindStringSubmatch(out)
	if m == nil {
		w.t.Fatalf("%s has no %s in:\n%s", address, name, out)
	}
	return m[1]
}

// The disaster-recovery guide's order, end to end: backups of a volume on
// cluster A; A is lost; the newest restore point is restored onto a
// replacement cluster; the restored volume is backed up into the same
// backup_pool, refused until a full adopts the backup image, then continued
// incrementally. Every restore point, old and new, stays exact and
// restorable.
func TestAccRestore_disasterRecoveryAdoptsTheBackupImage(t *testing.T) {
	e := newAccEnv(t)
	lost := testcluster.Start(t, "adopt-lost")
	lostKey := lost.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
	img := uniqueImage("adopt")
	backupImage := backupPool + "/" + chain.BackupImageName(img)
	lost.CreateImage(t, srcPool, img, 16<<20)
	lost.WriteRandom(t, srcPool, img, 0, 6<<20, 1)

	onLost := e.lostSourceProviderBlock(lost, lostKey)
	onReplacement := e.providerBlock() // e.src plays the replacement cluster
	week1 := fullConfig("w1", img) + incrementalConfig("d1", "cephbackup_full.w1.id", img)

	w := newWorkspace(t)
	t.Cleanup(func() {
		w.write(onReplacement)
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 30))
		}
		if e.dst.ImageExists(t, backupPool, chain.BackupImageName(img)) {
			t.Errorf("backup image %s left behind", backupImage)
		}
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+img)
	})
	apply := func(config string, want ...string) string {
		t.Helper()
		w.write(config)
		out, err := w.run("apply", "-auto-approve", "-no-color")
		if err != nil {
			t.Fatalf("terraform apply: %v\n%s", err, tail(out, 60))
		}
		for _, s := range want {
			if !wrapped(s).MatchString(out) {
				t.Fatalf("terraform apply printed no %q:\n%s", s, tail(out, 60))
			}
		}
		return out
	}
	pointSum := func(snap string) string { return e.dst.ExportSHA256(t, backupImage+"@"+snap) }

	// 1. Normal days on cluster A.
	apply(onLost + fullConfig("w1", img))
	lost.WriteRandom(t, srcPool, img, 8<<20, 2<<20, 2)
	apply(onLost + week1)
	old := map[string]string{} // old restore points: snapshot -> sha256
	for _, r := range []string{"cephbackup_full.w1", "cephbackup_incremental.d1"} {
		snap := w.attr(r, "snapshot")
		// The newest point is compared with its source snapshot; the full's
		// source snapshot was pruned by the incremental.
		old[snap] = pointSum(snap)
	}
	d1Snap, d1ID, w1ID := w.attr("cephbackup_incremental.d1", "snapshot"), w.attr("cephbackup_incremental.d1", "id"), w.attr("cephbackup_full.w1", "id")
	if want := lost.ExportSHA256(t, srcPool+"/"+img+"@"+d1Snap); !sameSum(old[d1Snap], want) {
		t.Fatalf("restore point %s: sha256 %s, want %s", d1Snap, old[d1Snap], want)
	}

	// 2. Cluster A is lost, with what was written after the last backup.
	lost.WriteRandom(t, srcPool, img, 0, 1<<20, 9)
	lost.StopDaemons(t)

	// 3. The newest restore point, pinned by id, onto the replacement cluster.
	restored := onReplacement + week1 + restoreConfig("dr", fmt.Sprintf("%q", d1ID), img, img, "")
	apply(restored)
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, old[d1Snap]) {
		t.Fatalf("restored volume: sha256 %s, want %s", got, old[d1Snap])
	}

	// 4. Backing the restored volume up into the same backup_pool is refused
	// at plan, saying what to do; nothing is created.
	week2 := fullConfig("w2", img)
	w.write(restored + week2)
	out, err := w.run("plan", "-no-color")
	for _, s := range []string{"holds backups of rbd/" + img + " on cluster " + lost.FSID, "set adopt_backup_image = true", "into another backup_pool"} {
		if err == nil || !wrapped(s).MatchString(out) {
			t.Fatalf("plan without adoption: err %v, and no %q in:\n%s", err, s, tail(out, 40))
		}
	}
	if snaps := e.src.Snapshots(t, srcPool, img); len(snaps) != 0 {
		t.Fatalf("the refused plan left snapshots %v on the restored volume", snaps)
	}

	// 5. Adopted by the new week's full: the plan says what happens.
	adopting := restored + withLine(week2, "adopt_backup_image = true")
	apply(adopting, "Backup image will be adopted", "holds backups of rbd/"+img+" on cluster "+lost.FSID, "restore point "+d1ID)
	w2Snap := w.attr("cephbackup_full.w2", "snapshot")
	if got, want := pointSum(w2Snap), e.src.ExportSHA256(t, srcPool+"/"+img+"@"+w2Snap); !sameSum(got, want) {
		t.Fatalf("restore point %s of the adopting full: sha256 %s, want %s", w2Snap, got, want)
	}
	var src chain.Source
	if err := json.Unmarshal([]byte(strings.TrimSpace(e.dst.RBD(t, "image-meta", "get", backupImage, chain.SourceKey))), &src); err != nil {
		t.Fatal(err)
	}
	if want := (chain.Source{FSID: e.src.FSID, Pool: srcPool, Image: img}); src != want {
		t.Fatalf("backup image marked for %v, want %v", src, want)
	}
	meta := e.dst.RBD(t, "image-meta", "list", backupImage)
	if !strings.Contains(meta, "cephbackup.adoption.") {
		t.Fatalf("no adoption recorded on the backup cluster:\n%s", meta)
	}
	// The old restore points and their records are untouched: they still
	// name the lost cluster.
	for snap, sum := range old {
		if got := pointSum(snap); !sameSum(got, sum) {
			t.Fatalf("old restore point %s changed: sha256 %s, was %s", snap, got, sum)
		}
	}
	for _, id := range []string{w1ID, d1ID} {
		var rec chain.Record
		if err := json.Unmarshal([]byte(strings.TrimSpace(e.dst.RBD(t, "image-meta", "get", backupImage, chain.RecordKey(id)))), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.SourceFSID != lost.FSID || rec.Status != chain.Complete {
			t.Fatalf("old record %s now says fsid %s, status %s", id, rec.SourceFSID, rec.Status)
		}
	}

	// The lost cluster's chains cannot be continued on the replacement.
	w.write(adopting + incrementalConfig("d1b", "cephbackup_incremental.d1.id", img))
	if out, err := w.run("plan", "-no-color"); err == nil || !wrapped("Parent backup is of another cluster").MatchString(out) {
		t.Fatalf("continuing the lost cluster's chain: err %v in:\n%s", err, tail(out, 30))
	}

	// 6. The chain goes on incrementally on the replacement cluster.
	e.src.WriteRandom(t, srcPool, img, 4<<20, 1<<20, 3)
	apply(adopting + incrementalConfig("d2", "cephbackup_full.w2.id", img))
	d2Snap := w.attr("cephbackup_incremental.d2", "snapshot")
	if got, want := pointSum(d2Snap), e.src.ExportSHA256(t, srcPool+"/"+img+"@"+d2Snap); !sameSum(got, want) {
		t.Fatalf("restore point %s: sha256 %s, want %s", d2Snap, got, want)
	}
	if got := w.attr("cephbackup_incremental.d2", "transferred_bytes"); got != fmt.Sprint(1<<20) {
		t.Fatalf("the incremental after the adoption sent %s bytes, want %d", got, 1<<20)
	}

	// 7. The old restore points are still restorable, exactly.
	all := adopting + incrementalConfig("d2", "cephbackup_full.w2.id", img) +
		restoreConfig("old_w1", "cephbackup_full.w1.id", img, img+"-w1", "delete_target_on_destroy = true") +
		restoreConfig("old_d1", "cephbackup_incremental.d1.id", img, img+"-d1", "delete_target_on_destroy = true")
	apply(all)
	for target, snap := range map[string]string{img + "-w1": w.attr("cephbackup_full.w1", "snapshot"), img + "-d1": d1Snap} {
		if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, old[snap]) {
			t.Fatalf("%s restored from old point %s: sha256 %s, want %s", target, snap, got, old[snap])
		}
	}
}

// Adoption is for a volume whose source is gone. While the image whose
// backups the backup image holds still exists on this cluster, adopting is
// refused, at plan and at apply, and nothing changes; once it is gone (the
// volume moved to another pool), the adoption goes through.
func TestAccBackup_adoptionRefusedWhileTheOldSourceExists(t *testing.T) {
	e := newAccEnv(t)
	ctx := context.Background()
	img := uniqueImage("adopt-live")
	const otherPool = "rbd-moved" // a second pool on the source cluster
	e.src.CreatePool(t, otherPool)
	for i, pool := range []string{srcPool, otherPool} {
		e.src.CreateImage(t, pool, img, 8<<20)
		e.src.WriteRandom(t, pool, img, 0, 2<<20, int64(i+1))
	}
	eng := e.adminEngine()
	var made []chain.Record
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			r := made[i]
			if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: backupPool, Pool: r.Pool, Image: r.Image, ID: r.ID, Snapshot: r.Snapshot}); err != nil {
				t.Error(err)
			}
		}
		for _, pool := range []string{srcPool, otherPool} {
			_, _ = e.src.RBDErr("snap", "purge", "--no-progress", pool+"/"+img)
			_, _ = e.src.RBDErr("rm", "--no-progress", pool+"/"+img)
		}
	})
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool}, nil)
	if err != nil {
		t.Fatal(err)
	}
	made = append(made, full)
	backupImage := backupPool + "/" + chain.BackupImageName(img)
	sum := e.dst.ExportSHA256(t, backupImage+"@"+full.Snapshot)

	moved := engine.BackupRequest{Pool: otherPool, Image: img, BackupPool: backupPool, AdoptBackupImage: true}
	if _, err := eng.CheckBackupInputs(ctx, otherPool, img, backupPool, true); err == nil || !strings.Contains(err.Error(), "which still exists on this cluster") {
		t.Fatalf("plan-time check of an adoption from a live image: %v", err)
	}
	if _, err := eng.Backup(ctx, moved, nil); err == nil || !strings.Contains(err.Error(), "which still exists on this cluster") {
		t.Fatalf("adoption from a live image: %v", err)
	}
	if snaps := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)); len(snaps) != 1 || snaps[0] != full.Snapshot {
		t.Fatalf("the refused adoption changed the restore points: %v", snaps)
	}
	if meta := e.dst.RBD(t, "image-meta", "list", backupImage); strings.Contains(meta, "cephbackup.adoption.") {
		t.Fatalf("the refused adoption was recorded:\n%s", meta)
	}

	// The volume moves: the old image is gone, the adoption goes through.
	e.src.RBD(t, "snap", "purge", "--no-progress", srcPool+"/"+img)
	e.src.RBD(t, "rm", "--no-progress", srcPool+"/"+img)
	a, err := eng.CheckBackupInputs(ctx, otherPool, img, backupPool, true)
	if err != nil || a == nil || a.NewestID != full.ID || a.Points != 1 {
		t.Fatalf("plan-time check of the adoption: %+v, %v", a, err)
	}
	adopted, err := eng.Backup(ctx, moved, nil)
	if err != nil {
		t.Fatal(err)
	}
	made = append(made, adopted)
	if got, want := e.dst.ExportSHA256(t, backupImage+"@"+adopted.Snapshot), e.src.ExportSHA256(t, otherPool+"/"+img+"@"+adopted.Snapshot); !sameSum(got, want) {
		t.Fatalf("restore point of the adopting full: sha256 %s, want %s", got, want)
	}
	if got := e.dst.ExportSHA256(t, backupImage+"@"+full.Snapshot); !sameSum(got, sum) {
		t.Fatalf("the old restore point changed: sha256 %s, was %s", got, sum)
	}
	// Without adopt, backups of an image of that name in the old pool are
	// now refused, saying what to do.
	e.src.CreateImage(t, srcPool, img, 4<<20)
	if _, err := eng.CheckBackupInputs(ctx, srcPool, img, backupPool, false); err == nil || !strings.Contains(err.Error(), "set adopt_backup_image = true") {
		t.Fatalf("backing up the old source after the adoption: %v", err)
	}
}
